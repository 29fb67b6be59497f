"""The `rerank` alias's requests and answers (LiteLLM's /v1/rerank, Cohere's shape, served by vLLM's reranker).

Requests: `query` a non-empty string; `documents` 1..LITELLM_LOCAL_MAX_EMBEDDING_INPUTS items, each a string or
`{"content": [parts]}` with text parts and image_url parts (data: URLs, or hosts of the allowed media domains);
`top_n` a whole number >= 1; `return_documents` a boolean; `instruction` a string. Anything else is a 400 naming the
field (LiteLLM and vLLM would answer several of these with a 500 or 501).

Answers: `return_documents: false` leaves `document` out of the results, and a result for an image document
carries no `document` (LiteLLM would write the text "None" there).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from .asgi import Message, Send, hold_answer
from .errors import Refusal
from .media import media_url_problem, refusal_message
from .settings import MAX_EMBEDDING_INPUTS, GatewaySettings

RERANK_SUFFIX = "/rerank"


def _data_url_problem(url: str) -> str | None:
    """vLLM reads only base64 data URLs of images (anything else is its 501 or 500)."""
    head, sep, payload = url.partition(",")
    if not sep or not head.lower().endswith(";base64"):
        return "a data: URL must be base64 (data:image/png;base64,...)"
    if not head[5:].lower().startswith("image/"):
        return "a document's data: URL must hold an image (data:image/...;base64,...)"
    try:
        base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return "the data: URL's payload is not valid base64"
    return None


def _check_part(param: str, part: Any, allowed: frozenset[str]) -> Refusal | None:
    if not isinstance(part, dict):
        return Refusal(f"`{param}` must be an object with a `type`: text or image_url", param)
    kind = part.get("type")
    if kind == "text":
        if not isinstance(part.get("text"), str):
            return Refusal(f"`{param}.text` must be a string", f"{param}.text")
        return None
    if kind != "image_url":
        return Refusal(f"`{param}.type` must be text or image_url, not {kind!r}", f"{param}.type")
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else None
    where = f"{param}.image_url.url"
    if not isinstance(url, str):
        return Refusal(f"`{where}` must be a string: a data: URL of the image", where)
    problem = media_url_problem(url, allowed)
    if problem:
        return Refusal(refusal_message(where, problem, allowed), where)
    if url[:5].lower() == "data:":
        problem = _data_url_problem(url)
        if problem:
            return Refusal(f"`{where}`: {problem}", where)
    return None


def _check_document(i: int, doc: Any, allowed: frozenset[str]) -> Refusal | None:
    param = f"documents[{i}]"
    if isinstance(doc, str):
        return None
    parts = doc.get("content") if isinstance(doc, dict) else None
    if not isinstance(parts, list) or not parts:
        return Refusal(f'`{param}` must be a string or {{"content": [parts]}} with text and image_url parts', param)
    for j, part in enumerate(parts):
        refusal = _check_part(f"{param}.content[{j}]", part, allowed)
        if refusal is not None:
            return refusal
    return None


def check_rerank(body: dict[str, Any], settings: GatewaySettings) -> Refusal | None:
    """The first reason to refuse a /v1/rerank body, or None."""
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        return Refusal("`query` must be a non-empty string (images go in `documents`)", "query")
    docs = body.get("documents")
    if not isinstance(docs, list) or not docs:
        return Refusal('`documents` must be a non-empty list of strings or {"content": [parts]}', "documents")
    if len(docs) > settings.max_embedding_inputs:
        return Refusal(
            f"`documents` holds {len(docs)} items; at most {settings.max_embedding_inputs} per request "
            f"({MAX_EMBEDDING_INPUTS}): split the request",
            "documents",
        )
    top_n = body.get("top_n")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        return Refusal("`top_n` must be a whole number of at least 1", "top_n")
    if "return_documents" in body and not isinstance(body["return_documents"], bool):
        return Refusal("`return_documents` must be true or false", "return_documents")
    if body.get("instruction") is not None and not isinstance(body["instruction"], str):
        return Refusal("`instruction` must be a string", "instruction")
    for i, doc in enumerate(docs):
        refusal = _check_document(i, doc, settings.allowed_media_domains)
        if refusal is not None:
            return refusal
    return None


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)


def fix_answer(request: dict[str, Any], response: Any) -> Any:
    """The rerank answer with `document` only where the client asked for it and the document was text."""
    results = _get(response, "results")
    docs = request.get("documents")
    if not isinstance(results, list) or not isinstance(docs, list):
        return response
    keep = request.get("return_documents", True) is not False
    for result in results:
        index = _get(result, "index")
        text = isinstance(index, int) and 0 <= index < len(docs) and isinstance(docs[index], str)
        if keep and text:
            continue
        if isinstance(result, dict):
            result.pop("document", None)
        elif hasattr(result, "document"):
            result.document = None
    return response


def rewrite_answer(send: Send, request: dict[str, Any]) -> Send:
    """An ASGI `send` that passes a 200 rerank answer through fix_answer (LiteLLM's /v1/rerank runs no post-call
    hook); any other answer goes out as it came."""

    async def rewrite(send: Send, start: Message, raw: bytes) -> None:
        try:
            answer = json.loads(raw)
        except (ValueError, RecursionError):
            answer = None
        if isinstance(answer, dict):
            raw = json.dumps(fix_answer(request, answer), separators=(",", ":")).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(raw)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": raw})

    return hold_answer(send, 200, rewrite)
