"""The request contract of `POST /v1/chat/completions` and `POST /v1/embeddings`, checked before LiteLLM sees a body.

The rules are OpenAI's published request schemas (CreateChatCompletionRequest, CreateEmbeddingRequest of
openai/openai-openapi) written out here as JSON Schema, for every field those schemas define: JSON types (a string
is no boolean, `true` is no integer: Python's `bool` is an `int`, so it is refused explicitly), enums, minimum and
maximum, array and string lengths, message roles and content-part types. The gateway host does not have the spec;
tests/unit/test_gateway_contract.py checks these rules against it, field by field and value by value, so the two
cannot drift apart silently. Where the rules deliberately differ from the spec, the test names each difference:

  * unknown top-level fields pass (LiteLLM and vLLM take extensions such as `top_k`; OpenAI's embeddings schema
    refuses them);
  * `model` must be a non-empty string, and an embedding input string must not be empty (the spec's text says
    "cannot be an empty string"; its schema does not say it);
  * embeddings take our multimodal inputs too (embeddings.py): `input` items may be objects `{text?, image?,
    instruction?}` (strings and objects mixed), `input` may be one such object, and `instruction` a string; one
    token-id input is bounded by the model's context, not by the 2048 of OpenAI's models;
  * user messages take vLLM's `video_url` and `audio_url` content parts besides OpenAI's;
  * `metadata` must be an object (or null), but its values are not checked: LiteLLM reads its own keys there;
  * `top_logprobs` may be null, as the chat request's own schema says (a base schema it extends says not);
  * `stream_options` only with `stream: true` (the spec says so in words).

Only the keywords this module needs are implemented: `type` (a list for "or null"), `enum`, `minimum`, `maximum`,
`minLength`, `maxLength`, `minItems`, `maxItems`, `items`, `properties`, `required`, `additionalProperties`, `anyOf`
(a branch is chosen by the value's JSON type, then by `discriminator`, a property whose `enum` names the branch) and
our `requiredAny` (at least one of these keys). Arrays of plain values are checked in C-speed passes first, so a
long token-id list costs little more than parsing it did.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import Refusal

Schema = Mapping[str, Any]
Path = tuple[str | int, ...]

CHAT = "chat"
EMBEDDINGS = "embeddings"

_ARTICLE = {
    "null": "null",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "an array",
    "object": "an object",
}
_PY_TYPES: dict[str, tuple[type, ...]] = {"boolean": (bool,), "integer": (int,), "string": (str,)}


@dataclass(frozen=True)
class Problem:
    """Why the value at `path` breaks the contract; `expected` is set for a wrong JSON type (what would do)."""

    path: Path
    message: str
    expected: tuple[str, ...] = ()
    got: str = ""


def param(path: Path) -> str:
    """`messages[0].content` for ("messages", 0, "content")."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


_EXACT_TYPES: dict[type, str] = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    str: "string",
    list: "array",
    dict: "object",
}


def json_type(value: Any) -> str:
    """The JSON type of a parsed value; a float with no fractional part is an integer, as in JSON Schema."""
    exact = _EXACT_TYPES.get(type(value))
    if exact is not None:
        return exact
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def _types(schema: Schema) -> tuple[str, ...] | None:
    types = schema.get("type")
    return (types,) if isinstance(types, str) else (tuple(types) if types is not None else None)


def _admits(types: Sequence[str], value: Any) -> bool:
    kind = json_type(value)
    return kind in types or (kind == "integer" and "number" in types)


def describe(value: Any) -> str:
    kind = json_type(value)
    if kind in ("boolean", "integer", "number"):
        text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
        return f"{'a boolean' if kind == 'boolean' else 'a number'} ({text[:40]})"
    if kind == "string":
        return f"a string ({json.dumps(value[:40])}{'...' if len(value) > 40 else ''})"
    return _ARTICLE.get(kind, kind)


def _either(words: Sequence[str]) -> str:
    """`a, b or c`; null last."""
    words = sorted(dict.fromkeys(words), key=lambda w: w == "null")
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _type_problem(path: Path, value: Any, expected: Sequence[str]) -> Problem:
    return Problem(path, f"must be {_either(expected)}, not {describe(value)}", tuple(expected), describe(value))


