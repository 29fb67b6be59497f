"""Create, list and destroy the local lab: N Debian hosts booted with systemd-nspawn on a private bridge.

The subcommands of lab/labctl.py, their arguments, and main(): root check, the lab's lock, errors and exit codes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .config import BOOT_TIMEOUT_S, CACHE_DIR, INVENTORY_PATH, MACHINES_DIR, SHARED_MOUNTS, SSH_KEY, STATE_DIR
from .hostconfig import configure_host, render_etc_hosts
from .hosts import Host, lab_hosts
from .inventory import render_inventory
from .machines import (
    LabContext,
    destroy_host,
    extra_mounts,
    host_pid,
    known_hosts,
    machine_dir,
    reattach_veth,
    start_host,
    stop_host,
)
from .network import ensure_bridge, ensure_forwarding, teardown_network
from .rootfs import ensure_base, guest_path, provision_host, write_guest_file
from .sources import nameservers, read_pip_sources
from .ssh import BootStuck, ensure_ssh_key, ssh_command, ssh_run, system_state, wait_for_host
from .system import LabError, ensure_dirs, ensure_tools, lab_lock, remove_tree, require_root, say, warn, write_file


def lab_context(hosts: list[Host]) -> LabContext:
    dns, resolv_conf = nameservers()
    pip_sources = read_pip_sources()
    mounts = [*SHARED_MOUNTS, *extra_mounts(pip_sources)]
    return LabContext(hosts, ensure_ssh_key(), dns, resolv_conf, pip_sources, mounts)


def bring_up(hosts: list[Host], ctx: LabContext, timeout: float) -> None:
    """Start the hosts that are not running, wait for all; a host started here that fails is torn down."""
    started: list[Host] = []
    tarball: Path | None = None
    for host in hosts:
        if host_pid(host) is not None:
            write_guest_file(machine_dir(host), "/etc/hosts", render_etc_hosts(ctx.hosts))
            reattach_veth(host)
            say(f"{host.name}: already running, left alone")
            continue
        if not machine_dir(host).is_dir():
            tarball = tarball or ensure_base()
            provision_host(host, tarball)
        try:
            configure_host(host, ctx)
            say(f"{host.name}: booting ({host.address})")
            start_host(host, ctx)
        except LabError as exc:
            destroy_host(host)
            raise LabError(f"{host.name}: could not start: {exc}\n{host.name} was torn down.") from exc
        started.append(host)
    failures = []
    for host in hosts:
        try:
            try:
                state = wait_for_host(host, timeout)
            except BootStuck as exc:
                if host not in started:
                    raise
                # A first boot that hangs on a job is rare and not the host's fault; boot it once more, loudly.
                warn(f"{exc}\n{host.name}: stopping it and booting it once more")
                stop_host(host)
                configure_host(host, ctx)
                start_host(host, ctx)
                state = wait_for_host(host, timeout)
            say(f"{host.name}: {state}")
            if host in started and not any(guest_path(machine_dir(host), "/var/lib/apt/lists").glob("*_Packages")):
                # Like any installed Debian host, a lab host has apt package lists (the base image drops them).
                proc = ssh_run(host, "apt-get update -q", timeout=600)
                if proc.returncode != 0:
                    raise LabError(f"{host.name}: apt-get update failed: {proc.stderr.strip()[-800:]}")
        except LabError as exc:
            if host in started:
                destroy_host(host)
                failures.append(f"{exc}\n{host.name} was torn down.")
            else:
                failures.append(str(exc))
    if failures:
        raise LabError("\n\n".join(failures))


def cmd_up(args: argparse.Namespace) -> None:
    hosts = lab_hosts(args.hosts)
    ensure_tools()
    ensure_dirs()
    ctx = lab_context(hosts)
    ensure_bridge()
    ensure_forwarding()
    for extra in known_hosts():
        if extra not in hosts:
            say(f"{extra.name}: beyond --hosts {args.hosts}; removing it")
            destroy_host(extra)
    bring_up(hosts, ctx, args.timeout)
    INVENTORY_PATH.parent.mkdir(parents=True, exist_ok=True)
    write_file(INVENTORY_PATH, render_inventory(hosts, ctx.pip_sources, SSH_KEY))
    say(f"wrote {INVENTORY_PATH}")
    print_table(hosts)


def print_table(hosts: Sequence[Host]) -> None:
    rows = [("NAME", "ADDRESS", "STATE", "SYSTEM")]
    for host in hosts:
        running = host_pid(host) is not None
        state, system = ("running", system_state(host)) if running else ("stopped", "-")
        rows.append((host.name, host.address, state, system))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def cmd_list(_args: argparse.Namespace) -> None:
    hosts = known_hosts()
    if not hosts:
        say("no lab hosts (run `python3 lab/labctl.py up`)")
        return
    print_table(hosts)


def cmd_down(args: argparse.Namespace) -> None:
    for host in known_hosts():
        destroy_host(host)
    if MACHINES_DIR.is_dir():
        for partial in MACHINES_DIR.glob(".*.new"):
            remove_tree(partial)
    teardown_network()
    INVENTORY_PATH.unlink(missing_ok=True)
    if args.purge:
        for tarball in CACHE_DIR.glob("base-*.tar.gz"):
            tarball.unlink()
        remove_tree(STATE_DIR)
        say(f"purged the base rootfs cache and {STATE_DIR} (kept {CACHE_DIR}'s uv/pip/models/wheels)")
    say("lab is down")


def cmd_reboot(args: argparse.Namespace) -> None:
    """Reboot a host as a real machine reboots: systemd inside it shuts down and systemd-nspawn exits (nspawn does
    not restart a container by itself), then the host is booted again the way `up` boots it."""
    host = Host.from_name(args.name)
    old_pid = host_pid(host)
    if old_pid is None:
        raise LabError(f"{host.name} is not running (python3 lab/labctl.py up)")
    ctx = lab_context(known_hosts())
    say(f"{host.name}: rebooting (systemd-nspawn pid {old_pid})")
    proc = ssh_run(host, "systemctl --no-block reboot", timeout=30)
    if proc.returncode not in (0, 255):  # 255: ssh lost the connection to the host going down
        raise LabError(f"{host.name}: `systemctl reboot` failed: {proc.stderr.strip()[-800:]}")
    started = time.monotonic()
    while host_pid(host) is not None:
        if time.monotonic() - started > args.timeout:
            raise LabError(f"{host.name}: still running {args.timeout:.0f}s after the reboot request")
        time.sleep(0.5)
    say(f"{host.name}: shut down after {time.monotonic() - started:.1f}s; booting again")
    configure_host(host, ctx)
    start_host(host, ctx)
    state = wait_for_host(host, args.timeout)
    say(f"{host.name}: {state} {time.monotonic() - started:.1f}s after the reboot request")


def cmd_ssh(args: argparse.Namespace) -> None:
    host = Host.from_name(args.name)
    if host_pid(host) is None:
        raise LabError(f"{host.name} is not running (python3 lab/labctl.py up)")
    cmd = [*ssh_command(host, batch=False), *args.command]
    os.execvp(cmd[0], cmd)  # noqa: S606 -- replace labctl by ssh, so the terminal and exit code are ssh's


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="labctl.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command_name", required=True)
    up = commands.add_parser("up", help="create or start the lab hosts (idempotent)")
    up.add_argument("--hosts", type=int, default=2, help="number of hosts (default 2)")
    up.add_argument("--timeout", type=float, default=BOOT_TIMEOUT_S, help="seconds to wait for each host to boot")
    up.set_defaults(func=cmd_up)
    commands.add_parser("list", help="show the hosts and their state").set_defaults(func=cmd_list)
    down = commands.add_parser("down", help="stop and remove all hosts, the bridge and the NAT rules")
    down.add_argument("--purge", action="store_true", help="also remove the cached base rootfs and the ssh key")
    down.set_defaults(func=cmd_down)
    reboot = commands.add_parser("reboot", help="reboot a host (shut down inside, then booted again)")
    reboot.add_argument("name", help="host name, e.g. lab-b")
    reboot.add_argument("--timeout", type=float, default=BOOT_TIMEOUT_S, help="seconds for each of shutdown and boot")
    reboot.set_defaults(func=cmd_reboot)
    ssh = commands.add_parser("ssh", help="ssh into a host as root")
    ssh.add_argument("name", help="host name, e.g. lab-a")
    ssh.add_argument("command", nargs=argparse.REMAINDER, help="command to run instead of a shell")
    ssh.set_defaults(func=cmd_ssh)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        require_root()
        if args.func in (cmd_up, cmd_down, cmd_reboot):
            with lab_lock():
                args.func(args)
        else:
            args.func(args)
    except LabError as exc:
        print(f"labctl: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("labctl: interrupted", file=sys.stderr)
        return 130
    return 0
