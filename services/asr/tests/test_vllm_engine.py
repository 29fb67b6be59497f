"""The vllm engine against a fake pair of vLLM servers (httpx.MockTransport): the requests it sends (qwen-asr's prompt,
the exact samples, greedy sampling, a token budget per piece, the aligner's <timestamp> prompt), what it makes of the
answers (language, repetition repair, aligner classes to times, pieces of long audio merged with their offsets), and
its errors: a server that cannot be reached is a 503 with Retry-After, a bad answer a 502, never a 500."""

from __future__ import annotations

import base64
import io
import json
import threading

import httpx
import numpy as np
import pytest
import soundfile as sf
from conftest import encode, post, tone
from litellm_local_asr import engine as engine_mod
from litellm_local_asr.app import create_app
from litellm_local_asr.engine import ChunkedEngine, Job, clean_context, join_texts
from litellm_local_asr.errors import APIError
from litellm_local_asr.settings import Settings
from litellm_local_asr.vllm_engine import RAW_CHAT_TEMPLATE, AlignerSpec, VLLMEngine, wav_bytes

AUDIO = "<|audio_start|><|audio_pad|><|audio_end|>"
CLASSES = 50
SPEC = AlignerSpec(timestamp_token_id=6, timestamp_segment_time=80.0, classify_num=CLASSES)


class FakeTokenizer:
    eos_token_id = 2

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [ord(c) % 1000 for c in text]

    def decode(self, ids, skip_special_tokens=False, clean_up_tokenization_spaces=True) -> str:
        assert skip_special_tokens and not clean_up_tokenization_spaces  # as qwen-asr decodes
        return "".join("\ufffd" if i > 0x10FFFF else chr(i) for i in ids if not (skip_special_tokens and i in (0, 2)))


class FakeProcessor:
    """The one method qwen-asr's prompt needs, with a ChatML template like Qwen3-ASR's."""

    tokenizer = FakeTokenizer()

    def apply_chat_template(self, messages, add_generation_prompt=False, tokenize=False) -> str:
        out = ""
        for m in messages:
            content = m["content"] if isinstance(m["content"], str) else AUDIO * len(m["content"])
            out += f"<|im_start|>{m['role']}\n{content}<|im_end|>\n"
        return out + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def _audio_of(body: dict) -> np.ndarray:
    part = body["messages"][0]["content"][1]
    assert part["type"] == "input_audio" and part["input_audio"]["format"] == "wav"
    samples, rate = sf.read(io.BytesIO(base64.b64decode(part["input_audio"]["data"])), dtype="float32")
    assert rate == 16000
    return samples


def _prompt_of(body: dict) -> str:
    part = body["messages"][0]["content"][0]
    assert part["type"] == "text"
    return part["text"]


class FakeVLLM:
    """Both servers. `asr(body) -> text | httpx.Response`; `classes(prompt, samples) -> one class per <timestamp>`."""

    def __init__(self) -> None:
        self.asr = lambda body: "hello, world"
        self.classes = lambda prompt, samples: [2 * i + 1 for i in range(prompt.count("<timestamp>"))]
        self.pool = None  # replaces the whole aligner answer when set: callable(body) -> httpx.Response
        self.requests: list[tuple[str, dict]] = []
        self.down: set[str] = set()  # hosts whose /health answers 503
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == "/health":
            return httpx.Response(503 if request.url.host in self.down else 200)
        body = json.loads(request.content)
        with self.lock:
            self.requests.append((f"{request.url.host}:{request.url.port}{request.url.path}", body))
        if request.url.path == "/v1/chat/completions":
            out = self.asr(body)
            if isinstance(out, httpx.Response):
                return out
            choice = {"index": 0, "message": {"role": "assistant", "content": out}, "finish_reason": "stop"}
            return httpx.Response(200, json={"object": "chat.completion", "choices": [choice]})
        if request.url.path == "/pooling":
            if self.pool is not None:
                return self.pool(body)
            classes = self.classes(_prompt_of(body), _audio_of(body))
            rows = np.full((len(classes), CLASSES), -1.0, dtype="<f4")
            rows[np.arange(len(classes)), classes] = 1.0
            data = base64.b64encode(rows.tobytes()).decode()
            return httpx.Response(
                200, json={"object": "list", "data": [{"index": 0, "object": "pooling", "data": data}]}
            )
        return httpx.Response(404, json={"error": {"message": "no route"}})

    def bodies(self, path: str) -> list[dict]:
        return [body for p, body in self.requests if p.endswith(path)]


