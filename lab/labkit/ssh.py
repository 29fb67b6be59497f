"""The lab's ssh key, and ssh into the hosts: the command line, waiting for a host to boot, its systemd state."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass

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
# Where units installed by a deploy live; Debian's own come from /lib/systemd/system or /usr/lib/systemd/system.
DEPLOYED_UNIT_DIR = "/etc/systemd/system/"
# systemd's pending jobs (JOB UNIT TYPE STATE), then each one's unit with the file it was loaded from.
PENDING_JOBS = (
    "systemctl list-jobs --no-legend --plain; echo --; "
    "units=$(systemctl list-jobs --no-legend --plain | awk '{print $2}'); "
    '[ -z "$units" ] || systemctl show -p Id -p FragmentPath $units'
)


class BootStuck(LabError):
    """The host answers ssh but its systemd has not finished booting by the deadline."""


@dataclass(frozen=True)
class Job:
    unit: str
    state: str  # "running" or "waiting" (for the jobs it is ordered after)
    fragment: str  # the unit's file ("" for none)


def pending_jobs(host: Host) -> list[Job]:
    jobs_text, _, shown = ssh_run(host, PENDING_JOBS, timeout=15).stdout.partition("--\n")
    fragments: dict[str, str] = {}
    for block in shown.split("\n\n"):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if fields.get("Id"):
            fragments[fields["Id"]] = fields.get("FragmentPath", "")
    jobs = []
    for line in jobs_text.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            jobs.append(Job(parts[1], parts[3], fragments.get(parts[1], "")))
    return jobs


def only_deployed_units_run(jobs: list[Job]) -> bool:
    """True when every job systemd is running is for a unit a deploy installed: the rest (Debian's
    systemd-update-utmp-runlevel, the targets, the deploy's later units) only wait for those, so the OS has booted."""
    running = [job for job in jobs if job.state == "running"]
    return bool(running) and all(job.fragment.startswith(DEPLOYED_UNIT_DIR) for job in running)


def wait_for_host(host: Host, timeout: float) -> str:
    """Wait until `host` answers ssh and its operating system has finished booting; return the system state.

    The state is polled with short ssh calls (one long `is-system-running --wait` hangs with its connection). A host
    that was deployed before boots its services too, and systemd stays "starting" until the slowest is ready (the
    vLLM units start one after another, minutes each on a CPU): once every job systemd is running is for a unit a
    deploy installed (/etc/systemd/system), everything else only waiting for those, the OS is up, as a real host is
    for Ansible; the deploy and the tests wait for those services' health themselves. A boot that has not got that far
    by the deadline is reported with the jobs systemd is still waiting for."""
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
        if state == "starting":
            jobs = pending_jobs(host)
            if only_deployed_units_run(jobs):
                starting = ", ".join(job.unit for job in jobs if job.fragment.startswith(DEPLOYED_UNIT_DIR))
                say(f"{host.name}: booted; deployed units still starting: {starting}")
                return state
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
