"""The vllm engine: recognition in a vLLM server serving Qwen3-ASR, alignment in one serving Qwen3-ForcedAligner.

qwen-asr's own vLLM backend drives an in-process `vllm.LLM`; here `Qwen3ASRModel(backend="vllm")` gets stand-ins
that send the same inputs over HTTP, so everything around the model stays qwen-asr's code: the prompt
(`_build_text_prompt`: the chat template, "language X<asr_text>" when the language is forced), `parse_asr_output`
(language detection, repetition repair), the aligner's word splitting (`encode_timestamp`) and its timestamp repair
(`parse_timestamp`). This process loads only the processor of `model` (tokenizer, chat template) and the config of
`aligner`: no weights, no GPU.

Recognition: POST {asr}/v1/chat/completions with the prompt qwen-asr built as the text of one user message, the
piece as a float32 WAV `input_audio`, and a chat template that passes the text through untouched
(`{{ messages[0]['content'] }}`, which needs `--trust-request-chat-template`): vLLM replaces the prompt's audio
placeholder with the audio's tokens, as the transformers processor does. Greedy, as qwen-asr's vLLM backend samples,
with the model's end-of-generation tokens as stop tokens and a token budget for each piece's length. The generated
token ids (`return_token_ids`) are decoded here, as qwen-asr decodes those of transformers' generate().

Alignment: POST {aligner}/pooling with task "token_classify" and the aligner's prompt (the words with two
<timestamp> after each) the same way. The server runs the aligner as a pooling model with STEP pooling on the
<timestamp> token, so it answers one row of class logits per <timestamp> (base64 float32); the argmax times
`timestamp_segment_time` is each boundary in milliseconds, exactly what qwen-asr's aligner takes its argmax of.

A server that cannot be reached (refused, timed out, 503) is a 503 with Retry-After; any other failure or an answer
that does not have the expected shape is a 502. Both are logged.
"""

from __future__ import annotations

import base64
import logging
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np

from litellm_local_asr.audio import SAMPLE_RATE
from litellm_local_asr.engine import ChunkedEngine
from litellm_local_asr.errors import APIError
from litellm_local_asr.settings import Settings

log = logging.getLogger(__name__)

# A chat template that renders the one message's text as the whole prompt (qwen-asr's prompt is complete already).
RAW_CHAT_TEMPLATE = "{{ messages[0]['content'] }}"
TIMESTAMP = "<timestamp>"
_DETAIL_CHARS = 300


def wav_bytes(samples: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """Mono float32 samples as a WAVE_FORMAT_IEEE_FLOAT file: vLLM reads back the very samples qwen-asr would see."""
    data = np.ascontiguousarray(samples, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHHH", 3, 1, rate, rate * 4, 4, 32, 0)  # float, mono, rate, bytes/s, align, bits, cbSize
    fact = struct.pack("<I", len(samples))
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<I", 4) + fact
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _message(prompt: str, samples: np.ndarray) -> list[dict]:
    audio = base64.b64encode(wav_bytes(samples)).decode("ascii")
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": prompt},
                {"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}},
            ],
        }
    ]


class Backend:
    """One vLLM server: POST JSON, map failures to a 503 (unreachable) or a 502 (anything else)."""

    def __init__(self, name: str, url: str, client: httpx.Client, retry_after_s: int) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.client = client
        self.retry_after_s = retry_after_s

    def post(self, path: str, body: dict) -> dict:
        url = self.url + path
        for attempt in (1, 2):
            try:
                response = self.client.post(url, json=body)
                break
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                # A kept-alive connection the server closed as it was reused: inference has no side effect, so
                # the request is sent once more, on a new connection.
                if attempt == 2:
                    log.warning("%s server %s dropped the connection twice: %s", self.name, url, exc)
                    raise self.unavailable(f"the {self.name} server dropped the connection") from None
            except (httpx.ConnectError, httpx.TimeoutException) as exc:
                log.warning("%s server %s unavailable: %s", self.name, url, exc)
                raise self.unavailable(f"the {self.name} server cannot be reached ({type(exc).__name__})") from None
            except httpx.HTTPError as exc:
                log.warning("%s server %s failed: %s", self.name, url, exc)
                raise self.bad(f"the request to the {self.name} server failed ({type(exc).__name__})") from None
        if response.status_code in (429, 503):
            log.warning("%s server %s answered %d: %s", self.name, url, response.status_code, response.text[:500])
            raise self.unavailable(f"the {self.name} server is overloaded or starting ({response.status_code})")
        if response.status_code != 200:
            detail = _error_detail(response)
            log.warning("%s server %s answered %d: %s", self.name, url, response.status_code, response.text[:500])
            raise self.bad(f"the {self.name} server answered {response.status_code}: {detail}")
        try:
            answer = response.json()
        except ValueError:
            log.warning("%s server %s answered non-JSON: %r", self.name, url, response.text[:500])
            raise self.bad(f"the {self.name} server's answer is not JSON") from None
        if not isinstance(answer, dict):
            raise self.bad(f"the {self.name} server's answer is not a JSON object")
        return answer

    def probe(self, timeout_s: float) -> str:
        """ "" when the server's /health answers 200 within `timeout_s`, else why not."""
        try:
            response = self.client.get(self.url + "/health", timeout=timeout_s)
        except httpx.HTTPError as exc:
            return f"the {self.name} server cannot be reached ({type(exc).__name__})"
        if response.status_code != 200:
            return f"the {self.name} server's /health answered {response.status_code}"
        return ""

    def unavailable(self, why: str) -> APIError:
        return APIError(
            f"Speech recognition is unavailable: {why}; retry shortly.",
            status=503,
            code="backend_unavailable",
            retry_after=self.retry_after_s,
        )

    def bad(self, why: str) -> APIError:
        return APIError(f"Speech recognition failed: {why}.", status=502, code="bad_backend_response")


