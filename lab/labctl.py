#!/usr/bin/env python3
"""Create, list and destroy the local lab: N Debian hosts booted with systemd-nspawn on a private bridge.

    python3 lab/labctl.py up [--hosts N]     # idempotent; default 2 hosts
    python3 lab/labctl.py list
    python3 lab/labctl.py ssh lab-a [cmd...]
    python3 lab/labctl.py reboot lab-b       # systemd-nspawn exits on a reboot; labctl boots the host again
    python3 lab/labctl.py down [--purge]

Everything machine-specific (Debian mirror, DNS servers, local wheel directories, local CAs) is read from the
control node's own configuration at run time; nothing of the kind is written in this file. Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import ipaddress
import itertools
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

STATE_DIR = Path("/var/lib/litellm-local-lab")
MACHINES_DIR = STATE_DIR / "machines"
LOGS_DIR = STATE_DIR / "logs"
RUN_DIR = STATE_DIR / "run"
SSH_KEY = STATE_DIR / "ssh" / "id_ed25519"
IP_FORWARD_SAVED = STATE_DIR / "ip_forward.saved"
LOCK_FILE = Path("/run/litellm-local-lab.lock")
CACHE_DIR = Path("/var/cache/litellm-local-lab")
INVENTORY_PATH = Path(__file__).resolve().parent.parent / "inventory" / "lab.yml"

BRIDGE = "llbr0"
NETWORK = ipaddress.ip_network("10.77.0.0/24")
GATEWAY = ipaddress.ip_address("10.77.0.1")
FIRST_HOST_OCTET = 11
MAX_HOSTS = 26
HOST_PREFIX = "lab-"
CONTROL_ALIAS = "lab-control"

SUITE = "bookworm"
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-venv",
    "python3-apt",
    "sudo",
    "ca-certificates",
    "iproute2",
    "curl",
    "procps",
    "iputils-ping",
    "nftables",
    "libgomp1",
    "libnuma1",
)
# Bump when prepare_base() changes, so that older cached base tarballs are no longer used.
BASE_RECIPE_VERSION = "1"

NFT_FILTER_TABLE = "inet litellm_local_lab"
NFT_NAT_TABLE = "ip litellm_local_lab_nat"
NETWORK_FILE = "etc/systemd/network/10-lab-host0.network"
SSHD_DROPIN = "etc/ssh/sshd_config.d/10-lab.conf"
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
# Trust settings copied from the control node's environment into each host's /etc/environment when they name a
# file that exists inside the host too (typically the system CA bundle, once the local CAs are installed there).
TRUST_ENV_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT")
# Control-node commands labctl needs, and the Debian package that provides each.
REQUIRED_TOOLS = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "nft": "nftables",
    "ip": "iproute2",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "tar": "tar",
    "chroot": "coreutils",
}
BOOT_TIMEOUT_S = 180
STOP_TIMEOUT_S = 30
LOG_TAIL_LINES = 40


class LabError(Exception):
    """An error with a message meant for the person running labctl."""


@dataclass(frozen=True)
class SharedMount:
    """A directory of the control node mounted into every lab host."""

    source: Path
    target: str
    read_only: bool

    def nspawn_arg(self) -> str:
        flag = "--bind-ro" if self.read_only else "--bind"
        if str(self.source) == self.target:
            return f"{flag}={self.target}"
        return f"{flag}={self.source}:{self.target}"


SHARED_MOUNTS = (
    SharedMount(CACHE_DIR / "uv", "/var/cache/litellm-local-lab-uv", read_only=False),
    SharedMount(CACHE_DIR / "pip", "/var/cache/litellm-local-lab-pip", read_only=False),
    SharedMount(CACHE_DIR / "models", "/srv/lab-models", read_only=True),
    SharedMount(CACHE_DIR / "wheels", "/srv/lab-wheels", read_only=True),
)


# --------------------------------------------------------------------------------------------------------------------
# Hosts and groups
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Host:
    name: str
    address: str

    @classmethod
    def at_index(cls, index: int) -> Host:
        if not 0 <= index < MAX_HOSTS:
            raise LabError(f"host index {index} is out of range: the lab has at most {MAX_HOSTS} hosts")
        address = NETWORK.network_address + FIRST_HOST_OCTET + index
        return cls(name=f"{HOST_PREFIX}{chr(ord('a') + index)}", address=str(address))

    @classmethod
    def from_name(cls, name: str) -> Host:
        match = re.fullmatch(rf"{HOST_PREFIX}([a-z])", name)
        if not match:
            raise LabError(f"{name!r} is not a lab host name (expected {HOST_PREFIX}a, {HOST_PREFIX}b, ...)")
        return cls.at_index(ord(match.group(1)) - ord("a"))


def lab_hosts(count: int) -> list[Host]:
    """The first `count` lab hosts: lab-a at .11, lab-b at .12, ..."""
    if not 1 <= count <= MAX_HOSTS:
        raise LabError(f"--hosts must be between 1 and {MAX_HOSTS}, got {count}")
    return [Host.at_index(i) for i in range(count)]


def group_members(hosts: Sequence[Host]) -> dict[str, list[str]]:
    """Ansible groups: lab-a is blackwell+gateway, lab-b embedding+monitoring; further hosts alternate
    blackwell/embedding."""
    groups: dict[str, list[str]] = {"blackwell": [], "embedding": [], "gateway": [], "monitoring": []}
    for index, host in enumerate(hosts):
        if index == 0:
            groups["blackwell"].append(host.name)
            groups["gateway"].append(host.name)
        elif index == 1:
            groups["embedding"].append(host.name)
            groups["monitoring"].append(host.name)
        else:
            groups["blackwell" if index % 2 == 0 else "embedding"].append(host.name)
    return groups


# --------------------------------------------------------------------------------------------------------------------
# Pure parsing and rendering (unit-tested)
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AptSource:
    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None = None


def parse_one_line_sources(text: str) -> list[AptSource]:
    """Parse the one-line format of sources.list: `deb [opt=val ...] URI SUITE [COMPONENT...]`."""
    sources = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        options: dict[str, str] = {}
        option_match = re.match(r"^(\S+)\s+\[([^\]]*)\]\s*(.*)$", line)
        if option_match:
            kind, option_text, rest = option_match.groups()
            for item in option_text.split():
                key, _, value = item.partition("=")
                options[key.lower()] = value
            words = [kind, *rest.split()]
        else:
            words = line.split()
        if len(words) < 3:
            continue
        sources.append(
            AptSource(
                types=(words[0],),
                uris=(words[1],),
                suites=(words[2],),
                components=tuple(words[3:]),
                signed_by=options.get("signed-by"),
            )
        )
    return sources


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
            continue
        if raw[0] in " \t" and key:
            current[key] += "\n" + raw.strip()
            continue
        name, sep, value = raw.partition(":")
        if sep:
            key = name.strip().lower()
            current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def parse_deb822_sources(text: str) -> list[AptSource]:
    """Parse a deb822 `.sources` file; stanzas with `Enabled: no` are skipped."""
    sources = []
    for stanza in _deb822_stanzas(text):
        if stanza.get("enabled", "yes").lower() == "no":
            continue
        signed_by = stanza.get("signed-by")
        if signed_by and "\n" in signed_by:
            signed_by = None  # an inline key block, not a file name
        sources.append(
            AptSource(
                types=tuple(stanza.get("types", "").split()),
                uris=tuple(stanza.get("uris", "").split()),
                suites=tuple(stanza.get("suites", "").split()),
                components=tuple(stanza.get("components", "").split()),
                signed_by=signed_by,
            )
        )
    return sources


def debian_mirror_candidates(sources: Iterable[AptSource], suite: str) -> list[str]:
    """URIs that serve `suite` itself (not -updates/-security) with a `main` component, in apt's order."""
    candidates: list[str] = []
    for source in sources:
        if "deb" not in source.types or suite not in source.suites or "main" not in source.components:
            continue
        for uri in source.uris:
            uri = uri.rstrip("/")
            if urllib.parse.urlsplit(uri).scheme in ("http", "https", "file") and uri not in candidates:
                candidates.append(uri)
    return candidates


