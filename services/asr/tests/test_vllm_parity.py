"""Parity of the two engines on the lab's tiny models: the vllm engine (two real vLLM servers) must give the
transformers engine's transcripts, languages and word timestamps, greedy, float32 on both sides.

Needs the servers (see docs/asr.md, "The vllm engine"), serving the lab models as float32 (PYTHONPATH as usual:
src and ../common/src):
    ASR_TEST_VLLM_ASR_URL=http://127.0.0.1:18301 ASR_TEST_VLLM_ALIGNER_URL=http://127.0.0.1:18302 pytest ...
(served names ASR_TEST_VLLM_ASR_MODEL, ASR_TEST_VLLM_ALIGNER_MODEL: qwen3-asr, qwen3-forced-aligner by default).
Skipped, saying why, without them. Besides the engines' answers it compares what the servers compute: the prompt's
token ids, the greedy tokens and their log-probabilities, and the aligner's logits.

The random-weight models write gibberish (often one token repeated, which qwen-asr's repetition repair collapses),
so the token-level checks are what shows the two backends compute the same thing.
"""

from __future__ import annotations

import base64
import os

import httpx
import numpy as np
import pytest
from conftest import LAB_MODELS, encode, post, tone
from litellm_local_asr import audio
from litellm_local_asr.app import create_app
from litellm_local_asr.engine import Job, QwenEngine
from litellm_local_asr.settings import Settings
from litellm_local_asr.vllm_engine import VLLMEngine

ASR_URL = os.environ.get("ASR_TEST_VLLM_ASR_URL", "")
ALIGNER_URL = os.environ.get("ASR_TEST_VLLM_ALIGNER_URL", "")
ASR_MODEL = os.environ.get("ASR_TEST_VLLM_ASR_MODEL", "qwen3-asr")
ALIGNER_MODEL = os.environ.get("ASR_TEST_VLLM_ALIGNER_MODEL", "qwen3-forced-aligner")
TOKENS = 32  # every piece's budget on both engines (the transformers engine gives a batch its longest piece's)

pytestmark = pytest.mark.skipif(
    not (ASR_URL and ALIGNER_URL),
    reason="set ASR_TEST_VLLM_ASR_URL and ASR_TEST_VLLM_ALIGNER_URL to vLLM servers of the lab ASR models "
    "(docs/asr.md, 'The vllm engine')",
)


def _settings(**kw) -> Settings:
    model, aligner = LAB_MODELS / "qwen3-asr", LAB_MODELS / "qwen3-forced-aligner"
    if not (model / "config.json").is_file() or not (aligner / "config.json").is_file():
        pytest.skip(f"no lab ASR models under {LAB_MODELS} (scripts/build_lab_asr_models.py --out ...)")
    base = {
        "model": str(model),
        "aligner": str(aligner),
        "device": "cpu",
        "dtype": "float32",
        "max_new_tokens": TOKENS,
        "min_new_tokens_budget": TOKENS,
        "max_batch_size": 8,
        "vllm_asr_url": ASR_URL,
        "vllm_aligner_url": ALIGNER_URL,
        "vllm_asr_model": ASR_MODEL,
        "vllm_aligner_model": ALIGNER_MODEL,
        "max_audio_seconds": 300.0,
    }
    return Settings(**{**base, **kw})


@pytest.fixture(scope="module")
def engines():
    hf = QwenEngine(_settings())
    vl = VLLMEngine(_settings(engine="vllm"))
    try:
        httpx.get(ASR_URL.rstrip("/") + "/health", timeout=5).raise_for_status()
        httpx.get(ALIGNER_URL.rstrip("/") + "/health", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.fail(f"the vLLM servers do not answer /health: {exc}")
    yield hf, vl
    vl.close()


def _noise(seconds: float, seed: int, level: float = 0.1) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * 16000))).astype(np.float32)


def _cases(speech: np.ndarray) -> dict[str, Job]:
    long = np.concatenate([speech, _noise(33.0, 1), np.zeros(8000, np.float32), tone(20.0) + _noise(20.0, 2, 0.02)])
    return {
        "speech, detected language": Job(audio=speech),
        "speech, English, timestamps": Job(audio=speech, language="English", timestamps=True),
        "speech, context, timestamps": Job(audio=speech, language="English", context="Names: Ada.", timestamps=True),
        "short tone": Job(audio=tone(0.4), language="German", timestamps=True),
        "noise 10 s, Chinese": Job(audio=_noise(10.0, 3), language="Chinese", timestamps=True),
        "long, three pieces": Job(audio=long, language="English", timestamps=True),
        "long, no timestamps": Job(audio=long),
    }


