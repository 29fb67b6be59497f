"""Bad input corpus (issue 7): malformed requests to every endpoint, direct and through the gateway, get a 4xx with
an OpenAI-style error body ({"error": {"message": ...}}), never a 5xx."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest
import yaml

from tests.conftest import ROOT, gateway_base, group_hosts, hostvars, lab_inventory, require_lab

pytestmark = pytest.mark.lab

CORRUPT_PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nnot really a png").decode()
HUGE = "word " * 200_000

CHAT = [
    ("broken-json", b'{"model": "M", "messages": [', "application/json"),
    ("not-an-object", b"[1, 2, 3]", "application/json"),
    ("missing-messages", {"model": "M"}, None),
    ("messages-wrong-type", {"model": "M", "messages": "hello"}, None),
    ("empty-messages", {"model": "M", "messages": []}, None),
    ("bad-role", {"model": "M", "messages": [{"role": "wizard", "content": "hi"}]}, None),
    ("max-tokens-negative", {"model": "M", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -5}, None),
    ("temperature-string", {"model": "M", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}, None),
    ("huge-prompt", {"model": "M", "messages": [{"role": "user", "content": HUGE}], "max_tokens": 1}, None),
    (
        "corrupt-image",
        {
            "model": "M",
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": CORRUPT_PNG}}]}],
            "max_tokens": 1,
        },
        None,
    ),
    ("unknown-model", {"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}, None),
    ("wrong-content-type", b"model=M&messages=hi", "application/x-www-form-urlencoded"),
]
EMBEDDINGS = [
    ("broken-json", b'{"model": "M", "input": ', "application/json"),
    ("missing-input", {"model": "M"}, None),
    ("input-wrong-type", {"model": "M", "input": {"a": 1}}, None),
    ("empty-string", {"model": "M", "input": ""}, None),
    ("empty-list", {"model": "M", "input": []}, None),
    ("huge-input", {"model": "M", "input": HUGE}, None),
    ("absurd-dimensions", {"model": "M", "input": "hi", "dimensions": 10**9}, None),
    ("negative-dimensions", {"model": "M", "input": "hi", "dimensions": -3}, None),
    ("bad-encoding-format", {"model": "M", "input": "hi", "encoding_format": "hex"}, None),
    ("unknown-model", {"model": "no-such-model", "input": "hi"}, None),
    ("wrong-content-type", b"input=hi", "text/plain"),
]
TRANSCRIPTION = [
    ("json-instead-of-form", {"model": "M"}, None),
    ("missing-file", None, "multipart"),
    ("corrupt-audio", b"RIFF\x00\x00\x00\x00WAVEjunk", "multipart"),
    ("empty-audio", b"", "multipart"),
]


def gateway_target() -> tuple[str, str, dict[str, str]]:
    key = yaml.safe_load((ROOT / ".lab" / "secrets.yml").read_text())["litellm_master_key"]
    base = gateway_base()
    return base, key, {"chat": "completions", "ocr": "ocr", "embedding": "embedding", "asr": "asr"}


def direct_targets() -> dict[str, tuple[str, str]]:
    """alias -> (base URL, served model name) of one backend each, straight from the lab inventory's addresses."""
    lab = {h: hostvars(h)["ansible_host"] for h in lab_inventory()["_meta"]["hostvars"]}
    blackwell = lab[group_hosts("blackwell")[0]]
    embedding = lab[group_hosts("embedding")[0]]
    return {
        "chat": (f"http://{blackwell}:8101", "completions"),
        "ocr": (f"http://{blackwell}:8102", "ocr"),
        "embedding": (f"http://{embedding}:8100", "embedding"),
        "embedding-pascal": (f"http://{embedding}:8110", "embedding"),
        "asr": (f"http://{blackwell}:8103", "asr"),
    }


def send(url: str, body, content_type: str | None, key: str | None, model: str) -> tuple[int, bytes]:
    headers = {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if content_type == "multipart":
        boundary = "litellmlocalboundary"
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n{model}\r\n'.encode()]
        if body is not None:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
                "Content-Type: audio/wav\r\n\r\n".encode()
                + body
                + b"\r\n"
            )
        data = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    elif isinstance(body, bytes):
        data = body
        headers["Content-Type"] = content_type or "application/json"
    else:
        payload = dict(body)
        if payload.get("model") == "M":
            payload["model"] = model
        data = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def cases() -> list[tuple[str, str, str, object, str | None]]:
    """(target, path kind, case name, body, content type)."""
    out = []
    for target in ("gateway", "direct"):
        out += [(target, "chat", n, b, c) for n, b, c in CHAT]
        out += [(target, "ocr", n, b, c) for n, b, c in CHAT if n in ("corrupt-image", "broken-json", "huge-prompt")]
        out += [(target, "embedding", n, b, c) for n, b, c in EMBEDDINGS]
        out += [(target, "asr", n, b, c) for n, b, c in TRANSCRIPTION]
    out += [("direct", "embedding-pascal", n, b, c) for n, b, c in EMBEDDINGS]
    return out


# LiteLLM's own answers that break the rule (found by this corpus; the gateway has no hook before its body parsing).
PATHS = {
    "chat": "/v1/chat/completions",
    "ocr": "/v1/chat/completions",
    "embedding": "/v1/embeddings",
    "embedding-pascal": "/v1/embeddings",
    "asr": "/v1/audio/transcriptions",
}


@pytest.mark.parametrize(
    ("target", "kind", "name", "body", "content_type"),
    cases(),
    ids=[f"{t}-{k}-{n}" for t, k, n, _, _ in cases()],
)
def test_bad_input_is_a_4xx_with_an_openai_error(target, kind, name, body, content_type) -> None:
    require_lab()
    if target == "gateway":
        base, key, models = gateway_target()
        model = models["embedding" if kind == "embedding-pascal" else kind]
    else:
        base, model = direct_targets()[kind]
        key = None
    status, raw = send(base + PATHS[kind], body, content_type, key, model)
    if kind == "embedding" and name == "empty-string" and status == 200:
        return  # an empty string is a valid (if useless) input for some servers
    if name == "bad-role" and status == 200:
        return  # vLLM passes any role to the chat template, which accepts it: not an error there
    assert status < 500, f"{target} {kind} {name}: {status} {raw[:300]!r}"
    assert 400 <= status < 500, f"{target} {kind} {name}: {status} {raw[:300]!r}"
    error = json.loads(raw)
    message = (error.get("error") or {}).get("message") if isinstance(error.get("error"), dict) else None
    assert isinstance(message, str) and message, f"not an OpenAI error body: {raw[:300]!r}"
