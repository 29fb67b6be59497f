"""The lab's ssh key, and ssh into the hosts: the command line, waiting for a host to boot, its systemd state."""

from __future__ import annotations

import subprocess
import time

from .config import LOGS_DIR, SSH_KEY
from .hosts import Host
from .machines import host_pid
from .system import LabError, log_tail, run, say, warn


def ensure_ssh_key() -> str:
    """Create the lab's ed25519 key once; return the public key."""
    if not SSH_KEY.exists():
        say(f"creating ssh key {SSH_KEY}")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "litellm-local-lab", "-f", str(SSH_KEY)])
    public = SSH_KEY.with_name(SSH_KEY.name + ".pub")
    if not public.exists():
        public.write_text(run(["ssh-keygen", "-y", "-f", str(SSH_KEY)]).stdout)
    return public.read_text().strip()


def ssh_command(host: Host, *, batch: bool = True) -> list[str]:
    options = ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR", "ConnectTimeout=5"]
    if batch:
        options.append("BatchMode=yes")
    return ["ssh", "-i", str(SSH_KEY), *(arg for opt in options for arg in ("-o", opt)), f"root@{host.address}"]


def ssh_run(host: Host, remote: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return run([*ssh_command(host), remote], check=False, timeout=max(timeout, 1))


BOOTING_STATES = ("initializing", "starting")


class BootStuck(LabError):
    """The host answers ssh but its systemd has not finished booting by the deadline."""


def wait_for_host(host: Host, timeout: float) -> str:
    """Wait until `host` answers ssh and its systemd has finished booting; return the system state.

    The state is polled with short ssh calls (one long `is-system-running --wait` hangs with its connection); a boot
    that has not finished by the deadline is reported with the jobs systemd is still waiting for."""
    deadline = time.monotonic() + timeout
    log = LOGS_DIR / f"{host.name}.log"
    while True:
        if host_pid(host) is None:
            raise LabError(f"{host.name}: systemd-nspawn exited while the host was booting; {log_tail(log)}")
        if ssh_run(host, "true", timeout=15).returncode == 0:
            break
        if time.monotonic() > deadline:
            raise LabError(f"{host.name}: ssh root@{host.address} no answer within {timeout:.0f}s; {log_tail(log)}")
        time.sleep(2)
    while True:
        state = system_state(host)
        if state not in BOOTING_STATES and state != "timeout" and not state.startswith("ssh failed"):
            break
        if time.monotonic() > deadline:
            jobs = ssh_run(host, "systemctl list-jobs --no-legend --plain", timeout=15).stdout.strip() or "(none)"
            raise BootStuck(
                f"{host.name}: systemd still {state!r} after {timeout:.0f}s; the jobs it waits for:\n{jobs}\n"
                f"{log_tail(log)}"
            )
        time.sleep(2)
    if state == "degraded":
        failed = ssh_run(host, "systemctl --failed --no-legend --plain", timeout=15).stdout.strip()
        warn(f"{host.name}: systemd is degraded; failed units:\n{failed}")
    elif state != "running":
        raise LabError(f"{host.name}: systemctl is-system-running says {state!r}, not running; {log_tail(log)}")
    return state


def system_state(host: Host) -> str:
    try:
        proc = ssh_run(host, "systemctl is-system-running", timeout=10)
    except LabError:
        return "timeout"
    return proc.stdout.strip() or f"ssh failed ({proc.returncode})"
