"""Static checks: yamllint (strict), ansible-lint (production profile), ruff, and the role variable contract."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "defaults" / "main.yml").is_file())


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_yamllint_strict() -> None:
    proc = run("yamllint", "--strict", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ansible_lint_production_profile() -> None:
    proc = run("ansible-lint", "--profile", "production", "--offline", "site.yml", "playbooks", "roles")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]


def test_ruff() -> None:
    proc = run("ruff", "check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_syntax_check_of_site_yml() -> None:
    proc = run("ansible-playbook", "--syntax-check", "-i", "inventory/hosts.yml", "site.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("role", [p for p in ROLES if p.name != "python_service"], ids=lambda p: p.name)
def test_every_public_variable_is_documented(role: Path) -> None:
    """defaults/main.yml and meta/argument_specs.yml name the same variables, all prefixed with the role's name."""
    defaults = set(yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {})
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert defaults == set(specs), f"only in defaults: {defaults - set(specs)}; only in specs: {set(specs) - defaults}"
    assert all(name.startswith(role.name + "_") for name in defaults), sorted(defaults)
    assert all("description" in spec and "type" in spec for spec in specs.values())
