"""The front door, tried as an attacker on the client network would: every test runs its requests from a lab host that
is not the gateway (tests/infra/edge_probe.py, copied there), against the gateway's TLS edge (roles/edge).

Each sentence of the README's Security section about the edge is one of these tests: TLS verified by the lab CA, a
request without the key refused before its body is read, body limits, side routes closed, images never fetched by
URL, playlists and network descriptions refused as audio, per-request caps, Prometheus closed to other hosts.
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import math
import shlex
import socket
import struct
import threading
import time
import urllib.request
import wave
from pathlib import Path

import pytest

from tests.conftest import (
    client_key,
    gateway_base,
    gateway_env,
    group_hosts,
    host_unit,
    host_units,
    hostvars,
    lab_host,
    lab_inventory,
    put_file,
    put_secret,
    require_lab,
)

pytestmark = pytest.mark.lab

PROBE = Path(__file__).with_name("edge_probe.py")
REMOTE_DIR = "/root/litellm-local-edge-tests"
KEY_FILE = f"{REMOTE_DIR}/key"  # the tests client's key on the client host: a 0600 file, never on a command line
METRICS_KEY_FILE = f"{REMOTE_DIR}/metrics-key"  # the prometheus client's (metrics: true)
CANARY_ADDRESS = "10.77.0.1"  # the control node on the lab bridge: every lab unit may reach it


@pytest.fixture(autouse=True)
def _lab() -> None:
    require_lab()


@pytest.fixture(scope="module", autouse=True)
def _clean_client_host():
    """Nothing the tests put on the client host (the key file among it) outlives this module."""
    yield
    if lab_inventory():
        lab_host(client_host_name()).run(f"rm -rf {REMOTE_DIR}")
        client.cache_clear()


def gateway_host() -> str:
    return group_hosts("gateway")[0]


def client_host_name() -> str:
    others = [h for h in sorted(lab_inventory()["_meta"]["hostvars"]) if h != gateway_host()]
    assert others, "the lab needs a host that is not the gateway"
    return others[0]


@functools.cache
def client():
    """The non-gateway lab host, with the probe script and the lab CA copied to it."""
    host = lab_host(client_host_name())
    ca = Path(gateway_env()["SSL_CERT_FILE"]).read_text()
    put_file(host, f"{REMOTE_DIR}/ca.crt", ca.encode())
    put_file(host, f"{REMOTE_DIR}/edge_probe.py", PROBE.read_bytes())
    put_secret(client_host_name(), KEY_FILE, key().encode())
    put_secret(client_host_name(), METRICS_KEY_FILE, client_key("prometheus").encode())
    put_secret(
        client_host_name(),
        f"{REMOTE_DIR}/metrics-auth-header",
        f"Authorization: Bearer {client_key('prometheus')}".encode(),
    )
    return host


def base() -> str:
    return gateway_base()


def key() -> str:
    return gateway_env()["OPENAI_API_KEY"]


def probe(*args: str, timeout: int = 300) -> dict:
    cmd = " ".join(shlex.quote(a) for a in args)
    out = client().check_output(
        f"cd {REMOTE_DIR} && SSL_CERT_FILE={REMOTE_DIR}/ca.crt timeout {timeout} python3 edge_probe.py {cmd}"
    )
    return json.loads(out)


def error_of(result: dict) -> dict:
    body = json.loads(result["body"])
    assert set(body) == {"error"}, body
    assert {"message", "type", "param", "code"} <= set(body["error"]), body
    return body["error"]


def gateway_setting(name: str) -> str:
    """One setting of the gateway's environment file (read on the host; the file's other lines, the key among them,
    are not kept)."""
    out = lab_host(gateway_host()).check_output(f"grep -m1 '^{name}=' /etc/litellm-local/litellm.env")
    return out.split("=", 1)[1].strip()


def memory(unit: str) -> int:
    """Resident memory (bytes) of `unit`'s main process and its children (nginx's workers): the lab's containers have
    no memory accounting."""
    host = lab_host(gateway_host())
    pid = host.check_output(f"systemctl show -p MainPID --value {unit}")
    rss = host.check_output(f"ps -o rss= -p {pid} --ppid {pid}").split()
    return sum(int(kb) for kb in rss) * 1024


# --------------------------------------------------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------------------------------------------------


def test_the_lab_ca_verifies_the_gateway_and_plain_http_is_refused() -> None:
    ok = probe("request", "GET", base() + "/health/liveliness")
    assert ok["status"] == 200, ok
    untrusted = probe("request", "GET", base() + "/health/liveliness", "--system-cas")
    assert untrusted["status"] is None and "CERTIFICATE_VERIFY_FAILED" in untrusted["error"], untrusted
    address = hostvars(gateway_host())["ansible_host"]
    port = base().rsplit(":", 1)[1]
    plain = client().run(f"curl -s -o /dev/null -w '%{{http_code}}' -m 5 http://{address}:{port}/health/liveliness")
    assert plain.stdout.strip() in ("400", "000"), plain.stdout  # nginx answers plain HTTP on a TLS port with 400
    curl = client().run(f"curl -s -o /dev/null -m 5 --cacert {REMOTE_DIR}/ca.crt {base()}/health/liveliness")
    assert curl.rc == 0, curl.stderr


def test_litellm_itself_listens_on_loopback_only() -> None:
    gw = lab_host(gateway_host())
    port = host_unit(gateway_host(), "litellm")["port"]
    assert gw.socket(f"tcp://127.0.0.1:{port}").is_listening
    address = hostvars(gateway_host())["ansible_host"]
    assert client().run(f"curl -s -o /dev/null -m 5 http://{address}:{port}/health/liveliness").rc == 7


# --------------------------------------------------------------------------------------------------------------------
# Refused before the body is read
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/v1/chat/completions", "/v1/embeddings", "/v1/rerank", "/v1/audio/transcriptions"])
def test_a_64_mb_body_without_a_key_is_refused_in_under_a_second(route: str) -> None:
    before = memory("litellm"), memory("litellm-edge")
    result = probe("request", "POST", base() + route, "--body-bytes", str(64 * 1024 * 1024))
    after = memory("litellm"), memory("litellm-edge")
    print(
        f"{route}: {result['status']} in {result['seconds']} s; memory litellm {before[0]} -> {after[0]}, "
        f"edge {before[1]} -> {after[1]}"
    )
    assert result["status"] == 401, result
    assert "API key" in error_of(result)["message"]
    assert result["seconds"] < 1.0, result
    assert after[0] - before[0] < 16 * 1024 * 1024, "the gateway's memory grew"
    assert after[1] - before[1] < 16 * 1024 * 1024, "the edge's memory grew"


@pytest.mark.parametrize(
    ("route", "megabytes"),
    [("/v1/chat/completions", 9), ("/v1/embeddings", 9), ("/v1/rerank", 9), ("/v1/audio/transcriptions", 40)],
)
def test_an_oversized_body_with_the_key_is_413_before_it_is_read(route: str, megabytes: int) -> None:
    result = probe(
        "request", "POST", base() + route, "--key-file", KEY_FILE, "--body-bytes", str(megabytes * 1024 * 1024)
    )
    assert result["status"] == 413, result
    assert error_of(result)["code"] == "request_too_large"
    assert result["seconds"] < 2.0, result


def test_an_audio_file_over_the_asr_limit_but_under_the_edge_limit_is_413_not_a_connection_error() -> None:
    """Between the ASR servers' upload limit and the edge's (the limit plus room for the form), the gateway answers
    413 itself: a backend refusing an upload mid-send would close the connection (LiteLLM: 500 "Connection error")."""
    limit = int(gateway_setting("LITELLM_LOCAL_MAX_UPLOAD_BYTES"))
    client().check_output(f"head -c {limit + 300_000} /dev/zero > {REMOTE_DIR}/big.wav")
    result = probe(
        "request",
        "POST",
        base() + "/v1/audio/transcriptions",
        "--key-file",
        KEY_FILE,
        "--file",
        f"big.wav:{REMOTE_DIR}/big.wav",
        "--field",
        "model=asr",
    )
    client().run(f"rm -f {REMOTE_DIR}/big.wav")
    assert result["status"] == 413, result
    assert error_of(result)["code"] == "file_too_large"


# --------------------------------------------------------------------------------------------------------------------
# Side routes
# --------------------------------------------------------------------------------------------------------------------

SIDE_ROUTES = [
    "/vllm/v1/models",
    "/vllm/health",
    "/openapi.json",
    "/docs",
    "/ui",
    "/public/litellm_logo.png",
    "/routes",
    "/health",
    "/model/info",
    "/key/generate",
    "/chat/completions",
    "/v1/completions",
    "/v1/files",
    "/v1/audio/speech",
    "/metrics/",
]
ENCODED = [
    "/v1/models/..%2f..%2fvllm%2fv1%2fmodels",
    "/v1/chat/completions/%2e%2e/%2e%2e/routes",
    "/v1/%2E%2E/openapi.json",
    "/v1/models/%5c..%5copenapi.json",
    "//v1/models",
    "/v1/./models",
]


@pytest.mark.parametrize("path", SIDE_ROUTES)
@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "key"])
def test_side_routes_are_404_in_openai_shape(path: str, with_key: bool) -> None:
    args = ["request", "GET", base() + path] + (["--key-file", KEY_FILE] if with_key else [])
    result = probe(*args)
    assert result["status"] == 404, result
    assert error_of(result)["code"] == "unknown_url"


@pytest.mark.parametrize("path", ENCODED)
def test_encoded_dots_and_slashes_are_refused(path: str) -> None:
    result = probe("request", "GET", base() + path, "--key-file", KEY_FILE)
    assert result["status"] == 400, result
    assert error_of(result)["code"] == "bad_request"


def test_only_the_health_routes_answer_without_the_key() -> None:
    for path in ("/health/liveliness", "/health/readiness"):
        assert probe("request", "GET", base() + path)["status"] == 200
    for method, path in [
        ("GET", "/v1/models"),
        ("GET", "/v1/models/completions"),
        ("GET", "/metrics"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/embeddings"),
    ]:
        result = probe("request", method, base() + path, "--json", "{}")
        assert result["status"] == 401, (path, result)


def test_requests_without_a_key_create_no_metric_series() -> None:
    marker = f"edgecanary{int(time.time())}"
    for i in range(10):
        body = json.dumps({"model": f"{marker}-{i}", "user": marker, "messages": [{"role": "user", "content": "x"}]})
        probe("request", "POST", base() + "/v1/chat/completions", "--json", body)
        probe("request", "GET", base() + f"/{marker}/{i}")
        probe("request", "POST", base() + "/v1/embeddings", "--key", f"sk-{marker}{i:040d}", "--json", body)
    metrics = probe("request", "GET", base() + "/metrics", "--key-file", METRICS_KEY_FILE)
    assert metrics["status"] == 200
    full = client().check_output(
        f"curl -s --cacert {REMOTE_DIR}/ca.crt -H @{REMOTE_DIR}/metrics-auth-header {base()}/metrics"
    )
    assert marker not in full, "unauthenticated requests left series in the gateway's metrics"


# --------------------------------------------------------------------------------------------------------------------
# No fetching by URL
# --------------------------------------------------------------------------------------------------------------------


class Canary:
    """An HTTP listener on the control node's bridge address that records every request made to it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        canary = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                canary.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                self.wfile.write(PNG)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((CANARY_ADDRESS, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://{CANARY_ADDRESS}:{self.port}/{name}.png"

    def __enter__(self) -> Canary:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _png() -> bytes:
    raw = b"".join(b"\x00" + b"\xff\xff\xff" * 8 for _ in range(8))
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


