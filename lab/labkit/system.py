"""Small helpers with side effects on the control node: the error type and messages, running commands, files and
directory trees, the lab's lock, and the checks and preparation before a command changes the lab."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from .config import LOCK_FILE, LOG_TAIL_LINES, LOGS_DIR, MACHINES_DIR, REQUIRED_TOOLS, RUN_DIR, SHARED_MOUNTS, SSH_KEY


class LabError(Exception):
    """An error with a message meant for the person running labctl."""


def say(message: str) -> None:
    print(f"labctl: {message}", flush=True)


def warn(message: str) -> None:
    print(f"labctl: warning: {message}", file=sys.stderr, flush=True)


def run(
    cmd: Sequence[str],
    *,
    check: bool = True,
    timeout: float | None = None,
    input_text: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command and capture its output; a failure becomes a LabError that shows the command and its stderr."""
    try:
        proc = subprocess.run(
            list(cmd), text=True, capture_output=True, timeout=timeout, input=input_text, env=env, check=False
        )
    except FileNotFoundError as exc:
        raise LabError(f"command not found: {cmd[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"`{shlex.join(cmd)}` did not finish within {timeout:.0f}s") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip())[-2000:]
        raise LabError(f"`{shlex.join(cmd)}` failed with exit code {proc.returncode}: {detail}")
    return proc


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text).replace("\r", "")
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    tail = "\n".join(kept)
    return f"last {len(kept)} lines of {path}:\n{tail}"


def write_file(path: Path, content: str, mode: int = 0o644) -> None:
    """Write a file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(content)
    tmp.chmod(mode)
    tmp.replace(path)


def mounts_under(path: Path, mountinfo: str) -> list[str]:
    """Mount points at or below `path`, deepest first, from the text of /proc/self/mountinfo."""
    prefix = str(path).rstrip("/")
    found = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return sorted(found, key=len, reverse=True)


def remove_tree(path: Path) -> None:
    """Remove a directory tree, unmounting anything mounted below it first (never deletes through a mount)."""
    if not path.exists() and not path.is_symlink():
        return
    for point in mounts_under(path, Path("/proc/self/mountinfo").read_text()):
        run(["umount", "--recursive", "--lazy", point], check=False)
    left = mounts_under(path, Path("/proc/self/mountinfo").read_text())
    if left:
        raise LabError(f"not removing {path}: still mounted below it: {', '.join(left)}")
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path)


@contextlib.contextmanager
def lab_lock() -> Iterator[None]:
    """Serialize labctl runs that change the lab."""
    with LOCK_FILE.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"another labctl is changing the lab; waiting for it ({LOCK_FILE})")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def systemd_is_running() -> bool:
    return Path("/run/systemd/system").is_dir()


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError(
            "labctl must run as root (it creates containers, a bridge and nftables rules): "
            "sudo python3 lab/labctl.py ..."
        )
    if sys.platform != "linux":
        raise LabError("labctl needs Linux (systemd-nspawn)")


def ensure_tools() -> None:
    """Install the Debian packages of missing tools (apt-get update first)."""
    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"
    missing = sorted({pkg for tool, pkg in REQUIRED_TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise LabError(f"missing tools and no apt-get to install them: install {' '.join(missing)}")
    say(f"installing {' '.join(missing)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update"], env=env)
    run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env)


def ensure_dirs() -> None:
    for directory in (MACHINES_DIR, LOGS_DIR, RUN_DIR, SSH_KEY.parent):
        directory.mkdir(parents=True, exist_ok=True)
    SSH_KEY.parent.chmod(0o700)
    for mount in SHARED_MOUNTS:
        mount.source.mkdir(parents=True, exist_ok=True)
