"""Shared by the lab tests of the embedding servers: where they listen, plain JSON requests, small images."""

from __future__ import annotations

import base64
import io
import json
import math
import urllib.error
import urllib.request

import pytest

from tests.conftest import group_hosts, host_units, lab_host, require_lab


def embedding_host() -> str:
    require_lab()
    hosts = group_hosts("embedding")
    assert hosts, "the lab inventory has no embedding host"
    return hosts[0]


def pascal_base_url() -> str:
    """http://<address>:<port> of embed-pascal, read from its environment file on the host."""
    host = embedding_host()
    env_file = lab_host(host).file("/etc/litellm-local/embed-pascal.env")
    if not env_file.exists:
        pytest.fail(f"embed-pascal is not deployed on {host} (no /etc/litellm-local/embed-pascal.env)")
    env = dict(line.split("=", 1) for line in env_file.content_string.splitlines() if "=" in line)
    return f"http://{env['EMBED_HOST']}:{env['EMBED_PORT']}"


def vllm_base_url() -> str | None:
    """http://<address>:<port> of vLLM's vllm-embedding on the embedding host, or None where it is not deployed."""
    host = embedding_host()
    services = [u for u in host_units(host) if u["unit"] == "vllm-embedding"]
    if not services or not lab_host(host).file("/etc/systemd/system/vllm-embedding.service").exists:
        return None
    return services[0]["url"]


def request(url: str, body: dict | bytes | None = None, timeout: float = 120) -> tuple[int, dict | str, dict]:
    """POST JSON (or GET without a body); returns (status, parsed JSON or text, headers)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, raw, headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, raw, headers = exc.code, exc.read(), dict(exc.headers)
    try:
        return status, json.loads(raw), headers
    except ValueError:
        return status, raw.decode(errors="replace"), headers


def png_data_url(width: int = 96, height: int = 64, color: str = "white") -> str:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), color)
    ImageDraw.Draw(image).text((4, 20), "litellm", fill="black")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def chat_body(
    text: str | None = None, image: str | None = None, instruction: str = "Represent the user's input.", **params
) -> dict:
    """The vLLM chat form the gateway sends for one multimodal item."""
    content = [{"type": "image_url", "image_url": {"url": image}}] if image else []
    content += [{"type": "text", "text": text}] if text else []
    return {
        "model": "embedding",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": instruction}]},
            {"role": "user", "content": content},
        ],
        "add_generation_prompt": True,
        "encoding_format": "float",
        **params,
    }


def norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (norm(a) * norm(b))