PNG = _png()


def chat_with_image(model: str, url: str) -> str:
    return json.dumps(
        {
            "model": model,
            "max_tokens": 4,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": url}},
                        {"type": "text", "text": "Text Recognition:"},
                    ],
                }
            ],
        }
    )


def test_the_canary_is_reachable_from_the_backend_hosts() -> None:
    """Positive control: a plain client on each backend host reaches the canary, so a silent canary below means
    the stack refused, not that the network did."""
    with Canary() as canary:
        for name in sorted(lab_inventory()["_meta"]["hostvars"]):
            assert lab_host(name).run(f"curl -s -o /dev/null -m 5 {canary.url('control-' + name)}").rc == 0
        assert len(canary.hits) == len(lab_inventory()["_meta"]["hostvars"]), canary.hits


@pytest.mark.parametrize("model", ["completions", "ocr"])
@pytest.mark.parametrize("scheme", ["http", "file", "redirect"])
def test_chat_and_ocr_image_urls_are_refused_and_never_fetched(model: str, scheme: str) -> None:
    with Canary() as canary:
        url = {
            "http": canary.url(model),
            "file": "file:///etc/passwd",
            "redirect": f"http://{CANARY_ADDRESS}:{canary.port}/redirect?to=http://127.0.0.1:8101/v1/models",
        }[scheme]
        result = probe(
            "request",
            "POST",
            base() + "/v1/chat/completions",
            "--key-file",
            KEY_FILE,
            "--json",
            chat_with_image(model, url),
        )
        time.sleep(0.5)
        assert result["status"] == 400, result
        assert "data:" in error_of(result)["message"]
        assert canary.hits == [], canary.hits


