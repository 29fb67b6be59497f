"""What one parsed request may ask for: per-request caps and media references, checked before any backend sees it.

  * embeddings (`.../embeddings`): at most LITELLM_LOCAL_MAX_EMBEDDING_INPUTS inputs;
  * generation (`.../chat/completions`, `.../completions`, `.../responses`, `.../messages`): `n`/`best_of` at most
    LITELLM_LOCAL_MAX_N, `max_tokens`/`max_completion_tokens`/`max_output_tokens` at most LITELLM_LOCAL_MAX_TOKENS,
    at most LITELLM_LOCAL_MAX_IMAGES images over all messages;
  * every JSON body: each media reference in a content part (`image_url`, `video_url`, `audio_url`, `file_url`,
    `document_url`, in object or string form, and Anthropic's `source: {type: url}`) of `messages`, `input` and
    `document`, and each embedding input's `image`, must pass media.media_url_problem.

Paths are matched by their end, so LiteLLM's aliases of a route (`/v1/...`, `/...`, `/openai/deployments/<m>/...`,
`/engines/<m>/...`) and a root path in front all count. Numbers given as strings count too (the backends' pydantic
models coerce "100" to 100).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .errors import Refusal
from .media import media_url_problem, refusal_message
from .settings import MAX_EMBEDDING_INPUTS, MAX_IMAGES, MAX_N, MAX_TOKENS, GatewaySettings

EMBEDDINGS = "embeddings"
GENERATION = "generation"
_GENERATION_SUFFIXES = ("/chat/completions", "/completions", "/responses", "/messages")
MEDIA_KEYS = ("image_url", "video_url", "audio_url", "file_url", "document_url")
IMAGE_PART_TYPES = frozenset({"image_url", "input_image", "image"})
COUNT_FIELDS = ("n", "best_of")
TOKEN_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def route_kind(path: str) -> str | None:
    """EMBEDDINGS, GENERATION, or None for a route without caps of its own."""
    path = path.rstrip("/")
    if path.endswith("/embeddings"):
        return EMBEDDINGS
    if path.endswith(_GENERATION_SUFFIXES):
        return GENERATION
    return None


def count_embedding_inputs(value: Any) -> int:
    """Inputs of an embeddings `input`: a string, one token-id list, or a list of items, as embeddings.py reads it."""
    if isinstance(value, list):
        if value and isinstance(value[0], int):
            return 1  # one input given as token ids (a list mixing ids and items is refused by the provider)
        return len(value)
    return 0 if value is None else 1


def check_request(kind: str | None, body: dict[str, Any], settings: GatewaySettings) -> Refusal | None:
    """The first reason to refuse `body` on a route of `kind`, or None."""
    if kind == EMBEDDINGS:
        refusal = _check_embedding_count(body, settings) or _check_token_ids(body)
    elif kind == GENERATION:
        refusal = _check_generation_caps(body, settings)
    else:
        refusal = None
    return refusal or check_media(kind, body, settings.allowed_media_domains)


def _check_embedding_count(body: dict[str, Any], settings: GatewaySettings) -> Refusal | None:
    inputs = count_embedding_inputs(body.get("input"))
    if inputs > settings.max_embedding_inputs:
        return Refusal(
            f"`input` holds {inputs} inputs; this gateway embeds at most {settings.max_embedding_inputs} per request "
            f"({MAX_EMBEDDING_INPUTS}): split it into several requests",
            "input",
        )
    return None


# A list of token-id lists: LiteLLM's proxy (1.108.7, proxy_server.py) decodes each list to text with gpt-3.5-turbo's
# tokenizer (tiktoken cl100k_base) for providers that take no token arrays (ours), and an id that tokenizer does not
# have was a 500 ("out of range integral type conversion attempted", "Invalid token for decoding: 100256"). cl100k's
# ids: the ranks 0..100255 and the special tokens 100257..100260 and 100276. (One flat token-id list is not decoded:
# the embedding backend gets it and answers an id out of its vocabulary with its own 400.)
CL100K_IDS = (range(0, 100256), range(100257, 100261), range(100276, 100277))


def _cl100k_id(token: int) -> bool:
    return any(token in ids for ids in CL100K_IDS)


def _check_token_ids(body: dict[str, Any]) -> Refusal | None:
    value = body.get("input")
    # the proxy's own test: the first item a list whose first item is an int
    if not (isinstance(value, list) and value and isinstance(value[0], list) and value[0]):
        return None
    if not isinstance(value[0][0], int):
        return None
    for i, ids in enumerate(value):
        for j, token in enumerate(ids if isinstance(ids, list) else ()):
            if type(token) is int and not _cl100k_id(token):
                return Refusal(
                    f"`input[{i}][{j}]` is {token}, not a token id: a list of token-id lists is read with OpenAI's "
                    "cl100k_base tokenizer (ids 0-100255, 100257-100260, 100276)",
                    "input",
                )
    return None


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _check_generation_caps(body: dict[str, Any], settings: GatewaySettings) -> Refusal | None:
    for fields, cap, variable, what in (
        (COUNT_FIELDS, settings.max_n, MAX_N, "choices"),
        (TOKEN_FIELDS, settings.max_tokens, MAX_TOKENS, "tokens"),
    ):
        for field in fields:
            value = _number(body.get(field))
            if value is not None and value > cap:
                return Refusal(
                    f"`{field}` is {body[field]!r}; this gateway allows at most {cap} {what} per request ({variable})",
                    field,
                )
    images = sum(1 for _, part in _content_parts(body) if _is_image_part(part))
    if images > settings.max_images:
        return Refusal(
            f"the request holds {images} images; this gateway takes at most {settings.max_images} per request "
            f"({MAX_IMAGES})",
            "messages" if "messages" in body else "input",
        )
    return None


def _is_image_part(part: dict[str, Any]) -> bool:
    kind = part.get("type")
    return (isinstance(kind, str) and kind in IMAGE_PART_TYPES) or part.get("image_url") is not None


def _content_parts(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, part) of every content part of `messages` and of the Responses API's `input`, and `document`."""
    for key in ("messages", "input"):
        items = body.get(key)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            if key == "input":  # Responses API: an input item may itself be a content part
                yield f"input[{i}]", item
            content = item.get("content")
            if isinstance(content, dict):
                yield f"{key}[{i}].content", content
            elif isinstance(content, list):
                for j, part in enumerate(content):
                    if isinstance(part, dict):
                        yield f"{key}[{i}].content[{j}]", part
    document = body.get("document")
    if isinstance(document, dict):
        yield "document", document