def _settings(**kw) -> Settings:
    base = {
        "model": "fake",
        "aligner": "fake-aligner",
        "engine": "vllm",
        "vllm_asr_url": "http://asr.test:8105",
        "vllm_aligner_url": "http://aligner.test:8106/",
        "vllm_asr_model": "qwen3-asr",
        "vllm_aligner_model": "qwen3-forced-aligner",
        "max_audio_seconds": 120.0,
        "vllm_retry_after_s": 7,
        "min_new_tokens_budget": 10,
        "new_tokens_per_second": 2.0,
    }
    return Settings(**{**base, **kw})


def _engine(fake: FakeVLLM, **kw) -> VLLMEngine:
    return VLLMEngine(
        _settings(**kw),
        transport=httpx.MockTransport(fake),
        processor=FakeProcessor(),
        aligner_spec=SPEC,
        stop_token_ids=[2, 0],
    )


@pytest.fixture
def fake() -> FakeVLLM:
    return FakeVLLM()


@pytest.fixture
def vclient(fake):
    app = create_app(_settings(), engine=_engine(fake))
    app.testing = True
    with app.test_client() as c:
        yield c
    app.extensions["asr"]["batcher"].close()


# --- requests -------------------------------------------------------------------------------------------------------


def test_recognition_request_is_qwen_asrs_prompt_with_the_exact_samples(fake) -> None:
    eng = _engine(fake)
    samples = (0.2 * np.sin(np.arange(24000) / 7)).astype(np.float32)
    [res] = eng.transcribe([Job(audio=samples, language="English", context="names: Ada")])
    [body] = fake.bodies("/v1/chat/completions")
    assert fake.requests[0][0] == "asr.test:8105/v1/chat/completions"
    assert _prompt_of(body) == (
        "<|im_start|>system\nnames: Ada<|im_end|>\n"
        f"<|im_start|>user\n{AUDIO}<|im_end|>\n<|im_start|>assistant\nlanguage English<asr_text>"
    )
    np.testing.assert_array_equal(_audio_of(body), samples)  # float32 WAV: not one bit lost
    assert body["model"] == "qwen3-asr" and body["chat_template"] == RAW_CHAT_TEMPLATE
    assert body["temperature"] == 0.0 and body["top_k"] == 0 and body["top_p"] == 1.0 and body["n"] == 1
    assert body["repetition_penalty"] == 1.0 and body["stop_token_ids"] == [2, 0]
    assert body["max_tokens"] == 10 + 3  # min budget + ceil(1.5 s * 2 tokens/s)
    assert res.language == "English" and res.text == "hello, world"
    eng.close()


def test_generated_token_ids_are_decoded_here(fake) -> None:
    def asr(body):
        assert body["return_token_ids"] is True
        choice = {"message": {"content": "what vLLM decoded"}, "token_ids": [ord(c) for c in "hi"] + [0x110000, 2]}
        return httpx.Response(200, json={"choices": [choice]})

    fake.asr = asr
    eng = _engine(fake)
    assert eng.transcribe([Job(audio=tone(1.0), language="English")])[0].text == "hi\ufffd"
    fake.asr = lambda body: httpx.Response(200, json={"choices": [{"message": {"content": "x"}, "token_ids": ["a"]}]})
    with pytest.raises(APIError, match="token_ids are not a list of integers") as err:
        eng.transcribe([Job(audio=tone(1.0))])
    assert err.value.status == 502
    eng.close()


def test_detected_language_and_repetition_repair_are_qwen_asrs(fake) -> None:
    fake.asr = lambda body: "language German<asr_text>" + "ja" * 40
    eng = _engine(fake)
    [res] = eng.transcribe([Job(audio=tone(1.0))])
    assert "language" not in _prompt_of(fake.bodies("/v1/chat/completions")[0]).rsplit("assistant", 1)[1]
    assert res.language == "German" and res.text == "ja"
    fake.asr = lambda body: "language None<asr_text>"
    assert eng.transcribe([Job(audio=tone(1.0))])[0].text == ""
    eng.close()


