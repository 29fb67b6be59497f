"""The embedding server's own tests (services/embed/tests), run in their venv `.venv-embed`.

They need torch and transformers, which the control node's `.venv` does not have, so this test builds `.venv-embed`
(CPU torch and the lab torchvision, as `.venv-labmodels`; reinstalled only when the pins change) and runs pytest there:
the fake-engine API and batching tests, the method on the tiny model, and the schemathesis run. Nothing is written
into services/embed (no bytecode, no pytest cache, no build files), because the deploy copies that directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import ROOT

SERVICE = ROOT / "services" / "embed"
VENV = ROOT / ".venv-embed"
LAB_CACHE = Path(os.environ.get("LAB_CACHE", "/var/cache/litellm-local-lab"))
COMMON = ROOT / "services" / "common"
PINS = [ROOT / "requirements" / "lab-models.txt", SERVICE / "pyproject.toml", COMMON / "pyproject.toml"]


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirements.sha256"
    want = hashlib.sha256(b"".join(p.read_bytes() for p in PINS)).hexdigest()
    if python.is_file() and stamp.is_file() and stamp.read_text().strip() == want:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    extra = ["--find-links", str(LAB_CACHE / "wheels")] if (LAB_CACHE / "wheels").is_dir() else []
    if os.environ.get("LAB_TORCH_INDEX_URL"):
        extra += ["--extra-index-url", os.environ["LAB_TORCH_INDEX_URL"]]
    # Installed from copies: a build inside services/ would leave files there that the deploy copies to the hosts.
    with tempfile.TemporaryDirectory() as copies:
        embed, common = Path(copies) / "embed", Path(copies) / "common"
        shutil.copytree(SERVICE, embed)
        shutil.copytree(COMMON, common)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *extra, "-r", str(PINS[0]), str(common), f"{embed}[test]"],
            check=True,
            timeout=1800,
        )
    stamp.write_text(want + "\n")
    return python


def test_embed_service_unit_tests(tmp_path) -> None:
    python = ensure_venv()
    path = f"{SERVICE / 'src'}{os.pathsep}{COMMON / 'src'}"
    env = dict(os.environ, PYTHONPATH=path, PYTHONDONTWRITEBYTECODE="1", HF_HUB_OFFLINE="1")
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run(
        [
            str(python),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(SERVICE),
            "-c",
            str(SERVICE / "pyproject.toml"),
            str(SERVICE / "tests"),
        ],
        cwd=tmp_path,  # hypothesis keeps its files in the working directory
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]