def _expected(schema: Schema) -> list[str]:
    types = _types(schema)
    if types is not None:
        return [_ARTICLE[t] for t in types]
    return [word for branch in schema.get("anyOf", ()) for word in _expected(branch)]


def validate(value: Any, schema: Schema, path: Path = ()) -> Problem | None:
    """The first way `value` breaks `schema`, or None."""
    types = _types(schema)
    if types is not None:
        if not _admits(types, value):
            return _type_problem(path, value, _expected(schema))
        if value is None:
            return None
    if "anyOf" in schema:
        problem = _any_of(value, schema, path)
        if problem is not None:
            return problem
    enum = schema.get("enum")
    if enum is not None and not any(type(value) is type(e) and value == e for e in enum):
        return Problem(path, f"must be {_either([json.dumps(e) for e in enum])}, not {describe(value)}")
    if isinstance(value, str):
        return _check_string(value, schema, path)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _check_number(value, schema, path)
    if isinstance(value, list):
        return _check_array(value, schema, path)
    if isinstance(value, dict):
        return _check_object(value, schema, path)
    return None


def _check_string(value: str, schema: Schema, path: Path) -> Problem | None:
    low, high = schema.get("minLength"), schema.get("maxLength")
    if low is not None and len(value) < low:
        return Problem(path, "must not be an empty string" if low == 1 else f"must be at least {low} characters long")
    if high is not None and len(value) > high:
        return Problem(path, f"must be at most {high} characters long, not {len(value)}")
    return None


def _check_number(value: float, schema: Schema, path: Path) -> Problem | None:
    if isinstance(value, float) and not math.isfinite(value):  # (an int may be too large for a float)
        return Problem(path, f"must be a finite number, not {value}")
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and value < low:
        return Problem(path, f"must be at least {low}, not {describe(value)}")
    if high is not None and value > high:
        return Problem(path, f"must be at most {high}, not {describe(value)}")
    return None


def _check_array(value: list[Any], schema: Schema, path: Path) -> Problem | None:
    low, high = schema.get("minItems"), schema.get("maxItems")
    if low is not None and len(value) < low:
        return Problem(path, "must not be empty" if low == 1 else f"must hold at least {low} items, not {len(value)}")
    if high is not None and len(value) > high:
        return Problem(path, f"must hold at most {high} items, not {len(value)}")
    items = schema.get("items")
    if items is None or _all_plain(value, items):
        return None
    for i, item in enumerate(value):
        problem = validate(item, items, (*path, i))
        if problem is not None:
            return problem
    return None


def _check_object(value: dict[str, Any], schema: Schema, path: Path) -> Problem | None:
    for key in schema.get("required", ()):
        if key not in value:
            return Problem((*path, key), "is required")
    properties: Mapping[str, Schema] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    if extra is False:
        for key in value:
            if key not in properties:
                known = ", ".join(f"`{k}`" for k in properties)
                return Problem((*path, key), f"is not a known field here (use {known})")
    some = schema.get("requiredAny")
    if some and not any(value.get(key) is not None for key in some):
        return Problem(path, f"needs {_either([f'`{k}`' for k in some])} (or both)")
    for key, rule in properties.items():
        if key in value:
            problem = validate(value[key], rule, (*path, key))
            if problem is not None:
                return problem
    if isinstance(extra, bool) or _all_plain([v for k, v in value.items() if k not in properties], extra):
        return None
    for key, item in value.items():
        if key not in properties:
            problem = validate(item, extra, (*path, key))
            if problem is not None:
                return problem
    return None


def _all_plain(values: list[Any], schema: Schema) -> bool:
    """True when every value surely passes a plain `schema` (one type among boolean/integer/string, optional enum
    and minLength 1), found in C-speed passes; False means "check them one by one" (so floats are left to that)."""
    if not _PLAIN_KEYS.issuperset(schema):
        return False
    python = _PY_TYPES.get(schema.get("type"))  # type: ignore[arg-type]
    if python is None:
        return False
    if not set(map(type, values)).issubset(python):
        return False
    if schema.get("minLength") == 1 and "" in values:
        return False
    enum = schema.get("enum")
    return enum is None or set(values).issubset(enum)


_PLAIN_KEYS = frozenset({"type", "enum", "minLength"})


