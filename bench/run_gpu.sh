#!/usr/bin/env bash
# The GPU benchmarks, run on an NVIDIA machine with torch + CUDA (the device machine of this workplace: one call of
# its `run` verb with `carry: [".whl", ".bench-wheels"]`): the embedding server on a real-size random-weight
# Qwen3-VL-2B in float16 and the ASR server on real-size random-weight Qwen3-ASR-0.6B + ForcedAligner.
# Prepare the wheels on a machine with the package index first: `bench/run_gpu.sh --wheels`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ${1:-} == --wheels ]]; then
  bash bench/gpu_embed_wheels.sh
  py=(--python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --only-binary=:all: --no-deps -d .whl)
  PIP_CONSTRAINT= python3 -m pip download -q "${py[@]}" qwen-asr==0.0.6 transformers==4.57.6 accelerate==1.12.0 \
    tokenizers==0.22.2 huggingface-hub==0.36.2 pydantic-settings==2.16.3 python-dotenv==1.2.4 flask==3.1.2 \
    werkzeug==3.1.3 itsdangerous==2.2.0 blinker==1.9.0 prometheus-client==0.26.0 pydantic==2.12.5 \
    pydantic-core==2.41.5 annotated-types==0.7.0 typing-inspection==0.4.2
  exit 0
fi
export PYTHONUNBUFFERED=1
out=${OUT:-docs/bench}
# Embedding server (transformers 5.19 from the wheelhouse).
python3 -m pip install -q --no-index --find-links .bench-wheels/embed transformers==5.19.0 fastapi==0.165.0 \
  uvicorn==0.54.0 pydantic-settings==2.16.3 prometheus-client==0.26.0 httpx==0.28.1
OUT=$out python3 bench/gpu_embed.py --compare-thread
# ASR server (qwen-asr pins transformers 4.57.6: kept apart on PYTHONPATH).
python3 -m pip install -q --no-index --no-deps --target /tmp/asr-site .whl/*.whl
OUT=$out PYTHONPATH=/tmp/asr-site python3 bench/gpu_asr.py --seconds 10 --concurrency 1,8,64 --max-batch-size 64
