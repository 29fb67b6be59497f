#!/usr/bin/env python3
"""Build tiny random-weight models of the real architectures for the lab.

The lab has no model hub, so each model the stack serves is rebuilt locally with `transformers`: the real
architecture class with tiny dimensions (attention heads of 32 dimensions, the least vLLM's CPU attention takes),
random weights, a byte-level BPE tokenizer trained here with `tokenizers`, and a Qwen-style chat template that
understands images. Outputs are gibberish; loading, templating, image processing and serving are the real code.

Each model is written to `<out>/<name>-<key>/`, where the key hashes this file's recipe and the library versions, and
`<out>/<name>` is a symlink to the current build, which is the path the roles are given. Building again with the
same recipe does nothing.

Usage: build_lab_models.py --out DIR [NAME ...]     (names: see --list)
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_model_cache import publish

SEED = 1234
TEXT_HIDDEN = 64
HEAD_DIM = 32

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# A Qwen-style ChatML template: string content or a list of text / image / video parts, tool-free.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{%- endif -%}"
    "<|im_start|>{{ message['role'] }}\n"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] in ('image', 'image_url') or 'image' in part or 'image_url' in part -%}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif part['type'] in ('video', 'video_url') or 'video' in part -%}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif 'text' in part -%}{{ part['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "<|im_end|>\n"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}"
)

CORPUS_WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "while",
    "a",
    "model",
    "reads",
    "text",
    "from",
    "an",
    "image",
    "and",
    "writes",
    "it",
    "out",
    "speech",
    "becomes",
    "words",
    "with",
    "start",
    "and",
    "end",
    "times",
    "embeddings",
    "place",
    "similar",
    "inputs",
    "near",
    "each",
    "other",
    "table",
    "formula",
    "recognition",
    "invoice",
    "total",
    "amount",
    "date",
    "name",
    "address",
    "hello",
    "world",
    "assistant",
    "user",
    "system",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "zero",
    "numbers",
    "0123456789",
    ".",
    ",",
    ";",
    ":",
    "!",
    "?",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "-",
    "_",
    "/",
]


def _corpus(words: list[str] = CORPUS_WORDS) -> list[str]:
    """A deterministic training corpus: every word plus pseudo-random sentences of them."""
    lines, n = [], len(words)
    for i in range(2000):
        lines.append(" ".join(words[(i * 7 + j * 13) % n] for j in range(3 + i % 12)))
    return words + lines


def build_tokenizer(
    vocab_size: int = 1024,
    special_tokens: list[str] = SPECIAL_TOKENS,
    eos: str = "<|im_end|>",
    template: str = CHAT_TEMPLATE,
    words: list[str] = CORPUS_WORDS,
):
    """Train a byte-level BPE tokenizer locally and wrap it for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_corpus(words), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=eos,
        pad_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=[t for t in special_tokens if t != "<|endoftext|>"],
        model_max_length=32768,
    )
    fast.chat_template = template
    return fast


def _token_ids(tokenizer) -> dict[str, int]:
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    return {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }


def _qwen3_vl_config(tokenizer):
    from transformers import Qwen3VLConfig

    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": TEXT_HIDDEN,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": HEAD_DIM,
        "max_position_embeddings": 4096,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 5000000.0,
            "mrope_section": [8, 4, 4],
            "mrope_interleaved": True,
        },
        "tie_word_embeddings": True,
    }
    vision = {
        "depth": 2,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_heads": 2,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": TEXT_HIDDEN,
        "num_position_embeddings": 2304,
        "deepstack_visual_indexes": [0, 1],
    }
    return Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True, **_token_ids(tokenizer))


def _qwen3_vl_processor(tokenizer):
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    size = {"shortest_edge": 32 * 32, "longest_edge": 512 * 512}
    image = Qwen2VLImageProcessor(
        patch_size=16,
        merge_size=2,
        temporal_patch_size=2,
        size=size,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    video = Qwen3VLVideoProcessor(
        patch_size=16,
        merge_size=2,
        temporal_patch_size=2,
        size={"shortest_edge": 32 * 32, "longest_edge": 4 * 512 * 512},
    )
    return Qwen3VLProcessor(
        image_processor=image, tokenizer=tokenizer, video_processor=video, chat_template=CHAT_TEMPLATE
    )


def _build_qwen3_vl(dest: Path, seed: int, tokenizer=None) -> None:
    """A tiny Qwen3VLForConditionalGeneration with its processor, weights under `model.` as the hub's."""
    import torch
    from transformers import GenerationConfig, Qwen3VLForConditionalGeneration

    tokenizer = tokenizer or build_tokenizer()
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(_qwen3_vl_config(tokenizer)).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        eos_token_id=[tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")],
        pad_token_id=tokenizer.pad_token_id,
        do_sample=True,
        temperature=0.7,
        top_p=0.8,
        top_k=20,
    )
    model.save_pretrained(dest)
    _qwen3_vl_processor(tokenizer).save_pretrained(dest)


def build_qwen3_vl_chat(dest: Path) -> dict:
    """Qwen3-VL (Qwen/Qwen3-VL-4B-Instruct's architecture): chat with images."""
    _build_qwen3_vl(dest, SEED)
    return {"architecture": "Qwen3VLForConditionalGeneration", "stands_for": "Qwen/Qwen3-VL-4B-Instruct"}


def build_qwen3_vl_embedding(dest: Path) -> dict:
    """Qwen3-VL-Embedding (Qwen/Qwen3-VL-Embedding-2B's layout): a Qwen3-VL checkpoint served for pooling."""
    _build_qwen3_vl(dest, SEED + 1)
    return {
        "architecture": "Qwen3VLForConditionalGeneration",
        "stands_for": "Qwen/Qwen3-VL-Embedding-2B",
        "embedding_dimensions": TEXT_HIDDEN,
    }


# The reranker's answer tokens: vLLM scores a pair by the lm_head rows of "no" and "yes" (hf-overrides
# classifier_from_token), looked up as whole tokens of the vocabulary.
RERANKER_ANSWER_TOKENS = ["no", "yes"]


def build_qwen3_vl_reranker(dest: Path) -> dict:
    """Qwen3-VL-Reranker (Qwen/Qwen3-VL-Reranker-2B's layout): a Qwen3-VL checkpoint scored by its "yes"/"no" logits."""
    tokenizer = build_tokenizer(words=CORPUS_WORDS + RERANKER_ANSWER_TOKENS)
    vocab = tokenizer.get_vocab()
    missing = [t for t in RERANKER_ANSWER_TOKENS if t not in vocab]
    if missing:
        raise RuntimeError(f"the reranker's tokenizer lacks the answer tokens {missing}")
    # lm_head tied to the embeddings, as in the other Qwen3-VL lab models: vLLM (is_original_qwen3_reranker) reads
    # the two rows from lm_head, tied or not, and turns their difference into the one-label score head.
    _build_qwen3_vl(dest, SEED + 3, tokenizer)
    return {
        "architecture": "Qwen3VLForConditionalGeneration",
        "stands_for": "Qwen/Qwen3-VL-Reranker-2B",
        "classifier_from_token": RERANKER_ANSWER_TOKENS,
    }


GLM_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<sop>",
    "<eop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|image|>",
    "<|video|>",
]

