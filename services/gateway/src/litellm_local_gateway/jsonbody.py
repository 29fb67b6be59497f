"""A request body parsed as one JSON object, in time linear in its size and bounded in nesting and containers.

`json.loads` recurses once per nesting level (RecursionError near 1000 levels) and builds every array and object
of the body; both cost CPU on the event loop. So before parsing, one pass over the bytes, done by the regex engine
and `bytes.translate` rather than a Python loop, drops string literals (unterminated ones run to the end, so the
pass never backtracks) and keeps only the brackets: their count and their deepest nesting are checked first, and
only a body within both limits is parsed. UTF-8 multi-byte sequences hold no ASCII bytes, so working on the bytes
of a valid UTF-8 body is exact. NaN and Infinity are not JSON, and a number too large for a float (`1e400`) is
refused too rather than read as infinite.
"""

from __future__ import annotations

import json
import math
import operator
import re
from itertools import accumulate, count
from typing import Any

from .settings import MAX_JSON_CONTAINERS, MAX_JSON_DEPTH

PARAM = "request_body"

_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# An opening bracket weighs 2 and a closing one 0: after k brackets, the nesting depth is (sum of weights) - k.
_WEIGHTS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


class BodyError(ValueError):
    """A body that is not one acceptable JSON object; `str()` is the client's message."""

    param = PARAM


def brackets(body: bytes) -> bytes:
    """The brackets of a JSON body outside its string literals, in order; linear time."""
    return _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)


def containers(brackets: bytes) -> int:
    """Arrays and objects opened in `brackets`."""
    return brackets.count(b"[") + brackets.count(b"{")


def depth(brackets: bytes) -> int:
    """The deepest nesting in `brackets`."""
    if not brackets:
        return 0
    return max(map(operator.sub, accumulate(brackets.translate(_WEIGHTS)), count(1)))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: valid JSON, but infinite once parsed
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def parse_object(body: bytes, max_depth: int, max_containers: int) -> dict[str, Any]:
    """The body as a dict, or BodyError saying why not."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"the request body is not UTF-8 (invalid byte at offset {exc.start}); send JSON") from None
    found = brackets(body)
    opened = containers(found)
    if opened > max_containers:  # checked first: the depth pass costs more per bracket
        raise BodyError(
            f"the request body holds {opened} JSON arrays/objects; at most {max_containers} are accepted "
            f"({MAX_JSON_CONTAINERS})"
        )
    if depth(found) > max_depth:
        raise BodyError(_too_deep(max_depth))
    try:
        parsed = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise BodyError(
            f"the request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise BodyError(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:  # not reached after the nesting check; kept so that no input can crash the guard
        raise BodyError(_too_deep(max_depth)) from None
    if not isinstance(parsed, dict):
        raise BodyError(
            f"the request body must be a JSON object, not a JSON {type(parsed).__name__}; see the OpenAI API reference"
        )
    return parsed


def _too_deep(max_depth: int) -> str:
    return f"the request body nests JSON arrays/objects deeper than {max_depth} levels ({MAX_JSON_DEPTH})"
