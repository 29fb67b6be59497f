"""tests/api/openai_schema.py, the validators of OpenAI's response schemas that the lab contract tests use."""

from __future__ import annotations

import os

import pytest

from tests.api import openai_schema

if not openai_schema.spec_available():
    if os.environ.get("CI") or os.environ.get("LITELLM_LOCAL_REQUIRE_SPEC"):
        raise FileNotFoundError(f"OpenAI's spec is missing: {openai_schema.SPEC_FILE}")
    pytest.skip(f"OpenAI's spec is not beside the checkout ({openai_schema.SPEC_FILE})", allow_module_level=True)

jsonschema = pytest.importorskip("jsonschema")

SCHEMAS = openai_schema.raw_spec()["components"]["schemas"]
CHUNK = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def test_every_nullable_becomes_or_null() -> None:
    assert openai_schema.count_nullable(list(SCHEMAS.values())) == 21  # as the spec's README says
    assert openai_schema.count_nullable(list(openai_schema.prepared_spec()["components"]["schemas"].values())) == 0


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_component_schema_is_valid_and_its_refs_resolve(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(openai_schema.component(name))
    openai_schema.validator(name).is_valid({})  # resolves every $ref it meets on the way


def test_nullable_with_an_enum_admits_null_and_only_the_enum() -> None:
    choice = {"index": 0, "delta": {}, "finish_reason": None}
    assert openai_schema.conforms("CreateChatCompletionStreamResponse", {**CHUNK, "choices": [choice]})
    bad = {**choice, "finish_reason": "done"}
    assert not openai_schema.conforms("CreateChatCompletionStreamResponse", {**CHUNK, "choices": [bad]})
    missing = {"index": 0, "delta": {}}
    found = openai_schema.problems("CreateChatCompletionStreamResponse", {**CHUNK, "choices": [missing]})
    assert found == [".choices[0]: 'finish_reason' is a required property"]


def test_a_nullable_ref_admits_null() -> None:
    choice = {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert openai_schema.conforms("CreateChatCompletionStreamResponse", {**CHUNK, "choices": [choice], "usage": None})


def test_extra_fields_follow_the_branch_that_matches() -> None:
    body = {"text": "a", "usage": {"type": "duration", "seconds": 1, "z": 2}, "x": 1}
    assert openai_schema.extra_fields("CreateTranscriptionResponseJson", body) == {"usage.z", "x"}
    models = {"object": "list", "data": [{"id": "a", "object": "model", "created": 1, "owned_by": "o", "root": "r"}]}
    assert openai_schema.extra_fields("ListModelsResponse", models) == {"data[].root"}
    error = {"error": {"message": "m", "type": "t", "param": None, "code": "c"}}
    assert openai_schema.extra_fields("ErrorResponse", error) == set()
    assert openai_schema.extra_fields("CreateChatCompletionResponse", {"metadata": {"any": "key"}}) == set()
