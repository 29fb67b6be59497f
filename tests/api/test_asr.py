"""Speech to text with the official openai client, direct to the ASR server and through the gateway.

Every response_format comes back as from OpenAI (text, srt and vtt as plain text, also through the gateway), both
timestamp granularities survive together, times stay inside the audio and in order, and no bad input gets a 5xx.
The lab's models are random, so transcripts are gibberish: the contract is what is checked.
"""

from __future__ import annotations

import io
import math
import struct
import wave

import openai
import pytest

from tests.conftest import gateway_env, host_unit, hosts_running, hostvars, lab_inventory, require_lab

pytestmark = pytest.mark.lab


def asr_hosts() -> list[str]:
    return hosts_running("asr")


def client_params() -> list[str]:
    """The gateway, and each ASR server direct (the lab runs one per engine: vllm on lab-a, transformers on lab-b)."""
    return ["gateway"] + [f"direct-{h}" for h in (asr_hosts() if lab_inventory() else ["(no lab)"])]


@pytest.fixture(scope="module", params=client_params())
def client(request) -> openai.OpenAI:
    require_lab()
    if request.param == "gateway":
        env = gateway_env()
        return openai.OpenAI(base_url=env["OPENAI_BASE_URL"], api_key=env["OPENAI_API_KEY"], timeout=180, max_retries=0)
    host = request.param.removeprefix("direct-")
    return openai.OpenAI(base_url=f"{host_unit(host, 'asr')['url']}/v1", api_key="unused", timeout=180, max_retries=0)


def wav_bytes(samples: list[float], rate: int = 16000, channels: int = 1, width: int = 2) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 1:
            frames = bytes(int(128 + 127 * s) for s in samples for _ in range(channels))
        else:
            frames = b"".join(struct.pack("<h", int(32767 * s)) * channels for s in samples)
        w.writeframes(frames)
    return buf.getvalue()


def tone(seconds: float, rate: int = 16000, freq: float = 440.0) -> list[float]:
    return [0.3 * math.sin(2 * math.pi * freq * i / rate) for i in range(int(seconds * rate))]


def transcribe(client: openai.OpenAI, data: bytes, name: str = "speech.wav", **kwargs):
    return client.audio.transcriptions.create(model="asr", file=(name, data), **kwargs)


def test_models_lists_asr(client: openai.OpenAI) -> None:
    assert "asr" in {m.id for m in client.models.list()}


def test_json(client: openai.OpenAI, speech: bytes) -> None:
    result = transcribe(client, speech)
    assert isinstance(result, openai.types.audio.Transcription)
    assert isinstance(result.text, str)


def test_text_is_plain_text(client: openai.OpenAI, speech: bytes) -> None:
    result = transcribe(client, speech, response_format="text")
    assert isinstance(result, str)
    assert not result.lstrip().startswith("{"), result


def test_srt_is_plain_text(client: openai.OpenAI, speech: bytes) -> None:
    result = transcribe(client, speech, response_format="srt")
    assert isinstance(result, str) and result.startswith("1\n00:00:"), result
    assert " --> " in result


def test_vtt_is_plain_text(client: openai.OpenAI, speech: bytes) -> None:
    result = transcribe(client, speech, response_format="vtt")
    assert isinstance(result, str) and result.startswith("WEBVTT\n\n"), result


@pytest.mark.parametrize("granularities", [["word", "segment"], ["word"], ["segment"]], ids="+".join)
def test_verbose_json_with_timestamps(client: openai.OpenAI, speech: bytes, granularities: list[str]) -> None:
    result = transcribe(client, speech, response_format="verbose_json", timestamp_granularities=granularities)
    assert result.task == "transcribe" and result.duration > 1.0 and isinstance(result.language, str)
    checked = 0
    if "word" in granularities:
        assert result.words, "word timestamps missing"
        checked += _ordered_inside(result.words, result.duration)
    else:
        assert not result.words
    if "segment" in granularities:
        assert result.segments, "segments missing"
        checked += _ordered_inside(result.segments, result.duration)
        for seg in result.segments:
            for field in (
                "id",
                "seek",
                "start",
                "end",
                "text",
                "tokens",
                "temperature",
                "avg_logprob",
                "compression_ratio",
                "no_speech_prob",
            ):
                assert getattr(seg, field) is not None, field
    else:
        assert not result.segments
    assert checked > 0


def _ordered_inside(items, duration: float) -> int:
    starts = [i.start for i in items]
    assert starts == sorted(starts), starts
    for i in items:
        assert 0.0 <= i.start <= i.end <= duration + 1e-6, (i, duration)
    return len(items)


@pytest.mark.parametrize(("rate", "channels", "width"), [(8000, 1, 1), (44100, 2, 2), (22050, 1, 2)])
def test_tones_at_any_rate_and_layout(client: openai.OpenAI, rate: int, channels: int, width: int) -> None:
    result = transcribe(client, wav_bytes(tone(1.5, rate), rate, channels, width), response_format="verbose_json")
    assert abs(result.duration - 1.5) < 0.05


@pytest.mark.parametrize(
    ("data", "kwargs"),
    [
        (b"", {}),
        (b"this is not audio" * 100, {}),
        (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00", {}),
        (None, {"language": "xx"}),
        (None, {"response_format": "xml"}),
        (None, {"temperature": 7}),
        (None, {"response_format": "verbose_json", "timestamp_granularities": ["sentence"]}),
    ],
    ids=["empty", "garbage", "truncated-wav", "unknown-language", "bad-format", "bad-temperature", "bad-granularity"],
)
def test_bad_input_is_a_client_error(client: openai.OpenAI, data, kwargs) -> None:
    with pytest.raises(openai.APIStatusError) as err:
        transcribe(client, wav_bytes(tone(1.0)) if data is None else data, **kwargs)
    assert 400 <= err.value.status_code < 500, (err.value.status_code, err.value.message)


def test_unknown_language_names_the_supported_ones(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        transcribe(client, wav_bytes(tone(1.0)), language="xx")
    assert "en" in str(err.value.message) and "zh" in str(err.value.message)


def test_too_large_is_413(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as err:
        transcribe(client, b"\0" * 26_000_000, name="big.wav")
    assert err.value.status_code == 413


def test_too_long_is_400_with_the_limit(client: openai.OpenAI) -> None:
    limit = float(hostvars(asr_hosts()[0]).get("asr_max_audio_seconds", 1200))
    silence = [0.0] * int((limit + 2) * 8000)
    with pytest.raises(openai.APIStatusError) as err:
        transcribe(client, wav_bytes(silence, 8000, 1, 1), name="long.wav")
    assert err.value.status_code == 400
    assert f"{limit:g} seconds" in str(err.value.message)
