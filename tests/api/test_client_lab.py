"""The client SDK and the `litellm-local` command against the lab gateway, one test or more per command.

A capability whose alias the gateway does not list in /v1/models yet is skipped with that reason; once the alias is
listed, its tests run for real and assert on what comes back."""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from litellm_local_client import Client, EmbedInput
from litellm_local_client.cli import cli

from tests.conftest import gateway_env

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    """OPENAI_BASE_URL and OPENAI_API_KEY of the lab gateway: from the environment, else from the lab."""
    return gateway_env()


@pytest.fixture(scope="module")
def client(env: dict[str, str]) -> Client:
    return Client(env["OPENAI_BASE_URL"], env["OPENAI_API_KEY"], max_retries=2)


@pytest.fixture(scope="module")
def served(client: Client) -> set[str]:
    return {m.id for m in client.models()}


@pytest.fixture
def need(served: set[str]):
    def check(alias: str) -> None:
        if alias not in served:
            pytest.skip(f"the lab gateway does not serve the {alias!r} alias yet (/v1/models lists {sorted(served)})")

    return check


@pytest.fixture
def run(env: dict[str, str]):
    def invoke(*args: str, input: str | bytes | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, env=env, catch_exceptions=False)

    return invoke


def png(text: str = "litellm 42", size: tuple[int, int] = (160, 64)) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((6, 24), text, fill="black")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def speech(path: Path, text: str = "Hello world. This is a test of the speech recogniser.") -> float:
    """A WAV of speech (espeak-ng when installed, else a tone sequence); returns its duration in seconds."""
    if shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    else:
        rate, frames = 16000, bytearray()
        for freq in (220, 330, 440, 550):
            for n in range(rate // 2):
                frames += int(8000 * math.sin(2 * math.pi * freq * n / rate)).to_bytes(2, "little", signed=True)
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(bytes(frames))
    with wave.open(str(path), "rb") as audio:
        return audio.getnframes() / audio.getframerate()


# -- models, health, errors -------------------------------------------------------------------------------------------


def test_models(run) -> None:
    result = run("models")
    assert result.exit_code == 0, result.stderr
    assert "completions" in result.stdout.split()
    assert "completions" in {m["id"] for m in json.loads(run("models", "--json").stdout)}


def test_health(run) -> None:
    result = run("health", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    health = json.loads(result.stdout)
    assert health["live"] and health["ready"] and health["ok"]


def test_wrong_key_exits_3(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["--api-key", "sk-wrong", "models"], env=env)
    assert result.exit_code == 3, result.stderr
    assert "OPENAI_API_KEY" in result.stderr


def test_unknown_model_exits_4(run) -> None:
    result = run("chat", "hi", "--model", "no-such-model", "--no-stream")
    assert result.exit_code == 4, result.stderr
    assert "no-such-model" in result.stderr


def test_the_installed_console_script(env: dict[str, str]) -> None:
    script = Path(sys.executable).with_name("litellm-local")
    assert script.is_file(), "install the package: pip install -e ./services/client"
    proc = subprocess.run([str(script), "models"], env={**os.environ, **env}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "completions" in proc.stdout.split()


def test_the_cli_verifies_the_gateway_with_the_ca_it_is_given(env: dict[str, str]) -> None:
    """The gateway speaks TLS with the deploy's CA: `--ca-file` (LITELLM_LOCAL_CA_FILE) is enough on its own, and
    without any CA the certificate is refused (verification is never turned off)."""
    script = Path(sys.executable).with_name("litellm-local")
    base = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "LITELLM_LOCAL_CA_FILE")}
    base.update(OPENAI_BASE_URL=env["OPENAI_BASE_URL"], OPENAI_API_KEY=env["OPENAI_API_KEY"])
    with_ca = subprocess.run(
        [str(script), "--ca-file", env["SSL_CERT_FILE"], "--max-retries", "0", "models"],
        env=base,
        capture_output=True,
        text=True,
    )
    assert with_ca.returncode == 0, with_ca.stderr
    assert "completions" in with_ca.stdout.split()
    without = subprocess.run(
        [str(script), "--max-retries", "0", "models"], env=base, capture_output=True, text=True, timeout=60
    )
    assert without.returncode != 0
    assert "certificate" in (without.stderr + without.stdout).lower(), without.stderr


# -- chat -------------------------------------------------------------------------------------------------------------


def test_chat_streams(run) -> None:
    result = run("chat", "Count to five.", "--max-tokens", "8")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.endswith("\n")


def test_chat_json_from_stdin(run) -> None:
    result = run("chat", "--json", "--max-tokens", "6", input="Say hello.\n")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["model"] and answer["finish_reason"] in ("stop", "length")
    assert answer["usage"]["completion_tokens"] > 0


def test_chat_sdk_stream_and_image(client: Client, tmp_path: Path) -> None:
    with client.chat_stream("Count to five.", max_tokens=8) as stream:
        pieces = list(stream)
    assert stream.usage is not None and stream.usage.completion_tokens > 0
    assert stream.finish_reason in ("stop", "length") and "".join(pieces) == stream.text
    text_only = client.chat("Describe.", max_tokens=4)
    image = tmp_path / "card.png"
    image.write_bytes(png())
    with_image = client.chat("Describe.", images=[image], max_tokens=4)
    assert with_image.usage and text_only.usage
    assert with_image.usage.prompt_tokens > text_only.usage.prompt_tokens + 4  # the image reached the model


# -- ocr --------------------------------------------------------------------------------------------------------------


def test_ocr_of_a_multipage_pdf(need, run, tmp_path: Path) -> None:
    need("ocr")
    from PIL import Image

    pages = [Image.open(io.BytesIO(png(f"page {n}", (300, 120)))) for n in (1, 2)]
    document = tmp_path / "two.pdf"
    pages[0].save(document, format="PDF", save_all=True, append_images=pages[1:])
    result = run("ocr", str(document), "--json", "--max-tokens", "16")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["model"] == "ocr" and [p["page"] for p in answer["pages"]] == [1, 2]
    for page in answer["pages"]:
        assert isinstance(page["text"], str) and page["finish_reason"] in ("stop", "length")
        assert page["usage"]["completion_tokens"] > 0
        assert page["usage"]["prompt_tokens"] > 16  # the page image's tokens, beyond the short task prompt


@pytest.mark.parametrize("task", ["table", "formula"])
def test_ocr_tasks_on_an_image(need, client: Client, task: str) -> None:
    need("ocr")
    result = client.ocr(png(), task=task, max_tokens=8)  # type: ignore[arg-type]
    (page,) = result.pages
    assert page.usage is not None and page.usage.completion_tokens > 0 and page.usage.prompt_tokens > 16


# -- embeddings -------------------------------------------------------------------------------------------------------


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_embed_texts(need, run, client: Client) -> None:
    need("embedding")
    result = run("embed", "--json", input="a cat on a mat\nquarterly revenue\n")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    vectors = [d["embedding"] for d in answer["data"]]
    assert len(vectors) == 2 and answer["dimensions"] == len(vectors[0]) > 0
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-3) for v in vectors)  # L2-normalised
    assert vectors[0] != vectors[1]
    small = client.embed(["a cat on a mat"], dimensions=32)
    assert small.dimensions == 32 and math.isclose(sum(x * x for x in small[0]), 1.0, rel_tol=1e-3)
    as_floats = client.embed("a cat on a mat", encoding_format="float")
    assert cosine(as_floats[0], vectors[0]) > 0.9999  # the same input, whichever replica answered


