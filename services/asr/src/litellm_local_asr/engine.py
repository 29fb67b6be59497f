"""The engine interface and its Qwen3-ASR implementation (qwen-asr's Qwen3ASRModel with the forced aligner).

The server needs only `Engine`: tests put a fake engine behind the same interface. One QwenEngine holds one copy of
the model; it is called from a single batching thread (batching.py), never from request threads.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from litellm_local_asr.audio import SAMPLE_RATE
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


def _dtype(settings: Settings, cuda: bool):
    import torch

    if settings.dtype == "auto":
        return torch.bfloat16 if cuda else torch.float32
    return getattr(torch, settings.dtype)


class QwenEngine:
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

    def new_tokens_for(self, seconds: float) -> int:
        """Enough tokens for the longest chunk of the batch (qwen-asr's default of 512 silently truncates)."""
        s = self.settings
        return max(1, min(s.max_new_tokens, s.min_new_tokens_budget + math.ceil(seconds * s.new_tokens_per_second)))

    def transcribe(self, jobs: Sequence[Job]) -> list[Result]:
        results: list[Result | None] = [None] * len(jobs)
        for want_times in (False, True):
            idx = [i for i, j in enumerate(jobs) if j.timestamps == want_times]
            if not idx:
                continue
            times = want_times and self.model.forced_aligner is not None
            # qwen-asr cuts audio near 1200 s (180 s with timestamps): the longest piece sets the token budget.
            piece = 180.0 if times else 1200.0
            self.model.max_new_tokens = self.new_tokens_for(min(piece, max(jobs[i].seconds for i in idx)))
            outs = self.model.transcribe(
                audio=[(jobs[i].audio, SAMPLE_RATE) for i in idx],
                context=[jobs[i].context for i in idx],
                language=[jobs[i].language for i in idx],
                return_time_stamps=times,
            )
            for i, out in zip(idx, outs, strict=True):
                results[i] = self._result(out, jobs[i], times)
        return [r for r in results if r is not None]

    def _result(self, out, job: Job, times: bool) -> Result:
        text = (out.text or "").strip()
        language = out.language or (job.language or "")
        aligned = None
        if times:
            first = language.split(",")[0]
            if first and first not in ALIGNER_LANGUAGES:
                log.info("no word timestamps for %s: the aligner does not cover it", first)
            elif out.time_stamps is not None:
                aligned = [Aligned(it.text, float(it.start_time), float(it.end_time)) for it in out.time_stamps]
            else:
                aligned = []
        return Result(language=language, text=text, aligned=aligned)