def _any_of(value: Any, schema: Schema, path: Path) -> Problem | None:
    tag = schema.get("discriminator")
    if tag is not None and isinstance(value, dict):
        tagged = _tags(schema)
        if tag not in value:
            return Problem((*path, tag), "is required")
        chosen = tagged.get(value[tag]) if isinstance(value[tag], str) else None
        if chosen is None:
            names = _either([json.dumps(t) for t in tagged])
            return Problem((*path, tag), f"must be {names}, not {describe(value[tag])}")
        return validate(value, chosen, path)
    fitting = [b for b in schema["anyOf"] if _types(b) is None or _admits(_types(b) or (), value)]
    if not fitting:
        return _type_problem(path, value, _expected(schema))
    problems = []
    for branch in fitting:
        problem = validate(value, branch, path)
        if problem is None:
            return None
        problems.append(problem)
    return _best(problems)


_TAGS: dict[int, tuple[Schema, dict[str, Schema]]] = {}


def _tags(schema: Schema) -> dict[str, Schema]:
    """{tag value: branch} of a discriminated anyOf's object branches, worked out once per schema."""
    kept = _TAGS.get(id(schema))
    if kept is None or kept[0] is not schema:
        tag = schema["discriminator"]
        branches = [b for b in schema["anyOf"] if "object" in (_types(b) or ())]
        kept = schema, {value: b for b in branches for value in b["properties"][tag]["enum"]}
        _TAGS[id(schema)] = kept
    return kept[1]


def _best(problems: list[Problem]) -> Problem:
    """The most telling of the problems of several branches: the deepest, the furthest along, not a wrong type;
    wrong types at one place are merged ("must be a string or an object, not ...")."""

    def rank(p: Problem) -> tuple[int, list[int], bool]:
        return len(p.path), [s for s in p.path if isinstance(s, int)], not p.expected

    best = max(problems, key=rank)
    if best.expected:
        same = [p for p in problems if p.path == best.path and p.expected]
        expected = tuple(word for p in same for word in p.expected)
        best = Problem(best.path, f"must be {_either(expected)}, not {best.got}", expected, best.got)
    return best


# --- the rules -----------------------------------------------------------------------------------------------


def _nullable(schema: Schema) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


def _tagged(tag: str, value: str, required: Sequence[str] = (), **properties: Schema) -> dict[str, Any]:
    """An object whose `tag` property is the constant `value`."""
    return {
        "type": "object",
        "required": [tag, *required],
        "properties": {tag: {"type": "string", "enum": [value]}, **properties},
    }


STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
INTEGER: Schema = {"type": "integer"}
OBJECT: Schema = {"type": "object"}
NAMED: Schema = {"type": "object", "required": ["name"], "properties": {"name": STRING}}
CACHE_BREAKPOINT: Schema = {
    "type": "object",
    "required": ["mode"],
    "properties": {"mode": {"type": "string", "enum": ["explicit"]}},
}


def _part(kind: str, required: Sequence[str] = (), **properties: Schema) -> dict[str, Any]:
    return _tagged("type", kind, required, **properties, prompt_cache_breakpoint=CACHE_BREAKPOINT)


TEXT_PART = _part("text", ["text"], text=STRING)
IMAGE_PART = _part(
    "image_url",
    ["image_url"],
    image_url={
        "type": "object",
        "required": ["url"],
        "properties": {"url": STRING, "detail": {"type": "string", "enum": ["auto", "low", "high"]}},
    },
)
AUDIO_PART = _part(
    "input_audio",
    ["input_audio"],
    input_audio={
        "type": "object",
        "required": ["data", "format"],
        "properties": {"data": STRING, "format": {"type": "string", "enum": ["wav", "mp3"]}},
    },
)
FILE_PART = _part(
    "file",
    ["file"],
    file={"type": "object", "properties": {"filename": STRING, "file_data": STRING, "file_id": STRING}},
)
REFUSAL_PART = _tagged("type", "refusal", ["refusal"], refusal=STRING)
URL_OBJECT: Schema = {"type": "object", "required": ["url"], "properties": {"url": STRING}}
# vLLM's own content parts (not OpenAI's): video and audio by URL.
VLLM_PARTS = [
    _tagged("type", "video_url", ["video_url"], video_url=URL_OBJECT),
    _tagged("type", "audio_url", ["audio_url"], audio_url=URL_OBJECT),
]


