# shellcheck shell=bash
# Shared by scripts/deploy and scripts/test: control-node set-up and lab paths.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_CACHE=${LAB_CACHE:-/var/cache/litellm-local-lab}
LAB_INVENTORY="$ROOT/inventory/lab.yml"
LAB_SECRETS="$ROOT/.lab/secrets.yml"
VENV="$ROOT/.venv"
MODELS_VENV="$ROOT/.venv-labmodels"
ASR_VENV="$ROOT/.venv-labasr"
GATEWAY_VENV="$ROOT/.venv-gateway"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
export PATH="$VENV/bin:$PATH"

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Install what the control node needs: Debian packages for the lab, the pinned Python toolchain.
setup_control_node() {
  [[ $(id -u) -eq 0 ]] || die "run as root: the lab boots systemd-nspawn containers (sudo $0)"
  local missing=()
  # chromium and its driver: the web UI's browser test (tests/ui).
  for pkg in systemd-container debootstrap nftables iproute2 openssh-client python3-venv espeak-ng chromium chromium-driver; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  fi
  local stamp="$VENV/.requirements.sha256" want
  want=$(sha256sum "$ROOT/requirements/control.txt" | cut -d' ' -f1)
  if [[ ! -x $VENV/bin/ansible-playbook || $(cat "$stamp" 2>/dev/null) != "$want" ]]; then
    log "installing the control-node toolchain into .venv"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r "$ROOT/requirements/control.txt"
    echo "$want" >"$stamp"
  fi
}

