#!/usr/bin/env python3
"""GPU smoke run and real-time factor of the ASR server's engine on real-size random-weight models.

Builds random-weight Qwen3-ASR-0.6B and Qwen3-ForcedAligner-0.6B architectures (scripts/build_lab_asr_models.py
--size 0.6b: the real layer counts and widths, a small locally trained tokenizer), loads them through the server's
own QwenEngine and Batcher (services/asr) on CUDA in bf16 with the VRAM share enforced in the process, and reports:

  * transcription at concurrency 1, 8 and 64 (requests submitted together, batched by the server's batcher):
    wall time, real-time factor (wall / audio seconds) and audio seconds per second;
  * forced alignment (the word-timestamp pass) on a realistic transcript, at the same batch sizes;
  * with --through-app: the same clips as HTTP requests to the server's Flask app (upload, decoding, batcher,
    verbose_json with word and segment timestamps; Flask's test client in place of Gunicorn's sockets);
  * with --long-minutes N: one recording of N minutes through the same engine, with and without word timestamps
    (the server cuts it into pieces of ASR_CHUNK_SECONDS, 30 s, decoded together). The server answers a request
    whole (no streaming), so its time to the first segment is its wall time.

Every shape is run once untimed before it is timed (kernels, allocator, batch shapes), then --runs times (default
3); the median is reported with every run's figure.

Random weights never emit end-of-text, so every request generates exactly its token budget; the budget is set to a
realistic count (--tokens-per-second of audio, default 4: ~2.5 spoken English words/s), so the timings stand for
real speech. Random transcripts decode mostly to nothing with the small tokenizer, which is why alignment is timed
on a synthetic transcript of the same length instead.

Needs torch with CUDA and the ASR server's qwen-asr, transformers and accelerate, at the versions of its production
lock as `python3 bench/pins.py asr` lists them (installed --no-deps by bench/run_gpu.sh: the modules qwen-asr imports
only for Japanese/Korean word splitting, resampling and file loading are stubbed when missing).

Usage: python bench/gpu_asr.py [--out DIR] [--seconds 30] [--concurrency 1,8,64] [--gpu-memory-gb 16] [--runs 3]
                               [--long-minutes 60] [--through-app]
Writes the report as JSON to stdout and to $OUT/gpu_asr.json when OUT is set.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import json
import os
import statistics
import sys
import threading
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "services" / "asr" / "src"), str(ROOT / "services" / "common" / "src")]


def _stub_optional_modules(keep: tuple[str, ...] = ()) -> list[str]:
    """qwen-asr imports these at module level but the bench never uses them (Japanese/Korean tokenization,
    resampling of non-16 kHz input, audio files, PyAV decoding); stub whichever is missing."""
    stubbed = []
    for name in ("nagisa", "librosa", "soundfile", "av"):
        if name in keep:
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            stub = types.ModuleType(name)
            stub.__spec__ = importlib.machinery.ModuleSpec(name, None)  # importlib.util.find_spec() needs one
            sys.modules[name] = stub
            stubbed.append(name)
    return stubbed


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_lab_asr_models", ROOT / "scripts" / "build_lab_asr_models.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _run_concurrent(fn, n: int) -> float:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            fn()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return wall


def _save(report: dict) -> str:
    """The report so far, also written to $OUT/gpu_asr.json (after every section: a run cut short keeps its figures)."""
    text = json.dumps(report, indent=2)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_asr.json").write_text(text + "\n")
    return text


def _wav(samples) -> bytes:
    """16-bit PCM WAV of float samples, as a client would upload."""
    import io
    import wave

    import numpy as np

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def _through_app(args, settings, engine, audio, timed) -> list[dict]:
    """The clips as POST /v1/audio/transcriptions to the server's own app (create_app with the loaded engine: its
    batcher, decoding, limits and formatting; Flask's test client in place of Gunicorn's sockets), each request a
    WAV upload answered as verbose_json with word and segment timestamps."""
    from litellm_local_asr.app import create_app

    app = create_app(settings, engine=engine)
    wav = _wav(audio)
    out = []

    def request() -> None:
        import io

        client = app.test_client()
        r = client.post(
            "/v1/audio/transcriptions",
            data={
                "model": settings.served_model_name,
                "response_format": "verbose_json",
                "timestamp_granularities[]": ["word", "segment"],
                "file": (io.BytesIO(wav), "clip.wav"),
            },
            content_type="multipart/form-data",
        )
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {r.get_data(as_text=True)[:300]}")

    for c in [int(x) for x in args.concurrency.split(",")]:
        walls = timed(lambda c=c: _run_concurrent(request, c))
        wall = statistics.median(walls)
        out.append(
            {
                "concurrency": c,
                "response_format": "verbose_json",
                "timestamp_granularities": ["word", "segment"],
                "wall_seconds": round(wall, 3),
                "runs_wall_seconds": [round(w, 3) for w in walls],
                "rtf": round(wall / (c * args.seconds), 5),
                "audio_seconds_per_second": round(c * args.seconds / wall, 1),
            }
        )
        print(json.dumps({"through_app": out[-1]}), file=sys.stderr)
    app.extensions["asr"]["batcher"].close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "asr-bench-models")
    parser.add_argument("--seconds", type=float, default=30.0, help="audio length of each request")
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--tokens-per-second", type=float, default=4.0, help="generated tokens per second of audio")
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--gpu-memory-gb", type=float, default=16.0)
    parser.add_argument("--skip-align", action="store_true")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each shape (after one untimed)")
    parser.add_argument("--long-minutes", type=float, default=0.0, help="also time one recording this long")
    parser.add_argument(
        "--through-app",
        action="store_true",
        help="also time the clips as HTTP requests to the server's Flask app (WAV upload, decoding, verbose_json "
        "with word timestamps); needs PyAV",
    )
    parser.add_argument("--size", choices=["0.6b", "tiny"], default="0.6b", help="tiny: a CPU dry run of this script")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    args = parser.parse_args()

    stubbed = _stub_optional_modules(keep=("av",) if args.through_app else ())
    import numpy as np
    import torch

    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("CUDA is not available", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    builder = _load_builder()
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model_dir = builder.build("qwen3-asr", args.out, args.size)
    aligner_dir = builder.build("qwen3-forced-aligner", args.out, args.size)
    build_s = time.perf_counter() - t0

    from litellm_local_asr.batching import Batcher
    from litellm_local_asr.engine import Job, QwenEngine
    from litellm_local_asr.settings import Settings

    budget = round(args.seconds * args.tokens_per_second)
    settings = Settings(
        model=str(model_dir),
        aligner=None if args.skip_align else str(aligner_dir),
        device=args.device,
        dtype="bfloat16" if cuda else "float32",
        gpu_memory_gb=args.gpu_memory_gb,
        max_batch_size=args.max_batch_size,
        batch_wait_ms=20,
        # Each request (or piece of a long one) generates --tokens-per-second of its audio.
        max_new_tokens=max(budget, 4096),
        min_new_tokens_budget=1,
        new_tokens_per_second=args.tokens_per_second,
        max_queue=4096,
    )
    t0 = time.perf_counter()
    engine = QwenEngine(settings)
    load_s = time.perf_counter() - t0
    params = sum(p.numel() for p in engine.model.model.parameters())
    batcher = Batcher(engine, settings.max_batch_size, settings.batch_wait_ms / 1000, settings.max_queue)

    def _sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(int(args.seconds * 16000))).astype(np.float32)

    def one() -> None:
        batcher.submit(Job(audio=audio), timeout_s=3600)

    _run_concurrent(one, 1)  # warm-up: kernels, allocator
    report: dict = {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "torch": torch.__version__,
        "asr_parameters": params,
        "build_seconds": round(build_s, 1),
        "load_seconds": round(load_s, 1),
        "audio_seconds_per_request": args.seconds,
        "generated_tokens_per_request": budget,
        "max_batch_size": args.max_batch_size,
        "vram_share_gb": args.gpu_memory_gb,
        "stubbed_modules": stubbed,
        "transcription": [],
        "alignment": [],
    }

    def timed(fn) -> list[float]:
        fn()  # this shape, untimed
        walls = []
        for _ in range(args.runs):
            _sync()
            t0 = time.perf_counter()
            fn()
            _sync()
            walls.append(time.perf_counter() - t0)
        return walls

    for c in [int(x) for x in args.concurrency.split(",")]:
        walls = timed(lambda c=c: _run_concurrent(one, c))
        wall = statistics.median(walls)
        audio_s = c * args.seconds
        report["transcription"].append(
            {
                "concurrency": c,
                "wall_seconds": round(wall, 3),
                "runs_wall_seconds": [round(w, 3) for w in walls],
                "rtf": round(wall / audio_s, 5),
                "audio_seconds_per_second": round(audio_s / wall, 1),
            }
        )
        print(json.dumps(report["transcription"][-1]), file=sys.stderr)
        _save(report)

    if args.through_app:
        report["through_app"] = _through_app(args, settings, engine, audio, timed)
        _save(report)

    if args.long_minutes > 0:
        long_audio = (0.1 * rng.standard_normal(int(args.long_minutes * 60 * 16000))).astype(np.float32)
        report["long_recording"] = []
        for timestamps in (False, True):
            if timestamps and args.skip_align:
                continue
            job = Job(audio=long_audio, timestamps=timestamps)
            walls = timed(lambda job=job: batcher.submit(job, timeout_s=3600))
            wall = statistics.median(walls)
            report["long_recording"].append(
                {
                    "minutes": args.long_minutes,
                    "word_timestamps": timestamps,
                    "chunk_seconds": settings.chunk_seconds,
                    "wall_seconds": round(wall, 2),
                    "runs_wall_seconds": [round(w, 2) for w in walls],
                    "time_to_first_segment_seconds": round(wall, 2),
                    "audio_seconds_per_second": round(args.long_minutes * 60 / wall, 1),
                }
            )
            print(json.dumps(report["long_recording"][-1]), file=sys.stderr)
            _save(report)

    aligner = engine.model.forced_aligner
    if aligner is not None:
        words = ("the quick brown fox jumps over the lazy dog " * 40).split()[: int(args.seconds * 2.5)]
        transcript = " ".join(words)
        aligner.align(audio=[(audio, 16000)], text=[transcript], language=["English"])  # warm-up
        for c in [int(x) for x in args.concurrency.split(",")]:

            def align(c: int = c) -> None:
                for start in range(0, c, args.max_batch_size):
                    n = min(args.max_batch_size, c - start)
                    aligner.align(audio=[(audio, 16000)] * n, text=[transcript] * n, language=["English"] * n)

            walls = timed(align)
            wall = statistics.median(walls)
            report["alignment"].append(
                {
                    "batch": c,
                    "wall_seconds": round(wall, 3),
                    "runs_wall_seconds": [round(w, 3) for w in walls],
                    "rtf": round(wall / (c * args.seconds), 5),
                }
            )
    report["peak_vram_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2) if cuda else None
    batcher.close()
    print(_save(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