def test_embedding_image_urls_are_refused_and_never_fetched() -> None:
    with Canary() as canary:
        for item in (
            {"image": canary.url("embedding")},
            {"image": "file:///etc/passwd", "text": "x"},
            {"image": canary.url("embedding2"), "text": "caption"},
        ):
            body = json.dumps({"model": "embedding", "input": [item]})
            result = probe("request", "POST", base() + "/v1/embeddings", "--key-file", KEY_FILE, "--json", body)
            assert result["status"] == 400, result
        time.sleep(0.5)
        assert canary.hits == [], canary.hits


def vllm_chat_targets() -> list[tuple[str, int, str]]:
    out = []
    for host in group_hosts("blackwell"):
        for svc in host_units(host):
            if svc["kind"] == "vllm" and svc["mode"] == "chat":
                out.append((svc["address"], svc["port"], svc["served"]))
    return out


def test_vllm_itself_refuses_image_urls_and_fetches_nothing() -> None:
    """Straight to each vLLM chat service (the control node is admitted to the backend ports): vLLM's own
    --allowed-media-domains refuses the URL, and the canary, which every unit may reach, records nothing."""
    with Canary() as canary:
        for address, port, name in vllm_chat_targets():
            body = chat_with_image(name, canary.url(f"vllm-{name}")).encode()
            request = urllib.request.Request(
                f"http://{address}:{port}/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            assert 400 <= status < 500, f"vllm-{name}: {status}"
        time.sleep(0.5)
        assert canary.hits == [], canary.hits


# --------------------------------------------------------------------------------------------------------------------
# Audio that is not a file
# --------------------------------------------------------------------------------------------------------------------


def wav(seconds: float = 2.0, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                for i in range(int(seconds * rate))
            )
        )
    return buf.getvalue()


