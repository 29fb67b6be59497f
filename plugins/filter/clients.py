"""The gateway's clients: one named key per person or program, checked at the edge (roles/edge).

`litellm_local_clients` (the vault) lists them; this filter checks the list and fills in each client's limits from
`litellm_local_client_defaults`, so that the edge, the monitoring rules, the web UI and the usage report read one
normalised list:

    litellm_local_edge_clients: "{{ litellm_local_clients | default([])
                                    | litellm_local_clients(litellm_local_client_defaults, litellm_master_key) }}"
    rate groups: "{{ litellm_local_edge_clients | litellm_local_client_rate_groups }}"   (one nginx zone each)

A key or a name that nginx's config could not hold as a plain string, a duplicate, or the master key itself is
refused with a message naming the client (never the key).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # the unit tests run without Ansible
    AnsibleFilterError = ValueError  # type: ignore[misc,assignment]

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# 32 to 256 characters that need no quoting in nginx or an HTTP header.
KEY = re.compile(r"^[A-Za-z0-9_-]{32,256}$")
HEADER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
FIELDS = {"name", "key", "requests_per_second", "burst", "metrics", "user_header"}
# Words an nginx map reads as its own parameters, even quoted.
RESERVED = {"default", "hostnames", "include", "volatile"}


def _positive_int(value: Any, what: str, minimum: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"{what} must be a whole number, not {value!r}") from None
    if number < minimum or str(number) != str(value).strip():
        raise AnsibleFilterError(f"{what} must be a whole number of at least {minimum}, not {value!r}")
    return number


def clients(
    declared: Iterable[Mapping[str, Any]] | None,
    defaults: Mapping[str, Any],
    master_key: str = "",
) -> list[dict[str, Any]]:
    """The checked client list: name, key, requests_per_second, burst, metrics, user_header (and its nginx variable)."""
    if declared is None:
        declared = []
    if isinstance(declared, (str, bytes)) or not isinstance(declared, Iterable):
        raise AnsibleFilterError("litellm_local_clients must be a list of {name, key} entries")
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    keys: list[str] = []
    for index, entry in enumerate(declared):
        if not isinstance(entry, Mapping):
            raise AnsibleFilterError(f"litellm_local_clients[{index}] must be a mapping with name and key")
        name = str(entry.get("name", ""))
        where = f"litellm_local_clients[{index}] ({name or 'no name'})"
        unknown = sorted(set(entry) - FIELDS)
        if unknown:
            raise AnsibleFilterError(f"{where}: unknown fields {unknown}; a client has {sorted(FIELDS)}")
        if not NAME.match(name):
            raise AnsibleFilterError(
                f"{where}: the name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        if name in RESERVED:
            raise AnsibleFilterError(f"{where}: {name} is a reserved word of the edge's config; choose another name")
        if name in names:
            raise AnsibleFilterError(f"{where}: the name {name} is given twice; each client needs its own name")
        key = entry.get("key")
        if not isinstance(key, str) or not KEY.match(key):
            raise AnsibleFilterError(
                f"{where}: the key must be 32 to 256 letters, digits, '-' or '_' "
                "(e.g. `python3 -c 'import secrets; print(\"sk-\" + secrets.token_urlsafe(32))'`)"
            )
        if any(hmac.compare_digest(key, other) for other in keys):
            raise AnsibleFilterError(f"{where}: this key is also another client's; give each client its own key")
        if master_key and hmac.compare_digest(key, str(master_key)):
            raise AnsibleFilterError(
                f"{where}: this key is the gateway's master key, which never leaves the gateway host; "
                "give the client a key of its own"
            )
        header = str(entry.get("user_header") or "")
        if header and not HEADER.match(header):
            raise AnsibleFilterError(f"{where}: user_header must be an HTTP header name (letters, digits, '-')")
        names.add(name)
        keys.append(key)
        out.append(
            {
                "name": name,
                "key": key,
                "requests_per_second": _positive_int(
                    entry.get("requests_per_second", defaults.get("requests_per_second")),
                    f"{where}: requests_per_second",
                    1,
                ),
                "burst": _positive_int(entry.get("burst", defaults.get("burst")), f"{where}: burst", 0),
                "metrics": bool(entry.get("metrics", False)),
                "user_header": header,
                "user_header_var": "http_" + header.lower().replace("-", "_") if header else "",
            }
        )
    return out


def rate_groups(checked: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Clients with the same rate and burst share one nginx zone (keyed by the client's name, so each client still
    has its own budget in it): [{rate, burst, names}], in a stable order."""
    groups: dict[tuple[int, int], list[str]] = {}
    for c in checked:
        groups.setdefault((int(c["requests_per_second"]), int(c["burst"])), []).append(str(c["name"]))
    return [{"rate": r, "burst": b, "names": sorted(n)} for (r, b), n in sorted(groups.items())]


def client_key(checked: Iterable[Mapping[str, Any]], name: str, needs: str = "") -> str:
    """The key of the client `name` (for a program of this stack: Prometheus, the web UI); a clear error when the
    vault lacks it or when it lacks the field `needs` (e.g. metrics)."""
    for c in checked:
        if c["name"] == name:
            if needs and not c.get(needs):
                raise AnsibleFilterError(f"the client {name} in litellm_local_clients needs `{needs}: true`")
            return str(c["key"])
    raise AnsibleFilterError(
        f"no client named {name} in litellm_local_clients (the vault): add one with its own key"
        + (f" and `{needs}: true`" if needs else "")
    )


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "litellm_local_clients": clients,
            "litellm_local_client_rate_groups": rate_groups,
            "litellm_local_client_key": client_key,
        }
