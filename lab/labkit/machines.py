"""The hosts as systemd-nspawn machines: the command line that boots one, finding the running ones, start, stop and
removal."""

from __future__ import annotations

import itertools
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .config import BRIDGE, HOST_PREFIX, LOGS_DIR, MACHINES_DIR, MAX_HOSTS, RUN_DIR, STOP_TIMEOUT_S, SharedMount
from .hosts import Host
from .network import ip_json
from .sources import PipSources, wheel_mount_dirs
from .system import LabError, remove_tree, run, say, systemd_is_running, warn


@dataclass
class LabContext:
    """What every host's configuration is made from."""

    hosts: list[Host]
    public_key: str
    dns: list[str]
    resolv_conf: str
    pip_sources: PipSources
    mounts: list[SharedMount] = field(default_factory=list)


def machine_dir(host: Host) -> Path:
    return MACHINES_DIR / host.name


def nspawn_command(host: Host, root: Path, mounts: Sequence[SharedMount], resolv_conf: str) -> list[str]:
    return [
        "systemd-nspawn",
        "--boot",
        "--register=no",
        "--keep-unit",
        "--link-journal=no",
        "--console=read-only",
        "-D",
        str(root),
        "-M",
        host.name,
        f"--network-bridge={BRIDGE}",
        f"--resolv-conf={resolv_conf}",
        *(mount.nspawn_arg() for mount in mounts),
    ]


def is_nspawn_of(argv: Sequence[str], name: str) -> bool:
    """Whether a process command line is systemd-nspawn running machine `name`."""
    if not argv or os.path.basename(argv[0]) != "systemd-nspawn":
        return False
    pairs = itertools.pairwise(argv)
    return any(flag == "-M" and value == name for flag, value in pairs) or f"--machine={name}" in argv


def known_hosts() -> list[Host]:
    """Hosts that have a machine directory or a running container."""
    pattern = re.compile(rf"{HOST_PREFIX}[a-z]")
    names = {p.name for p in MACHINES_DIR.glob("*") if p.is_dir() and pattern.fullmatch(p.name)}
    names |= {name for name, _ in running_nspawns()}
    return sorted((Host.from_name(name) for name in names), key=lambda host: host.name)


def running_nspawns() -> list[tuple[str, int]]:
    """(machine name, pid) of every systemd-nspawn process running a lab host."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        for index in range(MAX_HOSTS):
            name = Host.at_index(index).name
            if is_nspawn_of(argv, name):
                found.append((name, int(proc.name)))
    return found


def host_pid(host: Host) -> int | None:
    """The pid of the systemd-nspawn running `host`, or None when it is not running."""
    pids = sorted(pid for name, pid in running_nspawns() if name == host.name)
    return pids[0] if pids else None


def extra_mounts(pip_sources: PipSources) -> list[SharedMount]:
    mounts = []
    for directory in wheel_mount_dirs(pip_sources):
        if ":" in directory or not Path(directory).is_dir():
            warn(f"pip source {directory} is not a usable local directory; not mounted into the hosts")
            continue
        mounts.append(SharedMount(Path(directory), directory, read_only=True))
    return mounts


def start_host(host: Host, ctx: LabContext) -> int:
    """Boot `host` detached from labctl; return the pid of its systemd-nspawn."""
    stale_veth = f"vb-{host.name}"
    if any(link.get("ifname") == stale_veth for link in ip_json("link", "show")):
        run(["ip", "link", "delete", stale_veth])
    cmd = nspawn_command(host, machine_dir(host), ctx.mounts, ctx.resolv_conf)
    log = LOGS_DIR / f"{host.name}.log"
    with log.open("a") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} labctl: {shlex.join(cmd)}\n")
    if systemd_is_running():
        unit = f"{host.name}.service"
        run(["systemctl", "reset-failed", unit], check=False)
        run(
            [
                "systemd-run",
                f"--unit={unit}",
                "--collect",
                "--property=Delegate=yes",
                "--property=KillMode=mixed",
                f"--property=StandardOutput=append:{log}",
                f"--property=StandardError=append:{log}",
                "--",
                *cmd,
            ]
        )
        pid = int(run(["systemctl", "show", "--property=MainPID", "--value", unit]).stdout.strip() or 0)
    else:
        with log.open("ab") as out:
            pid = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            ).pid
    (RUN_DIR / f"{host.name}.pid").write_text(f"{pid}\n")
    return pid


def reattach_veth(host: Host) -> None:
    """Put a running host's veth back on the bridge (needed when the bridge was deleted and recreated)."""
    veth = f"vb-{host.name}"
    for link in ip_json("link", "show"):
        if link.get("ifname") == veth and link.get("master") != BRIDGE:
            say(f"{host.name}: attaching {veth} to {BRIDGE} again")
            run(["ip", "link", "set", "dev", veth, "master", BRIDGE, "up"])


def stop_host(host: Host) -> None:
    """Shut `host` down cleanly (SIGTERM makes nspawn power the container off), SIGKILL after a timeout."""
    pid = host_pid(host)
    if pid is not None:
        say(f"{host.name}: stopping (pid {pid})")
        for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 10)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait_s
            while host_pid(host) is not None and time.monotonic() < deadline:
                time.sleep(0.5)
            if host_pid(host) is None:
                break
        if host_pid(host) is not None:
            raise LabError(f"{host.name}: systemd-nspawn (pid {pid}) did not stop")
    (RUN_DIR / f"{host.name}.pid").unlink(missing_ok=True)


def destroy_host(host: Host) -> None:
    stop_host(host)
    remove_tree(machine_dir(host))
