"""Supply chain, checked statically: every service venv installs a lock file with hashes (scripts/lock), the lock
matches the .in it was generated from, the roles' pins are in their locks, and venv.yml installs with
--require-hashes from indexes that cannot hand over a package under uv's unsafe index strategies."""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import re
import shlex
import sys
import tomllib
import types
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import ROOT

LOCKS = sorted(ROOT.glob("roles/*/files/*.lock"))
COMPILE = "uv pip compile --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28"
# The venvs the roles build and the locks they install (role: lock stems).
EXPECTED = {
    "litellm": ["requirements"],
    "asr": ["requirements-lab", "requirements-production"],
    "embed_pascal": ["requirements-lab", "requirements-production"],
    "vllm_blackwell": ["requirements-lab", "requirements-production"],
    "open_webui": ["requirements"],
}

# Our own packages: installed from source, never from a lock (scripts/lock leaves them out).
OURS_DIRS = {
    "litellm-local-gateway": "gateway",
    "litellm-local-asr": "asr",
    "litellm-local-embed": "embed",
    "litellm-local-common": "common",
}
OURS = set(OURS_DIRS)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def header(lock: Path) -> list[str]:
    lines = []
    for line in lock.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def header_value(lock: Path, prefix: str) -> str:
    found = [line[len(prefix) :] for line in header(lock) if line.startswith(prefix)]
    assert len(found) == 1, f"{rel(lock)}: no single header line starting {prefix!r}"
    return found[0]


def command(lock: Path) -> list[str]:
    return shlex.split(header_value(lock, "# Command: "))


def pins(lock: Path) -> dict[str, tuple[str, list[str]]]:
    """{canonical name: (version, [sha256 ...])} of every requirement of the lock; anything else fails."""
    entries: list[list[str]] = []
    for line in lock.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace():
            assert entries, f"{rel(lock)}: a continuation line first: {line!r}"
            entries[-1].append(line)
        else:
            entries.append([line])
    found: dict[str, tuple[str, list[str]]] = {}
    for entry in entries:
        assert all(line.endswith(" \\") for line in entry[:-1]), f"{rel(lock)}: broken continuation in {entry}"
        requirement, *options = " ".join(line.removesuffix(" \\") for line in entry).split()
        name, sep, version = requirement.partition("==")
        assert sep and version and re.fullmatch(r"[A-Za-z0-9._-]+", name), f"{rel(lock)}: not an exact pin: {entry[0]}"
        assert all(re.fullmatch(r"--hash=sha256:[0-9a-f]{64}", o) for o in options), f"{rel(lock)}: {entry}"
        found[canonicalize_name(name)] = (version, [o.removeprefix("--hash=sha256:") for o in options])
    return found


def satisfied(lock: Path, requirement: str) -> None:
    req = Requirement(requirement)
    if req.marker and not req.marker.evaluate({"python_version": "3.11", "sys_platform": "linux"}):
        return
    locked = pins(lock)
    name = canonicalize_name(req.name)
    assert name in locked, f"{rel(lock)} lacks {requirement}"
    assert req.specifier.contains(Version(locked[name][0]), prereleases=True), (
        f"{rel(lock)} pins {name}=={locked[name][0]}, which {requirement} does not allow: rerun scripts/lock"
    )


def in_requirements(source: Path) -> list[str]:
    return [
        line.split(" #")[0].strip()
        for line in source.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "-"))
    ]


def test_every_venv_has_its_locks() -> None:
    assert {rel(p) for p in LOCKS} == {
        f"roles/{role}/files/{stem}.lock" for role, stems in EXPECTED.items() for stem in stems
    }
    loader = importlib.machinery.SourceFileLoader("scripts_lock", str(ROOT / "scripts" / "lock"))
    module = types.ModuleType(loader.name)
    module.__file__ = loader.path
    sys.modules[loader.name] = module  # dataclasses look their module up there
    try:
        loader.exec_module(module)
    finally:
        del sys.modules[loader.name]
    assert {lock.path for lock in module.LOCKS} == {rel(p) for p in LOCKS}, "scripts/lock must regenerate every lock"


@pytest.mark.parametrize("lock", LOCKS, ids=rel)
def test_every_requirement_is_pinned_with_a_hash(lock: Path) -> None:
    locked = pins(lock)
    assert locked, f"{rel(lock)} pins nothing"
    unhashed = sorted(name for name, (_, hashes) in locked.items() if not hashes)
    assert not unhashed, f"{rel(lock)}: requirements without a hash: {unhashed}"
    assert not OURS & set(locked), "our own packages are installed from source, never from a lock"