def _error_detail(response: httpx.Response) -> str:
    """vLLM's error message (its JSON error body); a body of another kind is logged, not passed on."""
    try:
        body = response.json()
    except ValueError:
        return "no error message"
    detail = body.get("error") if isinstance(body, dict) else None
    detail = detail.get("message") if isinstance(detail, dict) else detail
    if detail is None and isinstance(body, dict):
        detail = body.get("detail") or body.get("message")
    return str(detail or "no error message")[:_DETAIL_CHARS]


def _gather(pool: ThreadPoolExecutor, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """fn over items in the pool, in order; on the first failure the others not yet started are cancelled."""
    futures: list[Future] = [pool.submit(fn, item) for item in items]
    try:
        return [f.result() for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        raise


class RemoteLLM:
    """What qwen-asr's vLLM backend calls on `vllm.LLM`: generate(inputs, sampling_params, use_tqdm) -> outputs with
    .outputs[0].text, one chat completion per input, run concurrently."""

    def __init__(
        self,
        backend: Backend,
        model: str,
        pool: ThreadPoolExecutor,
        budget: Callable[[float], int],
        stop_token_ids: Sequence[int],
        decode: Callable[[list[int]], str] | None = None,
    ) -> None:
        self.backend = backend
        self.model = model
        self.pool = pool
        self.budget = budget
        self.stop_token_ids = list(stop_token_ids)
        self.decode = decode

    def generate(self, inputs: Sequence[dict], sampling_params: Any = None, use_tqdm: bool = False) -> list[Any]:
        texts = _gather(self.pool, self._one, inputs)
        return [SimpleNamespace(outputs=[SimpleNamespace(text=text)]) for text in texts]

    def body(self, prompt: str, samples: np.ndarray) -> dict:
        return {
            "model": self.model,
            "messages": _message(prompt, samples),
            "chat_template": RAW_CHAT_TEMPLATE,
            "add_generation_prompt": False,
            "max_tokens": self.budget(len(samples) / SAMPLE_RATE),
            # Greedy, as qwen-asr's vLLM backend (SamplingParams(temperature=0.0)); every field given, so that no
            # server default (the model's generation_config) applies.
            "n": 1,
            "temperature": 0.0,
            "top_p": 1.0,
            "top_k": 0,
            "min_p": 0.0,
            "repetition_penalty": 1.0,
            "presence_penalty": 0.0,
            "frequency_penalty": 0.0,
            "stop_token_ids": self.stop_token_ids,
            "skip_special_tokens": True,
            "return_token_ids": True,
            "stream": False,
        }

    def _one(self, item: dict) -> str:
        (samples,) = item["multi_modal_data"]["audio"]
        answer = self.backend.post("/v1/chat/completions", self.body(item["prompt"], samples))
        try:
            choice = answer["choices"][0]
            content = choice["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise self.backend.bad("the recognition server's answer has no choices[0].message") from None
        if content is not None and not isinstance(content, str):
            raise self.backend.bad("the recognition server's message content is not text")
        ids = choice.get("token_ids")
        if self.decode is not None and ids is not None:
            # The tokens decoded here as qwen-asr decodes generate()'s: vLLM's incremental detokenizer holds back
            # the bytes of an unfinished character, which decoding the tokens shows as U+FFFD.
            if not (isinstance(ids, list) and all(isinstance(i, int) for i in ids)):
                raise self.backend.bad("the recognition server's token_ids are not a list of integers")
            return self.decode(ids)
        return content or ""


@dataclass(frozen=True)
class AlignerSpec:
    """What alignment needs from the aligner's config.json."""

    timestamp_token_id: int
    timestamp_segment_time: float  # milliseconds per class
    classify_num: int

    @classmethod
    def from_pretrained(cls, name: str, revision: str | None = None) -> AlignerSpec:
        from qwen_asr.core.transformers_backend import Qwen3ASRConfig

        config = Qwen3ASRConfig.from_pretrained(name, **({"revision": revision} if revision else {}))
        return cls(
            timestamp_token_id=int(config.timestamp_token_id),
            timestamp_segment_time=float(config.timestamp_segment_time),
            classify_num=int(config.thinker_config.classify_num),
        )


class RemoteAligner:
    """What qwen-asr calls on its Qwen3ForcedAligner: align(audio, text, language) -> [ForcedAlignResult], the
    forward pass in the aligner server, everything before and after it qwen-asr's own."""

    def __init__(self, backend: Backend, model: str, pool: ThreadPoolExecutor, spec: AlignerSpec) -> None:
        from qwen_asr.inference.qwen3_forced_aligner import Qwen3ForceAlignProcessor

        self.backend = backend
        self.model = model
        self.pool = pool
        self.spec = spec
        self.aligner_processor = Qwen3ForceAlignProcessor()

    def align(self, audio: Any, text: Any, language: Any) -> list[Any]:
        from qwen_asr.inference.utils import ensure_list, normalize_audios

        texts = ensure_list(text)
        languages = ensure_list(language)
        audios = normalize_audios(audio)
        if len(languages) == 1 and len(audios) > 1:
            languages = languages * len(audios)
        if not (len(audios) == len(texts) == len(languages)):
            raise ValueError(f"Batch size mismatch: audio={len(audios)}, text={len(texts)}, language={len(languages)}")
        return _gather(self.pool, self._one, list(zip(audios, texts, languages, strict=True)))

    def body(self, prompt: str, samples: np.ndarray) -> dict:
        return {
            "model": self.model,
            "task": "token_classify",
            "messages": _message(prompt, samples),
            "chat_template": RAW_CHAT_TEMPLATE,
            "add_generation_prompt": False,
            "use_activation": False,  # the logits themselves (qwen-asr takes their argmax)
            "encoding_format": "base64",
            "embed_dtype": "float32",
            "endianness": "little",
        }

    def logits(self, prompt: str, samples: np.ndarray) -> np.ndarray:
        """The aligner's class logits at each <timestamp> of `prompt`: (timestamps, classify_num) float32."""
        answer = self.backend.post("/pooling", self.body(prompt, samples))
        try:
            data = answer["data"][0]["data"]
        except (KeyError, IndexError, TypeError):
            raise self.backend.bad("the aligner server's answer has no data[0].data") from None
        try:
            flat = np.frombuffer(base64.b64decode(data, validate=True), dtype="<f4") if isinstance(data, str) else None
            if flat is None:
                flat = np.asarray(data, dtype=np.float32).reshape(-1)
        except (ValueError, TypeError):
            raise self.backend.bad("the aligner server's data is not base64 float32 (or a list of numbers)") from None
        rows, classes = prompt.count(TIMESTAMP), self.spec.classify_num
        if flat.size != rows * classes:
            raise self.backend.bad(
                f"the aligner server answered {flat.size} values for {rows} timestamps of {classes} classes; serve it "
                f'as a pooling model with --pooler-config \'{{"tok_pooling_type": "STEP", "step_tag_id": '
                f"{self.spec.timestamp_token_id}}}'"
            )
        return flat.reshape(rows, classes)

    def _one(self, item: tuple[np.ndarray, str, str]) -> Any:
        from qwen_asr.inference.qwen3_forced_aligner import ForcedAlignItem, ForcedAlignResult

        samples, text, language = item
        word_list, prompt = self.aligner_processor.encode_timestamp(text, language)
        classes = self.logits(prompt, samples).argmax(axis=-1)
        # As Qwen3ForcedAligner.align: class * segment time in ms (float32), repaired, then seconds to 1 ms.
        timestamp_ms = classes.astype(np.float32) * np.float32(self.spec.timestamp_segment_time)
        items = self.aligner_processor.parse_timestamp(word_list, timestamp_ms)
        return ForcedAlignResult(
            items=[
                ForcedAlignItem(
                    text=str(it["text"]),
                    start_time=float(round(it["start_time"] / 1000.0, 3)),
                    end_time=float(round(it["end_time"] / 1000.0, 3)),
                )
                for it in items
            ]
        )


def _stop_token_ids(settings: Settings, tokenizer: Any) -> list[int]:
    """The model's end-of-generation tokens (generation_config.json's eos_token_id, as transformers' generate() stops
    on), else the tokenizer's."""
    from transformers import GenerationConfig

    ids: Any = None
    try:
        kwargs = {"revision": settings.model_revision} if settings.model_revision else {}
        ids = GenerationConfig.from_pretrained(settings.model, **kwargs).eos_token_id
    except OSError:
        log.info("no generation_config.json for %s: the tokenizer's end-of-text token stops generation", settings.model)
    if ids is None:
        ids = tokenizer.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    return [int(i) for i in ids]


class VLLMEngine(ChunkedEngine):
    """qwen-asr's pipeline with recognition and alignment in two vLLM servers (see the module docstring)."""

    concurrent = True  # call it from request threads; the servers batch

    def __init__(
        self,
        settings: Settings,
        transport: httpx.BaseTransport | None = None,
        processor: Any = None,
        aligner_spec: AlignerSpec | None = None,
        stop_token_ids: Sequence[int] | None = None,
    ) -> None:
        """`transport`, `processor`, `aligner_spec` and `stop_token_ids` replace what is otherwise built from the
        settings (tests give a fake server and no model files)."""
        from qwen_asr import Qwen3ASRModel

        if not settings.vllm_asr_url:
            raise ValueError("ASR_ENGINE=vllm needs ASR_VLLM_ASR_URL, the recognition server's base URL")
        for name, url in (
            ("ASR_VLLM_ASR_URL", settings.vllm_asr_url),
            ("ASR_VLLM_ALIGNER_URL", settings.vllm_aligner_url),
        ):
            if url and not (url.startswith(("http://", "https://")) and httpx.URL(url).host):
                raise ValueError(f"{name} must be an http(s):// base URL, got {url!r}")
        self.settings = settings
        if processor is None:
            from qwen_asr.core.transformers_backend import Qwen3ASRProcessor

            kwargs = {"revision": settings.model_revision} if settings.model_revision else {}
            processor = Qwen3ASRProcessor.from_pretrained(settings.model, fix_mistral_regex=True, **kwargs)
        self.tokenizer = processor.tokenizer
        n = settings.vllm_max_concurrency
        self.client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(settings.vllm_timeout_s, connect=settings.vllm_connect_timeout_s),
            # Idle connections are dropped before uvicorn's keep-alive timeout (5 s) can close them under a request.
            limits=httpx.Limits(max_connections=2 * n, max_keepalive_connections=2 * n, keepalive_expiry=2.0),
        )
        self.pools = [ThreadPoolExecutor(max_workers=n, thread_name_prefix=f"asr-vllm-{k}") for k in ("asr", "align")]
        retry = settings.vllm_retry_after_s
        llm = RemoteLLM(
            Backend("recognition", settings.vllm_asr_url, self.client, retry),
            settings.vllm_asr_model,
            self.pools[0],
            self.new_tokens_for,
            _stop_token_ids(settings, self.tokenizer) if stop_token_ids is None else stop_token_ids,
            self._decode,
        )
        self.backends = [llm.backend]
        aligner = None
        if settings.vllm_aligner_url and settings.aligner:
            spec = aligner_spec or AlignerSpec.from_pretrained(settings.aligner, settings.aligner_revision)
            backend = Backend("alignment", settings.vllm_aligner_url, self.client, retry)
            aligner = RemoteAligner(backend, settings.vllm_aligner_model, self.pools[1], spec)
            self.backends.append(backend)
        elif settings.vllm_aligner_url or settings.aligner:
            log.warning("no word timestamps: the vllm engine needs both ASR_ALIGNER and ASR_VLLM_ALIGNER_URL")
        log.info(
            "vllm engine: recognition %s (%s), alignment %s",
            settings.vllm_asr_url,
            settings.vllm_asr_model,
            f"{settings.vllm_aligner_url} ({settings.vllm_aligner_model})" if aligner else "off",
        )
        self.model = Qwen3ASRModel(
            backend="vllm",
            model=llm,
            processor=processor,
            sampling_params=None,
            forced_aligner=aligner,
            max_inference_batch_size=-1,  # every piece at once: the servers batch them
        )

    def tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def problems(self, timeout_s: float = 2.0) -> list[str]:
        """Why the engine cannot answer now: each vLLM server whose /health does not answer 200 (empty: ready)."""
        return [why for why in (b.probe(timeout_s) for b in self.backends) if why]

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def close(self) -> None:
        for pool in self.pools:
            pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()
