"""Validators for OpenAI's published component schemas (../shared/openai-spec/, beside the checkout).

The spec is JSON Schema 2020-12 inside OpenAPI 3.1, with 21 OpenAPI 3.0 `nullable: true` keywords left in: each is
rewritten here as `anyOf: [<the schema without it>, {"type": "null"}]` (a plain type union would not do where the
schema also has an `enum` that lacks null). The whole document is one `referencing` resource, so every
`#/components/schemas/X` reference resolves inside it.

`validator(name)` checks exactly the schema (formats too, where jsonschema knows them). `extra_fields(name, body)`
lists the fields of a body that the schema does not define, where it says nothing about other fields: the spec allows
them, so that is a report of extras, not a verdict of the contract.

Plain Python on purpose: the lab tests (.venv) and the gateway's unit tests (.venv-gateway) both use it; both venvs
hold jsonschema 4.26 and referencing 0.37.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = ROOT.parent / "shared" / "openai-spec"
SPEC_FILE = SPEC_DIR / "openai-openapi-subset.json"
SPEC_URI = "urn:litellm-local:openai-openapi-subset"

# Keywords whose value is one schema, a list of schemas, or a map of names to schemas (JSON Schema 2020-12).
_ONE = (
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_LIST = ("anyOf", "oneOf", "allOf", "prefixItems")
_MAP = ("properties", "patternProperties", "$defs", "dependentSchemas")


def spec_available() -> bool:
    return SPEC_FILE.is_file()


@functools.cache
def raw_spec() -> dict[str, Any]:
    """The spec as published (FileNotFoundError where it is not beside the checkout)."""
    return json.loads(SPEC_FILE.read_text())


def without_nullable(schema: Any) -> Any:
    """A copy of `schema` with every `nullable: true` turned into "or null", and its `#/...` references made
    absolute (so that any subschema validates on its own against `registry()`)."""
    if isinstance(schema, list):
        return [without_nullable(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _ONE and isinstance(value, dict):
            out[key] = without_nullable(value)
        elif key in _LIST and isinstance(value, list):
            out[key] = [without_nullable(s) for s in value]
        elif key in _MAP and isinstance(value, dict):
            out[key] = {name: without_nullable(s) for name, s in value.items()}
        elif key == "$ref" and isinstance(value, str) and value.startswith("#"):
            out[key] = SPEC_URI + value
        else:
            out[key] = copy.deepcopy(value)
    nullable = out.pop("nullable", False)
    if nullable is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def count_nullable(schema: Any) -> int:
    """How many `nullable` keywords `schema` holds."""
    if isinstance(schema, list):
        return sum(count_nullable(s) for s in schema)
    if not isinstance(schema, dict):
        return 0
    total = 0
    for key, value in schema.items():
        if key == "nullable":
            total += 1
        elif key in _ONE or key in _LIST:
            total += count_nullable(value)
        elif key in _MAP and isinstance(value, dict):
            total += sum(count_nullable(s) for s in value.values())
    return total


@functools.cache
def prepared_spec() -> dict[str, Any]:
    """The spec with its component schemas rewritten (`without_nullable`)."""
    doc = copy.deepcopy(raw_spec())
    schemas = doc["components"]["schemas"]
    doc["components"]["schemas"] = {name: without_nullable(s) for name, s in schemas.items()}
    return doc


def component(name: str) -> dict[str, Any]:
    """The rewritten component schema `name`."""
    schemas = prepared_spec()["components"]["schemas"]
    if name not in schemas:
        raise KeyError(f"the spec has no component schema {name!r}")
    return schemas[name]


@functools.cache
def registry():
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resource = Resource.from_contents(prepared_spec(), default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)


def _validator(schema: dict[str, Any]):
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)


@functools.cache
def validator(name: str):
    """A Draft 2020-12 validator of the component schema `name` (`#/components/schemas/<name>`)."""
    component(name)
    return _validator({"$ref": f"{SPEC_URI}#/components/schemas/{name}"})


def _where(path: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path) or "(the body)"


def _leaves(error) -> Iterator[Any]:
    """The innermost errors of an anyOf/oneOf failure: they name the field that is wrong."""
    if not error.context:
        yield error
        return
    for sub in error.context:
        yield from _leaves(sub)


def problems(name: str, instance: Any) -> list[str]:
    """Every way `instance` breaks schema `name`, as `<path>: <message>` lines (empty: it conforms)."""
    out: list[str] = []
    for error in sorted(validator(name).iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        line = f"{_where(error.absolute_path)}: {error.message[:300]}"
        leaves = sorted({f"{_where(e.absolute_path)}: {e.message[:200]}" for e in _leaves(error)} - {line})
        out.append(line + "".join(f"\n    (branch) {leaf}" for leaf in leaves[:6]))
    return out


def conforms(name: str, instance: Any) -> bool:
    return validator(name).is_valid(instance)


def assert_conforms(name: str, instance: Any, what: str = "") -> None:
    """AssertionError naming every departure of `instance` from schema `name`."""
    found = problems(name, instance)
    if found:
        body = json.dumps(instance)[:1500]
        raise AssertionError(f"{what or name} breaks {name}:\n  " + "\n  ".join(found) + f"\nbody: {body}")


# --- fields the schema does not define ------------------------------------------------------------------------


def _applicable(schema: Any, instance: Any) -> list[dict[str, Any]]:
    """The schemas that apply to `instance` under `schema`: itself, what its `$ref` names, every `allOf` branch and
    the first `anyOf`/`oneOf` branch the instance satisfies (none where no branch does)."""
    if not isinstance(schema, dict):
        return []
    found = [schema]
    ref = schema.get("$ref")
    if isinstance(ref, str):
        found += _applicable(registry().resolver().lookup(ref).contents, instance)
    for branch in schema.get("allOf", ()):
        found += _applicable(branch, instance)
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key, ()):
            if _validator(branch).is_valid(instance):
                found += _applicable(branch, instance)
                break
    return found


def extra_fields(name: str, instance: Any) -> set[str]:
    """The fields of `instance` that schema `name` does not define, where the schema leaves other fields open (no
    `additionalProperties`, no `patternProperties`): dotted paths, `[]` for any list index."""
    found: set[str] = set()
    _extras(component(name), instance, "", found)
    return found


def _extras(schema: Any, instance: Any, path: str, found: set[str]) -> None:
    applicable = _applicable(schema, instance)
    if isinstance(instance, dict):
        declared: dict[str, list[Any]] = {}
        for s in applicable:
            for key, sub in s.get("properties", {}).items():
                declared.setdefault(key, []).append(sub)
        open_ = not declared or any("additionalProperties" in s or "patternProperties" in s for s in applicable)
        for key, value in instance.items():
            where = f"{path}.{key}" if path else key
            if key in declared:
                for sub in declared[key]:
                    _extras(sub, value, where, found)
            elif not open_:
                found.add(where)
    elif isinstance(instance, list):
        for s in applicable:
            items = s.get("items")
            if isinstance(items, dict):
                for item in instance:
                    _extras(items, item, f"{path}[]", found)
