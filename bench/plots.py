#!/usr/bin/env python3
"""Draw the benchmark plots of docs/benchmarks.md from the JSON results in docs/bench/.

Usage: python bench/plots.py [--dir docs/bench]   (writes <name>.png next to each result it knows)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def embed_plot(result: dict, title: str, out: Path) -> None:
    """Throughput at each concurrency (server) against one-at-a-time serving and the offline batched limit."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, kind in zip(axes, ("texts", "images"), strict=True):
        rows = result["server"][kind]
        conc = [r["concurrency"] for r in rows]
        ax.plot(conc, [r["per_second"] for r in rows], "o-", label="server (batching across requests)")
        if "server_thread" in result:
            thread = result["server_thread"][kind]
            ax.plot(conc, [r["per_second"] for r in thread], "s--", label="server, forward on a thread")
            ax.lines[-2].set_label("server, forward in its own process")
        ax.axhline(
            result["offline"][kind]["batched_forward_per_second"],
            color="green",
            ls="--",
            label="offline batched forward (limit)",
        )
        ax.axhline(result["offline"][kind]["one_at_a_time_per_second"], color="red", ls=":", label="one at a time")
        ax.set_xscale("log", base=2)
        ax.set_xticks(conc, [str(c) for c in conc])
        ax.set_yscale("log")
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel(f"{kind} / s")
        ax.set_title(f"{title}: {kind}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def asr_plot(result: dict, out: Path) -> None:
    rows = result["transcription"]
    conc = [r["concurrency"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 4))
    batch = result.get("max_batch_size", "?")
    share = result.get("vram_share_gb", "?")
    label = f"engine + batcher, json (batch {batch}, {share} GB)"
    ax.plot(conc, [r["audio_seconds_per_second"] for r in rows], "o-", label=label)
    app = result.get("through_app") or []
    if app:
        ax.plot(
            [r["concurrency"] for r in app],
            [r["audio_seconds_per_second"] for r in app],
            "s--",
            label="through the server's app, verbose_json + word timestamps",
        )
    ax.axhline(1000, color="red", ls=":", label="target: 1000x real time at 64")
    ax.set_xscale("log", base=2)
    ax.set_xticks(conc, [str(c) for c in conc])
    ax.set_yscale("log")
    ax.set_xlabel("concurrent clients")
    ax.set_ylabel("audio seconds per second (x real time)")
    ax.set_title(f"ASR, transformers engine, {result['device']}, {result['audio_seconds_per_request']:.0f} s clips")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def asr_engines_plot(result: dict, out: Path) -> None:
    """The lab's two engines side by side: audio seconds per second at each concurrency, per format."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for (engine, fmt), style in zip(
        sorted({(r["engine"], r["format"]) for r in result["rows"]}), ["o-", "o--", "s-", "s--"], strict=False
    ):
        rows = [r for r in result["rows"] if (r["engine"], r["format"]) == (engine, fmt)]
        ax.plot(
            [r["concurrency"] for r in rows],
            [r["audio_seconds_per_second"] for r in rows],
            style,
            label=f"{engine} {fmt}",
        )
    conc = sorted({r["concurrency"] for r in result["rows"]})
    ax.set_xscale("log", base=2)
    ax.set_xticks(conc, [str(c) for c in conc])
    ax.set_xlabel("concurrent clients")
    ax.set_ylabel("audio seconds per second")
    ax.set_title(f"ASR engines in the lab (tiny models, CPU), {result['seconds_per_clip']:.0f} s clips")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def gateway_plot(rows: list[dict], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    labels = [f"{r.get('config', 'deployed')}\nc={r['concurrency']}" for r in rows]
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [r["added_median_ms"] for r in rows], 0.4, label="added median latency (ms)")
    ax.bar(
        [i + 0.2 for i in x], [r["gateway_cpu_ms_per_request"] for r in rows], 0.4, label="gateway CPU per request (ms)"
    )
    ax.axhline(3, color="red", ls=":", label="target 3 ms")
    ax.set_xticks(list(x), labels, fontsize=7)
    ax.legend(fontsize=7)
    ax.set_title("LiteLLM gateway overhead (lab, 2 cores)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "bench")
    args = parser.parse_args()
    drawn = []
    for path in sorted(args.dir.glob("*.json")):
        data = json.loads(path.read_text())
        out = path.with_suffix(".png")
        if path.name.startswith(("gpu_embed", "cpu_embed")):
            embed_plot(data, f"{data.get('device', 'CPU')} {data.get('dtype', '')}", out)
        elif path.name.startswith("gpu_asr-"):
            asr_plot(data, out)
        elif path.name.startswith("cpu_asr_engines"):
            asr_engines_plot(data, out)
        elif path.name.startswith("gateway"):
            gateway_plot(data, out)
        else:
            continue
        drawn.append(out.name)
    print("drew:", ", ".join(drawn) or "nothing")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