@pytest.fixture(scope="module")
def speech(speech_wav) -> np.ndarray:
    return audio.decode(speech_wav, 60.0)


def _show(result) -> tuple:
    return result.language, result.text, result.aligned


@pytest.mark.parametrize(
    "case",
    [
        "speech, detected language",
        "speech, English, timestamps",
        "speech, context, timestamps",
        "short tone",
        "noise 10 s, Chinese",
        "long, three pieces",
        "long, no timestamps",
    ],
)
def test_one_job_gives_the_same_answer(engines, speech, case) -> None:
    hf, vl = engines
    job = _cases(speech)[case]
    [a] = hf.transcribe([job])
    [b] = vl.transcribe([job])
    assert _show(b) == _show(a)


def test_a_batch_gives_the_same_answers(engines, speech) -> None:
    hf, vl = engines
    jobs = list(_cases(speech).values())
    assert [_show(r) for r in vl.transcribe(jobs)] == [_show(r) for r in hf.transcribe(jobs)]


def test_every_format_is_the_same(engines, speech_wav) -> None:
    hf, vl = engines
    fields = {"language": "en", "timestamp_granularities[]": ["word", "segment"]}
    answers = []
    for eng, settings in ((hf, _settings()), (vl, _settings(engine="vllm"))):
        app = create_app(settings, engine=eng)
        with app.test_client() as c:
            got = {}
            for fmt in ("json", "text", "srt", "vtt", "verbose_json"):
                r = post(c, speech_wav, response_format=fmt, **fields)
                assert r.status_code == 200, r.get_data(as_text=True)
                got[fmt] = r.get_data(as_text=True)
            got["noise"] = post(c, encode(_noise(4.0, 9), 16000), response_format="verbose_json").get_data(as_text=True)
            answers.append(got)
        if eng is hf:
            app.extensions["asr"]["batcher"].close()  # not the vllm engine's: the fixture closes it
    assert answers[1] == answers[0]


# --- what the servers compute ---------------------------------------------------------------------------------------


def _wav_b64(samples: np.ndarray) -> str:
    from litellm_local_asr.vllm_engine import wav_bytes

    return base64.b64encode(wav_bytes(samples)).decode()


def test_prompt_tokens_greedy_tokens_and_logprobs_match(engines, speech) -> None:
    import torch

    hf, vl = engines
    qwen = hf.model
    for samples, language, context in ((speech, None, ""), (_noise(31.0, 5), "English", "Names: Ada.")):
        prompt = qwen._build_text_prompt(context=context, force_language=language)
        inputs = qwen.processor(text=[prompt], audio=[samples], return_tensors="pt", padding=True)
        inputs = inputs.to("cpu").to(torch.float32)
        out = qwen.model.generate(**inputs, max_new_tokens=TOKENS, output_scores=True)
        n = inputs["input_ids"].shape[1]
        hf_tokens = out.sequences[0, n:].tolist()
        hf_logprobs = [
            float(torch.log_softmax(s[0].float(), -1)[t]) for s, t in zip(out.scores, hf_tokens, strict=False)
        ]
        body = vl.model.model.body(prompt, samples)
        body.update({"logprobs": True, "max_tokens": TOKENS})
        answer = httpx.post(ASR_URL.rstrip("/") + "/v1/chat/completions", json=body, timeout=120).json()
        choice = answer["choices"][0]
        assert answer["prompt_token_ids"] == inputs["input_ids"][0].tolist()
        assert choice["token_ids"] == hf_tokens[: len(choice["token_ids"])]
        assert (
            len(choice["token_ids"]) == len(hf_tokens) or hf_tokens[len(choice["token_ids"])] in body["stop_token_ids"]
        )
        vl_logprobs = [item["logprob"] for item in choice["logprobs"]["content"]]
        np.testing.assert_allclose(vl_logprobs, hf_logprobs[: len(vl_logprobs)], atol=1e-4)


def test_aligner_logits_match(engines, speech) -> None:
    import torch

    hf, vl = engines
    fa = hf.model.forced_aligner
    remote = vl.model.forced_aligner
    for samples, text in ((speech, "hello world this is a test of the speech server"), (_noise(20.0, 6), "一 二 三")):
        _, prompt = fa.aligner_processor.encode_timestamp(text, "English")
        inputs = fa.processor(text=[prompt], audio=[samples], return_tensors="pt", padding=True)
        inputs = inputs.to("cpu").to(torch.float32)
        logits = fa.model.thinker(**inputs).logits[0]
        ref = logits[inputs["input_ids"][0] == fa.timestamp_token_id].detach().numpy()
        got = remote.logits(prompt, samples)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, atol=1e-4)
        assert (got.argmax(-1) == ref.argmax(-1)).all()
