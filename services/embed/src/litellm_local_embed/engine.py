"""The engine interface the API and the batcher use, and its Qwen3-VL-Embedding implementation.

`prepare` turns one input into model inputs (tokenising, decoding image pixels) and refuses bad inputs with an
InputError; it runs in a thread pool, once per input. `embed` runs one forward pass over a batch of prepared inputs
and returns their L2-normalised embeddings; it runs on the single inference thread. Tests use a fake engine with the
same interface.

Speed: every Python bytecode and every small torch op outside the forward pass competes for the GIL with the
inference thread, which launches the model's kernels from Python. So `prepare` keeps token ids in numpy (no torch
op per input), tokenises text-only inputs with the tokenizer's Rust backend directly (the processor's generic call
costs about twice the template and tokenisation together; both give the same ids, checked at load), and `embed`
builds the padded batch in numpy and hands torch a single tensor per field.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import torch
from PIL import Image

from .errors import InputError
from .method import l2_normalize, pool_last
from .settings import Settings

log = logging.getLogger(__name__)


@dataclass
class EmbedInput:
    """One thing to embed. kind "text": raw text, no template (vLLM's plain `input`); "tokens": token ids;
    "chat": a conversation in the processor's format, images as {"type": "image"} placeholders filled in order."""

    kind: Literal["text", "tokens", "chat"]
    text: str | None = None
    token_ids: list[int] | None = None
    messages: list[dict] | None = None
    images: list[Image.Image] = field(default_factory=list)
    add_generation_prompt: bool = False
    continue_final_message: bool = False


@dataclass
class Prepared:
    n_tokens: int
    data: Any


class Engine(Protocol):
    name: str
    hidden_size: int
    max_model_len: int

    def prepare(self, item: EmbedInput) -> Prepared: ...

    def embed(self, batch: list[Prepared]) -> np.ndarray: ...


@dataclass
class _Tensors:
    input_ids: np.ndarray  # (tokens,) int64
    mm_token_type_ids: np.ndarray  # (tokens,) int64
    pixel_values: torch.Tensor | None = None
    image_grid_thw: torch.Tensor | None = None


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class QwenVLEmbeddingEngine:
    """Qwen3-VL-Embedding with transformers: the official method, batched by the caller."""

    def __init__(self, settings: Settings, *, load_weights: bool = True) -> None:
        """load_weights=False: the processor and the config only, for a process that prepares inputs and leaves the
        forward pass to another (remote.ProcessEngine); `embed` then cannot run."""
        from transformers import AutoConfig, AutoProcessor
        from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLModel

        from .model import Qwen3VLForEmbedding

        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
        self.settings = settings
        self.device = resolve_device(settings.device)
        self.dtype = getattr(torch, settings.dtype)
        started = time.monotonic()
        kwargs = {"revision": settings.model_revision} if settings.model_revision else {}
        self.processor = AutoProcessor.from_pretrained(settings.model, **kwargs)
        self.processor.tokenizer.padding_side = "right"
        self.model: Qwen3VLForEmbedding | None = None
        if load_weights:
            if self.device.type == "cuda" and settings.gpu_memory_gb:
                total = torch.cuda.get_device_properties(self.device).total_memory
                fraction = min(settings.gpu_memory_gb * 2**30 / total, 1.0)
                torch.cuda.set_per_process_memory_fraction(fraction, self.device)
            self.model = Qwen3VLForEmbedding.from_pretrained(
                settings.model, dtype=self.dtype, attn_implementation=settings.attention, **kwargs
            )
            self.model.to(self.device).eval()
            config = self.model.config
        else:
            config = AutoConfig.from_pretrained(settings.model, **kwargs)
        text_config = config.text_config
        self.name = settings.model
        self.hidden_size = int(text_config.hidden_size)
        self.max_model_len = int(text_config.max_position_embeddings)
        self.vocab_size = int(text_config.vocab_size)
        self.image_token_id = int(config.image_token_id)
        self.video_token_id = int(config.video_token_id)
        self.merge = int(config.vision_config.spatial_merge_size)
        pad = self.processor.tokenizer.pad_token_id
        self.pad_token_id = int(pad if pad is not None else 0)
        self._images_kwargs: dict = {}
        if settings.image_min_pixels or settings.image_max_pixels:
            size = dict(self.processor.image_processor.size)
            if settings.image_min_pixels:
                size["shortest_edge"] = settings.image_min_pixels
            if settings.image_max_pixels:
                size["longest_edge"] = settings.image_max_pixels
            self._images_kwargs = {"size": size}
        self._takes_mm_token_types = "mm_token_type_ids" in inspect.signature(Qwen3VLModel.forward).parameters
        self._fast = threading.local()  # one Rust tokenizer per preprocessing thread (it is not shared across threads)
        self._fast_ok = self._fast_path_agrees()
        if self.model is None:
            return
        self.embed([self.prepare(EmbedInput(kind="text", text="warm-up"))])
        log.info(
            "loaded %s on %s as %s (%s attention, %d dimensions) in %.1fs",
            settings.model,
            self.device,
            settings.dtype,
            settings.attention,
            self.hidden_size,
            time.monotonic() - started,
        )

    # -- preparing one input (thread pool) --------------------------------------------------------------------------
    def prepare(self, item: EmbedInput) -> Prepared:
        if item.kind == "tokens":
            ids = list(item.token_ids or [])
            if any(not 0 <= i < self.vocab_size for i in ids):
                raise InputError(f"token ids must lie in [0, {self.vocab_size - 1}]")
            return self._checked(np.asarray(ids, dtype=np.int64), None, None)
        if item.kind == "text":
            return self._checked(self._tokenize(item.text or "", add_special_tokens=True), None, None)
        return self._prepare_chat(item)

    def _backend(self):
        """This thread's copy of the tokenizer's Rust backend, without padding or truncation (as the processor
        calls it)."""
        fast = getattr(self._fast, "tokenizer", None)
        if fast is None:
            from tokenizers import Tokenizer

            fast = Tokenizer.from_str(self.processor.tokenizer.backend_tokenizer.to_str())
            fast.no_padding()
            fast.no_truncation()
            self._fast.tokenizer = fast
        return fast

    def _tokenize(self, text: str, add_special_tokens: bool) -> np.ndarray:
        if self._fast_ok:
            ids = self._backend().encode(text, add_special_tokens=add_special_tokens).ids
        else:
            ids = self.processor.tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
        return np.asarray(ids, dtype=np.int64)

    def _fast_path_agrees(self) -> bool:
        """Whether the Rust backend gives the processor's ids on probes (text, specials, template, whitespace)."""
        try:
            probes = ["warm-up", "  The <|im_start|> quick\n\tbrown fox: 3.14 éè 图片。 😀  "]
            prompt = self.processor.apply_chat_template(
                [{"role": "user", "content": [{"type": "text", "text": probes[1]}]}],
                tokenize=False,
                add_generation_prompt=True,
            )
            probes.append(prompt)
            fast = self._backend()
            for text in probes:
                for special in (True, False):
                    want = self.processor.tokenizer(text, add_special_tokens=special)["input_ids"]
                    if fast.encode(text, add_special_tokens=special).ids != list(want):
                        raise ValueError(f"ids differ on {text!r}")
            want = self.processor(text=[prompt], return_tensors="pt", add_special_tokens=False)["input_ids"][0]
            if fast.encode(prompt, add_special_tokens=False).ids != want.tolist():
                raise ValueError("ids differ from the processor's")
        except Exception as exc:  # any doubt: the processor's own path, slower but the reference
            log.warning("tokenising through the processor (the direct tokenizer path disagrees: %s)", exc)
            return False
        return True

    def _prepare_chat(self, item: EmbedInput) -> Prepared:
        try:
            prompt = self.processor.apply_chat_template(
                item.messages,
                tokenize=False,
                add_generation_prompt=item.add_generation_prompt,
                continue_final_message=item.continue_final_message,
            )
        except Exception as exc:  # a template's raise_exception(), a malformed conversation
            raise InputError(f"the chat template refused these messages: {exc}", param="messages") from exc
        image_token = getattr(self.processor, "image_token", None)
        if image_token and prompt.count(image_token) != len(item.images):
            raise InputError(
                f"the text holds the model's image placeholder token ({image_token}) outside an image; remove it"
            )
        if not item.images and self._fast_ok:  # text only: the processor's call is its tokenizer's
            return self._checked(self._tokenize(prompt, add_special_tokens=False), None, None)
        try:
            out = self.processor(
                text=[prompt],
                images=item.images or None,
                return_tensors="pt",
                add_special_tokens=False,
                **({"images_kwargs": self._images_kwargs} if item.images and self._images_kwargs else {}),
            )
        except (ValueError, TypeError, IndexError, KeyError, StopIteration) as exc:
            raise InputError(f"the input could not be processed: {type(exc).__name__}: {exc}") from exc
        grid = out.get("image_grid_thw") if item.images else None
        pixels = out.get("pixel_values") if item.images else None
        if pixels is not None and pixels.is_floating_point():
            # The model's dtype here, in the pool, as embed() would do it on the batch: the same rounding, but the
            # inference thread then concatenates and copies half the bytes in float16.
            pixels = pixels.to(self.dtype)
        return self._checked(out["input_ids"][0].numpy().astype(np.int64, copy=False), pixels, grid)

    def _checked(self, ids: np.ndarray, pixels: torch.Tensor | None, grid: torch.Tensor | None) -> Prepared:
        if ids.size == 0:
            raise InputError("the input has no tokens")
        if int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size:
            raise InputError(f"token ids must lie in [0, {self.vocab_size - 1}]")
        if bool((ids == self.video_token_id).any()):
            raise InputError("the input holds the model's video placeholder token; video is not supported")
        is_image = ids == self.image_token_id
        n_image_tokens = int(is_image.sum())
        expected = 0
        if grid is not None:
            expected = int((grid.numpy().astype(np.int64).prod(axis=-1) // (self.merge * self.merge)).sum())
        if n_image_tokens != expected:
            raise InputError(
                "the text holds the model's image placeholder token (<|image_pad|>) outside an image; remove it"
            )
        return Prepared(n_tokens=int(ids.size), data=_Tensors(ids, is_image.astype(np.int64), pixels, grid))

    # -- one forward pass (inference thread) ------------------------------------------------------------------------
    def embed(self, batch: list[Prepared]) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("this engine was loaded without weights: its forward pass runs in another process")
        items: list[_Tensors] = [p.data for p in batch]
        width = max(t.input_ids.size for t in items)
        ids_np = np.full((len(items), width), self.pad_token_id, dtype=np.int64)
        mask_np = np.zeros((len(items), width), dtype=np.int64)
        mm_np = np.zeros((len(items), width), dtype=np.int64)
        for row, t in enumerate(items):
            n = t.input_ids.size
            ids_np[row, :n] = t.input_ids
            mask_np[row, :n] = 1
            mm_np[row, :n] = t.mm_token_type_ids
        inputs: dict[str, torch.Tensor] = {
            "input_ids": torch.from_numpy(ids_np).to(self.device),
            "attention_mask": torch.from_numpy(mask_np).to(self.device),
        }
        with_images = [t for t in items if t.pixel_values is not None]
        if with_images:
            pixels = [t.pixel_values for t in with_images]
            grids = [t.image_grid_thw for t in with_images]
            pixel_values = pixels[0] if len(pixels) == 1 else torch.cat(pixels)
            inputs["pixel_values"] = pixel_values.to(self.device, self.dtype)
            inputs["image_grid_thw"] = (grids[0] if len(grids) == 1 else torch.cat(grids)).to(self.device)
            if self._takes_mm_token_types:  # transformers 5 computes M-RoPE from it; 4.57 finds the image tokens itself
                inputs["mm_token_type_ids"] = torch.from_numpy(mm_np).to(self.device)
        with torch.inference_mode():
            hidden = self.model(**inputs)
            pooled = pool_last(hidden, inputs["attention_mask"])
            return l2_normalize(pooled).cpu().numpy()
