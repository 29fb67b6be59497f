"""Authentication at the gateway (issue 7): no key and a wrong key get 401 with an OpenAI error body and never reach
a backend; /metrics needs a metrics client's key and the admin routes are closed. The named client keys (issue 16):
tests/api/test_clients.py."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pytest
import yaml

from tests.conftest import client_key, gateway_base, group_hosts, lab_host, master_key, require_lab

pytestmark = pytest.mark.lab

WRONG = "sk-not-the-key-0123456789abcdef"
UNAUTHENTICATED = {"none": None, "empty": "", "wrong": WRONG, "not-bearer": "Basic " + WRONG}
ENDPOINTS = [
    ("POST", "/v1/chat/completions", {"model": "completions", "messages": [{"role": "user", "content": "hi"}]}),
    ("POST", "/v1/embeddings", {"model": "embedding", "input": "hi"}),
    ("GET", "/v1/models", None),
    ("POST", "/v1/audio/transcriptions", {}),
]
ADMIN = [
    ("GET", "/metrics/"),
    ("GET", "/health"),
    ("POST", "/key/generate"),
    ("POST", "/model/new"),
    ("GET", "/model/info"),
    ("POST", "/config/update"),
    ("GET", "/get/config/callbacks"),
    ("POST", "/user/new"),
    ("GET", "/routes"),
    ("GET", "/debug/asyncio-tasks"),
]


@pytest.fixture(scope="module")
def gateway() -> tuple[str, str]:
    require_lab()
    return gateway_base(), client_key("tests")


def call(method: str, url: str, body: dict | None, auth: str | None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = auth if auth.startswith("Basic") or not auth else f"Bearer {auth}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def backend_requests() -> int:
    """Requests the gateway's backends have finished, from their own /metrics (read on their hosts)."""
    gateway = group_hosts("gateway")[0]
    config = yaml.safe_load(lab_host(gateway).file("/etc/litellm-local/litellm.yaml").content_string)
    # The aliases the gateway health-checks in the background get requests of their own every few seconds.
    checked = set(config["general_settings"].get("background_health_check_model_groups") or [])
    total = 0
    models = [m for m in config["model_list"] if m["model_name"] not in checked]
    for base in {m["litellm_params"]["api_base"].removesuffix("/v1") for m in models}:
        text = lab_host(gateway).run(f"curl -s -m 5 {base}/metrics").stdout
        for line in text.splitlines():
            if re.match(r"^(vllm:request_success_total|http_requests_total|[a-z_]*requests_total)\{", line):
                total += int(float(line.rsplit(" ", 1)[1]))
    return total


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=[e[1] for e in ENDPOINTS])
@pytest.mark.parametrize("auth", UNAUTHENTICATED.values(), ids=UNAUTHENTICATED.keys())
def test_no_or_wrong_key_is_401_with_an_openai_error(gateway, method, path, body, auth) -> None:
    base, _ = gateway
    status, raw = call(method, base + path, body, auth)
    assert status == 401, raw[:300]
    error = json.loads(raw)["error"]
    assert isinstance(error["message"], str) and "API key" in error["message"]


def settled_backend_requests(tries: int = 10) -> int:
    """backend_requests() once two reads a second apart agree: an earlier test's request still finishing on a
    backend (its counter moves when the answer is done) is not counted against the requests that follow."""
    last = backend_requests()
    for _ in range(tries):
        time.sleep(1)
        now = backend_requests()
        if now == last:
            return now
        last = now
    return last


def test_rejected_requests_never_reach_a_backend(gateway) -> None:
    base, _ = gateway
    before = settled_backend_requests()
    for auth in UNAUTHENTICATED.values():
        for method, path, body in ENDPOINTS[:1]:
            for _ in range(5):
                assert call(method, base + path, body, auth)[0] == 401
    after = backend_requests()
    print(f"backend requests before {before}, after 20 rejected chat requests {after}")
    assert after == before, "a request without the key reached a backend"


@pytest.mark.parametrize(("method", "path"), ADMIN, ids=[a[1] for a in ADMIN])
def test_admin_routes_are_closed_at_the_edge_with_or_without_the_key(gateway, method, path) -> None:
    """LiteLLM's admin and side routes are not on the edge's allow-list: 404 in OpenAI's shape, whatever the key."""
    base, key = gateway
    for auth in (None, WRONG, key):
        status, raw = call(method, base + path, {} if method == "POST" else None, auth)
        assert status == 404, f"{method} {path} with {'the key' if auth == key else repr(auth)}: {status} {raw[:200]!r}"
        assert json.loads(raw)["error"]["code"] == "unknown_url"


def test_metrics_need_a_metrics_clients_key(gateway) -> None:
    base, key = gateway
    for auth in (None, WRONG, master_key()):
        status, raw = call("GET", base + "/metrics", None, auth)
        assert status == 401, f"/metrics with {'the master key' if auth == master_key() else repr(auth)}: {status}"
    status, raw = call("GET", base + "/metrics", None, key)
    assert status == 403 and json.loads(raw)["error"]["code"] == "forbidden", (status, raw[:200])


def test_metrics_with_a_metrics_clients_key(gateway) -> None:
    base, _ = gateway
    status, raw = call("GET", base + "/metrics", None, client_key("prometheus"))
    assert status == 200 and b"litellm" in raw
