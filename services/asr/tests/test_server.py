"""The server through Flask's test client on a fake engine: formats, granularities, limits and bad input."""

from __future__ import annotations

import json
import threading

import pytest
from conftest import CONTAINERS, FakeEngine, encode, post, tone
from litellm_local_asr.app import create_app


def test_health_models_metrics(client) -> None:
    assert client.get("/health").json["status"] == "ok"
    assert [m["id"] for m in client.get("/v1/models").json["data"]] == ["asr"]
    post(client, encode(tone(1.0), 16000))
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'asr_requests_total{response_format="json",status="200"} 1.0' in metrics
    assert "asr_batch_size_bucket" in metrics


def test_json_is_the_default(client) -> None:
    r = post(client, encode(tone(2.0), 16000))
    assert r.status_code == 200
    assert r.json == {"text": "Hello, world. This is a test!", "usage": {"type": "duration", "seconds": 2}}


def test_text_srt_vtt_are_plain_text(client) -> None:
    wav = encode(tone(2.0), 16000)
    text = post(client, wav, response_format="text")
    assert text.mimetype == "text/plain" and text.get_data(as_text=True) == "Hello, world. This is a test!\n"
    srt = post(client, wav, response_format="srt").get_data(as_text=True)
    assert srt.startswith("1\n00:00:00,000 --> 00:00:")
    assert "\n2\n" in srt and "Hello, world." in srt and "This is a test!" in srt
    vtt = post(client, wav, response_format="vtt").get_data(as_text=True)
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> ") and "This is a test!" in vtt


@pytest.mark.parametrize(
    ("granularities", "words", "segments"),
    [([], False, True), (["word"], True, False), (["segment"], False, True), (["word", "segment"], True, True)],
)
def test_verbose_json_granularities(client, granularities, words, segments) -> None:
    r = post(
        client, encode(tone(3.0), 16000), response_format="verbose_json", **{"timestamp_granularities[]": granularities}
    )
    body = r.json
    assert r.status_code == 200
    assert body["task"] == "transcribe" and body["language"] == "english" and body["duration"] == 3.0
    assert ("words" in body) is words and ("segments" in body) is segments
    if words:
        assert [w["word"] for w in body["words"]] == ["Hello,", "world.", "This", "is", "a", "test!"]
        _check_times(body["words"], 3.0)
    if segments:
        assert [s["text"] for s in body["segments"]] == [" Hello, world.", " This is a test!"]
        for seg in body["segments"]:
            assert set(seg) == {
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
            }
            assert all(v is not None for v in seg.values())
        _check_times(body["segments"], 3.0)


def _check_times(items, duration) -> None:
    starts = [i["start"] for i in items]
    assert starts == sorted(starts)
    for item in items:
        assert 0.0 <= item["start"] <= item["end"] <= duration


def test_granularities_also_as_plain_field_or_comma_list(client) -> None:
    wav = encode(tone(1.0), 16000)
    a = post(client, wav, response_format="verbose_json", timestamp_granularities=["word", "segment"]).json
    b = post(client, wav, response_format="verbose_json", timestamp_granularities="word,segment").json
    assert "words" in a and "segments" in a and "words" in b and "segments" in b


def test_language_prompt_and_temperature_reach_the_engine(settings) -> None:
    seen = []

    class Spy(FakeEngine):
        def transcribe(self, jobs):
            seen.extend(jobs)
            return super().transcribe(jobs)

    app = create_app(settings, engine=Spy())
    with app.test_client() as c:
        r = post(
            c,
            encode(tone(1.0), 16000),
            language="de",
            prompt="Namen: Jörg",
            temperature="0.2",
            response_format="verbose_json",
        )
    assert r.status_code == 200 and r.json["language"] == "german"
    assert r.json["segments"][0]["temperature"] == 0.2
    assert seen[0].language == "German" and seen[0].context == "Namen: Jörg" and seen[0].timestamps


