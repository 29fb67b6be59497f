#!/usr/bin/env bash
# The CPU benchmarks, on the lab (scripts/deploy first): gateway overhead, the embedding server with the tiny model,
# the warm deploy time; results in docs/bench/*.json, plots next to them. `--cold` also times a deploy from scratch
# (it destroys and recreates the lab hosts; the download caches are kept).
source "$(dirname "$0")/../scripts/common.sh"
cd "$ROOT"
out=docs/bench
mkdir -p "$out"

if [[ ${1:-} == --cold ]]; then
  log "cold deploy: destroying the lab hosts"
  python3 lab/labctl.py down
  start=$(date +%s)
  scripts/deploy >/tmp/litellm-local-cold-deploy.log 2>&1 || die "cold deploy failed: /tmp/litellm-local-cold-deploy.log"
  cold=$(($(date +%s) - start))
fi

log "warm deploy (a second converge)"
start=$(date +%s)
ansible-playbook -i "$LAB_INVENTORY" -e "@$LAB_SECRETS" site.yml >/tmp/litellm-local-warm-deploy.log 2>&1 \
  || die "warm deploy failed: /tmp/litellm-local-warm-deploy.log"
warm=$(($(date +%s) - start))
changed=$(grep -Eo 'changed=[0-9]+' /tmp/litellm-local-warm-deploy.log | cut -d= -f2 | paste -sd+ | bc)
printf '{"warm_seconds": %s, "warm_changed": %s, "cold_seconds": %s}\n' "$warm" "$changed" "${cold:-null}" \
  | tee "$out/deploy-lab.json"

log "gateway overhead"
.venv/bin/python bench/gateway_overhead.py --requests 200 --concurrency 1,16 --json "$out/gateway-lab.json"

log "embedding server on the CPU (tiny model)"
[[ -x .venv-embed/bin/python ]] || .venv/bin/pytest -q tests/unit/test_embed_service.py >/dev/null  # builds .venv-embed
tmp=$(mktemp -d)
OUT=$tmp .venv-embed/bin/python bench/gpu_embed.py --smoke --seconds 10 --concurrency 1,8,64 >/dev/null
cp "$tmp/gpu_embed.json" "$out/cpu_embed-lab.json"
rm -rf "$tmp"

log "plots"
[[ -x .venv-bench/bin/python ]] || { python3 -m venv .venv-bench && .venv-bench/bin/pip install -q -r requirements/bench.txt; }
.venv-bench/bin/python bench/plots.py --dir "$out"
