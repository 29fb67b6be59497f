"""Strict checkers for the tests: OpenAI's published schemas (read from the shared spec) and SRT/VTT parsers.

`jsonschema` is not installed in the server's environment, so `validate` is a small JSON Schema (Draft 2020-12)
validator for the keywords the spec's transcription schemas use; a keyword it does not know fails the test instead
of being ignored, so a schema change cannot pass unchecked. OpenAPI 3.0's `nullable: true` reads as "or null".
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

# services/asr/tests -> the repository root; the spec lies beside the checkout (see shared/openai-spec/README.md).
SPEC = Path(__file__).resolve().parents[3].parent / "shared" / "openai-spec" / "openai-openapi-subset.json"

ANNOTATIONS = {"description", "title", "format", "default", "example", "examples", "deprecated", "discriminator"}
ANNOTATIONS |= {"readOnly", "writeOnly", "optional"}  # "optional" is no JSON Schema keyword: it carries no rule
VALIDATORS = {"type", "nullable", "properties", "required", "items", "$ref", "enum", "const", "oneOf", "anyOf"}
VALIDATORS |= {"allOf", "additionalProperties", "minimum", "maximum", "minItems", "maxItems"}


@functools.cache
def spec() -> dict:
    if not SPEC.is_file():
        pytest.fail(f"OpenAI's spec is missing: {SPEC} (shared/openai-spec beside the repository checkout)")
    return json.loads(SPEC.read_text())


def schema(name: str) -> dict:
    return spec()["components"]["schemas"][name]


def validate(value, name: str) -> None:
    """Fail with the paths of every violation of components.schemas[name] in `value` (a parsed JSON body)."""
    errors = _errors(value, schema(name), name)
    assert not errors, "\n".join(errors)


def _resolve(ref: str) -> dict:
    assert ref.startswith("#/"), ref
    node = spec()
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _is_type(value, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    raise AssertionError(f"unknown JSON Schema type {kind!r}")


def _errors(value, node: dict, path: str) -> list[str]:
    unknown = {k for k in node if k not in VALIDATORS and k not in ANNOTATIONS and not k.startswith("x-")}
    assert not unknown, f"{path}: the checker does not know the schema keywords {sorted(unknown)}"
    errors: list[str] = []
    if "$ref" in node:
        errors += _errors(value, _resolve(node["$ref"]), path)
    if "type" in node:
        kinds = node["type"] if isinstance(node["type"], list) else [node["type"]]
        if node.get("nullable"):
            kinds = [*kinds, "null"]
        if not any(_is_type(value, k) for k in kinds):
            return [*errors, f"{path}: {value!r} is not of type {kinds}"]
    if value is None and node.get("nullable"):
        return errors
    if "enum" in node and value not in node["enum"]:
        errors.append(f"{path}: {value!r} is not one of {node['enum']}")
    if "const" in node and value != node["const"]:
        errors.append(f"{path}: {value!r} is not {node['const']!r}")
    if "minimum" in node and _is_type(value, "number") and value < node["minimum"]:
        errors.append(f"{path}: {value!r} < {node['minimum']}")
    if "maximum" in node and _is_type(value, "number") and value > node["maximum"]:
        errors.append(f"{path}: {value!r} > {node['maximum']}")
    if isinstance(value, dict):
        for key in node.get("required", []):
            if key not in value:
                errors.append(f"{path}: the required property {key!r} is missing")
        props = node.get("properties", {})
        for key, item in value.items():
            if key in props:
                errors += _errors(item, props[key], f"{path}.{key}")
            elif node.get("additionalProperties") is False:
                errors.append(f"{path}: the property {key!r} is not allowed")
            elif isinstance(node.get("additionalProperties"), dict):
                errors += _errors(item, node["additionalProperties"], f"{path}.{key}")
    if isinstance(value, list):
        if "items" in node:
            for i, item in enumerate(value):
                errors += _errors(item, node["items"], f"{path}[{i}]")
        if len(value) < node.get("minItems", 0) or len(value) > node.get("maxItems", math.inf):
            errors.append(f"{path}: {len(value)} items")
    for sub in node.get("allOf", []):
        errors += _errors(value, sub, path)
    if "anyOf" in node and all(_errors(value, sub, path) for sub in node["anyOf"]):
        errors.append(f"{path}: {value!r} matches none of anyOf")
    if "oneOf" in node:
        matched = sum(not _errors(value, sub, path) for sub in node["oneOf"])
        if matched != 1:
            errors.append(f"{path}: {value!r} matches {matched} of oneOf, not exactly one")
    return errors


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]


_SRT_TIME = r"(\d{2,}):([0-5]\d):([0-5]\d),(\d{3})"
_VTT_TIME = r"(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})"
_SRT_TIMING = re.compile(f"^{_SRT_TIME} --> {_SRT_TIME}$")
_VTT_TIMING = re.compile(f"^{_VTT_TIME} --> {_VTT_TIME}$")


def _seconds(groups: tuple[str, ...]) -> float:
    h, m, s, ms = (int(g) for g in groups)
    return h * 3600 + m * 60 + s + ms / 1000


def _text_lines(lines: list[str], where: str) -> tuple[str, ...]:
    assert lines, f"{where}: a cue without text"
    for line in lines:
        assert line, f"{where}: a blank line inside the cue"
        assert line == line.strip(), f"{where}: leading or trailing whitespace in {line!r}"
        assert "-->" not in line, f"{where}: '-->' in the cue text {line!r}"
        assert not any(ch in line for ch in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), f"{where}: {line!r}"
    return tuple(lines)


def _check_times(cues: list[Cue], duration: float | None) -> None:
    for prev, cue in zip([None, *cues], cues, strict=False):
        assert cue.start <= cue.end, cue
        if prev is not None:
            assert prev.start <= cue.start and prev.end <= cue.end, (prev, cue)
            assert prev.end <= cue.start, f"overlapping cues {prev} {cue}"
        if duration is not None:
            assert cue.end <= round(duration, 3) + 1e-9, (cue, duration)


def parse_srt(body: str, duration: float | None = None) -> list[Cue]:
    """Parse SubRip strictly: `N` from 1, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, text lines, one blank line after each."""
    assert "\r" not in body
    if body == "":
        return []
    assert body.endswith("\n\n"), repr(body[-20:])
    cues = []
    for n, block in enumerate(body[:-2].split("\n\n"), start=1):
        lines = block.split("\n")
        assert len(lines) >= 3, f"cue {n}: {block!r}"
        assert lines[0] == str(n), f"cue {n} is numbered {lines[0]!r}"
        timing = _SRT_TIMING.match(lines[1])
        assert timing, f"cue {n}: bad timing line {lines[1]!r}"
        cues.append(Cue(_seconds(timing.groups()[:4]), _seconds(timing.groups()[4:]), _text_lines(lines[2:], n)))
    _check_times(cues, duration)
    return cues


def parse_vtt(body: str, duration: float | None = None) -> list[Cue]:
    """Parse WebVTT strictly: the `WEBVTT` header and a blank line, then blocks that each start with a timing line
    (so no NOTE, STYLE or REGION block), text lines without a raw `<` or an unescaped `&`."""
    assert "\r" not in body and body.startswith("WEBVTT\n\n"), repr(body[:20])
    rest = body[len("WEBVTT\n\n") :]
    if rest == "":
        return []
    assert rest.endswith("\n") and not rest.endswith("\n\n"), repr(rest[-20:])
    cues = []
    for n, block in enumerate(rest[:-1].split("\n\n"), start=1):
        lines = block.split("\n")
        assert len(lines) >= 2, f"cue {n}: {block!r}"
        timing = _VTT_TIMING.match(lines[0])
        assert timing, f"block {n} does not start with a timing line: {lines[0]!r}"
        text = _text_lines(lines[1:], n)
        for line in text:
            assert "<" not in line, f"cue {n}: unescaped '<' in {line!r}"
            assert re.fullmatch(r"([^&]|&(amp|lt|gt);)*", line), f"cue {n}: unescaped '&' in {line!r}"
        cues.append(Cue(_seconds(timing.groups()[:4]), _seconds(timing.groups()[4:]), text))
    _check_times(cues, duration)
    return cues


def unescape_vtt(line: str) -> str:
    return line.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def check_timeline(items: list[dict], duration: float, what: str) -> None:
    """Words or segments: ordered by start and by end, end >= start, all inside [0, duration]."""
    for prev, item in zip([None, *items], items, strict=False):
        assert 0.0 <= item["start"] <= item["end"] <= duration, (what, item, duration)
        if prev is not None:
            assert prev["start"] <= item["start"] and prev["end"] <= item["end"], (what, prev, item)
