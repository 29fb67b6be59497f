"""Root file systems: the cached base tarball built with debootstrap, each host's copy of it, and paths inside one
that refuse symlinks."""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .config import BASE_RECIPE_VERSION, CACHE_DIR, LOGS_DIR, MACHINES_DIR, PACKAGES, SSHD_DROPIN, SUITE
from .hosts import Host
from .machines import machine_dir
from .sources import find_debian_mirror
from .system import LabError, log_tail, remove_tree, run, say, write_file


def guest_path(root: Path, inside: str) -> Path:
    """A path inside a host's rootfs, refusing symlinks on the way (they could point at the control node's files)."""
    target = root / inside.lstrip("/")
    current = root
    for part in target.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            raise LabError(f"refusing to write through the symlink {current} inside {root}")
    return target


def write_guest_file(root: Path, inside: str, content: str, mode: int = 0o644) -> None:
    write_file(guest_path(root, inside), content, mode)


def base_cache_key(suite: str, packages: Sequence[str]) -> str:
    """Name-safe key of the base rootfs tarball: suite, package list and recipe version."""
    digest = hashlib.sha256("\n".join([BASE_RECIPE_VERSION, suite, *sorted(packages)]).encode()).hexdigest()
    return f"{suite}-{digest[:12]}"


def base_tarball_path() -> Path:
    return CACHE_DIR / f"base-{base_cache_key(SUITE, PACKAGES)}.tar.gz"


def prepare_base(root: Path) -> None:
    """Make a fresh debootstrap tree host-neutral: no host keys, no machine id, no apt caches."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    write_guest_file(root, "/etc/machine-id", "", 0o444)
    for leftover in ("/etc/hostname", "/var/lib/dbus/machine-id"):
        path = guest_path(root, leftover)
        if path.is_file() and not path.is_symlink():
            path.unlink()
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*"):
        for path in root.glob(pattern):
            path.unlink()
    write_guest_file(root, SSHD_DROPIN, "PermitRootLogin prohibit-password\nPasswordAuthentication no\n")
    run(["systemctl", f"--root={root}", "enable", "systemd-networkd.service", "ssh.service"])


def ensure_base() -> Path:
    """The cached base rootfs tarball; built with debootstrap when missing."""
    tarball = base_tarball_path()
    if tarball.is_file():
        return tarball
    mirror = find_debian_mirror()
    say(f"building the {SUITE} base rootfs from {mirror} with debootstrap (a few minutes, once)")
    log = LOGS_DIR / "debootstrap.log"
    build_dir = Path(tempfile.mkdtemp(prefix=".build-", dir=CACHE_DIR))
    try:
        root = build_dir / "rootfs"
        cmd = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            "--components=main",
            SUITE,
            str(root),
            mirror,
        ]
        with log.open("w") as out:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
        if proc.returncode != 0:
            raise LabError(f"debootstrap failed with exit code {proc.returncode}; {log_tail(log)}")
        prepare_base(root)
        partial = build_dir / tarball.name
        run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", str(root), "-czf", str(partial), "."])
        partial.replace(tarball)
    finally:
        remove_tree(build_dir)
    for stale in CACHE_DIR.glob("base-*.tar.gz"):
        if stale != tarball:
            say(f"removing outdated base rootfs {stale.name}")
            stale.unlink()
    say(f"cached base rootfs {tarball}")
    return tarball


def provision_host(host: Host, tarball: Path) -> None:
    """Extract a fresh rootfs for `host` and give it its own identity; the directory appears only when complete."""
    final = machine_dir(host)
    partial = MACHINES_DIR / f".{host.name}.new"
    remove_tree(partial)
    partial.mkdir()
    say(f"{host.name}: creating rootfs from {tarball.name}")
    try:
        run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", str(partial), "-xzf", str(tarball)])
        write_guest_file(partial, "/etc/machine-id", secrets.token_hex(16) + "\n", 0o444)
        run(["ssh-keygen", "-A", "-f", str(partial)])
        partial.rename(final)
    except BaseException:
        remove_tree(partial)
        raise
