#!/usr/bin/env python3
"""Build tiny random-weight Qwen3-ASR and Qwen3-ForcedAligner models for the lab (and real-size ones for a GPU bench).

The lab has no model hub, so the ASR server's two models are rebuilt locally with `qwen-asr`'s own classes (which
need transformers 4.57, hence a venv of their own: .venv-labasr): the real architecture with tiny dimensions, random
weights, a byte-level BPE tokenizer trained here with `tokenizers`, Whisper-style 128-bin features and a Qwen-style
chat template. Transcripts are gibberish and timestamps arbitrary; loading, feature extraction, generation, forced
alignment and every format the server writes are the real code.

What the real checkpoints need, found by building these:
  * `<asr_text>` separates the language header from the transcript, so it must be an ordinary (non-special) token,
    or decoding with skip_special_tokens drops it;
  * the tokenizer must define `audio_token`, `audio_bos_token` and `audio_eos_token` (the processor reads them);
  * the text model's `rope_scaling` must be a dict with `mrope_section` (3 parts summing to head_dim / 2);
  * the audio encoder's `n_window` must be 50 (the processor's length formula assumes 100-frame windows);
  * saving the aligner drops the nested `thinker_config.model_type = "qwen3_forced_aligner"` that makes its head a
    timestamp classifier, so config.json is patched after saving.

Each model is written to `<out>/<name>-<key>/`, where the key hashes this file's recipe and the library versions, and
`<out>/<name>` is a symlink to the current build, which is the path the roles are given (the same scheme as
build_lab_models.py). Building again with the same recipe does nothing.

Usage: build_lab_asr_models.py --out DIR [--size tiny|0.6b] [NAME ...]     (names: qwen3-asr, qwen3-forced-aligner)
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_model_cache import publish

SEED = 4321

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|audio_start|>",
    "<|audio_end|>",
    "<|audio_pad|>",
    "<timestamp>",
]
# Ordinary tokens the model writes: the separator between "language English" and the transcript.
PLAIN_ADDED_TOKENS = ["<asr_text>"]

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "<|im_start|>{{ message['role'] }}\n"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'audio' or 'audio' in part -%}<|audio_start|><|audio_pad|><|audio_end|>"
    "{%- elif 'text' in part -%}{{ part['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "<|im_end|>\n"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}"
)

CORPUS = (  # noqa: SIM905 (a readable word list)
    "language English language Chinese language German language French language None "
    "the quick brown fox jumps over the lazy dog hello world speech becomes words with start and end times "
    "one two three four five six seven eight nine ten zero . , ; : ! ? ' - "
    "ich bin hier le chat est noir el perro come"
).split()

# Real-size dimensions (Qwen/Qwen3-ASR-0.6B and Qwen/Qwen3-ForcedAligner-0.6B) and the lab's tiny ones.
SIZES = {
    "tiny": {
        "audio": {
            "d_model": 64,
            "encoder_layers": 2,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 128,
            "downsample_hidden_size": 32,
        },
        "text": {
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 32,
            "mrope_section": [8, 4, 4],
        },
        "vocab": 1024,
    },
    "0.6b": {
        "audio": {
            "d_model": 896,
            "encoder_layers": 18,
            "encoder_attention_heads": 14,
            "encoder_ffn_dim": 3584,
            "downsample_hidden_size": 480,
        },
        "text": {
            "hidden_size": 1024,
            "intermediate_size": 3072,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "num_key_value_heads": 8,
            "head_dim": 128,
            "mrope_section": [24, 20, 20],
        },
        "vocab": 151936,
    },
}
ALIGNER_CLASSES = 5000
ALIGNER_SEGMENT_MS = 80.0


def build_tokenizer(vocab_size: int):
    """Train a byte-level BPE tokenizer locally and wrap it as the Qwen2 tokenizer the processor expects."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=min(vocab_size, 1024),
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    lines = [" ".join(CORPUS[(i * 7 + j * 3) % len(CORPUS)] for j in range(4 + i % 9)) for i in range(1500)]
    tok.train_from_iterator(CORPUS + lines, trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in PLAIN_ADDED_TOKENS])
    return Qwen2TokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",  # noqa: S106 (a token, not a password)
        pad_token="<|endoftext|>",  # noqa: S106
        unk_token=None,
        bos_token=None,
        additional_special_tokens=SPECIAL_TOKENS[1:],
        extra_special_tokens={
            "audio_token": "<|audio_pad|>",
            "audio_bos_token": "<|audio_start|>",
            "audio_eos_token": "<|audio_end|>",
        },
        model_max_length=65536,
    )


def build_processor(tokenizer):
    from qwen_asr.core.transformers_backend import Qwen3ASRProcessor
    from transformers import WhisperFeatureExtractor

    features = WhisperFeatureExtractor(
        feature_size=128,
        sampling_rate=16000,
        hop_length=160,
        chunk_length=30,
        n_fft=400,
        padding_value=0.0,
        return_attention_mask=True,
    )
    return Qwen3ASRProcessor(feature_extractor=features, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)


