"""The lab's network on the control node: the bridge, IPv4 forwarding, and the nftables tables that forward and
masquerade the lab's traffic."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from .config import BRIDGE, GATEWAY, IP_FORWARD_SAVED, NETWORK, NFT_FILTER_TABLE, NFT_NAT_TABLE
from .system import LabError, run, say


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