def parse_release_origin(text: str) -> str | None:
    """The `Origin:` field of a Debian archive Release file."""
    for line in text.splitlines():
        if line.lower().startswith("origin:"):
            return line.split(":", 1)[1].strip()
        if not line.strip():
            break
    return None


@dataclass(frozen=True)
class PipSources:
    """What the control node's pip configuration says about extra, local package sources."""

    find_links: tuple[str, ...] = ()
    extra_index_urls: tuple[str, ...] = ()
    cert: str | None = None

    @property
    def local_find_links(self) -> list[str]:
        """find-links entries that are local directories, as absolute paths."""
        return _unique(path for path in map(local_path_of, self.find_links) if path)

    @property
    def local_extra_index_urls(self) -> list[str]:
        """extra-index-url entries that are file:// URLs."""
        return _unique(url for url in self.extra_index_urls if url.startswith("file://"))


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def parse_pip_config_list(text: str) -> PipSources:
    """Parse the output of `pip config list` (lines like `global.find-links='/a /b'`)."""
    values: dict[str, list[str]] = {"find-links": [], "extra-index-url": [], "cert": []}
    for line in text.splitlines():
        match = re.fullmatch(r"\s*([^=\s]*)\.([A-Za-z0-9_-]+)\s*=\s*(.*?)\s*", line)
        if not match:
            continue
        key = match.group(2).lower().replace("_", "-")
        if key not in values:
            continue
        raw = match.group(3)
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            raw = raw[1:-1]
        values[key].extend(raw.split())
    certs = values["cert"]
    return PipSources(
        find_links=tuple(_unique(values["find-links"])),
        extra_index_urls=tuple(_unique(values["extra-index-url"])),
        cert=certs[-1] if certs else None,
    )