def playlists(listener_port: int) -> dict[str, bytes]:
    target = f"{CANARY_ADDRESS}"
    return {
        "stream.sdp": (
            f"v=0\r\no=- 0 0 IN IP4 {target}\r\ns=x\r\nc=IN IP4 {target}\r\nt=0 0\r\n"
            f"m=audio {listener_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        ).encode(),
        "list.m3u8": (
            f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://{target}:{listener_port}/a.ts\n#EXT-X-ENDLIST\n"
        ).encode(),
        "list.ffconcat": b"ffconcat version 1.0\nfile /etc/passwd\nfile /dev/zero\n",
    }


def test_playlists_and_network_descriptions_are_refused_as_audio() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((CANARY_ADDRESS, 0))
        udp.settimeout(0.1)
        files = playlists(udp.getsockname()[1])
        for name, data in files.items():
            put_file(client(), f"{REMOTE_DIR}/{name}", data)
            result = probe(
                "request",
                "POST",
                base() + "/v1/audio/transcriptions",
                "--key-file",
                KEY_FILE,
                "--file",
                f"{name}:{REMOTE_DIR}/{name}",
                "--field",
                "model=asr",
            )
            print(f"{name}: {result['status']} in {result['seconds']} s")
            assert result["status"] == 400, result
            assert result["seconds"] < 2.0, result
            error_of(result)
        try:
            data, _ = udp.recvfrom(2048)
            pytest.fail(f"the ASR server sent UDP traffic to the listener: {data[:40]!r}")
        except TimeoutError:
            pass


def test_sixteen_sdp_uploads_at_once_do_not_delay_a_normal_transcription() -> None:
    put_file(client(), f"{REMOTE_DIR}/speech.wav", wav())
    files = playlists(9)
    put_file(client(), f"{REMOTE_DIR}/stream.sdp", files["stream.sdp"])
    url = base() + "/v1/audio/transcriptions"
    normal = [
        "request",
        "POST",
        url,
        "--key-file",
        KEY_FILE,
        "--file",
        f"speech.wav:{REMOTE_DIR}/speech.wav",
        "--field",
        "model=asr",
    ]
    alone = [probe(*normal)["seconds"] for _ in range(3)]
    attack = " ".join(
        shlex.quote(a)
        for a in [
            "parallel",
            "16",
            "POST",
            url,
            "--key-file",
            KEY_FILE,
            "--file",
            f"stream.sdp:{REMOTE_DIR}/stream.sdp",
            "--field",
            "model=asr",
        ]
    )
    host = client()
    host.check_output(
        f"cd {REMOTE_DIR} && (SSL_CERT_FILE=ca.crt timeout 120 python3 edge_probe.py {attack} > attack.json 2>&1 &)"
    )
    time.sleep(0.2)
    during = probe(*normal)
    attack_out = json.loads(host.check_output(f"sleep 3; cat {REMOTE_DIR}/attack.json"))
    alone_s = sorted(alone)[1]
    print(f"normal transcription alone (median of 3) {alone_s:.2f} s, during 16 SDP uploads {during['seconds']:.2f} s")
    assert during["status"] == 200, during
    assert all(r["status"] == 400 for r in attack_out["results"]), attack_out
    assert during["seconds"] < max(2 * alone_s, alone_s + 3.0), (alone, during)


# --------------------------------------------------------------------------------------------------------------------
# Per-request caps; the gateway stays responsive
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "body", "param"),
    [
        ("/v1/embeddings", {"model": "embedding", "input": ["x"] * 3000}, "input"),
        (
            "/v1/chat/completions",
            {"model": "completions", "n": 64, "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]},
            "n",
        ),
        (
            "/v1/chat/completions",
            {"model": "completions", "max_tokens": 100000, "messages": [{"role": "user", "content": "x"}]},
            "max_tokens",
        ),
    ],
    ids=["3000-inputs", "n-64", "max-tokens-100000"],
)
def test_requests_over_a_cap_are_400_naming_the_limit(route: str, body: dict, param: str) -> None:
    result = probe("request", "POST", base() + route, "--key-file", KEY_FILE, "--json", json.dumps(body))
    assert result["status"] == 400, result
    error = error_of(result)
    assert error["param"] == param, error
    assert result["seconds"] < 2.0, result


