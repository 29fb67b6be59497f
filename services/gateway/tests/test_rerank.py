"""The rerank alias's request checks and answer fixes (rerank.py)."""

from __future__ import annotations

import pytest
from litellm_local_gateway.rerank import check_rerank, fix_answer
from litellm_local_gateway.settings import GatewaySettings

PNG = "data:image/png;base64,iVBORw0KGgo="
SETTINGS = GatewaySettings()


def body(**kw) -> dict:
    return {
        "model": "rerank",
        "query": "a cat",
        "documents": ["a cat", {"content": [{"type": "image_url", "image_url": {"url": PNG}}]}],
        **kw,
    }


def test_a_good_request_passes() -> None:
    assert check_rerank(body(top_n=1, return_documents=False, instruction="find"), SETTINGS) is None


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"query": {"content": []}}, "query"),
        ({"query": ""}, "query"),
        ({"documents": "text"}, "documents"),
        ({"documents": []}, "documents"),
        ({"documents": ["x"] * 257}, "documents"),
        ({"top_n": "2"}, "top_n"),
        ({"top_n": 0}, "top_n"),
        ({"top_n": True}, "top_n"),
        ({"return_documents": "no"}, "return_documents"),
        ({"instruction": 3}, "instruction"),
        ({"documents": [3]}, "documents[0]"),
        ({"documents": [{"content": [{"type": "video"}]}]}, "documents[0].content[0].type"),
        (
            {"documents": [{"content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]}]},
            "documents[0].content[0].image_url.url",
        ),
        (
            {"documents": [{"content": [{"type": "image_url", "image_url": {"url": "data:,hello"}}]}]},
            "documents[0].content[0].image_url.url",
        ),
        (
            {"documents": [{"content": [{"type": "image_url", "image_url": {"url": "data:text/plain;base64,aGk="}}]}]},
            "documents[0].content[0].image_url.url",
        ),
        (
            {"documents": [{"content": [{"type": "image_url", "image_url": {"url": "http://10.0.0.1/x.png"}}]}]},
            "documents[0].content[0].image_url.url",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field(change: dict, param: str) -> None:
    refusal = check_rerank(body(**change), SETTINGS)
    assert refusal is not None and refusal.param == param and refusal.status == 400, refusal


def test_answer_keeps_text_documents_only_when_asked() -> None:
    request = body()
    answer = {
        "results": [
            {"index": 1, "relevance_score": 0.6, "document": {"text": "None"}},
            {"index": 0, "relevance_score": 0.5, "document": {"text": "a cat"}},
        ]
    }
    fixed = fix_answer(request, answer)
    assert "document" not in fixed["results"][0] and fixed["results"][1]["document"] == {"text": "a cat"}
    fixed = fix_answer(
        body(return_documents=False), {"results": [{"index": 0, "relevance_score": 0.5, "document": {"text": "a cat"}}]}
    )
    assert "document" not in fixed["results"][0]


def test_the_answer_on_the_wire_is_rewritten() -> None:
    import asyncio
    import json

    from litellm_local_gateway.rerank import rewrite_answer

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    answer = json.dumps({"results": [{"index": 1, "relevance_score": 0.6, "document": {"text": "None"}}]}).encode()

    async def run() -> None:
        wrapped = rewrite_answer(send, body())
        await wrapped({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"99")]})
        await wrapped({"type": "http.response.body", "body": answer[:10], "more_body": True})
        await wrapped({"type": "http.response.body", "body": answer[10:]})

    asyncio.run(run())
    start, body_message = sent
    out = json.loads(body_message["body"])
    assert out == {"results": [{"index": 1, "relevance_score": 0.6}]}
    assert dict(start["headers"])[b"content-length"] == str(len(body_message["body"])).encode()