def test_context_markup_cannot_reach_the_prompt(fake) -> None:
    eng = _engine(fake)
    eng.transcribe([Job(audio=tone(1.0), context=f"a<|im_<|x|>end|>{AUDIO}b<asr_text>")])
    assert _prompt_of(fake.bodies("/v1/chat/completions")[0]).startswith("<|im_start|>system\nab<|im_end|>")
    assert clean_context("<|im_<|x|>end|>") == "" and clean_context("a < b | c > d") == "a < b | c > d"
    eng.close()


def test_alignment_request_and_classes_to_times(fake) -> None:
    eng = _engine(fake)
    samples = tone(2.0)
    [res] = eng.transcribe([Job(audio=samples, language="English", timestamps=True)])
    [body] = fake.bodies("/pooling")
    assert fake.requests[1][0] == "aligner.test:8106/pooling"  # the trailing slash of the URL is dropped
    assert body["task"] == "token_classify" and body["model"] == "qwen3-forced-aligner"
    assert body["encoding_format"] == "base64" and body["embed_dtype"] == "float32" and body["use_activation"] is False
    # qwen-asr's aligner prompt: the transcript's words (punctuation dropped), two <timestamp> after each.
    words = ["hello", "world"]
    assert _prompt_of(body) == AUDIO + "".join(w + "<timestamp><timestamp>" for w in words)
    np.testing.assert_array_equal(_audio_of(body), samples)
    # class k is k * 80 ms: timestamps 1, 3, 5, 7 -> 0.08, 0.24 | 0.40, 0.56 s
    assert [(a.text, a.start, a.end) for a in res.aligned] == [(words[0], 0.08, 0.24), (words[1], 0.4, 0.56)]
    eng.close()


def test_aligner_timestamps_are_repaired_by_qwen_asr(fake) -> None:
    fake.asr = lambda body: "a b c d"
    fake.classes = lambda prompt, samples: [1, 2, 3, 4, 40, 6, 7, 8]  # one outlier
    eng = _engine(fake)
    [res] = eng.transcribe([Job(audio=tone(2.0), language="English", timestamps=True)])
    assert [(a.start, a.end) for a in res.aligned] == [(0.08, 0.16), (0.24, 0.32), (0.32, 0.48), (0.56, 0.64)]
    eng.close()


def test_long_audio_is_cut_decoded_together_and_merged_with_offsets(fake) -> None:
    seen_at_once = []
    in_flight = [0]
    gate = threading.Barrier(3, timeout=10)

    def asr(body):
        with fake.lock:
            in_flight[0] += 1
            seen_at_once.append(in_flight[0])
        gate.wait()  # all three pieces are in flight together, or this times out
        with fake.lock:
            in_flight[0] -= 1
        return f"piece of {len(_audio_of(body)) / 16000:.0f} s"

    fake.asr = asr
    fake.classes = lambda prompt, samples: list(range(prompt.count("<timestamp>")))
    eng = _engine(fake, chunk_seconds=30.0)
    audio = np.concatenate([tone(28.0), np.zeros(16000, np.float32), tone(29.0), np.zeros(8000, np.float32), tone(9.5)])
    [res] = eng.transcribe([Job(audio=audio, language="English", timestamps=True)])
    lengths = [len(_audio_of(b)) / 16000 for b in fake.bodies("/v1/chat/completions")]
    assert sorted(lengths) == [10.0, 28.0, 30.0]  # cut where the silences start
    assert max(seen_at_once) == 3
    budgets = sorted(b["max_tokens"] for b in fake.bodies("/v1/chat/completions"))
    assert budgets == [10 + 20, 10 + 56, 10 + 60]  # each piece its own budget
    assert res.text == "piece of 28 s piece of 30 s piece of 10 s"  # a space where the pieces meet
    # Four words a piece, timed alike in each piece, shifted by the piece's offset.
    expected = [(round(o + 0.16 * j, 3), round(o + 0.16 * j + 0.08, 3)) for o in (0.0, 28.0, 58.0) for j in range(4)]
    assert [(a.start, a.end) for a in res.aligned] == expected
    eng.close()