def _config(tokenizer, size: str, aligner: bool):
    from qwen_asr.core.transformers_backend import Qwen3ASRConfig
    from qwen_asr.inference.utils import SUPPORTED_LANGUAGES

    dims = SIZES[size]
    text = dict(dims["text"])
    mrope = text.pop("mrope_section")
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    thinker = {
        "audio_config": {
            **dims["audio"],
            "num_mel_bins": 128,
            "output_dim": text["hidden_size"],
            "n_window": 50,
            "n_window_infer": 800,
            "conv_chunksize": 500,
            "max_source_positions": 1500,
        },
        "text_config": {
            **text,
            "vocab_size": max(dims["vocab"], len(tokenizer)),
            "max_position_embeddings": 65536,
            "rope_theta": 1000000.0,
            "rope_scaling": {
                "rope_type": "default",
                "mrope_section": mrope,
                "interleaved": True,
                "mrope_interleaved": True,
            },
            "tie_word_embeddings": not aligner,
        },
        "audio_token_id": ids["<|audio_pad|>"],
        "audio_start_token_id": ids["<|audio_start|>"],
        "user_token_id": tokenizer.convert_tokens_to_ids("user") or 0,
    }
    extra = {}
    if aligner:
        thinker["model_type"] = "qwen3_forced_aligner"
        thinker["classify_num"] = ALIGNER_CLASSES
        extra = {"timestamp_token_id": ids["<timestamp>"], "timestamp_segment_time": ALIGNER_SEGMENT_MS}
    return Qwen3ASRConfig(thinker_config=thinker, support_languages=list(SUPPORTED_LANGUAGES), **extra)


def _build(dest: Path, size: str, aligner: bool, seed: int) -> None:
    import torch
    from qwen_asr.core.transformers_backend import Qwen3ASRForConditionalGeneration
    from transformers import GenerationConfig

    tokenizer = build_tokenizer(SIZES[size]["vocab"])
    config = _config(tokenizer, size, aligner)
    torch.manual_seed(seed)
    model = Qwen3ASRForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        eos_token_id=[tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")],
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    model.save_pretrained(dest)
    build_processor(tokenizer).save_pretrained(dest)
    if aligner:
        # save_pretrained writes the thinker's class model_type; the aligner head needs its own back.
        path = dest / "config.json"
        data = json.loads(path.read_text())
        data["thinker_config"]["model_type"] = "qwen3_forced_aligner"
        data["thinker_config"]["classify_num"] = ALIGNER_CLASSES
        path.write_text(json.dumps(data, indent=2) + "\n")


def build_qwen3_asr(dest: Path, size: str) -> dict:
    """Qwen3-ASR (Qwen/Qwen3-ASR-0.6B's architecture): speech to text with language detection."""
    _build(dest, size, aligner=False, seed=SEED)
    return {"architecture": "Qwen3ASRForConditionalGeneration", "stands_for": "Qwen/Qwen3-ASR-0.6B", "size": size}


def build_qwen3_forced_aligner(dest: Path, size: str) -> dict:
    """Qwen3-ForcedAligner (Qwen/Qwen3-ForcedAligner-0.6B's architecture): word timestamps for a transcript."""
    _build(dest, size, aligner=True, seed=SEED + 1)
    return {
        "architecture": "Qwen3ASRForConditionalGeneration",
        "stands_for": "Qwen/Qwen3-ForcedAligner-0.6B",
        "size": size,
    }


BUILDERS: dict[str, Callable[[Path, str], dict]] = {
    "qwen3-asr": build_qwen3_asr,
    "qwen3-forced-aligner": build_qwen3_forced_aligner,
}


def recipe_key(name: str, size: str) -> str:
    """Content key: this recipe's source and the versions of the libraries that write the files."""
    from importlib.metadata import version

    import qwen_asr  # noqa: F401  (its version is part of the key through importlib.metadata)
    import tokenizers
    import torch
    import transformers

    h = hashlib.sha256()
    h.update(inspect.getsource(sys.modules[__name__]).encode())
    h.update(f"{name}|{size}|{transformers.__version__}|{tokenizers.__version__}|{torch.__version__}".encode())
    h.update(version("qwen-asr").encode())
    return h.hexdigest()[:12]


def build(name: str, out: Path, size: str = "tiny") -> Path:
    label = name if size == "tiny" else f"{name}-{size}"
    return publish(label, recipe_key(name, size), out, lambda directory: BUILDERS[name](directory, size))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="models directory (the lab mounts it on every host)")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny", help="tiny (lab) or 0.6b (GPU bench)")
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
        build(name, args.out, args.size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
