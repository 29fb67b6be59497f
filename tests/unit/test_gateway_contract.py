"""The gateway's request contract (services/gateway/.../contract.py) against OpenAI's published one.

The gateway host does not have OpenAI's spec, so contract.py holds its own copy of the rules; these tests read the
spec from ../shared/openai-spec/ (beside the checkout) and check, for CreateChatCompletionRequest and
CreateEmbeddingRequest:

  * field by field: every property the spec defines has a rule with the same JSON types, enums, minimum/maximum
    and length bounds, and the same required fields, and the rules define no field the spec lacks;
  * value by value: for thousands of values made from the spec's schemas and from our rules alike (valid examples
    of every branch, and wrong types, out-of-range numbers, unknown enum values and tags, missing required keys,
    empty and too long arrays, at every depth), the spec (validated with jsonschema) and contract.py agree on
    accept or refuse.

Where contract.py differs from the spec on purpose, the difference is listed below with its reason, and is
checked to be exactly that difference.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT.parent / "shared" / "openai-spec" / "openai-openapi-subset.json"
GATEWAY_SRC = ROOT / "services" / "gateway" / "src"
COMMON_SRC = ROOT / "services" / "common" / "src"  # litellm-local-common, which the gateway imports
for src in (COMMON_SRC, GATEWAY_SRC):
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))

from litellm_local_gateway import contract  # noqa: E402

if not SPEC.is_file():
    if os.environ.get("CI") or os.environ.get("LITELLM_LOCAL_REQUIRE_SPEC"):
        raise FileNotFoundError(f"OpenAI's spec is missing: {SPEC}")
    pytest.skip(f"OpenAI's spec is not beside the checkout ({SPEC})", allow_module_level=True)

jsonschema = pytest.importorskip("jsonschema")

ROOTS = {contract.CHAT: "CreateChatCompletionRequest", contract.EMBEDDINGS: "CreateEmbeddingRequest"}
SCHEMA_LISTS = ("anyOf", "oneOf", "allOf")
KEYWORDS = ("enum", "minimum", "maximum", "minItems", "maxItems", "minLength", "maxLength")

# --- the deliberate differences ----------------------------------------------------------------------------------

# (route, property) -> how our rule's signature differs from the spec's: "+types" added JSON types, and per JSON
# type the keywords whose value differs (None: the keyword is dropped).
STRUCTURAL_DIFFERENCES: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
    (contract.CHAT, "model"): ("a model must be named: no empty string", {"string": {"minLength": 1}}),
    (contract.EMBEDDINGS, "model"): ("a model must be named: no empty string", {"string": {"minLength": 1}}),
    (contract.EMBEDDINGS, "input"): (
        "the spec's text: an input 'cannot be an empty string'; our multimodal objects (embeddings.py); one token-id "
        "input is bounded by the model's context, not by the 2048 of OpenAI's models",
        {"+types": {"object"}, "string": {"minLength": 1}, "array": {"maxItems": None}},
    ),
}
# Fields of ours that the spec does not define.
EXTENSIONS = {(contract.EMBEDDINGS, "instruction"): "our embedding instruction (embeddings.py)"}


def _object_in(value: Any) -> bool:
    return isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, dict) for v in value))


def _empty_string_in(value: Any) -> bool:
    return value == "" or (isinstance(value, list) and "" in value)


def _vllm_part_in(value: Any) -> bool:
    return '"type": "video_url"' in json.dumps(value) or '"type": "audio_url"' in json.dumps(value)


def _long_token_ids(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 2048 and all(type(v) is int for v in value)


# (route, property, the spec's verdict, predicate on the value, reason): disagreements allowed in the value probes.
VALUE_DIFFERENCES: list[tuple[str, str, bool, Callable[[Any], bool], str]] = [
    (contract.CHAT, "model", True, lambda v: v == "", "a model must be named"),
    (contract.EMBEDDINGS, "model", True, lambda v: v == "", "a model must be named"),
    (contract.EMBEDDINGS, "input", True, _empty_string_in, "the spec's text: 'cannot be an empty string'"),
    (contract.EMBEDDINGS, "input", False, _long_token_ids, "one token-id input: the model's context bounds it"),
    (contract.EMBEDDINGS, "input", False, _object_in, "our multimodal objects {text, image, instruction}"),
    (contract.CHAT, "messages", False, _vllm_part_in, "vLLM's video_url and audio_url content parts"),
    (
        contract.CHAT,
        "metadata",
        False,
        lambda v: isinstance(v, dict),
        "LiteLLM reads its own keys in `metadata` (tags, ...): values are not checked",
    ),
    (
        contract.CHAT,
        "top_logprobs",
        False,
        lambda v: v is None,
        "the spec's allOf has `top_logprobs` both nullable (the chat request's own) and not (a shared base): null "
        "passes, as the chat request says",
    ),
]


# --- the spec ------------------------------------------------------------------------------------------------


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC.read_text())


def resolve(node: Any, seen: tuple[str, ...] = ()) -> Any:
    """A schema with its `$ref`s inlined and OpenAPI's `nullable: true` read as "or null" (anyOf with null)."""
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        assert name not in seen, f"recursive schema {name}"
        out = resolve(spec()["components"]["schemas"][name], (*seen, name))
        return {"anyOf": [out, {"type": "null"}]} if node.get("nullable") else out
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("description", "example", "examples", "title", "discriminator") or key.startswith("x-"):
            continue
        if key == "properties":
            out[key] = {name: resolve(schema, seen) for name, schema in value.items()}
        elif key in SCHEMA_LISTS:
            out[key] = [resolve(schema, seen) for schema in value]
        elif key in ("items", "additionalProperties", "not"):
            out[key] = resolve(value, seen)
        else:
            out[key] = value
    if out.pop("nullable", False):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def request_parts(route: str) -> list[dict[str, Any]]:
    """The object schemas the request is made of (its allOf, flattened)."""
    parts: list[dict[str, Any]] = []

    def walk(schema: dict[str, Any]) -> None:
        for sub in schema.get("allOf", ()):
            walk(sub)
        if "properties" in schema or "required" in schema:
            parts.append(schema)

    walk(resolve(spec()["components"]["schemas"][ROOTS[route]]))
    return parts


