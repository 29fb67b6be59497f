"""The two embedding paths agree: the gateway's request for an item (services/gateway, embedding_request.py: vLLM's
chat form, which it sends to vLLM or to this server) and this server's multimodal form of the same item give the model
the same conversation and, through the chat template and the tokenizer, the same token ids.

Both build the conversation from one recipe (litellm_local_common.embedding_recipe); before it, the gateway ended an
instruction with a full stop unless its last character was in `string.punctuation`, this server unless it was
Unicode punctuation, so `Match~` and `Retrieve passages…` gave different tokens on the two paths. The gateway's
request builder imports no LiteLLM: its source is put on the path here (this venv does not install the gateway).

The token part needs a Qwen3-VL-Embedding checkpoint's processor: PARITY_MODEL_DIR (e.g. the real
Qwen3-VL-Embedding-2B), else the lab's tiny model (LAB_MODELS_DIR/qwen3-vl-embedding, or one under the checkout's
.lab); without one it skips, saying so. The rest needs no model.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import LAB_MODELS, REPO, png_data_url
from litellm_local_embed.engine import EmbedInput, QwenVLEmbeddingEngine
from litellm_local_embed.images import decode_data_url, decode_image
from litellm_local_embed.pipeline import Pending, to_inputs
from litellm_local_embed.schemas import EmbeddingRequest
from litellm_local_embed.settings import Settings

GATEWAY_SRC = REPO / "services" / "gateway" / "src"
if str(GATEWAY_SRC) not in sys.path:
    sys.path.insert(0, str(GATEWAY_SRC))

from litellm_local_gateway.embedding_request import chat_request  # noqa: E402

RED = png_data_url(96, 64, (220, 20, 20))
BLUE = png_data_url(40, 72, (20, 20, 220))
# (item, the request's instruction): strings, objects, instructions ending in every kind of character.
CASES: dict[str, tuple[Any, str | None]] = {
    "text": ("the quick brown fox", None),
    "text, request instruction": ("where is the invoice total", "Retrieve the relevant document"),
    "own instruction wins": ({"text": "a query", "instruction": "Find the product"}, "Ignored"),
    "ellipsis (Unicode punctuation)": ({"text": "x", "instruction": "Retrieve passages\u2026"}, None),
    "guillemet": ({"text": "x", "instruction": "Find \u00abthis\u00bb"}, None),
    "tilde (a symbol)": ({"text": "x", "instruction": "Match~"}, None),
    "plus (a symbol)": ({"text": "x", "instruction": "Score+"}, None),
    "CJK full stop": ({"text": "\u56fe\u7247", "instruction": "\u67e5\u627e\u56fe\u7247\u3002"}, None),
    "blank instruction": ({"text": "x", "instruction": "   "}, "Retrieve"),
    "padded instruction": ({"text": "x", "instruction": "  Find it!  "}, None),
    "image": ({"image": RED}, None),
    "image and text": ({"image": BLUE, "text": "a caption under it"}, "Represent the image"),
}


def settings(model: str = "fake-model") -> Settings:
    return Settings(model=model, device="cpu", dtype="float32")


def through_gateway(item: Any, instruction: str | None, s: Settings) -> tuple[dict, Pending]:
    """The gateway's backend request, and what this server makes of it (its chat form)."""
    body = chat_request(s.served_model_name, item, instruction, {})
    return body, one(to_inputs(EmbeddingRequest.model_validate(body), s))


def direct(item: Any, instruction: str | None, s: Settings) -> Pending:
    """This server's multimodal form of the same item (a string item is the gateway's {"text": ...})."""
    body = {"input": [{"text": item} if isinstance(item, str) else item], "instruction": instruction}
    return one(to_inputs(EmbeddingRequest.model_validate(body), s))


def one(pending: list[Pending]) -> Pending:
    assert len(pending) == 1
    return pending[0]


@pytest.mark.parametrize("case", list(CASES))
def test_both_paths_build_the_same_conversation(case: str) -> None:
    item, instruction = CASES[case]
    s = settings()
    body, via_gateway = through_gateway(item, instruction, s)
    ours = direct(item, instruction, s)
    assert via_gateway.item.messages == ours.item.messages
    assert via_gateway.item.kind == ours.item.kind == "chat"
    assert via_gateway.item.add_generation_prompt and ours.item.add_generation_prompt
    assert [url for url, _ in via_gateway.image_urls] == [url for url, _ in ours.image_urls]
    # What vLLM templates: the gateway's messages themselves, the image as an image_url part where we hold a
    # placeholder.
    sent = [
        {**m, "content": [{"type": "image"} if p["type"] == "image_url" else p for p in m["content"]]}
        for m in body["messages"]
    ]
    assert sent == ours.item.messages


def test_the_cases_cover_the_former_disagreement() -> None:
    """Instructions the two former rules punctuated differently are among the cases (the test would pass without
    them, hiding the bug it is for)."""
    import string
    import unicodedata

    differ = []
    for item, _ in CASES.values():
        own = item.get("instruction") if isinstance(item, dict) else None
        if own and own.strip():
            last = own.strip()[-1]
            if (last in string.punctuation + "\u3002\uff01\uff1f") != unicodedata.category(last).startswith("P"):
                differ.append(own)
    assert len(differ) >= 3, differ


def _model_dir() -> Path | None:
    named = os.environ.get("PARITY_MODEL_DIR")
    if named:
        return Path(named)
    candidates = [LAB_MODELS / "qwen3-vl-embedding"]
    lab = REPO / ".lab"
    for depth in range(4):
        candidates += sorted(lab.glob("/".join(["*"] * depth + ["qwen3-vl-embedding*"])))
    return next((c for c in candidates if (c / "config.json").is_file()), None)


@pytest.fixture(scope="module")
def processor_engine() -> QwenVLEmbeddingEngine:
    model = _model_dir()
    if model is None:
        pytest.skip(
            "no Qwen3-VL-Embedding checkpoint to tokenise with: set PARITY_MODEL_DIR, or build the lab's tiny model "
            f"({LAB_MODELS}/qwen3-vl-embedding, scripts/build_lab_models.py)"
        )
    if not (model / "config.json").is_file():
        pytest.fail(f"PARITY_MODEL_DIR={model} holds no checkpoint (no config.json)")
    return QwenVLEmbeddingEngine(settings(str(model)), load_weights=False)  # the processor only


def token_ids(engine: QwenVLEmbeddingEngine, pending: Pending, s: Settings) -> np.ndarray:
    images = [decode_image(decode_data_url(url, s, param), s, param) for url, param in pending.image_urls]
    item = EmbedInput(kind="chat", messages=pending.item.messages, images=images, add_generation_prompt=True)
    return engine.prepare(item).data.input_ids


@pytest.mark.parametrize("case", list(CASES))
def test_both_paths_give_the_model_the_same_tokens(processor_engine, case: str) -> None:
    item, instruction = CASES[case]
    s = settings(processor_engine.name)
    body, via_gateway = through_gateway(item, instruction, s)
    ours = direct(item, instruction, s)
    want = token_ids(processor_engine, ours, s)
    np.testing.assert_array_equal(token_ids(processor_engine, via_gateway, s), want)
    # vLLM applies the template to the gateway's messages as they are (image_url parts).
    processor = processor_engine.processor
    rendered = [
        processor.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
        for m in (body["messages"], ours.item.messages)
    ]
    assert rendered[0] == rendered[1]
    assert bool(item.get("image") if isinstance(item, dict) else False) == (processor_engine.image_token_id in want)