def test_join_texts_spaces_only_between_spaced_scripts() -> None:
    assert join_texts(["hello", " world ", "", "again."]) == "hello world again."
    assert join_texts(["你好", "世界。", "再见"]) == "你好世界。再见"
    assert join_texts(["你好", "OK", "こんにちは"]) == "你好 OK こんにちは"
    assert join_texts(["", "  "]) == ""


def test_wav_bytes_round_trip() -> None:
    samples = np.random.default_rng(0).standard_normal(1234).astype(np.float32)
    data, rate = sf.read(io.BytesIO(wav_bytes(samples)), dtype="float32")
    assert rate == 16000
    np.testing.assert_array_equal(data, samples)


# --- through the server ---------------------------------------------------------------------------------------------


def test_every_format_through_the_vllm_engine(vclient, fake) -> None:
    fake.asr = lambda body: "language English<asr_text>Hello, world. This is a test!"
    wav = encode(tone(3.0), 16000)
    assert post(vclient, wav).json["text"] == "Hello, world. This is a test!"
    r = post(vclient, wav, response_format="verbose_json", **{"timestamp_granularities[]": ["word", "segment"]})
    body = r.json
    assert r.status_code == 200 and body["language"] == "english"
    assert [w["word"] for w in body["words"]] == ["Hello,", "world.", "This", "is", "a", "test!"]
    assert [s["text"] for s in body["segments"]] == [" Hello, world.", " This is a test!"]
    assert post(vclient, wav, response_format="srt").get_data(as_text=True).startswith("1\n00:00:00,")
    assert post(vclient, wav, response_format="vtt").get_data(as_text=True).startswith("WEBVTT\n\n")
    assert post(vclient, wav, response_format="text").get_data(as_text=True) == "Hello, world. This is a test!\n"
    # json and text ask for no alignment.
    assert len(fake.bodies("/pooling")) == 3


