"""What the control node's own configuration says: its apt sources and Debian mirror, pip's local package sources,
its DNS servers. The parsers are pure (unit-tested); the readers look at this machine."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .config import SUITE
from .system import LabError, warn


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
