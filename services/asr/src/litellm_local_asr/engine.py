"""The engine interface and what its two Qwen3-ASR implementations share.

The server needs only `Engine`: tests put a fake engine behind the same interface. Both engines run qwen-asr's own
pipeline, `Qwen3ASRModel.transcribe` (its prompt and language handling, repetition repair, forced alignment and its
timestamp repair), on pieces of the audio cut here with qwen-asr's own splitter, and merge the pieces back here:

* QwenEngine (this module) holds both models in this process (qwen-asr's transformers backend). One copy of the
  model serves every request: it is called from the single batching thread (batching.py).
* VLLMEngine (vllm_engine.py) gives qwen-asr's vLLM backend a remote stand-in for `vllm.LLM` and for the aligner,
  so recognition and alignment run in two vLLM servers. It is called from request threads, one job at a time
  (`concurrent = True`): the servers batch the requests of all jobs together.

Long audio is cut into pieces of about `chunk_seconds` (qwen-asr cuts only past 1200 s, or 180 s with timestamps):
the pieces are decoded together, so a transcript without timestamps is never slower than one with them, and the
token budget of each piece follows its own length.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from litellm_local_asr.audio import SAMPLE_RATE
from litellm_local_asr.errors import APIError
from litellm_local_asr.formats import Aligned
from litellm_local_asr.languages import ALIGNER_LANGUAGES
from litellm_local_asr.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One request's work: 16 kHz mono audio, an optional forced language (model name), context, timestamps."""

    audio: np.ndarray
    language: str | None = None
    context: str = ""
    timestamps: bool = False

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass
class Result:
    language: str  # the model's name(s), "English" or "Chinese,English"; "" when unknown
    text: str
    aligned: list[Aligned] | None = field(default=None)  # None when timestamps were not asked for or unavailable


class Engine(Protocol):
    def transcribe(self, jobs: Sequence[Job]) -> list[Result]: ...

    def tokenize(self, text: str) -> list[int]: ...


@dataclass(frozen=True)
class Piece:
    """A piece of job `job`'s audio that starts `offset` seconds into it."""

    job: int
    audio: np.ndarray
    offset: float

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def split(jobs: Sequence[Job], chunk_seconds: float) -> list[Piece]:
    """Each job's audio as pieces cut by qwen-asr's splitter (the quietest 100 ms within 5 s of each multiple of
    `chunk_seconds`; the pieces add up to the audio exactly, a tail under 0.5 s padded with silence)."""
    from qwen_asr.inference.utils import split_audio_into_chunks

    return [
        Piece(i, wav, float(offset))
        for i, job in enumerate(jobs)
        for wav, offset in split_audio_into_chunks(job.audio, SAMPLE_RATE, chunk_seconds)
    ]


# Markup the model reads as structure: ChatML and audio tokens (<|...|>) and the transcript separator. A context
# (the request's `prompt`) goes into the system turn, where it must stay text.
_MARKUP = re.compile(r"<\|[^|<>]*\|>|<asr_text>|<timestamp>")


def clean_context(text: str) -> str:
    """The context without markup, removed until none is left (so that "<|im_<|x|>end|>" cannot leave "<|im_end|>")."""
    while True:
        cleaned = _MARKUP.sub("", text)
        if cleaned == text:
            return cleaned
        text = cleaned


def _spaceless(ch: str) -> bool:
    """Characters of scripts written without spaces between words (Han, kana, Thai, Lao, Khmer, Myanmar) and CJK
    punctuation: two pieces that meet on such characters are joined without a space."""
    code = ord(ch)
    return (
        0x3000 <= code <= 0x30FF  # CJK symbols and punctuation, hiragana, katakana
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
        or 0x20000 <= code <= 0x3FFFF
        or 0x0E00 <= code <= 0x0EFF  # Thai, Lao
        or 0x1000 <= code <= 0x109F  # Myanmar
        or 0x1780 <= code <= 0x17FF  # Khmer
    )


def join_texts(texts: Sequence[str]) -> str:
    """The pieces' transcripts as one: a space between pieces, except where both sides are of a spaceless script
    (qwen-asr concatenates its chunks, which glues the last word of one to the first of the next)."""
    out = ""
    for text in (t.strip() for t in texts):
        if not text:
            continue
        if out and not (_spaceless(out[-1]) and _spaceless(text[0])):
            out += " "
        out += text
    return out