def local_path_of(location: str) -> str | None:
    """The local path a pip location names (`/dir` or `file:///dir`), or None for a remote one."""
    if location.startswith("file://"):
        path = urllib.parse.unquote(urllib.parse.urlsplit(location).path)
    elif location.startswith("/"):
        path = location
    else:
        return None
    return os.path.normpath(path) if path else None


def wheel_mount_dirs(pip_sources: PipSources) -> list[str]:
    """Local directories to mount into each host at the same path, so that the same pip options work there.

    A PEP 503 index `file:///x/simple` usually links to `../../files/...`, so its parent `/x` is mounted.
    """
    dirs = list(pip_sources.local_find_links)
    for url in pip_sources.local_extra_index_urls:
        path = local_path_of(url)
        if not path:
            continue
        if os.path.basename(path) == "simple":
            path = os.path.dirname(path)
        dirs.append(path)
    return [path for path in _unique(dirs) if path != "/"]


def parse_nameservers(text: str) -> list[str]:
    """Non-loopback `nameserver` addresses of a resolv.conf."""
    servers = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                address = ipaddress.ip_address(words[1].split("%", 1)[0])
            except ValueError:
                continue
            if not address.is_loopback:
                servers.append(words[1])
    return _unique(servers)


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


def base_cache_key(suite: str, packages: Sequence[str]) -> str:
    """Name-safe key of the base rootfs tarball: suite, package list and recipe version."""
    digest = hashlib.sha256("\n".join([BASE_RECIPE_VERSION, suite, *sorted(packages)]).encode()).hexdigest()
    return f"{suite}-{digest[:12]}"


def render_network_file(host: Host, dns: Sequence[str]) -> str:
    lines = [
        "# generated by lab/labctl.py",
        "[Match]",
        "Name=host0",
        "",
        "[Network]",
        f"Address={host.address}/{NETWORK.prefixlen}",
        f"Gateway={GATEWAY}",
        *(f"DNS={server}" for server in dns),
        "LinkLocalAddressing=no",
        "IPv6AcceptRA=no",
    ]
    return "\n".join(lines) + "\n"


def render_etc_hosts(hosts: Sequence[Host]) -> str:
    lines = [
        "# generated by lab/labctl.py",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
        f"{GATEWAY}\t{CONTROL_ALIAS}",
        *(f"{host.address}\t{host.name}" for host in hosts),
    ]
    return "\n".join(lines) + "\n"