def spec_properties(route: str) -> dict[str, list[dict[str, Any]]]:
    """Each property with all its definitions (a property of several allOf parts must pass each)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for part in request_parts(route):
        for name, schema in part.get("properties", {}).items():
            out.setdefault(name, []).append(schema)
    return out


def spec_required(route: str) -> set[str]:
    return {name for part in request_parts(route) for name in part.get("required", ())}


@cache
def spec_validator(route: str, name: str) -> Any:
    definitions = spec_properties(route)[name]
    schema = definitions[0] if len(definitions) == 1 else {"allOf": definitions}
    return jsonschema.Draft202012Validator(schema)


def ours(route: str, name: str) -> dict[str, Any]:
    return contract.REQUESTS[route]["properties"][name]


# --- signatures: the top-level types and keywords of a schema --------------------------------------------------


def branches(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The alternatives of a schema, one JSON type each (anyOf/oneOf and type lists split; a parent's keywords go
    with each of its branches)."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            rest = {k: v for k, v in schema.items() if k not in (key, "discriminator")}
            for branch in schema[key]:
                yield from branches({**rest, **branch})
            return
    types = schema.get("type")
    if isinstance(types, list):
        for kind in types:
            yield {"type": "null"} if kind == "null" else {**schema, "type": kind}
    else:
        yield schema


def signature(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{JSON type: {keyword: value}} over a schema's alternatives; where two alternatives of one type differ, the
    looser bound holds (a keyword only some of them have is dropped)."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for branch in branches(schema):
        by_type.setdefault(branch.get("type", "any"), []).append(branch)
    out: dict[str, dict[str, Any]] = {}
    for kind, group in by_type.items():
        words: dict[str, Any] = {}
        for keyword in KEYWORDS:
            values = [b[keyword] for b in group if keyword in b]
            if len(values) < len(group):
                continue
            if keyword == "enum":
                words[keyword] = sorted({json.dumps(v) for vs in values for v in vs})
            else:
                words[keyword] = (min if keyword in ("minimum", "minItems", "minLength") else max)(values)
        out[kind] = words
    return out


def spec_signature(route: str, name: str) -> dict[str, dict[str, Any]]:
    definitions = spec_properties(route)[name]
    # Several definitions (allOf): the chat request's own, the last, is the one the rules follow (see top_logprobs).
    return signature(definitions[-1])


def expected_signature(route: str, name: str) -> dict[str, dict[str, Any]]:
    expected = {kind: dict(words) for kind, words in spec_signature(route, name).items()}
    _, patch = STRUCTURAL_DIFFERENCES.get((route, name), ("", {}))
    for kind in patch.get("+types", ()):
        expected.setdefault(kind, {})
    for kind, words in patch.items():
        if kind == "+types":
            continue
        for keyword, value in words.items():
            if value is None:
                expected[kind].pop(keyword, None)
            else:
                expected[kind][keyword] = value
    return expected


@pytest.mark.parametrize("route", list(ROOTS))
def test_every_spec_field_has_a_rule_with_its_types_and_bounds(route: str) -> None:
    rules = contract.REQUESTS[route]["properties"]
    for name in spec_properties(route):
        assert name in rules, f"{ROOTS[route]}.{name} has no rule in contract.py"
        assert signature(rules[name]) == expected_signature(route, name), name
    for name in rules:
        assert name in spec_properties(route) or (route, name) in EXTENSIONS, f"{name}: not in the spec"
    assert set(contract.REQUESTS[route]["required"]) == spec_required(route)


def test_the_listed_differences_are_real() -> None:
    for route, name in STRUCTURAL_DIFFERENCES:
        assert spec_signature(route, name) != signature(ours(route, name)), (route, name)
    for route, name in EXTENSIONS:
        assert name not in spec_properties(route)
    description = spec()["components"]["schemas"]["CreateEmbeddingRequest"]["properties"]["input"]["description"]
    assert "cannot be an empty string" in description
    assert spec()["components"]["schemas"]["CreateEmbeddingRequest"]["additionalProperties"] is False
    stream_options = spec()["components"]["schemas"]["ChatCompletionStreamOptions"]["anyOf"][0]["description"]
    assert "Only set this when you set `stream: true`" in stream_options


def tags(schema: dict[str, Any], tag: str) -> set[str]:
    return {value for branch in branches(schema) for value in branch.get("properties", {}).get(tag, {}).get("enum", ())}


def test_roles_and_content_part_types_are_the_specs() -> None:
    spec_message = spec_properties(contract.CHAT)["messages"][-1]["items"]
    our_message = ours(contract.CHAT, "messages")["items"]
    assert tags(spec_message, "role") == tags(our_message, "role")
    for role in tags(spec_message, "role"):
        (spec_branch,) = [b for b in branches(spec_message) if b["properties"]["role"]["enum"] == [role]]
        (our_branch,) = [b for b in branches(our_message) if b["properties"]["role"]["enum"] == [role]]
        assert set(spec_branch.get("required", ())) == set(our_branch.get("required", ())), role
        assert set(spec_branch["properties"]) == set(our_branch["properties"]), role
        content = [spec_branch["properties"].get("content", {}), our_branch["properties"].get("content", {})]
        arrays = [[b for b in branches(c) if b.get("type") == "array"] for c in content]
        spec_parts = {t for b in arrays[0] for t in tags(b["items"], "type")}
        our_parts = {t for b in arrays[1] for t in tags(b["items"], "type")}
        extra = {"video_url", "audio_url"} if role == "user" else set()  # vLLM's own parts
        assert our_parts == spec_parts | extra, role


# --- values: the spec and the rules agree ----------------------------------------------------------------------

WRONG: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2.5,
    "",
    "x",
    "yes",
    "true",
    [],
    {},
    [1],
    ["x"],
    [None],
    [[]],
    {"a": 1},
]
MAX_DEPTH = 7


def examples(schema: dict[str, Any], depth: int = 0) -> list[Any]:
    """Valid values of a schema: per alternative, its smallest form and (not too deep) one with every property."""
    out: list[Any] = []
    for branch in branches(schema):
        kind = branch.get("type")
        if "enum" in branch:
            out += branch["enum"]
        elif kind == "null":
            out.append(None)
        elif kind == "boolean":
            out += [True, False]
        elif kind in ("integer", "number"):
            value: float = 1 if kind == "integer" else 0.5
            value = max(value, branch.get("minimum", value))
            out.append(min(value, branch.get("maximum", value)))
        elif kind == "string":
            out.append("x" * max(1, branch.get("minLength", 1)))
        elif kind == "array":
            items = examples(branch["items"], depth + 1) if "items" in branch else [1]
            out.append(items[:1] * max(1, branch.get("minItems", 1)))
        elif kind == "object" or "properties" in branch:
            properties = branch.get("properties", {})
            smallest = {
                k: examples(properties[k], depth + 1)[0] if k in properties else "x" for k in branch.get("required", ())
            }
            out.append(smallest)
            if depth < 3:
                full = dict(smallest)
                for key, rule in properties.items():
                    found = examples(rule, depth + 1)
                    if key not in full and found:
                        full[key] = found[0]
                out.append(full)
        elif "allOf" in branch:
            out += examples(branch["allOf"][-1], depth)
        else:
            out.append({})
    return out


def mutants(schema: dict[str, Any], depth: int = 0) -> list[Any]:
    """Values near the edges of a schema, mostly invalid: wrong types, bounds and one past them, unknown enum
    values, missing required keys, arrays too short or too long, and the same inside, at every depth (with the
    valid values of each part beside them)."""
    out = list(WRONG)
    for branch in branches(schema):
        kind = branch.get("type")
        if "enum" in branch:
            out.append(f"not-{branch['enum'][0]}")
        if kind in ("integer", "number"):
            for keyword in ("minimum", "maximum"):
                if keyword in branch:
                    bound = branch[keyword]
                    out += [bound, bound - 1, bound + 1, bound - 0.5, bound + 0.5]
        if kind == "string" and "maxLength" in branch:
            out += ["x" * branch["maxLength"], "x" * (branch["maxLength"] + 1)]
        if kind == "array":
            items = branch.get("items", {})
            item = (examples(items, depth + 1) or [1])[0]
            if branch.get("minItems", 0) > 1:
                out.append([item] * (branch["minItems"] - 1))
            if "maxItems" in branch:
                out += [[item] * branch["maxItems"], [item] * (branch["maxItems"] + 1)]
            if depth < MAX_DEPTH:
                out += [[e] for e in examples(items, depth + 1)] + [[m] for m in mutants(items, depth + 1)]
                out += [[item, m] for m in WRONG]
        if kind == "object" or "properties" in branch:
            smallest = examples(branch, depth)[0]
            for key in branch.get("required", ()):
                out.append({k: v for k, v in smallest.items() if k != key})
            extra = branch.get("additionalProperties", True)
            if extra is False:
                out.append({**smallest, "unknown_key": 1})
            elif isinstance(extra, dict):
                out += [{**smallest, "key": m} for m in mutants(extra, depth + 1)]
            if depth < MAX_DEPTH:
                for key, rule in branch.get("properties", {}).items():
                    out += [{**smallest, key: m} for m in examples(rule, depth + 1) + mutants(rule, depth + 1)]
        if "allOf" in branch:
            out += mutants(branch["allOf"][-1], depth)
    unique = {json.dumps(v, sort_keys=True): v for v in out}
    return list(unique.values())


def probe_values(route: str, name: str) -> list[Any]:
    """The values a property is probed with: made from the spec's schema, from our rule (so that what the rule
    adds is seen too) and our extensions'."""
    spec_rule, our_rule = spec_properties(route)[name][-1], ours(route, name)
    values = examples(spec_rule) + mutants(spec_rule) + examples(our_rule) + mutants(our_rule)
    values += EXTRA_VALUES.get((route, name), [])
    return list({json.dumps(v, sort_keys=True): v for v in values}.values())