# GLM-style chat template (as GLM-4.1V/GLM-OCR): image placeholders first, then the task text.
GLM_CHAT_TEMPLATE = (
    "[gMASK]<sop>"
    "{%- for message in messages -%}"
    "<|{{ message['role'] }}|>\n"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] in ('image', 'image_url') or 'image' in part or 'image_url' in part -%}"
    "<|begin_of_image|><|image|><|end_of_image|>"
    "{%- elif part['type'] in ('video', 'video_url') -%}"
    "<|begin_of_video|><|video|><|end_of_video|>"
    "{%- elif 'text' in part -%}{{ part['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>\n{%- endif -%}"
)


def build_glm_ocr(dest: Path) -> dict:
    """GLM-OCR (zai-org/GLM-OCR's architecture GlmOcrForConditionalGeneration): OCR of images."""
    import torch
    from transformers import (
        GenerationConfig,
        Glm4vImageProcessor,
        Glm4vVideoProcessor,
        Glm46VProcessor,
        GlmOcrConfig,
        GlmOcrForConditionalGeneration,
    )

    tokenizer = build_tokenizer(special_tokens=GLM_SPECIAL_TOKENS, eos="<|endoftext|>", template=GLM_CHAT_TEMPLATE)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in GLM_SPECIAL_TOKENS}
    config = GlmOcrConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": TEXT_HIDDEN,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "max_position_embeddings": 4096,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [2, 3, 3],
                "partial_rotary_factor": 0.5,
            },
        },
        vision_config={
            "depth": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_heads": 2,
            "patch_size": 14,
            "image_size": 336,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": TEXT_HIDDEN,
        },
        image_token_id=ids["<|image|>"],
        video_token_id=ids["<|video|>"],
        image_start_token_id=ids["<|begin_of_image|>"],
        image_end_token_id=ids["<|end_of_image|>"],
        video_start_token_id=ids["<|begin_of_video|>"],
        video_end_token_id=ids["<|end_of_video|>"],
    )
    torch.manual_seed(SEED + 2)
    model = GlmOcrForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        eos_token_id=[ids["<|endoftext|>"], ids["<|user|>"], ids["<|observation|>"]],
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    model.save_pretrained(dest)
    size = {"shortest_edge": 28 * 28, "longest_edge": 448 * 448}
    Glm46VProcessor(
        image_processor=Glm4vImageProcessor(patch_size=14, merge_size=2, temporal_patch_size=2, size=size),
        video_processor=Glm4vVideoProcessor(patch_size=14, merge_size=2, temporal_patch_size=2),
        tokenizer=tokenizer,
        chat_template=GLM_CHAT_TEMPLATE,
    ).save_pretrained(dest)
    return {"architecture": "GlmOcrForConditionalGeneration", "stands_for": "zai-org/GLM-OCR"}


BUILDERS: dict[str, Callable[[Path], dict]] = {
    "qwen3-vl-chat": build_qwen3_vl_chat,
    "qwen3-vl-embedding": build_qwen3_vl_embedding,
    "qwen3-vl-reranker": build_qwen3_vl_reranker,
    "glm-ocr": build_glm_ocr,
}


def recipe_key(name: str) -> str:
    """Content key: this recipe's source and the versions of the libraries that write the files."""
    import tokenizers
    import torch
    import transformers

    h = hashlib.sha256()
    h.update(inspect.getsource(sys.modules[__name__]).encode())
    h.update(f"{name}|{transformers.__version__}|{tokenizers.__version__}|{torch.__version__}".encode())
    return h.hexdigest()[:12]


def build(name: str, out: Path) -> Path:
    return publish(name, recipe_key(name), out, BUILDERS[name])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="models directory (the lab mounts it on every host)")
    parser.add_argument("--list", action="store_true", help="list the models this script builds")
    parser.add_argument("names", nargs="*", help="models to build (default: all)")
    args = parser.parse_args(argv)
    if args.list:
        for name, fn in BUILDERS.items():
            print(f"{name}: {(fn.__doc__ or '').strip()}")
        return 0
    if args.out is None:
        parser.error("--out is required")
    unknown = sorted(set(args.names) - set(BUILDERS))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(BUILDERS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    args.out.chmod(0o755)
    for name in args.names or list(BUILDERS):
        build(name, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