class ChunkedEngine:
    """Cut the jobs into pieces, have qwen-asr's `transcribe` run them all in one call, merge them per job."""

    settings: Settings
    model: Any  # qwen_asr.Qwen3ASRModel
    concurrent = False

    def new_tokens_for(self, seconds: float) -> int:
        """Enough tokens for `seconds` of audio (qwen-asr's default of 512 silently truncates), never over the cap."""
        s = self.settings
        return max(1, min(s.max_new_tokens, s.min_new_tokens_budget + math.ceil(seconds * s.new_tokens_per_second)))

    def transcribe(self, jobs: Sequence[Job]) -> list[Result]:
        results: list[Result | None] = [None] * len(jobs)
        for want_times in (False, True):
            idx = [i for i, j in enumerate(jobs) if j.timestamps == want_times]
            if not idx:
                continue
            times = want_times and self.model.forced_aligner is not None
            group = [jobs[i] for i in idx]
            pieces = split(group, self.settings.chunk_seconds)
            outs = self._transcribe_pieces(pieces, group, times)
            parts: list[list[tuple[Piece, Any]]] = [[] for _ in group]
            for piece, out in zip(pieces, outs, strict=True):
                parts[piece.job].append((piece, out))
            for k, i in enumerate(idx):
                results[i] = self._result(parts[k], jobs[i], times)
        return [r for r in results if r is not None]

    def _transcribe_pieces(self, pieces: Sequence[Piece], jobs: Sequence[Job], times: bool) -> list[Any]:
        return self.model.transcribe(
            audio=[(p.audio, SAMPLE_RATE) for p in pieces],
            context=[clean_context(jobs[p.job].context) for p in pieces],
            language=[jobs[p.job].language for p in pieces],
            return_time_stamps=times,
        )

    def _result(self, parts: Sequence[tuple[Piece, Any]], job: Job, times: bool) -> Result:
        from qwen_asr.inference.utils import merge_languages

        text = join_texts([out.text or "" for _, out in parts])
        language = merge_languages([out.language for _, out in parts]) or (job.language or "")
        aligned = None
        if times:
            first = language.split(",")[0]
            if first and first not in ALIGNER_LANGUAGES:
                log.info("no word timestamps for %s: the aligner does not cover it", first)
            else:
                # Each piece's times are offset into the job's audio as qwen-asr offsets its own chunks.
                aligned = [
                    Aligned(it.text, round(float(it.start_time) + p.offset, 3), round(float(it.end_time) + p.offset, 3))
                    for p, out in parts
                    if out.time_stamps is not None
                    for it in out.time_stamps
                ]
        return Result(language=language, text=text, aligned=aligned)


def _dtype(settings: Settings, cuda: bool):
    import torch

    if settings.dtype == "auto":
        return torch.bfloat16 if cuda else torch.float32
    return getattr(torch, settings.dtype)


class QwenEngine(ChunkedEngine):
    """Qwen3-ASR (+ Qwen3-ForcedAligner) through qwen-asr's transformers backend, one copy per process."""

    def __init__(self, settings: Settings) -> None:
        import torch
        from qwen_asr import Qwen3ASRModel

        cuda = settings.device == "cuda" or (settings.device == "auto" and torch.cuda.is_available())
        device = "cuda:0" if cuda else "cpu"
        if cuda and settings.gpu_memory_gb > 0:
            total = torch.cuda.get_device_properties(0).total_memory
            fraction = min(1.0, settings.gpu_memory_gb * 1e9 / total)
            torch.cuda.set_per_process_memory_fraction(fraction, 0)
            log.info("VRAM share: %.1f GB of %.1f GB (fraction %.4f)", settings.gpu_memory_gb, total / 1e9, fraction)
        dtype = _dtype(settings, cuda)
        self.settings = settings
        aligner_kwargs = {"dtype": dtype, "device_map": device}
        if settings.aligner_revision:
            aligner_kwargs["revision"] = settings.aligner_revision
        model_kwargs = {"dtype": dtype, "device_map": device}
        if settings.model_revision:
            model_kwargs["revision"] = settings.model_revision
        log.info("loading %s (aligner %s) on %s as %s", settings.model, settings.aligner, device, dtype)
        self.model = Qwen3ASRModel.from_pretrained(
            settings.model,
            forced_aligner=settings.aligner or None,
            forced_aligner_kwargs=aligner_kwargs if settings.aligner else None,
            max_inference_batch_size=settings.max_batch_size,
            max_new_tokens=settings.max_new_tokens,
            **model_kwargs,
        )
        self.tokenizer = self.model.processor.tokenizer

    def tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def _transcribe_pieces(self, pieces: Sequence[Piece], jobs: Sequence[Job], times: bool) -> list[Any]:
        """qwen-asr decodes the pieces max_batch_size at a time. When a batch does not fit the VRAM share (long
        audio is many pieces; the prefill's logits grow with batch x prompt length), the same pieces are decoded
        again in batches half as large, down to one; if even one piece does not fit, the request is a 503."""
        import torch

        # One generate() budget for all the pieces: the longest piece's.
        self.model.max_new_tokens = self.new_tokens_for(max(p.seconds for p in pieces))
        size = self.settings.max_batch_size
        try:
            while True:
                self.model.max_inference_batch_size = size
                try:
                    return super()._transcribe_pieces(pieces, jobs, times)
                except torch.OutOfMemoryError:
                    torch.cuda.empty_cache()
                    if size == 1:
                        log.error("one piece of audio does not fit the VRAM share (ASR_GPU_MEMORY_GB)")
                        raise APIError(
                            "Speech recognition is out of GPU memory for this audio; retry shortly.",
                            status=503,
                            code="backend_unavailable",
                            retry_after=self.settings.retry_after_s,
                        ) from None
                    size = max(1, size // 2)
                    log.warning("%d pieces did not fit the VRAM share: decoding them %d at a time", len(pieces), size)
        finally:
            self.model.max_inference_batch_size = self.settings.max_batch_size
