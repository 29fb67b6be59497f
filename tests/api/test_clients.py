"""A key per person or program at the edge (issue 16), tried from the client network (this control node, on the lab
bridge: not the gateway host): only named client keys pass, the master key is refused, each client is counted under
its own name whatever headers it sends, each has its own rate limit, and the edge's log names clients, never keys.

Removing a client by a deploy: tests/deploy/test_clients_removal.py. The usage table: tests/deploy/test_usage.py.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import ssl
import time
import urllib.parse
import uuid

import pytest

from tests.conftest import (
    client_key,
    gateway_base,
    group_hosts,
    lab_ca,
    lab_host,
    lab_inventory,
    lab_secrets,
    master_key,
    put_secret,
    require_lab,
)

pytestmark = pytest.mark.lab

ROUTES = [
    ("POST", "/v1/chat/completions", {"model": "completions", "messages": [{"role": "user", "content": "hi"}]}),
    ("POST", "/v1/embeddings", {"model": "embedding", "input": "hi"}),
    ("POST", "/v1/rerank", {"model": "rerank", "query": "a", "documents": ["b"]}),
    ("GET", "/v1/models", None),
    ("GET", "/metrics", None),
]


@pytest.fixture(autouse=True)
def _lab() -> None:
    require_lab()


class Edge:
    """One kept-alive TLS connection to the edge, verified by the lab CA."""

    def __init__(self) -> None:
        url = urllib.parse.urlsplit(gateway_base())
        self.conn = http.client.HTTPSConnection(
            url.hostname, url.port, timeout=120, context=ssl.create_default_context(cafile=lab_ca())
        )

    def call(
        self, method: str, path: str, body: dict | None = None, key: str | None = None, headers: dict | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=sent)
        response = self.conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def edge():
    e = Edge()
    yield e
    e.close()


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of metric `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', line.split("}", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def gateway_metrics(edge: Edge) -> str:
    status, _, raw = edge.call("GET", "/metrics", key=client_key("prometheus"))
    assert status == 200, raw[:300]
    return raw.decode()


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[r[1] for r in ROUTES])
@pytest.mark.parametrize("who", ["master", "unknown"])
def test_the_master_key_and_unknown_keys_are_refused_at_the_edge(edge, method, path, body, who) -> None:
    key = master_key() if who == "master" else f"sk-{secrets.token_urlsafe(32)}"
    status, _, raw = edge.call(method, path, body, key)
    assert status == 401, f"{method} {path} with the {who} key: {status} {raw[:200]!r}"
    assert json.loads(raw)["error"]["code"] == "invalid_api_key"


def test_each_named_client_passes(edge) -> None:
    for c in lab_secrets()["litellm_local_clients"]:
        status, _, raw = edge.call("GET", "/v1/models", key=c["key"])
        assert status == 200, (c["name"], status, raw[:200])
        time.sleep(1.1)  # the rate-a/rate-b budgets: one request a second


def test_a_client_is_counted_under_its_own_name_whatever_it_claims(edge) -> None:
    """The end user of a request is the client the edge recognised: LiteLLM's end-user headers and the body's `user`
    claimed by the client do not change it."""
    liar = f"mallory-{uuid.uuid4().hex[:8]}"
    before = metric_sum(
        gateway_metrics(edge),
        "litellm_proxy_total_requests_metric_total",
        end_user="tests",
        requested_model="embedding",
    )
    claims = {
        "X-LiteLLM-End-User-Id": liar,
        "X-LiteLLM-Customer-Id": liar,
        "X-Litellm-Local-End-User": liar,
        "X-OpenWebUI-User-Email": f"{liar}@example.org",
    }
    for _ in range(3):
        status, _, raw = edge.call(
            "POST", "/v1/embeddings", {"model": "embedding", "input": "hi", "user": liar}, client_key("tests"), claims
        )
        assert status == 200, raw[:300]
    deadline = time.monotonic() + 30
    while True:
        text = gateway_metrics(edge)
        after = metric_sum(
            text, "litellm_proxy_total_requests_metric_total", end_user="tests", requested_model="embedding"
        )
        if after >= before + 3 or time.monotonic() > deadline:
            break
        time.sleep(1)
    print(f"requests of `tests` on `embedding` in the gateway's metrics: {before} -> {after}")
    assert after >= before + 3
    assert liar not in text, "a client's claimed end user reached the gateway's metrics"


def test_two_clients_rate_limits_are_independent(edge) -> None:
    """rate-a and rate-b have 1 request/s with a burst of 2 each (the lab's vault): rate-a spent, rate-b and the
    tests client still pass at once."""
    time.sleep(3)  # both buckets full
    a = [edge.call("GET", "/v1/models", key=client_key("rate-a")) for _ in range(8)]
    b = [edge.call("GET", "/v1/models", key=client_key("rate-b")) for _ in range(3)]
    others = edge.call("GET", "/v1/models", key=client_key("tests"))
    statuses_a = [s for s, _, _ in a]
    print(f"rate-a, 8 requests at once: {statuses_a}; then rate-b: {[s for s, _, _ in b]}; tests: {others[0]}")
    assert statuses_a[:3] == [200, 200, 200] and 429 in statuses_a[3:], statuses_a
    limited = next(r for r in a if r[0] == 429)
    assert json.loads(limited[2])["error"]["type"] == "rate_limit_exceeded" and limited[1].get("Retry-After")
    assert [s for s, _, _ in b] == [200, 200, 200], "rate-a's requests spent rate-b's budget"
    assert others[0] == 200
    time.sleep(3)  # refilled for whoever comes next


def test_the_edge_log_names_clients_and_never_a_key(edge) -> None:
    marker = uuid.uuid4().hex[:12]
    edge.call("GET", f"/v1/models/{marker}", key=client_key("tests"))
    edge.call("GET", f"/v1/models/{marker}", key=f"sk-{marker}{secrets.token_hex(16)}")
    time.sleep(2)
    log = lab_host(group_hosts("gateway")[0]).check_output(
        f"journalctl -t litellm_edge --since '-5min' --no-pager -o cat | grep -F {marker}"
    )
    lines = log.splitlines()
    print("\n".join(lines))
    assert any("client=tests " in line for line in lines), log
    assert any("client=- " in line for line in lines), "the unknown key's request is not logged as no client"
    keys = [c["key"] for c in lab_secrets()["litellm_local_clients"]] + [master_key()]
    assert not any(k in log for k in keys), "a key is in the edge's log"
    assert "sk-" not in log


@pytest.mark.parametrize(
    "host_name",
    [h for h in sorted(lab_inventory().get("_meta", {}).get("hostvars", {})) if h not in group_hosts("gateway")]
    or ["(no lab)"],
)
def test_the_master_key_is_on_no_other_host(host_name: str) -> None:
    """The master key never leaves the gateway host: no file of another lab host holds it (Prometheus there reads the
    gateway's metrics with its own client key)."""
    h = lab_host(host_name)
    pattern = "/root/litellm-local-master-key.pattern"
    put_secret(host_name, pattern, master_key().encode() + b"\n")  # through SSH's stdin, never a command line
    try:
        found = h.run(
            f"grep -rlsF --exclude-dir=site-packages --exclude-dir=lib -f {pattern} /etc /opt/litellm-local "
            "/var/lib/litellm-local /usr/local /srv /home 2>/dev/null"
        ).stdout.split()
    finally:
        h.run(f"rm -f {pattern}")
    assert not found, f"{host_name} holds the master key in {found}"