# Lab-only artefacts built on the control node: CPU wheels PyPI lacks, and tiny models of the real architectures.
build_lab_artefacts() {
  log "building lab wheels into $LAB_CACHE/wheels"
  # Reproducible builds: the lab lock files pin these wheels by their sha256 (a mismatch stops here, before a deploy).
  local lock locks=()
  for lock in "$ROOT"/roles/*/files/requirements-lab.lock; do locks+=(--check-lock "$lock"); done
  python3 "$ROOT/scripts/build_lab_wheels.py" --out "$LAB_CACHE/wheels" "${locks[@]}"
  local stamp="$MODELS_VENV/.requirements.sha256" want
  want=$(cat "$ROOT/requirements/lab-models.txt" | sha256sum | cut -d' ' -f1)
  if [[ ! -x $MODELS_VENV/bin/python || $(cat "$stamp" 2>/dev/null) != "$want" ]]; then
    log "installing the lab model builder into .venv-labmodels"
    python3 -m venv "$MODELS_VENV"
    local extra=()
    [[ -n ${LAB_TORCH_INDEX_URL:-} ]] && extra+=(--extra-index-url "$LAB_TORCH_INDEX_URL")
    "$MODELS_VENV/bin/pip" install -q --find-links "$LAB_CACHE/wheels" "${extra[@]}" \
      -r "$ROOT/requirements/lab-models.txt"
    echo "$want" >"$stamp"
  fi
  log "building lab models into $LAB_CACHE/models"
  HF_HUB_OFFLINE=1 "$MODELS_VENV/bin/python" "$ROOT/scripts/build_lab_models.py" --out "$LAB_CACHE/models"
  build_lab_asr_models
}

# The ASR models need qwen-asr, which pins transformers 4.57: their own venv, .venv-labasr, which also holds the ASR
# server's dependencies (services/asr) and runs its tests.
build_lab_asr_models() {
  local stamp="$ASR_VENV/.requirements.sha256" want
  want=$(cat "$ROOT/requirements/lab-asr-models.txt" "$ROOT/services/asr/pyproject.toml" \
    "$ROOT/services/common/pyproject.toml" | sha256sum | cut -d' ' -f1)
  if [[ ! -x $ASR_VENV/bin/python || $(cat "$stamp" 2>/dev/null) != "$want" ]]; then
    log "installing the lab ASR model builder and the ASR server into .venv-labasr"
    python3 -m venv "$ASR_VENV"
    local extra=()
    [[ -n ${LAB_TORCH_INDEX_URL:-} ]] && extra+=(--extra-index-url "$LAB_TORCH_INDEX_URL")
    # Installed from a copy: a build inside services/asr would leave an egg-info there, which the deploy copies to
    # the hosts and their own build rewrites (a change on every converge). Tests import the working tree's source.
    local src
    src=$(mktemp -d)
    cp -r "$ROOT/services/asr/." "$src/asr/"
    cp -r "$ROOT/services/common/." "$src/common/"
    "$ASR_VENV/bin/pip" install -q --find-links "$LAB_CACHE/wheels" "${extra[@]}" \
      -r "$ROOT/requirements/lab-asr-models.txt" "$src/common" "$src/asr[test]"
    rm -rf "$src"
    echo "$want" >"$stamp"
  fi
  log "building lab ASR models into $LAB_CACHE/models"
  HF_HUB_OFFLINE=1 "$ASR_VENV/bin/python" "$ROOT/scripts/build_lab_asr_models.py" --out "$LAB_CACHE/models"
}

# The gateway plug-ins' tests need LiteLLM (scripts/test builds it; a deploy does not need it): .venv-gateway holds the gateway's own pins (the role's lock file, with
# its hashes) and pytest; the tests import the working tree's source (PYTHONPATH).
build_gateway_test_venv() {
  local lock="$ROOT/roles/litellm/files/requirements.lock" stamp="$GATEWAY_VENV/.requirements.sha256" want
  want=$(cat "$lock" "$ROOT/requirements/control.txt" | sha256sum | cut -d' ' -f1)
  if [[ ! -x $GATEWAY_VENV/bin/python || $(cat "$stamp" 2>/dev/null) != "$want" ]]; then
    log "installing the gateway's pinned dependencies into .venv-gateway (for its plug-ins' tests)"
    python3 -m venv "$GATEWAY_VENV"
    "$GATEWAY_VENV/bin/pip" install -q "$(grep -E '^pip==' "$ROOT/requirements/control.txt")"
    "$GATEWAY_VENV/bin/pip" install -q -r "$lock"
    "$GATEWAY_VENV/bin/pip" install -q "$(grep -E '^pytest==' "$ROOT/requirements/control.txt")"
    echo "$want" >"$stamp"
  fi
}

# The lab's secrets, kept out of git and readable by root only: the gateway's master key and the named client keys
# of the lab (litellm_local_clients): `tests` (the suite's own), `prometheus` (reads /metrics), `open-webui` (the web
# UI, forwarding its users), and `rate-a`/`rate-b` with a small budget each (the per-client limit tests); the web UI's
# first admin. Generated once; what an older file lacks is added, what is there is kept.
ensure_lab_secrets() {
  mkdir -p "$(dirname "$LAB_SECRETS")"
  (umask 077 && "$VENV/bin/python" - "$LAB_SECRETS" <<'PY'
import secrets, sys, yaml
from pathlib import Path
path = Path(sys.argv[1])
data = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
data.setdefault("litellm_master_key", f"sk-lab-{secrets.token_hex(24)}")
wanted = [
    {"name": "tests", "requests_per_second": 50, "burst": 200},
    {"name": "prometheus", "metrics": True},
    {"name": "open-webui", "user_header": "X-OpenWebUI-User-Email"},
    {"name": "rate-a", "requests_per_second": 1, "burst": 2},
    {"name": "rate-b", "requests_per_second": 1, "burst": 2},
]
clients = data.setdefault("litellm_local_clients", [])
have = {c["name"] for c in clients}
clients += [{**c, "key": f"sk-lab-{c['name']}-{secrets.token_hex(20)}"} for c in wanted if c["name"] not in have]
# The web UI's first admin (roles/open_webui).
data.setdefault("open_webui_admin_email", "admin@lab.test")
data.setdefault("open_webui_admin_password", f"lab-{secrets.token_urlsafe(18)}")
path.write_text(yaml.safe_dump(data, sort_keys=False))
PY
  )
}

# Print the OPENAI_* lines for the lab gateway (the first host of the gateway group, through its TLS edge, with the
# `tests` client's key) and the CA that verifies it (SSL_CERT_FILE: read by the OpenAI Python client, httpx, urllib
# and curl's OpenSSL builds).
lab_gateway_env() {
  "$VENV/bin/python" - "$LAB_SECRETS" "$ROOT/.pki/ca.crt" <<'PY'
import json, subprocess, sys, yaml
clients = yaml.safe_load(open(sys.argv[1]))["litellm_local_clients"]
key = next(c["key"] for c in clients if c["name"] == "tests")
inv = json.loads(subprocess.run(["ansible-inventory", "-i", "inventory/lab.yml", "--list"],
                                check=True, capture_output=True, text=True).stdout)
host = inv["gateway"]["hosts"][0]
hv = inv["_meta"]["hostvars"][host]
addr = hv.get("ansible_host", host)
port = hv.get("edge_port", 8200)
print(f"OPENAI_BASE_URL=https://{addr}:{port}/v1")
print(f"OPENAI_API_KEY={key}")
print(f"SSL_CERT_FILE={sys.argv[2]}")
PY
}
