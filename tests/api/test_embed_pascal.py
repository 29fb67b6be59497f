"""The deployed Pascal embedding server (unit embed-pascal), direct: the three request forms, dimensions and
base64, errors as 4xx with messages, batching across concurrent requests, metrics; and the unit under systemd."""

from __future__ import annotations

import base64
import concurrent.futures
import re
import struct

import openai
import pytest

from tests.api.embed_lab import (
    chat_body,
    cosine,
    embedding_host,
    norm,
    pascal_base_url,
    png_data_url,
    request,
)
from tests.conftest import lab_host

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def base() -> str:
    return pascal_base_url()


@pytest.fixture(scope="module")
def client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key="unused", timeout=120, max_retries=0)


def vectors(status: int, body, *_) -> list[list[float]]:
    assert status == 200, body
    return [d["embedding"] for d in body["data"]]


def test_health_models_metrics_openapi(base: str) -> None:
    assert request(f"{base}/health")[0] == 200
    status, models, _ = request(f"{base}/v1/models")
    assert status == 200 and [m["id"] for m in models["data"]] == ["embedding"]
    status, text, _ = request(f"{base}/metrics")
    assert status == 200 and "embed_batch_size_bucket" in text
    status, schema, _ = request(f"{base}/openapi.json")
    assert status == 200 and "/v1/embeddings" in schema["paths"]


def test_openai_client_text_and_default_base64(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="embedding", input=["a red square", "a blue circle"])
    assert [d.index for d in result.data] == [0, 1]
    assert all(abs(norm(d.embedding) - 1) < 1e-4 for d in result.data)
    assert result.data[0].embedding != result.data[1].embedding
    assert result.usage.prompt_tokens > 0 and result.model == "embedding"


def test_multimodal_form_with_extra_body_instruction(client: openai.OpenAI) -> None:
    image = png_data_url()
    items = [{"image": image}, {"image": image, "text": "a caption"}, {"text": "a caption"}]
    result = client.embeddings.create(model="embedding", input=items, encoding_format="float")  # type: ignore[arg-type]
    plain = [d.embedding for d in result.data]
    assert len(plain) == 3 and len({tuple(v) for v in plain}) == 3
    instructed = client.embeddings.create(
        model="embedding", input=items, encoding_format="float", extra_body={"instruction": "Find the picture"}
    )  # type: ignore[arg-type]
    assert all(cosine(a.embedding, b) < 0.99999 for a, b in zip(instructed.data, plain, strict=True))


def test_chat_form_equals_multimodal_item(base: str) -> None:
    image = png_data_url()
    from_chat = vectors(*request(f"{base}/v1/embeddings", chat_body("a caption", image)))
    item = {"model": "embedding", "input": [{"image": image, "text": "a caption"}], "encoding_format": "float"}
    from_item = vectors(*request(f"{base}/v1/embeddings", item))
    assert cosine(from_chat[0], from_item[0]) > 0.99999


def test_token_ids(base: str) -> None:
    out = vectors(*request(f"{base}/v1/embeddings", {"input": [[1, 2, 3], [4, 5]], "encoding_format": "float"}))
    assert len(out) == 2 and all(abs(norm(v) - 1) < 1e-4 for v in out)


def test_dimensions_and_base64(base: str) -> None:
    full = vectors(*request(f"{base}/v1/embeddings", chat_body("matryoshka")))[0]
    short = vectors(*request(f"{base}/v1/embeddings", chat_body("matryoshka", dimensions=16)))[0]
    assert len(short) == 16 and abs(norm(short) - 1) < 1e-4 and cosine(short, full[:16]) > 0.99999
    status, body, _ = request(f"{base}/v1/embeddings", chat_body("matryoshka", encoding_format="base64"))
    packed = body["data"][0]["embedding"]
    decoded = struct.unpack(f"<{len(full)}f", base64.b64decode(packed))
    assert status == 200 and cosine(list(decoded), full) > 0.999999


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"input": []}, 400, "must not be empty"),
        ({"input": [{}]}, 400, "needs a non-empty `text` or `image`"),
        ({"input": [{"colour": "red"}]}, 400, "colour"),
        ({"input": "x", "model": "gpt-4"}, 404, "does not exist"),
        ({"input": "x", "dimensions": 100000}, 400, "dimensions"),
        ({"input": [{"image": "https://example.org/cat.png"}]}, 400, "remote image URLs are disabled"),
        ({"input": [{"image": "data:image/png;base64,aGVsbG8="}]}, 400, "could not be decoded"),
        ({"input": [[0, 10**9]]}, 400, "token ids must lie in"),
        ({"input": [[1] * 100000]}, 400, "tokens, more than"),
        ({"input": "<|image_pad|>"}, 400, "image placeholder token"),
    ],
)
def test_bad_inputs_are_4xx_with_messages(base: str, body: dict, status: int, fragment: str) -> None:
    got, answer, _ = request(f"{base}/v1/embeddings", body)
    assert got == status, answer
    assert fragment in answer["error"]["message"] and answer["error"]["code"] == str(status)


def test_invalid_json_is_a_400(base: str) -> None:
    status, answer, _ = request(f"{base}/v1/embeddings", b"{not json")
    assert status == 400 and "not valid JSON" in answer["error"]["message"]


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_concurrent_requests_are_batched(base: str) -> None:
    before = request(f"{base}/metrics")[1]
    bodies = [chat_body(f"concurrent request number {i}") for i in range(48)]
    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        results = list(pool.map(lambda b: request(f"{base}/v1/embeddings", b), bodies))
    assert all(r[0] == 200 for r in results)
    after = request(f"{base}/metrics")[1]
    inputs = metric(after, "embed_batch_size_sum") - metric(before, "embed_batch_size_sum")
    batches = metric(after, "embed_batch_size_count") - metric(before, "embed_batch_size_count")
    assert inputs >= 48
    assert batches < inputs, f"{inputs:.0f} inputs took {batches:.0f} forward passes: no batching across requests"


# -- the unit ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def host():
    return lab_host(embedding_host())


def test_unit_runs_enabled_as_its_user(host) -> None:
    service = host.service("embed-pascal")
    if not service.is_running:
        print(host.run("journalctl -u embed-pascal -n 60 --no-pager").stdout)
    assert service.is_running and service.is_enabled
    user = host.user("embed")
    assert user.shell == "/usr/sbin/nologin"
    assert host.process.get(pid=int(service.systemd_properties["MainPID"])).user == "embed"


def test_unit_listens_on_the_host_address_only(host, base: str) -> None:
    address, port = base.removeprefix("http://").rsplit(":", 1)
    assert host.socket(f"tcp://{address}:{port}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_unit_hardening(host) -> None:
    props = host.service("embed-pascal").systemd_properties
    assert props["NoNewPrivileges"] == "yes" and props["PrivateDevices"] == "yes"  # the lab runs on the CPU
    assert props["ProtectSystem"] == "strict" and props["ProtectHome"] == "yes"
    assert props["Restart"] == "on-failure" and "wait-healthy" in props["ExecStartPost"]
    score = host.run("systemd-analyze security embed-pascal --no-pager | tail -1").stdout
    assert float(re.search(r"level for \S+: ([0-9.]+)", score).group(1)) < 2.0, score


def test_unit_logs_to_the_journal(host) -> None:
    # The start lines, searched in the whole boot's journal (request lines may have pushed them far back).
    starts = "journalctl -t embed-pascal -b --no-pager -o cat | grep -E 'loaded |Uvicorn running' | tail -20"
    log = host.run(starts).stdout
    assert "loaded " in log and "Uvicorn running" in log