def _content(parts: Sequence[Schema], nullable: bool = False) -> dict[str, Any]:
    """A message's `content`: a string or a non-empty array of the given part types."""
    items: Schema = {"type": "object", "anyOf": list(parts), "discriminator": "type"}
    branches: list[Schema] = [STRING, {"type": "array", "minItems": 1, "items": items}]
    return {"anyOf": [*branches, {"type": "null"}] if nullable else branches}


def _message(role: str, required: Sequence[str] = (), **properties: Schema) -> dict[str, Any]:
    return _tagged("role", role, required, **properties)


FUNCTION_TOOL_CALL = _tagged(
    "type",
    "function",
    ["id", "function"],
    id=STRING,
    function={"type": "object", "required": ["name", "arguments"], "properties": {"name": STRING, "arguments": STRING}},
)
CUSTOM_TOOL_CALL = _tagged(
    "type",
    "custom",
    ["id", "custom"],
    id=STRING,
    custom={"type": "object", "required": ["name", "input"], "properties": {"name": STRING, "input": STRING}},
)
MESSAGE: Schema = {
    "type": "object",
    "discriminator": "role",
    "anyOf": [
        _message("developer", ["content"], content=_content([TEXT_PART]), name=STRING),
        _message("system", ["content"], content=_content([TEXT_PART]), name=STRING),
        _message(
            "user",
            ["content"],
            content=_content([TEXT_PART, IMAGE_PART, AUDIO_PART, FILE_PART, *VLLM_PARTS]),
            name=STRING,
        ),
        _message(
            "assistant",
            content=_content([TEXT_PART, REFUSAL_PART], nullable=True),
            refusal={"type": ["string", "null"]},
            name=STRING,
            audio=_nullable({"type": "object", "required": ["id"], "properties": {"id": STRING}}),
            tool_calls={
                "type": "array",
                "items": {"type": "object", "discriminator": "type", "anyOf": [FUNCTION_TOOL_CALL, CUSTOM_TOOL_CALL]},
            },
            function_call=_nullable(
                {
                    "type": "object",
                    "required": ["arguments", "name"],
                    "properties": {"arguments": STRING, "name": STRING},
                }
            ),
        ),
        _message("tool", ["content", "tool_call_id"], content=_content([TEXT_PART]), tool_call_id=STRING),
        _message("function", ["content", "name"], content={"type": ["string", "null"]}, name=STRING),
    ],
}
FUNCTION: Schema = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "description": STRING,
        "name": STRING,
        "parameters": OBJECT,
        "strict": {"type": ["boolean", "null"]},
    },
}
CUSTOM_FORMAT: Schema = {
    "type": "object",
    "discriminator": "type",
    "anyOf": [
        {**_tagged("type", "text"), "additionalProperties": False},
        {
            **_tagged(
                "type",
                "grammar",
                ["grammar"],
                grammar={
                    "type": "object",
                    "required": ["definition", "syntax"],
                    "properties": {"definition": STRING, "syntax": {"type": "string", "enum": ["lark", "regex"]}},
                },
            ),
            "additionalProperties": False,
        },
    ],
}
TOOL: Schema = {
    "type": "object",
    "discriminator": "type",
    "anyOf": [
        _tagged("type", "function", ["function"], function=FUNCTION),
        _tagged(
            "type",
            "custom",
            ["custom"],
            custom={
                "type": "object",
                "required": ["name"],
                "properties": {"name": STRING, "description": STRING, "format": CUSTOM_FORMAT},
            },
        ),
    ],
}
TOOL_CHOICE: Schema = {
    "discriminator": "type",
    "anyOf": [
        {"type": "string", "enum": ["none", "auto", "required"]},
        _tagged(
            "type",
            "allowed_tools",
            ["allowed_tools"],
            allowed_tools={
                "type": "object",
                "required": ["mode", "tools"],
                "properties": {
                    "mode": {"type": "string", "enum": ["auto", "required"]},
                    "tools": {"type": "array", "items": OBJECT},
                },
            },
        ),
        _tagged("type", "function", ["function"], function=NAMED),
        _tagged("type", "custom", ["custom"], custom=NAMED),
    ],
}
RESPONSE_FORMAT: Schema = {
    "type": "object",
    "discriminator": "type",
    "anyOf": [
        _tagged("type", "text"),
        _tagged(
            "type",
            "json_schema",
            ["json_schema"],
            json_schema={
                "type": "object",
                "required": ["name"],
                "properties": {
                    "description": STRING,
                    "name": STRING,
                    "schema": OBJECT,
                    "strict": {"type": ["boolean", "null"]},
                },
            },
        ),
        _tagged("type", "json_object"),
    ],
}
MODERATION_CONFIG: Schema = _nullable(
    {"type": "object", "required": ["mode"], "properties": {"mode": {"type": "string", "enum": ["score", "block"]}}}
)
TEXT_PARTS_CONTENT = _content([TEXT_PART])