# Values of our extensions, probed with the rest (the spec refuses them; VALUE_DIFFERENCES says why they pass).
EXTRA_VALUES: dict[tuple[str, str], list[Any]] = {
    (contract.EMBEDDINGS, "input"): [
        {"text": "x"},
        [{"image": "data:image/png;base64,AAAA", "instruction": "Find it."}],
        ["x", {"text": "y", "image": "data:image/png;base64,AAAA"}],
    ],
}
BASES = {
    contract.CHAT: {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    contract.EMBEDDINGS: {"model": "m", "input": "hi"},
}
# Fields that only make sense with another one: the body they are probed in has it.
CONTEXT = {(contract.CHAT, "stream_options"): {"stream": True}}


def allowed(route: str, name: str, spec_ok: bool, value: Any) -> str | None:
    for r, n, verdict, applies, reason in VALUE_DIFFERENCES:
        if (r, n) == (route, name) and verdict == spec_ok and applies(value):
            return reason
    return None


@pytest.mark.parametrize("route", list(ROOTS))
def test_the_rules_and_the_spec_agree_value_by_value(route: str) -> None:
    disagreements: list[str] = []
    probes = 0
    for name in spec_properties(route):
        for value in probe_values(route, name):
            probes += 1
            spec_ok = spec_validator(route, name).is_valid(value)
            body = {**BASES[route], **CONTEXT.get((route, name), {}), name: value}
            problem = contract.check_body(route, body)
            ours_ok = problem is None
            if spec_ok != ours_ok and allowed(route, name, spec_ok, value) is None:
                disagreements.append(
                    f"{name} = {json.dumps(value)[:200]}: spec {'accepts' if spec_ok else 'refuses'}, "
                    f"contract.py {'accepts' if ours_ok else f'refuses ({problem})'}"
                )
    assert probes > (2000 if route == contract.CHAT else 100)
    assert not disagreements, f"{len(disagreements)} of {probes}:\n" + "\n".join(disagreements[:40])


def test_every_listed_value_difference_is_seen() -> None:
    """A listed difference that no probe meets any more is stale: drop it."""
    unseen = []
    for route, name, verdict, applies, reason in VALUE_DIFFERENCES:
        values = probe_values(route, name)
        if not any(
            spec_validator(route, name).is_valid(value) == verdict
            and applies(value)
            and (contract.check_body(route, {**BASES[route], name: value}) is None) != verdict
            for value in values
        ):
            unseen.append(f"{route} {name}: {reason}")
    assert not unseen


def test_stream_options_need_stream() -> None:
    body = {**BASES[contract.CHAT], "stream_options": {"include_usage": True}}
    assert contract.check_body(contract.CHAT, body) is not None
    assert contract.check_body(contract.CHAT, {**body, "stream": True}) is None
