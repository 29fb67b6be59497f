"""The client-key filter (plugins/filter/clients.py) and the usage filters (plugins/filter/usage.py)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.conftest import ROOT


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "plugins" / "filter" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


clients_module = load("clients")
usage_module = load("usage")
clients = clients_module.clients
Error = clients_module.AnsibleFilterError
DEFAULTS = {"requests_per_second": 20, "burst": 80}
MASTER = "sk-master-" + "m" * 30


def key(n: int) -> str:
    return f"sk-{n:02d}-" + "k" * 40


def test_defaults_fill_in_and_fields_are_kept() -> None:
    out = clients(
        [
            {"name": "alice", "key": key(1)},
            {"name": "open-webui", "key": key(2), "user_header": "X-OpenWebUI-User-Email", "burst": 5},
            {"name": "prometheus", "key": key(3), "metrics": True, "requests_per_second": 2},
        ],
        DEFAULTS,
        MASTER,
    )
    assert [(c["name"], c["requests_per_second"], c["burst"], c["metrics"]) for c in out] == [
        ("alice", 20, 80, False),
        ("open-webui", 20, 5, False),
        ("prometheus", 2, 80, True),
    ]
    assert out[1]["user_header_var"] == "http_x_openwebui_user_email" and out[0]["user_header_var"] == ""


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"name": "a b", "key": key(1)}], "the name must be"),
        ([{"name": "default", "key": key(1)}], "reserved word"),
        ([{"name": "alice", "key": key(1)}, {"name": "alice", "key": key(2)}], "given twice"),
        ([{"name": "alice", "key": "sk-short"}], "32 to 256"),
        ([{"name": "alice", "key": key(1) + '"; }'}], "32 to 256"),
        ([{"name": "alice", "key": key(1)}, {"name": "bob", "key": key(1)}], "also another client's"),
        ([{"name": "alice", "key": MASTER}], "master key"),
        ([{"name": "alice", "key": key(1), "rate": 3}], "unknown fields"),
        ([{"name": "alice", "key": key(1), "requests_per_second": 0}], "at least 1"),
        ([{"name": "alice", "key": key(1), "burst": 1.5}], "whole number"),
        ([{"name": "alice", "key": key(1), "user_header": "X Bad"}], "HTTP header name"),
        (["alice"], "must be a mapping"),
        ("alice", "must be a list"),
    ],
)
def test_bad_entries_are_refused_naming_the_client_never_the_key(entries, message: str) -> None:
    with pytest.raises(Error) as exc:
        clients(entries, DEFAULTS, MASTER)
    assert message in str(exc.value)
    assert key(1) not in str(exc.value) and MASTER not in str(exc.value)


def test_no_list_is_no_clients() -> None:
    assert clients(None, DEFAULTS) == []


def test_rate_groups_share_a_zone_per_limit() -> None:
    out = clients(
        [
            {"name": "b", "key": key(1)},
            {"name": "a", "key": key(2)},
            {"name": "slow", "key": key(3), "requests_per_second": 1, "burst": 2},
        ],
        DEFAULTS,
    )
    assert clients_module.rate_groups(out) == [
        {"rate": 1, "burst": 2, "names": ["slow"]},
        {"rate": 20, "burst": 80, "names": ["a", "b"]},
    ]


def test_client_key_names_what_is_missing() -> None:
    out = clients([{"name": "prometheus", "key": key(1)}], DEFAULTS)
    with pytest.raises(Error, match="needs `metrics: true`"):
        clients_module.client_key(out, "prometheus", "metrics")
    with pytest.raises(Error, match="no client named open-webui"):
        clients_module.client_key(out, "open-webui")
    assert clients_module.client_key(out, "prometheus") == key(1)


def test_usage_query_and_table() -> None:
    query = usage_module.usage_query("litellm_proxy_total_requests_metric_total", "24h")
    assert "increase(litellm_proxy_total_requests_metric_total" in query and "offset 24h" in query
    with pytest.raises(usage_module.AnsibleFilterError):
        usage_module.usage_query("x) or vector(1", "24h")

    def answer(column: str, samples: list[tuple[str, str, str]]) -> dict:
        return {
            "item": {"key": column},
            "json": {
                "data": {
                    "result": [
                        {"metric": {"end_user": u, "requested_model": m}, "value": [0, v]} for u, m, v in samples
                    ]
                }
            },
        }

    lines = usage_module.usage_table(
        [
            answer("requests", [("tests", "embedding", "3.0000001"), ("open-webui/a@x", "completions", "2")]),
            answer("errors", [("tests", "embedding", "1")]),
            answer("input_tokens", [("open-webui/a@x", "completions", "57.9")]),
        ]
    )
    assert lines[0].split() == ["END", "USER", "ALIAS", "REQUESTS", "ERRORS", "INPUT", "TOKENS", "OUTPUT", "TOKENS"]
    assert lines[1].split() == ["open-webui/a@x", "completions", "2", "0", "58", "0"]
    assert lines[2].split() == ["tests", "embedding", "3", "1", "0", "0"]