@pytest.mark.parametrize("container", sorted(CONTAINERS))
@pytest.mark.parametrize(("rate", "channels"), [(16000, 1), (44100, 2), (8000, 1)])
def test_every_container_rate_and_layout(client, container, rate, channels) -> None:
    data = encode(tone(1.5, rate), rate, container, channels)
    r = post(client, data, filename=f"a.{CONTAINERS[container][1]}", response_format="verbose_json")
    assert r.status_code == 200, r.json
    assert abs(r.json["duration"] - 1.5) < 0.25  # AAC adds encoder padding


def test_speech_from_espeak(client, speech_wav) -> None:
    r = post(client, speech_wav, response_format="verbose_json", **{"timestamp_granularities[]": ["word"]})
    assert r.status_code == 200 and r.json["duration"] > 1.0


@pytest.mark.parametrize(
    ("fields", "data", "status", "param"),
    [
        ({}, b"", 400, "file"),
        ({}, b"not audio at all" * 50, 400, "file"),
        ({}, b"RIFF\x00\x00\x00\x00WAVEfmt ", 400, "file"),
        ({"response_format": "xml"}, None, 400, "response_format"),
        ({"language": "xx"}, None, 400, "language"),
        ({"temperature": "hot"}, None, 400, "temperature"),
        ({"temperature": "3"}, None, 400, "temperature"),
        (
            {"response_format": "verbose_json", "timestamp_granularities[]": ["char"]},
            None,
            400,
            "timestamp_granularities",
        ),
        ({"stream": "true"}, None, 400, "stream"),
    ],
)
def test_bad_input_is_a_400_in_openai_shape(client, fields, data, status, param) -> None:
    r = post(client, encode(tone(1.0), 16000) if data is None else data, **fields)
    assert r.status_code == status, r.get_data(as_text=True)
    err = r.json["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["param"] == param and err["message"]
    assert err["type"] == "invalid_request_error"


def test_unknown_language_lists_the_supported_ones(client) -> None:
    msg = post(client, encode(tone(1.0), 16000), language="xx").json["error"]["message"]
    assert "en" in msg and "zh" in msg and "ja" in msg


def test_missing_file_and_model(client) -> None:
    r = client.post("/v1/audio/transcriptions", data={"model": "asr"}, content_type="multipart/form-data")
    assert r.status_code == 400 and r.json["error"]["param"] == "file"
    import io

    r = client.post(
        "/v1/audio/transcriptions",
        data={"file": (io.BytesIO(encode(tone(1.0), 16000)), "a.wav")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 400 and r.json["error"]["param"] == "model"


def test_too_large_is_413(client) -> None:
    r = post(client, b"\0" * 1_200_000)
    assert r.status_code == 413
    assert "1 MB" in r.json["error"]["message"]


def test_too_long_is_400_naming_the_limit(client) -> None:
    r = post(client, encode(tone(31.0, 8000), 8000, "flac"), filename="long.flac")
    assert r.status_code == 400
    assert "30 seconds" in r.json["error"]["message"] and r.json["error"]["code"] == "audio_too_long"


def test_engine_failure_is_reported_and_the_next_request_works(settings) -> None:
    engine = FakeEngine(fail=True)
    app = create_app(settings, engine=engine)
    with app.test_client() as c:
        r = post(c, encode(tone(1.0), 16000))
        assert r.status_code == 500 and r.json["error"]["type"] == "server_error"
        engine.fail = False
        assert post(c, encode(tone(1.0), 16000)).status_code == 200


def test_concurrent_requests_share_batches(settings) -> None:
    engine = FakeEngine()
    settings.batch_wait_ms = 200
    settings.max_batch_size = 8
    app = create_app(settings, engine=engine)
    results = []

    def one() -> None:
        with app.test_client() as c:
            results.append(post(c, encode(tone(1.0), 16000), response_format="text").status_code)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [200] * 6
    assert max(engine.batches) > 1, engine.batches


def test_verbose_json_round_trips_through_the_openai_types(client) -> None:
    from openai.types.audio import TranscriptionVerbose

    body = post(
        client,
        encode(tone(2.0), 16000),
        response_format="verbose_json",
        **{"timestamp_granularities[]": ["word", "segment"]},
    ).get_data(as_text=True)
    parsed = TranscriptionVerbose.model_validate(json.loads(body))
    assert parsed.words and parsed.segments and parsed.duration == 2.0