def test_liveliness_answers_within_a_second_while_a_client_sends_the_largest_embedding_requests() -> None:
    cap = int(gateway_setting("LITELLM_LOCAL_MAX_EMBEDDING_INPUTS"))
    body = json.dumps({"model": "embedding", "input": [f"text number {i}" for i in range(cap)]})
    put_file(client(), f"{REMOTE_DIR}/big.json", body.encode())
    client().check_output(
        f"cd {REMOTE_DIR} && (SSL_CERT_FILE=ca.crt timeout 300 python3 edge_probe.py parallel 4 POST "
        f"{base()}/v1/embeddings --key-file {KEY_FILE} --json-file big.json > load.json 2>&1 &)"
    )
    watched = probe("watch", base() + "/health/liveliness", "20")
    print(f"liveliness during {cap}-input embedding requests: {watched}")
    assert watched["failures"] == 0 and watched["max_seconds"] < 1.0, watched


# --------------------------------------------------------------------------------------------------------------------
# Prometheus
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host_name", group_hosts("monitoring") or ["(no lab)"])
def test_prometheus_is_closed_to_every_other_host(host_name: str) -> None:
    address = hostvars(host_name)["ansible_host"]
    for other in sorted(lab_inventory()["_meta"]["hostvars"]):
        if other == host_name:
            continue
        rc = lab_host(other).run(f"curl -s -o /dev/null -m 5 http://{address}:9090/api/v1/targets").rc
        assert rc == 7, f"{other} reached Prometheus on {host_name} (curl rc {rc})"
    try:
        with socket.create_connection((address, 9090), timeout=3):
            pytest.fail("the control node reached Prometheus")
    except OSError:
        pass
    local = lab_host(host_name).run("curl -s -m 5 http://127.0.0.1:9090/-/ready")
    assert local.rc == 0, "Prometheus should answer on the monitoring host's loopback"