CHAT_REQUEST: Schema = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "messages": {"type": "array", "minItems": 1, "items": MESSAGE},
        "metadata": {"type": ["object", "null"]},
        "top_logprobs": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
        "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
        "top_p": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "user": STRING,
        "safety_identifier": {"type": ["string", "null"], "maxLength": 64},
        "prompt_cache_key": {"type": ["string", "null"]},
        "prompt_cache_retention": {"type": ["string", "null"], "enum": ["in_memory", "24h"]},
        "prompt_cache_options": {
            "type": "object",
            "properties": {
                "ttl": {"type": "string", "enum": ["30m"]},
                "mode": {"type": "string", "enum": ["implicit", "explicit"]},
            },
        },
        "service_tier": {"type": ["string", "null"], "enum": ["auto", "default", "flex", "scale", "priority", "fast"]},
        "modalities": {"type": ["array", "null"], "items": {"type": "string", "enum": ["text", "audio"]}},
        "verbosity": {"type": ["string", "null"], "enum": ["low", "medium", "high"]},
        "reasoning_effort": {
            "type": ["string", "null"],
            "enum": ["none", "minimal", "low", "medium", "high", "xhigh", "max"],
        },
        "max_completion_tokens": {"type": ["integer", "null"]},
        "frequency_penalty": {"type": ["number", "null"], "minimum": -2, "maximum": 2},
        "presence_penalty": {"type": ["number", "null"], "minimum": -2, "maximum": 2},
        "web_search_options": {
            "type": "object",
            "properties": {
                "user_location": _nullable(
                    _tagged(
                        "type",
                        "approximate",
                        ["approximate"],
                        approximate={
                            "type": "object",
                            "properties": {"country": STRING, "region": STRING, "city": STRING, "timezone": STRING},
                        },
                    )
                ),
                "search_context_size": {"type": "string", "enum": ["low", "medium", "high"]},
            },
        },
        "response_format": RESPONSE_FORMAT,
        "audio": _nullable(
            {
                "type": "object",
                "required": ["voice", "format"],
                "properties": {
                    "voice": {
                        "anyOf": [
                            STRING,
                            {
                                "type": "object",
                                "required": ["id"],
                                "properties": {"id": STRING},
                                "additionalProperties": False,
                            },
                        ]
                    },
                    "format": {"type": "string", "enum": ["wav", "aac", "mp3", "flac", "opus", "pcm16"]},
                },
            }
        ),
        "store": {"type": ["boolean", "null"]},
        "moderation": _nullable(
            {
                "type": "object",
                "required": ["model"],
                "properties": {
                    "model": STRING,
                    "policy": _nullable(
                        {"type": "object", "properties": {"input": MODERATION_CONFIG, "output": MODERATION_CONFIG}}
                    ),
                },
            }
        ),
        "stream": {"type": ["boolean", "null"]},
        "stop": {
            "anyOf": [{"type": ["string", "null"]}, {"type": "array", "minItems": 1, "maxItems": 4, "items": STRING}]
        },
        "logit_bias": {"type": ["object", "null"], "additionalProperties": INTEGER},
        "logprobs": {"type": ["boolean", "null"]},
        "max_tokens": {"type": ["integer", "null"]},
        "n": {"type": ["integer", "null"], "minimum": 1, "maximum": 128},
        "prediction": _nullable(_tagged("type", "content", ["content"], content=TEXT_PARTS_CONTENT)),
        "seed": {"type": ["integer", "null"], "minimum": -9223372036854776000, "maximum": 9223372036854776000},
        "stream_options": {
            "type": ["object", "null"],
            "properties": {"include_usage": BOOLEAN, "include_obfuscation": BOOLEAN},
        },
        "tools": {"type": "array", "items": TOOL},
        "tool_choice": TOOL_CHOICE,
        "parallel_tool_calls": BOOLEAN,
        "function_call": {
            "anyOf": [{"type": "string", "enum": ["none", "auto"]}, NAMED],
        },
        "functions": {
            "type": "array",
            "minItems": 1,
            "maxItems": 128,
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"description": STRING, "name": STRING, "parameters": OBJECT},
            },
        },
    },
}

