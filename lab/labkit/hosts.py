"""The lab's hosts: names, addresses and Ansible groups (pure)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .config import FIRST_HOST_OCTET, HOST_PREFIX, MAX_HOSTS, NETWORK
from .system import LabError


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
    """Ansible groups: lab-a is blackwell+gateway+webui, lab-b embedding+monitoring and an ASR replica on the other
    engine (host_vars); further hosts alternate blackwell/embedding."""
    groups: dict[str, list[str]] = {
        "blackwell": [],
        "embedding": [],
        "asr": [],
        "gateway": [],
        "webui": [],
        "monitoring": [],
    }
    for index, host in enumerate(hosts):
        if index == 0:
            groups["blackwell"].append(host.name)
            groups["gateway"].append(host.name)
            groups["webui"].append(host.name)
        elif index == 1:
            groups["embedding"].append(host.name)
            groups["monitoring"].append(host.name)
            groups["asr"].append(host.name)
        else:
            groups["blackwell" if index % 2 == 0 else "embedding"].append(host.name)
    return groups


def host_vars(index: int) -> dict[str, str]:
    """Per-host variables: lab-b's ASR replica runs the transformers engine, lab-a's the vllm engine (the default),
    so the lab serves the `asr` alias from both engines."""
    return {"asr_engine": "transformers"} if index == 1 else {}
