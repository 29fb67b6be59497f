"""A fake gateway behind `httpx2.MockTransport`: OpenAI-shaped answers for every route the client uses, a record of
the requests, and scripted failures (status codes or connection errors) to exercise retries and error mapping."""

from __future__ import annotations

import base64
import io
import json
import struct
from collections import defaultdict
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx2

BASE_URL = "http://gateway.test:8200/v1"
KEY = "sk-test-key"


@dataclass
class Form:
    fields: dict[str, list[str]]
    files: dict[str, tuple[str, str, bytes]]  # name -> (filename, content type, content)


def parse_form(request: httpx2.Request) -> Form:
    body = request.read()
    head = b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n"
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, list[str]] = defaultdict(list)
    files: dict[str, tuple[str, str, bytes]] = {}
    for part in message.iter_parts():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str) and isinstance(payload, bytes)
        filename = part.get_filename()
        if filename is not None:
            files[name] = (filename, part.get_content_type(), payload)
        else:
            fields[name].append(payload.decode())
    return Form(dict(fields), files)


def image_size(url: str) -> tuple[int, int] | str:
    """The pixel size of a data-URL image (the URL itself for a remote image, which the fake does not fetch)."""
    from PIL import Image

    if not url.startswith("data:"):
        return url
    assert url.startswith("data:image/"), url[:40]
    data = base64.b64decode(url.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def error(status: int, message: str, type_: str = "invalid_request_error", **headers: str) -> httpx2.Response:
    body = {"error": {"message": message, "type": type_, "param": None, "code": str(status)}}
    return httpx2.Response(status, json=body, headers=headers)


@dataclass
class FakeGateway:
    """Route table of a LiteLLM gateway. `script[path]` is a list of failures served, in order, before the real
    answer: an int (status code with an OpenAI error body), an httpx2.Response, or an exception to raise."""

    key: str = KEY
    requests: list[httpx2.Request] = field(default_factory=list)
    script: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    ready: bool = True
    transcript_text: str = "hello world"

    def attempts(self, path: str) -> int:
        return sum(1 for r in self.requests if r.url.path == path)

    def http_client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self.handle))

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        self.requests.append(request)
        path = request.url.path
        if self.script.get(path):
            failure = self.script[path].pop(0)
            if isinstance(failure, BaseException):
                raise failure
            if isinstance(failure, httpx2.Response):
                return failure
            return error(failure, f"scripted failure {failure}", "server_error" if failure >= 500 else "x")
        if path == "/health/liveliness":
            return httpx2.Response(200, json="I'm alive!")
        if path == "/health/readiness":
            if not self.ready:
                return error(503, "not ready", "server_error")
            return httpx2.Response(200, json={"status": "healthy", "db": "Not connected", "litellm_version": "1.0"})
        if request.headers.get("authorization") != f"Bearer {self.key}":
            return error(401, "Authentication Error, Invalid proxy server token passed.", "auth_error")
        route = {
            "/v1/chat/completions": self.chat,
            "/v1/embeddings": self.embeddings,
            "/v1/audio/transcriptions": self.transcriptions,
            "/v1/models": self.models,
            "/v1/rerank": self.rerank,
        }.get(path)
        if route is None:
            return error(404, f"no route {path}")
        return route(request)

    def models(self, _request: httpx2.Request) -> httpx2.Response:
        data = [
            {"id": alias, "object": "model", "created": 1, "owned_by": "openai"} for alias in ("completions", "ocr")
        ]
        return httpx2.Response(200, json={"object": "list", "data": data})

    def chat(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        if body["model"] not in ("completions", "ocr"):
            return error(400, f"Invalid model name passed in model={body['model']}. Call `/v1/models` to view models")
        content = body["messages"][-1]["content"]
        if isinstance(content, list):
            sizes = [image_size(p["image_url"]["url"]) for p in content if p["type"] == "image_url"]
            texts = [p["text"] for p in content if p["type"] == "text"]
            answer = f"{' '.join(texts)} images={sizes}"
        else:
            answer = f"echo: {content}"
        if body.get("stream"):
            return self._sse(body["model"], answer, include_usage=bool(body.get("stream_options")))
        return httpx2.Response(
            200,
            json={
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
            },
        )

    @staticmethod
    def _sse(model: str, answer: str, *, include_usage: bool) -> httpx2.Response:
        def chunk(delta: dict[str, Any], finish: str | None, usage: Any = None, choices: bool = True) -> str:
            payload = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else [],
                "usage": usage,
            }
            return f"data: {json.dumps(payload)}\n\n"

        words = answer.split(" ")
        events = [chunk({"role": "assistant", "content": ""}, None)]
        events += [chunk({"content": w + (" " if i < len(words) - 1 else "")}, None) for i, w in enumerate(words)]
        events.append(chunk({}, "length"))
        if include_usage:
            usage = {"prompt_tokens": 5, "completion_tokens": len(words), "total_tokens": 5 + len(words)}
            events.append(chunk({}, None, usage, choices=False))
        events.append("data: [DONE]\n\n")
        return httpx2.Response(200, content="".join(events).encode(), headers={"content-type": "text/event-stream"})

    def embeddings(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        items = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dims = body.get("dimensions") or 8
        data = []
        for index, _item in enumerate(items):
            vector = [float(index + 1)] + [0.5] * (dims - 1)
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        data.reverse()  # the API gives `index`; the client must not rely on order
        usage = {"prompt_tokens": 4, "total_tokens": 4}
        return httpx2.Response(200, json={"object": "list", "model": body["model"], "data": data, "usage": usage})

    def rerank(self, request: httpx2.Request) -> httpx2.Response:
        """LiteLLM's Cohere-style answer. A text document scores the share of the query's words it contains; an image
        document (vLLM's {"content": [image_url part]}) scores its width / 1000 (0 for a remote URL). The best
        `top_n` are answered in document order, so the client must sort them itself."""
        body = json.loads(request.content)
        if body["model"] != "rerank":
            return error(400, f"Invalid model name passed in model={body['model']}. Call `/v1/models` to view models")
        if not body.get("documents"):
            return error(400, "documents must not be empty")
        words = set(body["query"].lower().split())
        scored = []
        for index, document in enumerate(body["documents"]):
            if isinstance(document, str):
                score, text = len(words & set(document.lower().split())) / len(words), document
            else:
                (part,) = document["content"]
                assert part["type"] == "image_url", part
                size = image_size(part["image_url"]["url"])
                score, text = (size[0] / 1000 if isinstance(size, tuple) else 0.0), ""
            scored.append((index, score, text))
        best = sorted(scored, key=lambda s: -s[1])[: body.get("top_n") or len(scored)]
        results: list[dict[str, Any]] = []
        for index, score, text in sorted(best):
            result: dict[str, Any] = {"index": index, "relevance_score": score}
            if body.get("return_documents"):
                result["document"] = {"text": text}
            results.append(result)
        tokens = 7 * len(scored)
        meta = {"billed_units": {"total_tokens": tokens}, "tokens": {"input_tokens": tokens}}
        return httpx2.Response(200, json={"id": "rerank-1", "results": results, "meta": meta})

    def transcriptions(self, request: httpx2.Request) -> httpx2.Response:
        form = parse_form(request)
        if "file" not in form.files or not form.files["file"][2]:
            return error(400, "no audio")
        fmt = form.fields.get("response_format", ["json"])[0]
        text = self.transcript_text
        if fmt == "text":
            return httpx2.Response(200, text=text + "\n", headers={"content-type": "text/plain"})
        if fmt == "srt":
            return httpx2.Response(200, text=f"1\n00:00:00,000 --> 00:00:01,500\n{text}\n\n")
        if fmt == "vtt":
            return httpx2.Response(200, text=f"WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n{text}\n\n")
        if fmt == "json":
            return httpx2.Response(200, json={"text": text})
        granularities = form.fields.get("timestamp_granularities[]", ["segment"])
        answer: dict[str, Any] = {"task": "transcribe", "language": "english", "duration": 1.5, "text": text}
        if "word" in granularities:
            answer["words"] = [
                {"word": "hello", "start": 0.0, "end": 0.6},
                {"word": "world", "start": 0.7, "end": 1.4},
            ]
        if "segment" in granularities:
            answer["segments"] = [
                {
                    "id": 0,
                    "seek": 0,
                    "start": 0.0,
                    "end": 1.5,
                    "text": text,
                    "tokens": [1, 2],
                    "temperature": 0.0,
                    "avg_logprob": -0.1,
                    "compression_ratio": 1.0,
                    "no_speech_prob": 0.0,
                }
            ]
        return httpx2.Response(200, json=answer)


def png(width: int, height: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buf, format="PNG")
    return buf.getvalue()


def pdf(sizes: list[tuple[int, int]]) -> bytes:
    """A PDF with one blank page per (width, height) in points; rendered at scale 1 the pages keep those sizes."""
    from PIL import Image

    pages = [Image.new("RGB", size, "white") for size in sizes]
    buf = io.BytesIO()
    pages[0].save(buf, format="PDF", save_all=True, append_images=pages[1:], resolution=72.0)
    return buf.getvalue()


def wav(seconds: float = 0.5, rate: int = 16000, pauses: tuple[tuple[float, float], ...] = ()) -> bytes:
    """A 16-bit mono WAV: a loud square wave, silent during each (start, end) of `pauses` (all silent if none)."""
    import wave

    loud = bool(pauses)
    frames = bytearray()
    for n in range(int(seconds * rate)):
        t = n / rate
        quiet = not loud or any(a <= t < b for a, b in pauses)
        frames += (0 if quiet else (8000 if (n // 20) % 2 else -8000)).to_bytes(2, "little", signed=True)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return buf.getvalue()


def wav_seconds(data: bytes) -> float:
    import wave

    with wave.open(io.BytesIO(data), "rb") as src:
        return src.getnframes() / src.getframerate()