@pytest.mark.parametrize("lock", LOCKS, ids=rel)
def test_the_in_file_matches_the_header(lock: Path) -> None:
    source = lock.with_suffix(".in")
    assert source.is_file(), f"{rel(lock)} has no {source.name} beside it"
    cmd = " ".join(command(lock))
    assert cmd.startswith(COMPILE + " "), cmd
    assert "unsafe" not in cmd, cmd
    argv = command(lock)
    assert rel(source) in argv and argv[argv.index("-o") + 1] == rel(lock), cmd
    recorded = header_value(lock, f"# Input: {rel(source)} sha256=").split(";")[0]
    assert recorded == hashlib.sha256(source.read_bytes()).hexdigest(), (
        f"{rel(source)} changed since {rel(lock)} was generated: rerun scripts/lock"
    )
    for requirement in in_requirements(source):
        satisfied(lock, requirement)


@pytest.mark.parametrize("lock", LOCKS, ids=rel)
def test_our_packages_dependencies_and_build_backend_are_locked(lock: Path) -> None:
    """Our packages install with --no-deps --no-build-isolation: the lock must hold what their pyproject asks for,
    and the build backend of each of our packages they depend on (services/common)."""
    for arg in command(lock):
        if arg.endswith("pyproject.toml"):
            project = tomllib.loads((ROOT / arg).read_text())
            requirements = project["project"].get("dependencies", []) + project["build-system"]["requires"]
            for requirement in requirements:
                name = re.split(r"[\s<>=!~\[;@]", requirement, maxsplit=1)[0].lower()
                if name in OURS:
                    ours = tomllib.loads((ROOT / "services" / OURS_DIRS[name] / "pyproject.toml").read_text())
                    for backend in ours["build-system"]["requires"]:
                        satisfied(lock, backend)
                    continue
                satisfied(lock, requirement)


@pytest.mark.parametrize("lock", [p for p in LOCKS if "lab" in p.stem], ids=rel)
def test_lab_excludes_match_the_role(lock: Path) -> None:
    role = lock.parts[-3]
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
    variable = f"{role}_lab_excludes"
    excluded = [line for line in header(lock) if line.startswith("# Excluded (")]
    if variable not in defaults:
        assert not excluded
        return
    assert excluded == [f"# Excluded ({variable}, also at install): {' '.join(defaults[variable])}"], (
        f"{rel(lock)} was not resolved without {variable}: rerun scripts/lock"
    )
    assert not set(map(canonicalize_name, defaults[variable])) & set(pins(lock))


def test_the_roles_pins_are_in_their_locks() -> None:
    """What install.yml asserts on the hosts, checked here without them."""
    files = {role: ROOT / "roles" / role / "files" for role in EXPECTED}
    defaults = {
        role: yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) for role in EXPECTED
    }
    wanted = [
        (files["asr"] / "requirements-production.lock", [defaults["asr"]["asr_torch_requirement"]]),
        (files["asr"] / "requirements-lab.lock", [defaults["asr"]["asr_lab_torch_requirement"]]),
        (
            files["embed_pascal"] / "requirements-production.lock",
            defaults["embed_pascal"]["embed_pascal_torch_requirements"],
        ),
        (
            files["embed_pascal"] / "requirements-lab.lock",
            defaults["embed_pascal"]["embed_pascal_lab_torch_requirements"],
        ),
        (
            files["vllm_blackwell"] / "requirements-production.lock",
            defaults["vllm_blackwell"]["vllm_blackwell_production_requirements"],
        ),
        (
            files["vllm_blackwell"] / "requirements-lab.lock",
            defaults["vllm_blackwell"]["vllm_blackwell_lab_requirements"],
        ),
    ]
    for lock, requirements in wanted:
        locked = {f"{name}=={version}" for name, (version, _) in pins(lock).items()}
        for requirement in requirements:
            assert re.fullmatch(r"[A-Za-z0-9._-]+==\S+", requirement), f"not an exact pin: {requirement}"
            name, version = requirement.split("==")
            assert f"{canonicalize_name(name)}=={version}" in locked, f"{rel(lock)} does not pin {requirement}"
    production = pins(files["vllm_blackwell"] / "requirements-production.lock")
    assert "vllm" in production and production["vllm"][1], "production vLLM must be an exact pin with hashes"


def test_the_lab_wheels_are_pinned_by_the_hashes_of_reproducible_builds() -> None:
    """The locally built lab wheels exist on no index: their hash in each lab lock is the only thing that pins them."""
    for lock in (
        ROOT / "roles/embed_pascal/files/requirements-lab.lock",
        ROOT / "roles/vllm_blackwell/files/requirements-lab.lock",
    ):
        version, hashes = pins(lock)["torchvision"]
        assert version.endswith("+labcpu") and len(hashes) == 1, rel(lock)
    version, hashes = pins(ROOT / "roles/vllm_blackwell/files/requirements-lab.lock")["vllm"]
    assert version.endswith("+cpu") and len(hashes) == 1
    for role in ("asr", "embed_pascal", "vllm_blackwell"):
        version, hashes = pins(ROOT / "roles" / role / "files" / "requirements-lab.lock")["torch"]
        assert version.endswith("+cpu") and len(hashes) == 1, role