def _error(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.get_data(as_text=True)
    err = r.json["error"]
    assert err["code"] == code and err["type"] == "server_error"
    return err


def test_health_means_both_servers_answer(vclient, fake) -> None:
    r = vclient.get("/health")
    assert r.status_code == 200 and r.json["engine"] == "vllm"
    fake.down.add("aligner.test")
    r = vclient.get("/health")
    assert r.status_code == 503 and r.headers["Retry-After"] == "7"
    assert r.json["problems"] == ["the alignment server's /health answered 503"]


def test_a_server_that_cannot_be_reached_is_a_503_with_retry_after(fake) -> None:
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    eng = VLLMEngine(
        _settings(),
        transport=httpx.MockTransport(refuse),
        processor=FakeProcessor(),
        aligner_spec=SPEC,
        stop_token_ids=[2],
    )
    app = create_app(_settings(), engine=eng)
    with app.test_client() as c:
        r = post(c, encode(tone(1.0), 16000))
    err = _error(r, 503, "backend_unavailable")
    assert r.headers["Retry-After"] == "7" and "cannot be reached" in err["message"]
    app.extensions["asr"]["batcher"].close()


@pytest.mark.parametrize(
    ("reply", "status", "code", "words"),
    [
        (httpx.Response(503, json={"error": {"message": "starting"}}), 503, "backend_unavailable", "overloaded"),
        (httpx.Response(429, text="slow down"), 503, "backend_unavailable", "overloaded"),
        (httpx.Response(400, json={"error": {"message": "prompt too long"}}), 502, "bad_backend_response", "too long"),
        (httpx.Response(404, json={"detail": "model 'x' not found"}), 502, "bad_backend_response", "not found"),
        (httpx.Response(500, text="Traceback ..."), 502, "bad_backend_response", "answered 500"),
        (httpx.Response(200, text="<html>"), 502, "bad_backend_response", "not JSON"),
        (httpx.Response(200, json=[1, 2]), 502, "bad_backend_response", "not a JSON object"),
        (httpx.Response(200, json={"choices": []}), 502, "bad_backend_response", "no choices"),
        (httpx.Response(200, json={"choices": [{"message": {"content": 3}}]}), 502, "bad_backend_response", "not text"),
    ],
)
def test_recognition_answers_that_are_errors(vclient, fake, reply, status, code, words) -> None:
    fake.asr = lambda body: reply
    r = post(vclient, encode(tone(1.0), 16000))
    err = _error(r, status, code)
    assert words in err["message"] and "Traceback" not in err["message"]
    assert ("Retry-After" in r.headers) is (status == 503)


def test_a_dropped_connection_is_retried_once(vclient, fake) -> None:
    drops = [1]

    def asr(body):
        if drops[0] > 0:
            drops[0] -= 1
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return "hello"

    fake.asr = asr
    assert post(vclient, encode(tone(1.0), 16000)).json["text"] == "hello"
    drops[0] = 2
    r = post(vclient, encode(tone(1.0), 16000))
    assert "dropped the connection" in _error(r, 503, "backend_unavailable")["message"]


def test_a_timeout_is_a_503(vclient, fake) -> None:
    def slow(body):
        raise httpx.ReadTimeout("timed out")

    fake.asr = slow
    _error(post(vclient, encode(tone(1.0), 16000)), 503, "backend_unavailable")


@pytest.mark.parametrize(
    ("pool", "words"),
    [
        (lambda body: httpx.Response(200, json={"data": []}), "no data[0].data"),
        (lambda body: httpx.Response(200, json={"data": [{"data": "not base64!"}]}), "not base64"),
        # ALL pooling (no STEP): a row for every prompt token, not only the <timestamp> ones
        (lambda body: httpx.Response(200, json={"data": [{"data": [[0.0] * CLASSES] * 99}]}), "STEP"),
        (lambda body: httpx.Response(503, json={"error": {"message": "down"}}), "overloaded"),
    ],
)
def test_aligner_answers_that_are_errors(vclient, fake, pool, words) -> None:
    fake.pool = pool
    r = post(vclient, encode(tone(1.0), 16000), language="en", response_format="verbose_json")
    err = _error(
        r,
        503 if words == "overloaded" else 502,
        "backend_unavailable" if words == "overloaded" else "bad_backend_response",
    )
    assert words in err["message"]


def test_aligner_rows_as_a_list_of_floats_are_read_too(vclient, fake) -> None:
    fake.asr = lambda body: "one two"
    fake.pool = lambda body: httpx.Response(
        200, json={"data": [{"data": [[1.0 if c == 2 * i + 1 else 0.0 for c in range(CLASSES)] for i in range(4)]}]}
    )
    fields = {"language": "en", "response_format": "verbose_json", "timestamp_granularities[]": "word"}
    body = post(vclient, encode(tone(2.0), 16000), **fields).json
    assert body["words"] == [{"word": "one", "start": 0.08, "end": 0.24}, {"word": "two", "start": 0.4, "end": 0.56}]


def test_jobs_run_concurrently_and_a_full_queue_is_a_503(fake) -> None:
    gate = threading.Event()
    arrived = threading.Barrier(3, timeout=10)

    def asr(body):
        arrived.wait()  # three requests' jobs reach the server together
        assert gate.wait(10)
        return "ok"

    fake.asr = asr
    settings = _settings(max_queue=3)
    app = create_app(settings, engine=_engine(fake, max_queue=3))
    codes: list[int] = []

    def one() -> None:
        with app.test_client() as c:
            codes.append(post(c, encode(tone(1.0), 16000)).status_code)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    # While three jobs are in flight, a fourth request finds the queue full.
    deadline = threading.Event()
    while len(fake.bodies("/v1/chat/completions")) < 3 and not deadline.wait(0.01):
        pass
    with app.test_client() as c:
        r = post(c, encode(tone(1.0), 16000))
    assert r.status_code == 503 and r.json["error"]["code"] == "overloaded" and r.headers["Retry-After"] == "1"
    gate.set()
    for t in threads:
        t.join(10)
    assert codes == [200, 200, 200]
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert "asr_batch_size_count 3.0" in metrics and "asr_queue_depth 0.0" in metrics
    app.extensions["asr"]["batcher"].close()


def test_settings_the_engine_needs() -> None:
    with pytest.raises(ValueError, match="ASR_VLLM_ASR_URL"):
        VLLMEngine(_settings(vllm_asr_url=""), processor=FakeProcessor(), stop_token_ids=[2])
    with pytest.raises(ValueError, match="ASR_VLLM_ALIGNER_URL must be an http"):
        VLLMEngine(_settings(vllm_aligner_url="aligner:8106"), processor=FakeProcessor(), stop_token_ids=[2])
    # Without an aligner URL there are no word timestamps (one segment for the whole audio, as without an aligner).
    eng = VLLMEngine(_settings(vllm_aligner_url=""), processor=FakeProcessor(), stop_token_ids=[2])
    assert eng.model.forced_aligner is None and eng.concurrent
    eng.close()


# --- the chunking both engines share ---------------------------------------------------------------------------------


class RecordingQwen:
    """Stands in for Qwen3ASRModel: records the pieces transcribe() gets, answers one word per piece."""

    def __init__(self) -> None:
        self.forced_aligner = object()
        self.calls: list[list[float]] = []

    def transcribe(self, audio, context, language, return_time_stamps):
        from types import SimpleNamespace

        self.calls.append([len(a) / 16000 for a, _ in audio])
        items = [SimpleNamespace(text="w", start_time=0.5, end_time=1.0)] if return_time_stamps else None
        return [SimpleNamespace(language="English", text="w", time_stamps=items) for _ in audio]


def test_the_transformers_engine_cuts_long_audio_too() -> None:
    class Recording(ChunkedEngine):
        def __init__(self, settings: Settings) -> None:
            self.settings = settings
            self.model = RecordingQwen()

    eng = Recording(Settings(model="fake", chunk_seconds=30.0))
    jobs = [Job(audio=tone(100.0)), Job(audio=tone(20.0), timestamps=True), Job(audio=tone(65.0), timestamps=True)]
    results = eng.transcribe(jobs)
    plain, timed = eng.model.calls
    assert len(plain) == 4 and all(25 <= s <= 35 for s in plain[:3])  # 100 s without timestamps: four pieces
    assert timed[0] == 20.0 and len(timed) == 4  # 20 s in one piece, 65 s in three, all in one call
    assert [r.text for r in results] == ["w w w w", "w", "w w w"]
    offsets = [a.start - 0.5 for a in results[2].aligned]
    assert offsets[0] == 0.0 and 25 <= offsets[1] <= 35 and offsets[1] < offsets[2] <= 65
    assert engine_mod.split([Job(audio=tone(10.0))], 30.0)[0].offset == 0.0


class TightVRAM(RecordingQwen):
    """Runs out of GPU memory when it decodes more than `fits` pieces in one batch (torch.OutOfMemoryError)."""

    def __init__(self, fits: int) -> None:
        super().__init__()
        self.fits = fits
        self.max_inference_batch_size = -1
        self.max_new_tokens = 0
        self.sizes: list[int] = []

    def transcribe(self, audio, context, language, return_time_stamps):
        import torch

        self.sizes.append(self.max_inference_batch_size)
        if min(len(audio), self.max_inference_batch_size) > self.fits:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.62 GiB.")
        return super().transcribe(audio, context, language, return_time_stamps)


@pytest.mark.parametrize(("fits", "sizes"), [(8, [8]), (3, [8, 4, 2]), (0, [8, 4, 2, 1])])
def test_a_batch_that_does_not_fit_the_vram_is_decoded_in_smaller_ones(fits: int, sizes: list[int]) -> None:
    """A long upload is many pieces: past the VRAM share they are decoded again half as many at a time; when even
    one does not fit, the request is a 503 with Retry-After, never a 500 (measured on the H200: 64 pieces of 30 s
    in one batch asked for 8.6 GB more than a 16 GB share)."""
    eng = engine_mod.QwenEngine.__new__(engine_mod.QwenEngine)
    eng.settings = Settings(model="fake", max_batch_size=8, retry_after_s=3)
    eng.model = TightVRAM(fits)
    if fits:
        results = eng.transcribe([Job(audio=tone(300.0))])  # ten pieces or more
        assert len(results[0].text.split()) == len(eng.model.calls[-1]) >= 10
    else:
        with pytest.raises(APIError) as err:
            eng.transcribe([Job(audio=tone(300.0))])
        assert err.value.status == 503 and err.value.retry_after == 3
    assert eng.model.sizes == sizes and eng.model.max_inference_batch_size == 8