@pytest.mark.parametrize("host_name", group_hosts("monitoring") or ["(no lab)"])
def test_no_stored_label_carries_a_key_hash_or_a_client_address(host_name: str) -> None:
    out = lab_host(host_name).check_output("curl -s -m 10 'http://127.0.0.1:9090/api/v1/labels'")
    labels = set(json.loads(out)["data"])
    print(f"labels stored by Prometheus: {sorted(labels)}")
    assert "job" in labels and "unit" in labels
    leaking = {"hashed_api_key", "api_key_alias", "api_key_hash", "client_ip", "requester_ip_address"} & labels
    assert not leaking, f"Prometheus stores {sorted(leaking)}"
    for value in json.loads(
        lab_host(host_name).check_output("curl -s -m 10 'http://127.0.0.1:9090/api/v1/label/__name__/values'")
    )["data"]:
        assert key() not in value


# --------------------------------------------------------------------------------------------------------------------
# Per-client limits and slow clients
# --------------------------------------------------------------------------------------------------------------------


def edge_setting(name: str) -> int:
    return int(
        lab_host(gateway_host()).check_output(
            f"grep -oP '(?<={name} )[0-9]+' /etc/litellm-local/edge/nginx.conf | head -1"
        )
    )


def test_a_client_over_its_request_rate_gets_429_in_openai_shape() -> None:
    burst = int(
        # The first limit_req is the per-address one; the per-client ones follow (health routes have no client).
        lab_host(gateway_host()).check_output(
            "grep -oP '(?<=burst=)[0-9]+' /etc/litellm-local/edge/nginx.conf | head -1"
        )
    )
    out = probe("parallel", str(burst + 100), "GET", base() + "/health/liveliness", timeout=120)
    statuses = [r["status"] for r in out["results"]]
    limited = [r for r in out["results"] if r["status"] == 429]
    print(f"{len(statuses)} requests at once (burst {burst}): {statuses.count(200)} ok, {len(limited)} limited")
    assert limited, "no request was limited"
    assert error_of(limited[0])["type"] == "rate_limit_exceeded"
    time.sleep(burst / 50 + 1)  # let the bucket refill for the next tests
    assert probe("request", "GET", base() + "/health/liveliness")["status"] == 200


def tls_script(*lines: str) -> str:
    """A Python script for the client host that opens a verified TLS connection `s` to the edge, then runs `lines`."""
    return "\n".join(
        [
            "import socket, ssl, time",
            f"ctx = ssl.create_default_context(cafile='{REMOTE_DIR}/ca.crt')",
            f"host, port = '{hostvars(gateway_host())['ansible_host']}', {base().rsplit(':', 1)[1]}",
            "def connect():",
            "    return ctx.wrap_socket(socket.create_connection((host, port), timeout=120), server_hostname=host)",
            f"key = open('{KEY_FILE}').read().strip()",
            "CHAT_HEAD = 'POST /v1/chat/completions HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: application/json\\r\\n'",
            *lines,
            "",
        ]
    )


