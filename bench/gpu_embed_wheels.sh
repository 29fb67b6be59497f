#!/usr/bin/env bash
# Build the wheelhouse bench/gpu_embed.py needs on a GPU machine without network access (it has torch): the server's
# pure-Python dependencies and transformers 5.19, plus the compiled ones for CPython 3.11-3.13. Run it here, then
# carry .bench-wheels/embed to the GPU machine and install from it with --no-index (see docs/embeddings.md).
# The versions are the server's own (its production lock), listed by bench/pins.py.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.bench-wheels/embed
mkdir -p "$out"
pins=$(mktemp)
trap 'rm -f "$pins"' EXIT
python3 bench/pins.py embed -o "$pins"
for py in 3.11 3.12 3.13; do
  python3 -m pip download -q -d "$out" --only-binary=:all: --python-version "$py" \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -r "$pins"
done
# numpy and pillow come with torch's stack on the GPU machine; leave them out to stay small.
rm -f "$out"/numpy-* "$out"/pillow-*
du -sh "$out"
