#!/usr/bin/env python3
"""A small benchmark of the two engines through the whole server (decoding, runner, engine, formatting).

N clients post N different clips of --seconds each at once (N from --concurrency), json (no timestamps) and
verbose_json with word timestamps; each shape (engine, format, N) is run once untimed, then each point is the median
of --repeats rounds of the wall time until the last answer (every round's figure is kept in --json). The
transformers engine runs in this process (float32 on CPU); the vllm engine talks to the servers at --asr-url and
--aligner-url (docs/asr.md, "The vllm engine", has lab commands for both).

Run from services/asr with the ASR venv (qwen-asr installed):
    PYTHONPATH=src:../common/src python bench/bench_engines.py --asr-url http://127.0.0.1:18301 --aligner-url http://127.0.0.1:18302
Without the URLs only the transformers engine runs. In the deployed lab the vllm engine's servers are lab-a's units:
    --asr-url http://10.77.0.11:8105 --aligner-url http://10.77.0.11:8106 \\
    --json ../../docs/bench/cpu_asr_engines-lab.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import threading
import time
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from litellm_local_asr.app import create_app  # noqa: E402
from litellm_local_asr.settings import Settings  # noqa: E402


def clip(seconds: float, seed: int) -> bytes:
    """A 16-bit WAV of noise and a tone, different for every seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    samples = 0.2 * np.sin(2 * np.pi * (200 + 10 * seed) * t) + 0.05 * rng.standard_normal(len(t))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def one_round(app, clips: list[bytes], fmt: str) -> float:
    n = len(clips)
    start = threading.Barrier(n + 1)
    codes: list[int] = []

    def client(data: bytes) -> None:
        form = {"file": (io.BytesIO(data), "clip.wav"), "model": "asr", "response_format": fmt, "language": "en"}
        if fmt == "verbose_json":
            form["timestamp_granularities[]"] = "word"
        with app.test_client() as c:
            start.wait()
            r = c.post("/v1/audio/transcriptions", data=form, content_type="multipart/form-data")
            codes.append(r.status_code)

    threads = [threading.Thread(target=client, args=(data,)) for data in clips]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.monotonic()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    if codes != [200] * n:
        raise SystemExit(f"{fmt} x{n}: answers {sorted(set(codes))}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models",
        type=Path,
        default=Path(os.environ.get("ASR_TEST_MODELS_DIR", "/var/cache/litellm-local-lab/models")),
    )
    parser.add_argument("--asr-url", default="")
    parser.add_argument("--aligner-url", default="")
    parser.add_argument("--asr-model", default="qwen3-asr")
    parser.add_argument("--aligner-model", default="qwen3-forced-aligner")
    parser.add_argument("--engines", nargs="+", default=["transformers", "vllm"], choices=["transformers", "vllm"])
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 64])
    parser.add_argument("--formats", nargs="+", default=["json", "verbose_json"], choices=["json", "verbose_json"])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--max-batch-size", type=int, default=8, help="the transformers engine's batch (ASR_MAX_BATCH_SIZE)"
    )
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()

    common = {
        "model": str(args.models / "qwen3-asr"),
        "aligner": str(args.models / "qwen3-forced-aligner"),
        "device": "cpu",
        "dtype": "float32",
        "max_batch_size": args.max_batch_size,
        "threads": max(args.concurrency),
        "max_queue": 4 * max(args.concurrency),
        "log_format": "text",
    }
    engines = [e for e in args.engines if e == "transformers" or (args.asr_url and args.aligner_url)]
    clips = [clip(args.seconds, seed) for seed in range(max(args.concurrency))]
    rows: list[dict] = []
    print(f"{args.seconds:g}-s clips, median of {args.repeats} after a warm-up; wall s (audio s per wall s)")
    print(f"{'engine':13} {'format':13}" + "".join(f"{'x' + str(n):>16}" for n in args.concurrency))
    for name in engines:
        extra = {}
        if name == "vllm":
            extra = {
                "engine": "vllm",
                "vllm_asr_url": args.asr_url,
                "vllm_aligner_url": args.aligner_url,
                "vllm_asr_model": args.asr_model,
                "vllm_aligner_model": args.aligner_model,
                "vllm_max_concurrency": max(args.concurrency),
            }
        app = create_app(Settings(**common, **extra))
        for fmt in args.formats:
            cells = []
            for n in args.concurrency:
                one_round(app, clips[:n], fmt)  # this shape, untimed
                walls = [one_round(app, clips[:n], fmt) for _ in range(args.repeats)]
                wall = statistics.median(walls)
                cells.append(f"{wall:7.2f} ({n * args.seconds / wall:5.1f})")
                rows.append(
                    {
                        "engine": name,
                        "format": fmt,
                        "concurrency": n,
                        "wall_seconds": round(wall, 3),
                        "runs_wall_seconds": [round(w, 3) for w in walls],
                        "audio_seconds_per_second": round(n * args.seconds / wall, 2),
                    }
                )
            print(f"{name:13} {fmt:13}" + "".join(f"{c:>16}" for c in cells), flush=True)
        app.extensions["asr"]["batcher"].close()
    ratios = {
        f"{r['format']} x{r['concurrency']}": round(r["wall_seconds"] / v["wall_seconds"], 2)
        for r in rows
        for v in rows
        if r["engine"] == "transformers"
        and v["engine"] == "vllm"
        and (r["format"], r["concurrency"]) == (v["format"], v["concurrency"])
    }
    if ratios:
        print("vllm speed-up over transformers (wall ratio): " + ", ".join(f"{k}: {x}x" for k, x in ratios.items()))
    if args.json:
        report = {
            "seconds_per_clip": args.seconds,
            "repeats": args.repeats,
            "transformers_max_batch_size": args.max_batch_size,
            "rows": rows,
            "vllm_speedup": ratios,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
