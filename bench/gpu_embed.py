#!/usr/bin/env python3
"""GPU smoke run and throughput of the embedding server (services/embed) on a real-size random-weight Qwen3-VL-2B.

Builds a random-weight Qwen3-VL-2B architecture (the real widths and depths: 28 text layers of 2048, a 24-layer
vision tower, a 151936-token embedding table) in float16 on the GPU, with the lab's small locally trained tokenizer and
processor (scripts/build_lab_models.py) and the official image resize bounds, saves it as a checkpoint and then:

  * offline: the engine's forward pass on full batches, no HTTP and no queue (the limit);
  * one at a time: the engine on single inputs, back to back;
  * the server: `python -m litellm_local_embed` (Uvicorn, batching worker) in its own process, driven by 1, 8 and 64
    concurrent HTTP clients sending one input per request.

Texts are --text-tokens tokens long; images are --image-size pixels square (PNG data URLs; 512 px = 256 visual
tokens). Reports texts/s and images/s, latency percentiles and the server's mean batch size, as JSON on stdout and
in $OUT/gpu_embed.json when OUT is set.

Needs torch with CUDA and, installed from the wheelhouse that bench/gpu_embed_wheels.sh builds where no network is,
the server's transformers, fastapi, uvicorn, pydantic-settings, prometheus-client and httpx at the versions of its
production lock, as `python3 bench/pins.py embed` lists them.

Usage: python bench/gpu_embed.py [--dtype float16] [--seconds 20] [--concurrency 1,8,64] [--text-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import importlib.util
import io
import json
import multiprocessing
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "services" / "embed" / "src"
COMMON_SRC = ROOT / "services" / "common" / "src"
sys.path[:0] = [str(SRC), str(COMMON_SRC)]

# Qwen3-VL-2B (the base of Qwen3-VL-Embedding-2B): text and vision towers at their real sizes.
TEXT = {
    "vocab_size": 151936,
    "hidden_size": 2048,
    "intermediate_size": 6144,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 262144,
    "rms_norm_eps": 1e-6,
    "rope_parameters": {
        "rope_type": "default",
        "rope_theta": 5000000.0,
        "mrope_section": [24, 20, 20],
        "mrope_interleaved": True,
    },
    "tie_word_embeddings": True,
}
VISION = {
    "depth": 24,
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_heads": 16,
    "patch_size": 16,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "out_hidden_size": 2048,
    "num_position_embeddings": 2304,
    "deepstack_visual_indexes": [5, 11, 17],
}
# The official embedder's image bounds (Qwen3-VL-Embedding: 4 and 1800 merged 32x32 patches).
MIN_PIXELS, MAX_PIXELS = 4 * 32 * 32, 1800 * 32 * 32


def _lab_builder():
    spec = importlib.util.spec_from_file_location("build_lab_models", ROOT / "scripts" / "build_lab_models.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_lab_models"] = module
    spec.loader.exec_module(module)
    return module


DEVICE = "cuda"
SECONDS = 5.0  # of each offline measurement


def build_checkpoint(dest: Path, dtype: str) -> dict:
    import torch
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    lab = _lab_builder()
    tokenizer = lab.build_tokenizer()
    config = Qwen3VLConfig(
        text_config=TEXT, vision_config=VISION, tie_word_embeddings=True, **lab._token_ids(tokenizer)
    )
    started = time.monotonic()
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        with torch.device(DEVICE):
            model = Qwen3VLForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(default)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(dest)
    del model
    if DEVICE == "cuda":
        torch.cuda.empty_cache()
    processor = lab._qwen3_vl_processor(tokenizer)
    processor.image_processor.size = {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}
    processor.save_pretrained(dest)
    return {"parameters": params, "build_seconds": round(time.monotonic() - started, 1)}


def make_text(tokenizer, tokens: int, seed: int) -> str:
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "a", "model", "reads"]
    out = []
    i = seed
    while len(tokenizer(" ".join(out))["input_ids"]) < tokens:
        out.append(words[i % len(words)])
        i += 7
    return " ".join(out)


def make_image(size: int, seed: int) -> str:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (size // 32, size // 32, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((size, size), Image.BILINEAR)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def offline(engine, texts: list[str], images: list[str], batch: int) -> dict:
    """Forward passes straight through the engine: full batches (the limit) and one input at a time."""
    import torch

    def sync() -> None:
        if DEVICE == "cuda":
            torch.cuda.synchronize()

    from litellm_local_embed.engine import EmbedInput
    from litellm_local_embed.images import decode_image
    from litellm_local_embed.method import conversation

    settings = engine.settings

    def text_item(t: str) -> EmbedInput:
        return EmbedInput(
            kind="chat", messages=conversation(t, 0, "Represent the user's input.", ""), add_generation_prompt=True
        )

    def image_item(url: str) -> EmbedInput:
        raw = base64.b64decode(url.split(",", 1)[1])
        return EmbedInput(
            kind="chat",
            messages=conversation(None, 1, "Represent the user's input.", ""),
            images=[decode_image(raw, settings, "image")],
            add_generation_prompt=True,
        )

    results = {}
    for kind, items, n in (
        ("texts", [text_item(t) for t in texts], batch),
        ("images", [image_item(u) for u in images], max(batch // 2, 1)),
    ):
        prepared = [engine.prepare(i) for i in items]
        engine.embed(prepared[:n])  # warm-up
        sync()
        started, done = time.monotonic(), 0
        while time.monotonic() - started < SECONDS:
            engine.embed(prepared[:n])
            done += n
        sync()
        batched = done / (time.monotonic() - started)
        engine.embed(prepared[:1])  # warm-up of the single-input shapes
        sync()
        started, done = time.monotonic(), 0
        while time.monotonic() - started < SECONDS:
            engine.embed([prepared[done % len(prepared)]])
            done += 1
        sync()
        single = done / (time.monotonic() - started)
        results[kind] = {
            "tokens_per_input": prepared[0].n_tokens,
            "batched_forward_per_second": round(batched, 1),
            "batch": n,
            "one_at_a_time_per_second": round(single, 1),
        }
    if DEVICE == "cuda":
        results["peak_vram_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return results


async def drive_share(url: str, bodies: list[dict], clients: range, stride: int, seconds: float) -> dict:
    """Clients `clients` of `stride` in all, each sending one request after the other for `seconds`."""
    import httpx

    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def client(k: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(timeout=300) as http:
            i = k
            while time.monotonic() < deadline:
                t0 = time.monotonic()
                response = await http.post(url, json=bodies[i % len(bodies)])
                if response.status_code == 200:
                    latencies.append(time.monotonic() - t0)
                else:
                    errors += 1
                i += stride

    started = time.monotonic()
    await asyncio.gather(*(client(k) for k in clients))
    return {"latencies": latencies, "errors": errors, "wall": time.monotonic() - started}


def _drive_share_sync(job: tuple) -> dict:
    return asyncio.run(drive_share(*job))


def drive(url: str, bodies: list[dict], concurrency: int, seconds: float, processes: int = 1) -> dict:
    """`concurrency` clients spread over `processes` client processes, so that the load generator (Python, httpx) is
    not what limits the rate."""
    processes = max(1, min(processes, concurrency))
    jobs = [(url, bodies, range(p, concurrency, processes), concurrency, seconds) for p in range(processes)]
    if processes == 1:
        parts = [_drive_share_sync(jobs[0])]
    else:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(processes, mp_context=context) as pool:
            parts = list(pool.map(_drive_share_sync, jobs))
    latencies = sorted(x for part in parts for x in part["latencies"])
    wall = max(part["wall"] for part in parts)
    return {
        "concurrency": concurrency,
        "client_processes": processes,
        "requests": len(latencies),
        "errors": sum(part["errors"] for part in parts),
        "per_second": round(len(latencies) / wall, 1),
        "latency_p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "latency_p95_ms": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
    }


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux), 0 where /proc is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve_and_drive(
    checkpoint: Path, args, texts: list[str], images: list[str], inference_process: bool = True
) -> dict:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(SRC), str(COMMON_SRC)]),
        EMBED_MODEL=str(checkpoint),
        EMBED_PORT=str(port),
        EMBED_DEVICE=DEVICE,
        EMBED_DTYPE=args.dtype,
        EMBED_ATTENTION=args.attention,
        EMBED_MAX_BATCH_SIZE=str(args.max_batch_size),
        EMBED_MAX_BATCH_TOKENS=str(args.max_batch_tokens),
        EMBED_BATCH_WAIT_MS=str(args.max_wait_ms),
        EMBED_MAX_QUEUE="4096",
        EMBED_LOG_LEVEL="warning",
        EMBED_INFERENCE_PROCESS="true" if inference_process else "false",
    )
    server = subprocess.Popen([sys.executable, "-m", "litellm_local_embed"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited with {server.returncode}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        out = {}
        for kind, bodies in (
            ("texts", [{"input": [{"text": t}], "encoding_format": "base64"} for t in texts]),
            ("images", [{"input": [{"image": u}], "encoding_format": "base64"} for u in images]),
        ):
            rows = []
            drive(f"{base}/v1/embeddings", bodies, 4, 3)  # warm-up
            for c in args.concurrency:
                before = httpx.get(f"{base}/metrics").text
                cpu_before = cpu_seconds(server.pid)
                row = drive(f"{base}/v1/embeddings", bodies, c, args.seconds, args.client_processes)
                cpu = cpu_seconds(server.pid) - cpu_before
                after = httpx.get(f"{base}/metrics").text
                batches = metric(after, "embed_batch_size_count") - metric(before, "embed_batch_size_count")
                inputs = metric(after, "embed_batch_size_sum") - metric(before, "embed_batch_size_sum")
                forward = metric(after, "embed_forward_seconds_sum") - metric(before, "embed_forward_seconds_sum")
                row["mean_batch_size"] = round(inputs / batches, 1) if batches else None
                # The forward pass's share of the wall time, and its mean duration per batch (compare with offline).
                row["forward_busy"] = round(forward / args.seconds, 2)
                row["forward_ms_per_batch"] = round(1000 * forward / batches, 1) if batches else None
                row["server_cpu_ms_per_request"] = round(1000 * cpu / row["requests"], 2) if row["requests"] else None
                rows.append(row)
                print("process" if inference_process else "thread", kind, row, file=sys.stderr, flush=True)
            out[kind] = rows
        return out
    finally:
        server.terminate()
        server.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    parser.add_argument("--attention", default="sdpa", choices=["sdpa", "eager"])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 64])
    parser.add_argument("--text-tokens", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--max-batch-tokens", type=int, default=65536)
    parser.add_argument("--max-wait-ms", type=float, default=5)
    parser.add_argument("--smoke", action="store_true", help="tiny model on the CPU: checks this script, no numbers")
    parser.add_argument("--checkpoint", type=Path, help="reuse a checkpoint built earlier (default: build one)")
    parser.add_argument("--client-processes", type=int, default=4, help="load generator processes")
    parser.add_argument(
        "--compare-thread",
        action="store_true",
        help="also serve with the forward pass on a thread of the server's process (EMBED_INFERENCE_PROCESS=false)",
    )
    args = parser.parse_args()

    import torch
    import transformers

    global DEVICE
    if args.smoke:
        DEVICE = "cpu"
        TEXT.update(
            vocab_size=2048,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=32,
            max_position_embeddings=4096,
        )
        TEXT["rope_parameters"]["mrope_section"] = [8, 4, 4]
        VISION.update(
            depth=2,
            hidden_size=64,
            intermediate_size=128,
            num_heads=2,
            out_hidden_size=64,
            deepstack_visual_indexes=[0, 1],
        )
        args.seconds = min(args.seconds, 2)
        global SECONDS
        SECONDS = 1.0
    else:
        assert torch.cuda.is_available(), "no CUDA device"
    report: dict = {
        "device": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu (smoke)",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "dtype": args.dtype,
        "attention": args.attention,
        "text_tokens": args.text_tokens,
        "image_size": args.image_size,
    }
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or Path(tmp) / "qwen3-vl-2b-random"
        if not args.checkpoint:
            report.update(build_checkpoint(checkpoint, args.dtype))
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        texts = [make_text(tokenizer, args.text_tokens, i) for i in range(64)]
        images = [make_image(args.image_size, i) for i in range(16)]

        from litellm_local_embed.engine import QwenVLEmbeddingEngine
        from litellm_local_embed.settings import Settings

        started = time.monotonic()
        engine = QwenVLEmbeddingEngine(
            Settings(model=str(checkpoint), device=DEVICE, dtype=args.dtype, attention=args.attention)
        )
        report["load_seconds"] = round(time.monotonic() - started, 1)
        report["dimensions"] = engine.hidden_size
        report["offline"] = offline(engine, texts, images, args.max_batch_size)
        del engine
        if DEVICE == "cuda":
            torch.cuda.empty_cache()
        report["server"] = serve_and_drive(checkpoint, args, texts, images)
        if args.compare_thread:
            report["server_thread"] = serve_and_drive(checkpoint, args, texts, images, inference_process=False)
    text = json.dumps(report, indent=2)
    print(text)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_embed.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