def test_embed_base64_wire_format(need, client: Client) -> None:
    need("embedding")
    # The official openai client asks for base64 by default, so the gateway must accept it (issue 5's contract).
    as_floats = client.embed("a cat on a mat", encoding_format="float")
    as_base64 = client.embed("a cat on a mat", encoding_format="base64")
    # Both replicas (vLLM, the Pascal server) may answer: same vector up to their float differences.
    assert cosine(as_floats[0], as_base64[0]) > 0.9999


def test_embed_images_and_mixed(need, run, client: Client, tmp_path: Path) -> None:
    need("embedding")
    image = tmp_path / "card.png"
    image.write_bytes(png())
    result = run("embed", "--image", str(image), "--image-text", str(image), "a card", "--json")
    assert result.exit_code == 0, result.stderr
    vectors = [d["embedding"] for d in json.loads(result.stdout)["data"]]
    text = client.embed("a card")
    assert len(vectors) == 2 and len(vectors[0]) == text.dimensions
    assert vectors[0] != vectors[1] != text[0]
    with_instruction = client.embed([EmbedInput(text="a card", instruction="Find matching images")])
    assert with_instruction[0] != text[0]  # the instruction is part of what gets embedded


# -- transcription ----------------------------------------------------------------------------------------------------


def test_transcribe_with_word_and_segment_timestamps(need, run, tmp_path: Path) -> None:
    need("asr")
    audio = tmp_path / "speech.wav"
    duration = speech(audio)
    result = run(
        "transcribe", str(audio), "--language", "en", "--timestamps", "word", "--timestamps", "segment", "--json"
    )
    assert result.exit_code == 0, result.stderr
    t = json.loads(result.stdout)
    assert t["response_format"] == "verbose_json" and isinstance(t["text"], str) and t["language"]
    assert t["duration"] == pytest.approx(duration, abs=0.25)
    for key in ("words", "segments"):
        times = [(x["start"], x["end"]) for x in t[key]]
        assert all(0 <= s <= e <= t["duration"] + 1e-3 for s, e in times), times
        assert [s for s, _ in times] == sorted(s for s, _ in times)


