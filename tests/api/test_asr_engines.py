"""The two ASR engines in the lab: lab-a's ASR server runs the vllm engine (units vllm-asr-recognizer and
vllm-asr-aligner beside it), lab-b's the transformers engine (asr_engine: transformers in its host_vars), both
behind the `asr` alias.

* The gateway answers every response_format from either engine (each answer names its deployment in
  `x-litellm-model-id`: asr@lab-a, asr@lab-b).
* Parity: the same audio gives the same text, language and word timestamps from both deployed servers (greedy, the
  lab's float32 models on both sides), and the server's parity suite (services/asr/tests/test_vllm_parity.py:
  prompt tokens, greedy tokens and log-probabilities, aligner logits) passes against the deployed vLLM units.
* Readiness: each server's /health names its engine; the vllm engine's answers 200 only while both units answer.
"""

from __future__ import annotations

import io
import math
import struct
import wave

import pytest
import requests

from tests.conftest import ROOT, gateway_env, host_unit, hosts_running, lab_ca, require_lab, run_service_tests

pytestmark = pytest.mark.lab

FORMATS = ["json", "text", "srt", "vtt", "verbose_json"]
# Tries per format until every deployment of the alias has answered it (simple-shuffle: a deployment is missed in
# 24 tries with probability 2^-24).
TRIES = 24


def wav(seconds: float, rate: int = 16000) -> bytes:
    """A chord that changes every half second: something for the aligner to split into words."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        for i in range(int(seconds * rate)):
            f = 220.0 * (1 + (i // (rate // 2)) % 4)
            frames += struct.pack("<h", int(9000 * math.sin(2 * math.pi * f * i / rate)))
        w.writeframes(bytes(frames))
    return buf.getvalue()


@pytest.fixture(scope="module")
def servers() -> dict[str, dict]:
    """Each lab host running the ASR server: its catalogue entry, keyed by engine."""
    require_lab()
    units = {h: host_unit(h, "asr") for h in hosts_running("asr")}
    by_engine = {u["engine"]: {**u, "host": h} for h, u in units.items()}
    assert set(by_engine) == {"vllm", "transformers"}, f"the lab should run one ASR server per engine: {units}"
    return by_engine


def post(url: str, data: bytes, headers: dict | None = None, verify: bool | str = True, **form) -> requests.Response:
    files = {"file": ("clip.wav", data, "audio/wav")}
    fields = {"model": "asr", **form}
    return requests.post(
        f"{url}/v1/audio/transcriptions", data=fields, files=files, headers=headers, timeout=300, verify=verify
    )


def check_format(fmt: str, r: requests.Response) -> None:
    assert r.status_code == 200, r.text[:500]
    body = r.text
    if fmt == "json":
        assert set(r.json()) >= {"text"}
    elif fmt == "text":
        assert not body.lstrip().startswith("{") and r.headers["content-type"].startswith("text/plain")
    elif fmt == "srt":
        assert body.startswith("1\n00:00:") and " --> " in body
    elif fmt == "vtt":
        assert body.startswith("WEBVTT\n\n")
    else:
        answer = r.json()
        assert answer["task"] == "transcribe" and answer["words"] and answer["segments"], answer


def test_health_names_the_engine(servers: dict[str, dict]) -> None:
    for engine, unit in servers.items():
        r = requests.get(unit["url"] + "/health", timeout=10)
        assert r.status_code == 200 and r.json()["engine"] == engine, r.text
    backends = servers["vllm"]["engine_backends"]
    assert {b["unit"] for b in backends.values()} == {"vllm-asr-recognizer", "vllm-asr-aligner"}
    for backend in backends.values():
        assert requests.get(backend["url"] + "/health", timeout=10).status_code == 200


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_from_either_engine_through_the_gateway(servers: dict[str, dict], fmt: str) -> None:
    env = gateway_env()
    wanted = {f"asr@{u['host']}" for u in servers.values()}
    seen: dict[str, int] = {}
    data = wav(3.0)
    form = {"response_format": fmt}
    if fmt == "verbose_json":
        form["timestamp_granularities[]"] = ["word", "segment"]
    for _ in range(TRIES):
        r = post(
            env["OPENAI_BASE_URL"].removesuffix("/v1"),
            data,
            {"Authorization": f"Bearer {env['OPENAI_API_KEY']}"},
            verify=lab_ca(),
            **form,
        )
        check_format(fmt, r)
        deployment = r.headers.get("x-litellm-model-id", "")
        assert deployment in wanted, (deployment, dict(r.headers))
        seen[deployment] = seen.get(deployment, 0) + 1
        if set(seen) == wanted:
            break
    assert set(seen) == wanted, f"after {TRIES} requests only {seen} answered {fmt}"
    print(f"{fmt}: answers per deployment {seen}")


@pytest.mark.parametrize("seconds", [3.0, 41.0], ids=["short", "two-pieces"])
def test_both_engines_give_the_same_text_and_word_timestamps(servers: dict[str, dict], seconds: float) -> None:
    """41 s is cut into two pieces (ASR_CHUNK_SECONDS 30) by both engines: the offsets of the second must agree too."""
    data = wav(seconds)
    answers = {}
    for engine, unit in servers.items():
        r = post(
            unit["url"], data, response_format="verbose_json", **{"timestamp_granularities[]": ["word", "segment"]}
        )
        assert r.status_code == 200, (engine, r.text[:500])
        answers[engine] = r.json()
    a, b = answers["vllm"], answers["transformers"]
    assert a["text"] == b["text"] and a["language"] == b["language"]
    assert [(w["word"], w["start"], w["end"]) for w in a["words"]] == [
        (w["word"], w["start"], w["end"]) for w in b["words"]
    ]
    assert [(s["start"], s["end"], s["text"]) for s in a["segments"]] == [
        (s["start"], s["end"], s["text"]) for s in b["segments"]
    ]
    print(f"{seconds} s: {len(a['words'])} words, text {a['text'][:60]!r}")


def test_the_servers_parity_suite_against_the_deployed_vllm_units(servers: dict[str, dict]) -> None:
    """services/asr/tests/test_vllm_parity.py in the lab ASR venv, its vLLM servers being lab-a's units."""
    backends = servers["vllm"]["engine_backends"]
    assert (ROOT / ".venv-labasr" / "bin" / "python").exists(), ".venv-labasr is missing: scripts/deploy builds it"
    env = {
        "HF_HUB_OFFLINE": "1",
        "ASR_TEST_VLLM_ASR_URL": backends["recognizer"]["url"],
        "ASR_TEST_VLLM_ASR_MODEL": backends["recognizer"]["served"],
        "ASR_TEST_VLLM_ALIGNER_URL": backends["aligner"]["url"],
        "ASR_TEST_VLLM_ALIGNER_MODEL": backends["aligner"]["served"],
    }
    proc = run_service_tests(".venv-labasr", "services/asr", ["services/asr/tests/test_vllm_parity.py"], env)
    print(proc.stdout[-1500:])
    assert proc.returncode == 0 and " passed" in proc.stdout and "skipped" not in proc.stdout, (
        proc.stdout[-5000:] + proc.stderr[-2000:]
    )