NON_EMPTY_STRING: Schema = {"type": "string", "minLength": 1}
TOKEN_IDS: Schema = {"type": "array", "minItems": 1, "items": INTEGER}
# Our multimodal embedding input (embeddings.py): text, an image (a data: URL), or both, and its own instruction.
EMBEDDING_OBJECT: Schema = {
    "type": "object",
    "properties": {"text": NON_EMPTY_STRING, "image": STRING, "instruction": STRING},
    "additionalProperties": False,
    "requiredAny": ["text", "image"],
}
EMBEDDINGS_REQUEST: Schema = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "input": {
            "anyOf": [
                NON_EMPTY_STRING,
                {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 2048,
                    "items": {"anyOf": [NON_EMPTY_STRING, EMBEDDING_OBJECT]},
                },
                TOKEN_IDS,
                {"type": "array", "minItems": 1, "maxItems": 2048, "items": TOKEN_IDS},
                EMBEDDING_OBJECT,
            ]
        },
        "model": {"type": "string", "minLength": 1},
        "encoding_format": {"type": "string", "enum": ["float", "base64"]},
        "dimensions": {"type": "integer", "minimum": 1},
        "user": STRING,
        "instruction": STRING,
    },
}
REQUESTS: Mapping[str, Schema] = {CHAT: CHAT_REQUEST, EMBEDDINGS: EMBEDDINGS_REQUEST}


def _stream_options_need_stream(body: Mapping[str, Any]) -> Problem | None:
    if body.get("stream_options") is not None and body.get("stream") is not True:
        return Problem(("stream_options",), "is only allowed when `stream` is true")
    return None


CROSS_CHECKS: Mapping[str, Sequence[Callable[[Mapping[str, Any]], Problem | None]]] = {
    CHAT: (_stream_options_need_stream,),
    EMBEDDINGS: (),
}

# LiteLLM's routes that take the model from the path (Azure's and the old engines form): `model` may be left out.
_PATH_MODEL_MARKERS = ("/openai/deployments/", "/engines/")


def contract_route(path: str) -> tuple[str | None, str | None]:
    """(CHAT, EMBEDDINGS or None; the model named in the path, if any) for a request path."""
    path = path.rstrip("/")
    if path.endswith("/chat/completions"):
        kind, rest = CHAT, path[: -len("/chat/completions")]
    elif path.endswith("/embeddings"):
        kind, rest = EMBEDDINGS, path[: -len("/embeddings")]
    else:
        return None, None
    for marker in _PATH_MODEL_MARKERS:
        at = rest.find(marker)
        if at >= 0 and rest[at + len(marker) :]:
            return kind, rest[at + len(marker) :]
    return kind, None


def check_body(kind: str, body: Mapping[str, Any], path_model: str | None = None) -> Problem | None:
    """The first way `body` breaks the request contract of `kind`, or None."""
    schema = REQUESTS[kind]
    if path_model is not None:
        schema = {**schema, "required": [k for k in schema["required"] if k != "model"]}
    problem = validate(body, schema)
    if problem is None:
        for check in CROSS_CHECKS[kind]:
            problem = check(body)
            if problem is not None:
                break
    return problem


def refusal(problem: Problem) -> Refusal:
    name = param(problem.path)
    if problem.message == "is required":
        return Refusal(f"missing required field `{name}`", name)
    return Refusal(f"`{name}` {problem.message}", name)


def check_request(kind: str, body: Mapping[str, Any], path_model: str | None = None) -> Refusal | None:
    problem = check_body(kind, body, path_model)
    return None if problem is None else refusal(problem)