@pytest.mark.parametrize("suffix", [".srt", ".vtt", ".txt"])
def test_transcribe_to_subtitle_files(need, run, tmp_path: Path, suffix: str) -> None:
    need("asr")
    audio = tmp_path / "speech.wav"
    speech(audio)
    out = tmp_path / f"speech{suffix}"
    result = run("transcribe", str(audio), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    body = out.read_text()
    assert not body.lstrip().startswith("{"), "the gateway wrapped a plain-text format in JSON"
    if suffix == ".vtt":
        assert body.startswith("WEBVTT")
    if suffix == ".srt" and body.strip():
        assert re.match(r"1\r?\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", body), body[:200]


def test_transcribe_sdk_bytes_and_json(need, client: Client, tmp_path: Path) -> None:
    need("asr")
    audio = tmp_path / "speech.wav"
    speech(audio)
    sent: list[int] = []
    result = client.transcribe(audio.read_bytes(), progress=lambda s, _t: sent.append(s))
    assert result.response_format == "json" and isinstance(result.text, str)
    assert sent and sent[-1] == audio.stat().st_size


def test_transcribe_rejects_corrupt_audio_with_4(need, run) -> None:
    need("asr")
    result = run("transcribe", "-", input=b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    assert result.exit_code == 4, result.stderr


def test_transcribe_a_long_file_in_pieces(need, run, tmp_path: Path) -> None:
    need("asr")
    one = tmp_path / "one.wav"
    speech(one)
    with wave.open(str(one), "rb") as src:
        params, frames = src.getparams(), src.readframes(src.getnframes())
    audio = tmp_path / "long.wav"
    with wave.open(str(audio), "wb") as out:
        out.setparams(params)
        out.writeframes(frames * 4)
    with wave.open(str(audio), "rb") as src:
        duration = src.getnframes() / src.getframerate()
    chunk = max(10.0, duration / 3)
    result = run("transcribe", str(audio), "--chunk", f"{chunk:.1f}", "--timestamps", "segment", "--json")
    assert result.exit_code == 0, result.stderr
    t = json.loads(result.stdout)
    assert t["duration"] == pytest.approx(duration, abs=0.05)
    assert [s["id"] for s in t["segments"]] == list(range(len(t["segments"])))
    assert len(t["segments"]) >= 2  # at least one segment from more than one piece
    times = [(s["start"], s["end"]) for s in t["segments"]]
    assert all(0 <= a <= b <= duration + 1e-3 for a, b in times) and times == sorted(times)
    assert times[-1][1] > chunk  # the last piece's segments are on the whole file's clock