# --- venv.yml and its callers, rendered with Ansible's own templating -------------------------------------------------


@functools.cache
def ansible_plugins() -> None:
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader()


def templar(variables: dict):
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    ansible_plugins()
    engine = Templar(loader=DataLoader(), variables=variables)
    return lambda expr: engine.template(trust_as_template(expr))


def venv_tasks() -> dict[str, dict]:
    tasks = yaml.safe_load((ROOT / "roles/python_service/tasks/venv.yml").read_text())
    block = next(task for task in tasks if "block" in task)["block"]
    return {task["name"]: task for task in block}


def task_named(prefix: str) -> dict:
    found = [task for name, task in venv_tasks().items() if name.startswith(prefix)]
    assert len(found) == 1, f"venv.yml: no single task named {prefix!r}..."
    return found[0]


LAB_ARGS = ["--find-links=/srv/lab-wheels", "--find-links=/srv/local-wheels"]


def test_the_venv_install_requires_hashes() -> None:
    render = templar(
        {
            "python_service_tools_dir": "/opt/litellm-local/tools",
            "__python_service_target": "/opt/litellm-local/venvs/.x-0123456789ab",
            "python_service_uv_args": LAB_ARGS,
        }
    )
    argv = render(task_named("Install with uv the locked requirements")["ansible.builtin.command"]["argv"])
    assert argv[:3] == ["/opt/litellm-local/tools/bin/uv", "pip", "install"], argv
    assert "--require-hashes" in argv and "--require-build-hashes" in argv, argv
    assert argv[argv.index("--requirement") + 1] == "/opt/litellm-local/venvs/.x-0123456789ab/requirements.txt"
    assert argv[argv.index("--build-constraints") + 1] == argv[argv.index("--requirement") + 1]
    assert not [a for a in argv if a.startswith(("--index-strategy", "--no-verify-hashes"))], argv


def test_our_packages_install_without_fetching_anything() -> None:
    render = templar(
        {
            "python_service_tools_dir": "/opt/litellm-local/tools",
            "__python_service_target": "/opt/litellm-local/venvs/.x-0123456789ab",
            "__python_service_sources": {"results": [{"changed": True, "item": {"name": "litellm-local-asr"}}]},
            "__python_service_packages": [{"name": "litellm-local-asr", "src": "services/asr"}],
        }
    )
    argv = render(task_named("Install with uv our own packages")["ansible.builtin.command"]["argv"])
    assert {"--no-deps", "--no-build-isolation", "--no-index"} <= set(argv), argv
    assert "--reinstall-package=litellm-local-asr" in argv
    assert not [a for a in argv if "index-url" in a or "find-links" in a], argv


def caller_uv_args(role: str) -> str:
    tasks = yaml.safe_load((ROOT / "roles" / role / "tasks" / "install.yml").read_text())
    include = next(t for t in tasks if t.get("ansible.builtin.include_role", {}).get("tasks_from") == "venv.yml")
    return include["vars"]["python_service_uv_args"]


@pytest.mark.parametrize("role", sorted(EXPECTED))
@pytest.mark.parametrize("profile", ["lab", "production"])
def test_no_caller_lets_another_index_win(role: str, profile: str) -> None:
    """uv's default strategy (first-index) only: unsafe-best-match would take a package from whichever index has the
    highest version, so an index could hand over a package it should not serve."""
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
    variables = {
        **{k: v for k, v in defaults.items() if not (isinstance(v, str) and "{{" in v)},
        "litellm_local_profile": profile,
        f"{role}_profile": profile,
        f"{role}_lab_torch_index_url": "https://download.pytorch.org/whl/cpu",
        "python_service_lab_uv_args": LAB_ARGS,
    }
    argv = templar(variables)(caller_uv_args(role))
    assert isinstance(argv, list), argv
    assert not [a for a in argv if "index-strategy" in a or "unsafe" in a], argv


def test_no_role_sets_an_unsafe_index_strategy() -> None:
    def strings(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield str(key)
                yield from strings(value)
        elif isinstance(node, list):
            for item in node:
                yield from strings(item)
        elif isinstance(node, str):
            yield node

    for path in sorted(ROOT.glob("roles/*/*/*.yml")) + sorted(ROOT.glob("inventory/group_vars/**/*.yml")):
        for text in strings(yaml.safe_load(path.read_text())):
            assert "unsafe-best-match" not in text and "unsafe-first-match" not in text, rel(path)
