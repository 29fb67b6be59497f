"""The `rerank` alias through the gateway (issue 14): Qwen3-VL-Reranker on vLLM, LiteLLM's Cohere-style /v1/rerank.

A request is `{"model": "rerank", "query": str, "documents": [str | {"content": [parts]}], "top_n"?,
"return_documents"?, "instruction"?}`, a document's parts being chat content parts (`text`, `image_url` with a data:
URL). The answer is `{"id", "results": [{"index", "relevance_score", "document"?}], "meta"}`, best first, each
score in (0, 1). Raw HTTP (urllib) on purpose: the openai client has no rerank call, and the bytes are what a client
gets. Bad input is a 4xx in OpenAI's error shape, never a 5xx.
"""

from __future__ import annotations

import base64
import functools
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.api import openai_schema
from tests.api.conftest import png_data_url
from tests.conftest import gateway_base, gateway_env, lab_ca

pytestmark = pytest.mark.lab

MODEL = "rerank"
TIMEOUT = 180
QUERY = "the quick brown fox"
TEXTS = ["the quick brown fox jumps over the lazy dog", "an invoice total amount and date", "hello world", "zero"]
CORRUPT_PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nnot really a png").decode()
HUGE = "word " * 200_000


def image_document(url: str | None = None, caption: str | None = None) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": url or png_data_url(256, 256)}}]
    if caption is not None:
        parts.append({"type": "text", "text": caption})
    return {"content": parts}


@functools.cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=lab_ca())


def post(body: Any, *, raw_body: bytes | None = None) -> tuple[int, Any]:
    """POST /v1/rerank on the gateway (its TLS edge) with the lab key: (status, parsed JSON body); never raises for
    an HTTP status. gateway_env() skips the test when no lab is deployed (unless LITELLM_LOCAL_REQUIRE_LAB is set)."""
    key = gateway_env()["OPENAI_API_KEY"]
    data = raw_body if raw_body is not None else json.dumps(body).encode()
    request = urllib.request.Request(
        gateway_base() + "/v1/rerank",
        data=data,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        method="POST",
    )
    context = _tls() if request.full_url.startswith("https:") else None
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT, context=context)
    except urllib.error.HTTPError as exc:
        response = exc
    with response:
        raw = response.read()
        status = response.status
    try:
        return status, json.loads(raw)
    except ValueError:
        raise AssertionError(f"/v1/rerank {status}: not JSON: {raw[:300]!r}") from None


def rerank(documents: list[Any], query: Any = QUERY, **extra: Any) -> dict[str, Any]:
    """A rerank that must succeed; its answer, checked for the shape every answer has."""
    status, answer = post({"model": MODEL, "query": query, "documents": documents, **extra})
    assert status == 200, f"/v1/rerank {status}: {str(answer)[:500]}"
    results = answer.get("results")
    assert isinstance(results, list), answer
    for result in results:
        assert isinstance(result.get("index"), int) and 0 <= result["index"] < len(documents), result
        score = result.get("relevance_score")
        assert isinstance(score, float) and 0.0 < score < 1.0, result  # sigmoid of the yes-no logit
    assert len({r["index"] for r in results}) == len(results), f"an index given twice: {results}"
    scores = [r["relevance_score"] for r in results]
    assert scores == sorted(scores, reverse=True), f"not best first: {scores}"
    return answer


def assert_openai_error(status: int, body: Any, what: str) -> None:
    assert 400 <= status < 500, f"{what}: {status} {str(body)[:300]}"
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"], (
        f"{what}: not an OpenAI error body: {str(body)[:300]}"
    )
    if openai_schema.spec_available():
        problems = [e.message for e in openai_schema.validator("ErrorResponse").iter_errors(body)]
        assert not problems, f"{what}: {problems} in {str(body)[:300]}"


def test_results_are_every_document_best_first() -> None:
    answer = rerank(TEXTS)
    results = answer["results"]
    assert sorted(r["index"] for r in results) == list(range(len(TEXTS)))
    for result in results:  # return_documents defaults to true: each result echoes its document
        assert result["document"] == {"text": TEXTS[result["index"]]}, result
    assert len({r["relevance_score"] for r in results}) > 1, "every document scored the same"
    tokens = (answer.get("meta") or {}).get("billed_units", {}).get("total_tokens")
    assert isinstance(tokens, int) and tokens > 0, answer.get("meta")


def test_each_pair_is_scored_on_its_own() -> None:
    """A cross-encoder: a document's score does not depend on the other documents of the request."""
    together = {r["index"]: r["relevance_score"] for r in rerank(TEXTS)["results"]}
    for i, text in enumerate(TEXTS[:2]):
        alone = rerank([text])["results"][0]["relevance_score"]
        assert alone == pytest.approx(together[i], abs=1e-3)


def test_top_n_keeps_the_best() -> None:
    full = rerank(TEXTS)["results"]
    top = rerank(TEXTS, top_n=2)["results"]
    assert [r["index"] for r in top] == [r["index"] for r in full[:2]]
    assert [r["relevance_score"] for r in top] == pytest.approx([r["relevance_score"] for r in full[:2]], abs=1e-3)
    assert len(rerank(TEXTS, top_n=1)["results"]) == 1


@pytest.mark.parametrize("top_n", [len(TEXTS), 1000])
def test_top_n_at_or_past_the_count_gives_all(top_n: int) -> None:
    """top_n at or above the number of documents returns every document, not an error."""
    assert len(rerank(TEXTS, top_n=top_n)["results"]) == len(TEXTS)