def _part_urls(path: str, part: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(param, URL) of each media reference of one content part; None values are no reference."""
    for key in MEDIA_KEYS:
        value = part.get(key)
        if isinstance(value, dict):
            if value.get("url") is not None:
                yield f"{path}.{key}.url", value["url"]
        elif value is not None:
            yield f"{path}.{key}", value
    source = part.get("source")
    if isinstance(source, dict) and source.get("type") == "url":
        yield f"{path}.source.url", source.get("url")


def _embedding_images(body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    value = body.get("input")
    items = enumerate(value) if isinstance(value, list) else [(None, value)]
    for i, item in items:
        if isinstance(item, dict) and item.get("image") is not None:
            yield ("input" if i is None else f"input[{i}]") + ".image", item["image"]


def check_media(kind: str | None, body: dict[str, Any], allowed_domains: frozenset[str]) -> Refusal | None:
    """A refusal for the first media reference that is neither a data: URL nor an allowed http(s) URL."""
    for path, part in _content_parts(body):
        for param, url in _part_urls(path, part):
            problem = media_url_problem(url, allowed_domains)
            if problem:
                return Refusal(refusal_message(param, problem, allowed_domains), param)
    if kind == EMBEDDINGS:
        for param, url in _embedding_images(body):
            problem = media_url_problem(url, allowed_domains)
            if problem:
                return Refusal(refusal_message(param, problem, allowed_domains), param)
    return None
