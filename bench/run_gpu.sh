#!/usr/bin/env bash
# The GPU benchmarks, run on an NVIDIA machine with torch + CUDA (the device machine of this workplace: one call of
# its `run` verb with `carry: [".whl", ".bench-wheels"]`): the embedding server on a real-size random-weight
# Qwen3-VL-2B in float16 and the ASR server on real-size random-weight Qwen3-ASR-0.6B + ForcedAligner.
# Prepare the wheels on a machine with the package index first: `bench/run_gpu.sh --wheels`.
# The versions are the services' own (their production locks), listed by bench/pins.py.
set -euo pipefail
cd "$(dirname "$0")/.."
pins=$(mktemp -d)
trap 'rm -rf "$pins"' EXIT
python3 bench/pins.py asr -o "$pins/asr.txt"
python3 bench/pins.py embed -o "$pins/embed.txt"
if [[ ${1:-} == --wheels ]]; then
  bash bench/gpu_embed_wheels.sh
  py=(--python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --only-binary=:all: --no-deps -d .whl)
  # PyAV too: the clips also go through the server's app, which decodes the uploads.
  PIP_CONSTRAINT= python3 -m pip download -q "${py[@]}" -r "$pins/asr.txt" "$(grep -E '^av==' roles/asr/files/requirements-production.lock | cut -d' ' -f1)"
  exit 0
fi
export PYTHONUNBUFFERED=1
out=${OUT:-docs/bench}
# Embedding server (transformers 5.19 from the wheelhouse).
python3 -m pip install -q --no-index --find-links .bench-wheels/embed -r "$pins/embed.txt"
OUT=$out python3 bench/gpu_embed.py --compare-thread
# ASR server (qwen-asr pins transformers 4.57.6: kept apart on PYTHONPATH). Only the pinned wheels: .whl may still
# hold other versions from an earlier --wheels.
python3 -m pip install -q --no-index --no-deps --find-links .whl --target /tmp/asr-site -r "$pins/asr.txt" \
  "$(grep -E '^av==' roles/asr/files/requirements-production.lock | cut -d' ' -f1)"
# Each run fits one device call (10 minutes); docs/benchmarks.md has the three.
OUT=$out PYTHONPATH=/tmp/asr-site python3 bench/gpu_asr.py --seconds 10 --concurrency 1,8,64 --max-batch-size 64 --runs 3 \
  --through-app
mv "$out/gpu_asr.json" "$out/gpu_asr-h200.json"
OUT=$out PYTHONPATH=/tmp/asr-site python3 bench/gpu_asr.py --seconds 10 --concurrency 1,8,64 --max-batch-size 8 \
  --gpu-memory-gb 4 --runs 3
mv "$out/gpu_asr.json" "$out/gpu_asr-h200-batch8.json"
OUT=$out PYTHONPATH=/tmp/asr-site python3 bench/gpu_asr.py --seconds 10 --concurrency 1 --max-batch-size 32 \
  --gpu-memory-gb 16 --runs 3 --long-minutes 60
mv "$out/gpu_asr.json" "$out/gpu_asr_long-h200.json"
