"""The server with the real engine: qwen-asr's Qwen3ASRModel and forced aligner on the lab's tiny random models (CPU).

The transcripts are gibberish (random weights); what is checked is that the real loading, feature extraction,
batched generation, alignment and every format work, and that times stay inside the audio.
"""

from __future__ import annotations

import os
import threading

import pytest
from conftest import LAB_MODELS, encode, post, tone
from litellm_local_asr.app import create_app
from litellm_local_asr.settings import Settings
from strict import check_timeline, parse_srt, parse_vtt, validate


@pytest.fixture(scope="module")
def real_app():
    model, aligner = LAB_MODELS / "qwen3-asr", LAB_MODELS / "qwen3-forced-aligner"
    if not (model / "config.json").is_file() or not (aligner / "config.json").is_file():
        if os.environ.get("LITELLM_LOCAL_REQUIRE_LAB"):
            pytest.fail(f"lab ASR models missing under {LAB_MODELS}: scripts/deploy builds them")
        pytest.skip(f"no lab ASR models under {LAB_MODELS} (scripts/build_lab_asr_models.py --out ...)")
    settings = Settings(
        model=str(model),
        aligner=str(aligner),
        device="cpu",
        max_new_tokens=12,
        min_new_tokens_budget=6,
        new_tokens_per_second=1.0,
        max_batch_size=4,
        batch_wait_ms=50,
    )
    app = create_app(settings)
    yield app
    app.extensions["asr"]["batcher"].close()


@pytest.mark.parametrize("fmt", ["json", "text", "srt", "vtt", "verbose_json"])
def test_every_format_with_the_real_engine(real_app, speech_wav, fmt) -> None:
    with real_app.test_client() as c:
        r = post(c, speech_wav, response_format=fmt, **{"timestamp_granularities[]": ["word", "segment"]})
    assert r.status_code == 200, r.get_data(as_text=True)
    if fmt == "verbose_json":
        body = r.json
        duration = body["duration"]
        for key in ("words", "segments"):
            check_timeline(body[key], duration, key)
        assert [s["id"] for s in body["segments"]] == list(range(len(body["segments"])))
        assert all(v is not None for s in body["segments"] for v in s.values())
        assert body["language"] == body["language"].lower() and len(body["language"]) > 2
        validate(body, "CreateTranscriptionResponseVerboseJson")
    elif fmt == "json":
        validate(r.json, "CreateTranscriptionResponseJson")
    elif fmt == "srt":
        parse_srt(r.get_data(as_text=True))
    elif fmt == "vtt":
        parse_vtt(r.get_data(as_text=True))


def test_forced_language_and_concurrent_batching(real_app) -> None:
    codes = []

    def one(i: int) -> None:
        with real_app.test_client() as c:
            codes.append(
                post(c, encode(tone(1.0 + i * 0.3), 16000), language="en", response_format="verbose_json").status_code
            )

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert codes == [200] * 4
    metrics = real_app.test_client().get("/metrics").get_data(as_text=True)
    assert "asr_batch_size_count" in metrics


def test_long_audio_is_cut_into_pieces_decoded_together(real_app) -> None:
    """With or without timestamps, 70 s go to qwen-asr as three pieces of at most chunk_seconds + 5 s, in one call."""
    engine = real_app.extensions["asr"]["engine"]
    calls: list[list[float]] = []
    transcribe = engine.model.transcribe

    def spy(**kwargs):
        calls.append([len(samples) / 16000 for samples, _ in kwargs["audio"]])
        return transcribe(**kwargs)

    engine.model.transcribe = spy
    try:
        with real_app.test_client() as c:
            for fmt in ("json", "verbose_json"):
                r = post(c, encode(tone(70.0), 16000), language="en", response_format=fmt)
                assert r.status_code == 200, r.get_data(as_text=True)
    finally:
        del engine.model.transcribe
    assert len(calls) == 2
    for pieces in calls:
        assert len(pieces) == 3 and all(s <= 35.0 for s in pieces) and abs(sum(pieces) - 70.0) < 1e-6
    check_timeline(r.json["segments"], 70.0, "segments")