def closed_after(name: str, send: str) -> tuple[float, str]:
    """Run `send` (a line of the TLS script, on connection `s`) on the client host, then wait: how many seconds until
    the edge closes the connection, and the first bytes it answered ('-' for none)."""
    script = tls_script(
        "s = connect()",
        send,
        "t = time.monotonic()",
        "data = s.recv(100)",
        "print(round(time.monotonic() - t, 1), data[:12].decode(errors='replace').replace(' ', '_') or '-')",
    )
    put_file(client(), f"{REMOTE_DIR}/{name}.py", script.encode())
    seconds, first = client().check_output(f"timeout 150 python3 {REMOTE_DIR}/{name}.py").split()
    return float(seconds), first


def test_a_client_that_sends_its_headers_too_slowly_is_cut_off() -> None:
    """A TLS connection that sends half a request line and waits is closed after client_header_timeout."""
    limit = edge_setting("client_header_timeout")
    seconds, first = closed_after("slow", "s.sendall(b'GET /health/liveliness HTTP/1.1\\r\\nHost: x\\r\\n')")
    print(f"half a request line: closed after {seconds} s (client_header_timeout {limit} s), answer {first!r}")
    assert seconds < limit + 5


def test_a_client_over_its_connection_cap_gets_429() -> None:
    """Requests whose bodies a client holds back each keep a connection busy; past the cap the edge answers 429."""
    cap = edge_setting("limit_conn edge_conn")
    script = tls_script(
        "head = (CHAT_HEAD + 'Authorization: Bearer ' + key + '\\r\\nContent-Length: 100\\r\\n\\r\\n').encode()",
        "socks = []",
        f"for _ in range({cap} + 10):",
        "    s = connect()",
        "    s.sendall(head)",
        "    socks.append(s)",
        "    time.sleep(0.02)",
        "limited = 0",
        "for s in socks:",
        "    s.settimeout(0.3)",
        "    try:",
        "        limited += s.recv(64).startswith(b'HTTP/1.1 429')",
        "    except (TimeoutError, OSError):",
        "        pass",
        "for s in socks:",
        "    s.close()",
        "print(limited)",
    )
    put_file(client(), f"{REMOTE_DIR}/conns.py", script.encode())
    limited = int(client().check_output(f"timeout 120 python3 {REMOTE_DIR}/conns.py"))
    print(f"{cap + 10} connections holding their bodies back (cap {cap}): {limited} answered 429")
    assert 1 <= limited <= 10 + 1, limited


def test_a_client_that_holds_its_body_back_is_cut_off() -> None:
    """Headers with the key and a Content-Length, then nothing: closed after client_body_timeout, with no answer from
    the gateway (the body never reached it)."""
    limit = edge_setting("client_body_timeout")
    seconds, first = closed_after(
        "slowbody",
        "s.sendall((CHAT_HEAD + 'Authorization: Bearer ' + key + '\\r\\nContent-Length: 1000\\r\\n\\r\\n{\"model\": ')"
        ".encode())",
    )
    print(f"a body held back: closed after {seconds} s (client_body_timeout {limit} s), answer {first!r}")
    assert seconds < limit + 5
    assert not first.startswith("HTTP/1.1_2"), first


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("text/plain", "[1,2]"), ("", "[1,2]"), ("application/json", "[" * 100 + "]" * 100), ("application/json", "{")],
    ids=["list-as-text", "list-no-type", "deep", "not-json"],
)
def test_bodies_that_are_not_a_json_object_are_400(content_type: str, body: str) -> None:
    args = ["request", "POST", base() + "/v1/chat/completions", "--key-file", KEY_FILE, "--json", body]
    if content_type:
        args += ["--content-type", content_type]
    result = probe(*args)
    assert result["status"] == 400, result
    error_of(result)