def _yaml_scalar(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    plain = re.fullmatch(r"[A-Za-z0-9_./][A-Za-z0-9_./:@+-]*", value)
    keyword = value.lower() in {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"}
    numeric = re.fullmatch(r"[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|0[xXoO][0-9a-fA-F_]+", value)
    if plain and not keyword and not numeric:
        return value
    return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar


def _yaml_mapping(mapping: dict[str, object], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:" + ("" if value else " {}"))
            lines.extend(_yaml_mapping(value, indent + 2))
        elif isinstance(value, list | tuple):
            lines.append(f"{pad}{key}:" + ("" if value else " []"))
            lines.extend(f"{pad}  - {_yaml_scalar(item)}" for item in value)
        else:
            lines.append(f"{pad}{key}: {_yaml_scalar(value)}")  # type: ignore[arg-type]
    return lines


def render_inventory(hosts: Sequence[Host], pip_sources: PipSources, key_path: Path) -> str:
    """The Ansible YAML inventory of the lab."""
    all_vars: dict[str, object] = {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(key_path),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        "ansible_python_interpreter": "/usr/bin/python3",
        "litellm_local_profile": "lab",
        "litellm_local_lab_find_links": pip_sources.local_find_links,
        "litellm_local_lab_extra_index_urls": pip_sources.local_extra_index_urls,
        "litellm_local_uv_cache_dir": SHARED_MOUNTS[0].target,
        "litellm_local_pip_cache_dir": SHARED_MOUNTS[1].target,
        "litellm_local_lab_models_dir": SHARED_MOUNTS[2].target,
        "litellm_local_lab_wheels_dir": SHARED_MOUNTS[3].target,
        # The control node runs the lab's tests, which also call the backends directly: the host firewall admits it
        # to the backend ports, besides the gateway and monitoring hosts (roles/firewall).
        "firewall_backend_client_networks": [f"{GATEWAY}/32"],
    }
    children = {
        group: {"hosts": {name: {} for name in names}} if names else {} for group, names in group_members(hosts).items()
    }
    document = {
        "all": {
            "vars": all_vars,
            "hosts": {host.name: {"ansible_host": host.address} for host in hosts},
            "children": children,
        }
    }
    header = "# generated by lab/labctl.py; do not edit (rerun `python3 lab/labctl.py up` instead)\n---\n"
    return header + "\n".join(_yaml_mapping(document, 0)) + "\n"


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


# --------------------------------------------------------------------------------------------------------------------
# Small helpers with side effects
# --------------------------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------------------------
# Control node preparation
# --------------------------------------------------------------------------------------------------------------------


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


def ensure_ssh_key() -> str:
    """Create the lab's ed25519 key once; return the public key."""
    if not SSH_KEY.exists():
        say(f"creating ssh key {SSH_KEY}")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "litellm-local-lab", "-f", str(SSH_KEY)])
    public = SSH_KEY.with_name(SSH_KEY.name + ".pub")
    if not public.exists():
        public.write_text(run(["ssh-keygen", "-y", "-f", str(SSH_KEY)]).stdout)
    return public.read_text().strip()


def apt_source_files() -> list[Path]:
    """The files apt reads its sources from, in apt's order."""
    files = [Path("/etc/apt/sources.list")]
    parts = Path("/etc/apt/sources.list.d")
    if parts.is_dir():
        files += sorted(p for p in parts.iterdir() if p.suffix in (".list", ".sources"))
    return [p for p in files if p.is_file()]


def read_apt_sources() -> list[AptSource]:
    sources: list[AptSource] = []
    for path in apt_source_files():
        text = path.read_text(errors="replace")
        sources += parse_deb822_sources(text) if path.suffix == ".sources" else parse_one_line_sources(text)
    return sources


def find_debian_mirror() -> str:
    """The first URI in this machine's apt sources that serves Debian `SUITE` (checked by its Release file)."""
    candidates = debian_mirror_candidates(read_apt_sources(), SUITE)
    if not candidates:
        raise LabError(
            f"no apt source of this machine serves Debian {SUITE} with component main "
            "(looked in /etc/apt/sources.list and /etc/apt/sources.list.d/*.list|*.sources)"
        )
    for uri in candidates:
        try:
            # S310: the schemes were limited to http, https and file by debian_mirror_candidates()
            with urllib.request.urlopen(f"{uri}/dists/{SUITE}/Release", timeout=20) as response:  # noqa: S310
                origin = parse_release_origin(response.read(4096).decode(errors="replace"))
        except (urllib.error.URLError, OSError) as exc:
            warn(f"could not read {uri}/dists/{SUITE}/Release: {exc}")
            continue
        if origin == "Debian":
            return uri
        warn(f"{uri} serves {SUITE} but its origin is {origin!r}, not Debian; skipped")
    warn(f"no apt source could be confirmed as Debian; using the first candidate {candidates[0]}")
    return candidates[0]


def read_pip_sources() -> PipSources:
    """Extra package sources from this machine's pip configuration (`pip config list`)."""
    commands = [[sys.executable, "-m", "pip", "config", "list"]]
    if shutil.which("pip"):
        commands.append(["pip", "config", "list"])
    outputs = []
    for cmd in commands:
        try:
            proc = subprocess.run(cmd, text=True, capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if proc.returncode == 0:
            outputs.append(proc.stdout)
    if not outputs:
        warn("pip is not available on this machine; no local wheel sources are mounted into the hosts")
    return parse_pip_config_list("\n".join(outputs))


def nameservers() -> tuple[list[str], str]:
    """DNS servers for the hosts and the matching --resolv-conf mode of systemd-nspawn."""
    servers = parse_nameservers(Path("/etc/resolv.conf").read_text(errors="replace"))
    if servers:
        return servers, "copy-host"
    uplink = Path("/run/systemd/resolve/resolv.conf")
    if uplink.is_file():
        servers = parse_nameservers(uplink.read_text(errors="replace"))
        if servers:
            return servers, "copy-uplink"
    raise LabError("found no non-loopback DNS server in /etc/resolv.conf (or systemd-resolved's uplink list)")


# --------------------------------------------------------------------------------------------------------------------
# Network: bridge, forwarding, NAT
# --------------------------------------------------------------------------------------------------------------------


def ip_json(*args: str) -> list[dict[str, object]]:
    return json.loads(run(["ip", "-j", *args]).stdout or "[]")


def check_network_conflicts() -> None:
    """Refuse to touch the network when the lab's bridge name or subnet is already used by something else."""
    for link in ip_json("-d", "link", "show"):
        if link.get("ifname") == BRIDGE:
            kind = (link.get("linkinfo") or {}).get("info_kind")  # type: ignore[union-attr]
            if kind != "bridge":
                raise LabError(f"interface {BRIDGE} exists but is a {kind or 'non-bridge'} device; remove it first")
    for link in ip_json("addr", "show"):
        for info in link.get("addr_info", []):  # type: ignore[union-attr]
            address = ipaddress.ip_address(info["local"])
            if link["ifname"] != BRIDGE and address.version == 4 and address in NETWORK:
                raise LabError(f"{NETWORK} is already used on {link['ifname']} ({address}); the lab needs that subnet")
    for route in ip_json("-4", "route", "show"):
        dst = str(route.get("dst", "default"))
        if dst == "default":
            continue
        net = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
        if net.overlaps(NETWORK) and route.get("dev") != BRIDGE:
            raise LabError(f"route {dst} via {route.get('dev')} overlaps the lab subnet {NETWORK}")


def ensure_bridge() -> None:
    check_network_conflicts()
    if not any(link.get("ifname") == BRIDGE for link in ip_json("link", "show")):
        say(f"creating bridge {BRIDGE} ({GATEWAY}/{NETWORK.prefixlen})")
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    run(["ip", "addr", "replace", f"{GATEWAY}/{NETWORK.prefixlen}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])


def nft_ruleset() -> str:
    """Forward and masquerade lab traffic; replaces the lab's own tables atomically and nothing else."""
    return f"""add table {NFT_FILTER_TABLE}
delete table {NFT_FILTER_TABLE}
add table {NFT_NAT_TABLE}
delete table {NFT_NAT_TABLE}
table {NFT_FILTER_TABLE} {{
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname "{BRIDGE}" accept
        oifname "{BRIDGE}" ct state established,related accept
    }}
}}
table {NFT_NAT_TABLE} {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr {NETWORK} ip daddr != {NETWORK} masquerade
    }}
}}
"""


def ensure_forwarding() -> None:
    forward = Path("/proc/sys/net/ipv4/ip_forward")
    if forward.read_text().strip() != "1":
        if not IP_FORWARD_SAVED.exists():
            IP_FORWARD_SAVED.write_text(forward.read_text())
        forward.write_text("1\n")
    run(["nft", "-f", "-"], input_text=nft_ruleset())


def teardown_network() -> None:
    tables = run(["nft", "list", "tables"], check=False).stdout.splitlines()
    for table in (NFT_FILTER_TABLE, NFT_NAT_TABLE):
        if f"table {table}" in (line.strip() for line in tables):
            run(["nft", "delete", "table", *table.split()])
    if any(link.get("ifname") == BRIDGE for link in ip_json("link", "show")):
        run(["ip", "link", "delete", BRIDGE])
    if IP_FORWARD_SAVED.exists():
        Path("/proc/sys/net/ipv4/ip_forward").write_text(IP_FORWARD_SAVED.read_text())
        IP_FORWARD_SAVED.unlink()


# --------------------------------------------------------------------------------------------------------------------
# Base rootfs
# --------------------------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------------------------
# Hosts
# --------------------------------------------------------------------------------------------------------------------


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


def copy_into(root: Path, source: Path) -> None:
    """Copy a control-node file or directory to the same path inside a host's rootfs."""
    target = guest_path(root, str(source))
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copy2(source, target)


def install_apt_sources(root: Path) -> None:
    """Give the host the control node's apt sources, with the keyrings they name."""
    host_files = apt_source_files()
    if not Path("/etc/apt/sources.list").is_file():
        guest_path(root, "/etc/apt/sources.list").unlink(missing_ok=True)
    for path in host_files:
        copy_into(root, path)
    keyrings = {Path(s.signed_by) for s in read_apt_sources() if s.signed_by and s.signed_by.startswith("/")}
    keyrings |= {Path("/etc/apt/trusted.gpg.d"), Path("/etc/apt/keyrings")}
    for keyring in sorted(keyrings):
        if keyring.exists():
            copy_into(root, keyring)


def install_trust(root: Path, pip_sources: PipSources) -> None:
    """Trust the control node's local CAs inside the host, and point pip and friends at the system bundle."""
    if LOCAL_CA_DIR.is_dir() and any(LOCAL_CA_DIR.rglob("*.crt")):
        copy_into(root, LOCAL_CA_DIR)
        run(["chroot", str(root), "update-ca-certificates"])
    env_lines = [
        f"{name}={os.environ[name]}"
        for name in TRUST_ENV_VARS
        if os.environ.get(name, "").startswith("/") and guest_path(root, os.environ[name]).exists()
    ]
    write_guest_file(root, "/etc/environment", "".join(line + "\n" for line in env_lines))
    cert = pip_sources.cert
    if cert and cert.startswith("/") and guest_path(root, cert).exists():
        write_guest_file(root, "/etc/pip.conf", f"# generated by lab/labctl.py\n[global]\ncert = {cert}\n")
    elif cert:
        warn(f"pip's cert {cert} of the control node does not exist inside the hosts; not configured there")


def configure_host(host: Host, ctx: LabContext) -> None:
    """(Re)write the host's configuration; runs before every boot and is safe to repeat."""
    root = machine_dir(host)
    write_guest_file(root, "/etc/hostname", host.name + "\n")
    write_guest_file(root, "/etc/hosts", render_etc_hosts(ctx.hosts))
    write_guest_file(root, NETWORK_FILE, render_network_file(host, ctx.dns))
    write_guest_file(root, "/root/.ssh/authorized_keys", ctx.public_key + "\n", 0o600)
    guest_path(root, "/root/.ssh").chmod(0o700)
    for mount in ctx.mounts:
        guest_path(root, mount.target).mkdir(parents=True, exist_ok=True)
    install_apt_sources(root)
    install_trust(root, ctx.pip_sources)


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


def ssh_command(host: Host, *, batch: bool = True) -> list[str]:
    options = ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR", "ConnectTimeout=5"]
    if batch:
        options.append("BatchMode=yes")
    return ["ssh", "-i", str(SSH_KEY), *(arg for opt in options for arg in ("-o", opt)), f"root@{host.address}"]


def ssh_run(host: Host, remote: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return run([*ssh_command(host), remote], check=False, timeout=max(timeout, 1))


def wait_for_host(host: Host, timeout: float) -> str:
    """Wait until `host` answers ssh and its systemd has finished booting; return the system state."""
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
    remaining = max(deadline - time.monotonic(), 10)
    state = ssh_run(host, "systemctl is-system-running --wait", timeout=remaining).stdout.strip() or "unknown"
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


# --------------------------------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------------------------------


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


if __name__ == "__main__":
    sys.exit(main())