def test_return_documents_false_leaves_them_out() -> None:
    results = rerank(TEXTS, return_documents=False)["results"]
    assert len(results) == len(TEXTS)
    assert all("document" not in r for r in results), results


def test_instruction_changes_the_scores() -> None:
    """`instruction` reaches the reranker's prompt (the score template's <Instruct>)."""
    plain = {r["index"]: r["relevance_score"] for r in rerank(TEXTS[:2])["results"]}
    told = {r["index"]: r["relevance_score"] for r in rerank(TEXTS[:2], instruction="Find invoices.")["results"]}
    assert plain != told


def test_image_documents() -> None:
    """Images and image+text documents are ranked with text ones; the image's tokens reach the model."""
    documents = [TEXTS[0], image_document(), image_document(caption="a white square with text"), TEXTS[2]]
    results = rerank(documents)["results"]
    assert sorted(r["index"] for r in results) == [0, 1, 2, 3]
    scores = {r["index"]: r["relevance_score"] for r in results}
    assert scores[1] != scores[2], "the caption changed nothing"
    for result in results:
        document = result.get("document")
        if result["index"] in (0, 3):
            assert document == {"text": documents[result["index"]]}, result
        else:  # no text of its own: no made-up text ("None") in its place
            assert document is None or document.get("text") in (None, "", "a white square with text"), result
    image_tokens = rerank([image_document()])["meta"]["billed_units"]["total_tokens"]
    text_tokens = rerank(["a"])["meta"]["billed_units"]["total_tokens"]
    assert image_tokens > text_tokens + 16, (image_tokens, text_tokens)  # a 256x256 image is 64 vision tokens


def test_image_scores_are_stable() -> None:
    document = image_document(caption="a caption")
    first = rerank([document, TEXTS[0]])["results"]
    second = rerank([document, TEXTS[0]])["results"]
    assert {r["index"]: r["relevance_score"] for r in first} == pytest.approx(
        {r["index"]: r["relevance_score"] for r in second}, abs=1e-4
    )


def _three_images() -> dict[str, Any]:
    image = {"type": "image_url", "image_url": {"url": png_data_url(64, 64)}}
    return {"content": [image, image, image]}


# (case, body): each must be a 4xx in OpenAI's error shape. "M" stands for the alias.
BAD = [
    ("broken-json", b'{"model": "M", "query": "q", "documents": ['),
    ("missing-query", {"model": "M", "documents": ["a"]}),
    ("missing-documents", {"model": "M", "query": "q"}),
    ("empty-documents", {"model": "M", "query": "q", "documents": []}),
    ("query-a-number", {"model": "M", "query": 5, "documents": ["a"]}),
    ("documents-an-object", {"model": "M", "query": "q", "documents": {"a": 1}}),
    ("document-without-content", {"model": "M", "query": "q", "documents": [{"text": "a"}]}),
    ("unknown-part-type", {"model": "M", "query": "q", "documents": [{"content": [{"type": "bogus"}]}]}),
    ("top-n-negative", {"model": "M", "query": "q", "documents": ["a"], "top_n": -1}),
    ("top-n-zero", {"model": "M", "query": "q", "documents": ["a"], "top_n": 0}),
    ("top-n-a-string", {"model": "M", "query": "q", "documents": ["a"], "top_n": "two"}),
    ("huge-document", {"model": "M", "query": "q", "documents": [HUGE]}),
    ("corrupt-image", {"model": "M", "query": "q", "documents": [image_document(CORRUPT_PNG)]}),
    (
        "non-image-data-url",
        {"model": "M", "query": "q", "documents": [image_document("data:text/plain;base64,aGVsbG8=")]},
    ),
    ("data-url-not-base64", {"model": "M", "query": "q", "documents": [image_document("data:,hello")]}),
    ("image-by-url", {"model": "M", "query": "q", "documents": [image_document("http://10.77.0.1:9/x.png")]}),
    ("image-file-url", {"model": "M", "query": "q", "documents": [image_document("file:///etc/passwd")]}),
    ("too-many-images", {"model": "M", "query": "q", "documents": [_three_images()]}),
    ("unknown-model", {"model": "no-such-model", "query": "q", "documents": ["a"]}),
]


@pytest.mark.parametrize(("name", "body"), BAD, ids=[name for name, _ in BAD])
def test_bad_input_is_a_4xx_with_an_openai_error(name: str, body: Any) -> None:
    if isinstance(body, bytes):
        status, answer = post(None, raw_body=body.replace(b'"M"', json.dumps(MODEL).encode()))
    else:
        status, answer = post({**body, "model": MODEL if body.get("model") == "M" else body.get("model")})
    assert_openai_error(status, answer, name)


# Requests a client may mean (vLLM takes them), which the gateway may serve or refuse, but never with a 5xx.
SERVE_OR_REFUSE = [
    ("query-an-image", {"model": "M", "query": image_document(), "documents": ["a", "b"]}),
    ("documents-a-string", {"model": "M", "query": "q", "documents": "a"}),
    ("empty-query", {"model": "M", "query": "", "documents": ["a"]}),
]


@pytest.mark.parametrize(("name", "body"), SERVE_OR_REFUSE, ids=[name for name, _ in SERVE_OR_REFUSE])
def test_served_or_refused_never_a_5xx(name: str, body: Any) -> None:
    status, answer = post({**body, "model": MODEL})
    if status != 200:
        assert_openai_error(status, answer, name)
    else:
        assert isinstance(answer.get("results"), list), answer
