"""The method on the real (tiny, random-weight) Qwen3-VL checkpoint, on the CPU."""

from __future__ import annotations

import base64
import io
import unicodedata

import numpy as np
import pytest
import torch
from conftest import png_data_url
from litellm_local_embed.method import l2_normalize, matryoshka, pool_last
from litellm_local_embed.model import Qwen3VLForEmbedding
from PIL import Image
from safetensors.torch import load_file


def embeddings(client, body: dict) -> np.ndarray:
    response = client.post("/v1/embeddings", json=body)
    assert response.status_code == 200, response.text
    return np.array([d["embedding"] for d in response.json()["data"]], dtype=np.float32)


def image_of(url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def test_loaded_weights_equal_the_saved_ones(tiny_model_dir, tiny_engine) -> None:
    saved = {}
    for path in sorted(tiny_model_dir.glob("*.safetensors")):
        saved.update(load_file(path))
    loaded = tiny_engine.model.state_dict()
    assert set(saved) <= set(loaded) | {"lm_head.weight"}, set(saved) - set(loaded)
    assert any(k.startswith("model.language_model.") for k in saved)
    assert any(k.startswith("model.visual.") for k in saved)
    for name, tensor in saved.items():
        if name == "lm_head.weight":
            continue
        assert torch.equal(loaded[name].cpu(), tensor.to(loaded[name].dtype)), name
    # Every parameter of the wrapper came from the file (nothing freshly initialised).
    assert set(dict(tiny_engine.model.named_parameters())) <= set(saved)


def test_wrapper_holds_the_model_under_dot_model(tiny_engine) -> None:
    assert isinstance(tiny_engine.model, Qwen3VLForEmbedding)
    assert type(tiny_engine.model.model).__name__ == "Qwen3VLModel"


def test_pool_last_takes_the_last_non_padding_token() -> None:
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    np.testing.assert_array_equal(pool_last(hidden, mask).numpy(), hidden[[0, 1], [2, 3]].numpy())


def test_matryoshka_slices_then_renormalises() -> None:
    v = l2_normalize(torch.tensor([[3.0, 4.0, 12.0]])).numpy()[0]
    np.testing.assert_allclose(matryoshka(v, 2), [0.6, 0.8], rtol=1e-6)
    assert matryoshka(v, None) is v
    assert matryoshka(v, 3) is v


def reference(engine, items: list[dict], default: str = "Represent the user's input.") -> np.ndarray:
    """The official embedder's pipeline, written out: a batch through the processor with right padding."""
    conversations, images = [], []
    for item in items:
        content = []
        if item.get("image"):
            content.append({"type": "image"})
            images.append(image_of(item["image"]))
        if item.get("text"):
            content.append({"type": "text", "text": item["text"]})
        instruction = (item.get("instruction") or default).strip()  # the official rule, written out too
        if not unicodedata.category(instruction[-1]).startswith("P"):
            instruction += "."
        conversations.append(
            [
                {"role": "system", "content": [{"type": "text", "text": instruction}]},
                {"role": "user", "content": content},
            ]
        )
    processor = engine.processor
    text = processor.apply_chat_template(conversations, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=text, images=images or None, padding=True, return_tensors="pt")
    assert processor.tokenizer.padding_side == "right"
    with torch.no_grad():
        hidden = engine.model.model(**inputs).last_hidden_state
    return torch.nn.functional.normalize(pool_last(hidden, inputs["attention_mask"]), dim=-1).numpy()


def test_embeddings_follow_the_official_method(tiny_client, tiny_engine) -> None:
    red, blue = png_data_url(96, 64, (220, 20, 20)), png_data_url(48, 80, (20, 20, 220))
    items = [
        {"text": "the quick brown fox"},
        {"image": red},
        {"image": blue, "text": "a blue image"},
        {"text": "an invoice total", "instruction": "Retrieve the document"},
    ]
    got = embeddings(tiny_client, {"input": items})
    want = reference(tiny_engine, items)
    assert got.shape == (4, tiny_engine.hidden_size)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_batched_equals_one_at_a_time(tiny_client) -> None:
    items = [{"text": "hello world"}, {"image": png_data_url(70, 50)}, {"text": "one two three four five six"}]
    together = embeddings(tiny_client, {"input": items})
    alone = np.concatenate([embeddings(tiny_client, {"input": [item]}) for item in items])
    np.testing.assert_allclose(together, alone, atol=2e-5)


def test_chat_form_equals_multimodal_form(tiny_client) -> None:
    image = png_data_url(64, 64, (10, 200, 10))
    chat = {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Represent the user's input."}]},
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": image}}, {"type": "text", "text": "green"}],
            },
        ],
        "add_generation_prompt": True,
    }
    np.testing.assert_allclose(
        embeddings(tiny_client, chat),
        embeddings(tiny_client, {"input": [{"image": image, "text": "green"}]}),
        atol=1e-6,
    )


def test_instruction_changes_the_embedding(tiny_client) -> None:
    a = embeddings(tiny_client, {"input": [{"text": "hello"}]})
    b = embeddings(tiny_client, {"input": [{"text": "hello"}], "instruction": "Find the answer"})
    c = embeddings(tiny_client, {"input": [{"text": "hello", "instruction": "Find the answer."}]})
    assert not np.allclose(a, b)
    np.testing.assert_allclose(b, c, atol=1e-6)  # punctuation added when missing


def test_plain_text_and_its_token_ids_agree(tiny_client, tiny_engine) -> None:
    ids = tiny_engine.processor.tokenizer("the lazy dog")["input_ids"]
    np.testing.assert_allclose(
        embeddings(tiny_client, {"input": "the lazy dog"}), embeddings(tiny_client, {"input": ids}), atol=1e-6
    )


def test_dimensions_on_the_real_model(tiny_client) -> None:
    full = embeddings(tiny_client, {"input": ["hello world"]})[0]
    cut = embeddings(tiny_client, {"input": ["hello world"], "dimensions": 16})[0]
    np.testing.assert_allclose(cut, full[:16] / np.linalg.norm(full[:16]), atol=1e-6)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"input": [0, 100000]}, "token ids must lie in"),
        ({"input": [-1]}, "token ids must lie in"),
        ({"input": "<|image_pad|>"}, "image placeholder token"),
        ({"input": [{"text": "see <|image_pad|>", "image": png_data_url()}]}, "image placeholder token"),
        ({"input": "<|video_pad|>"}, "video"),
        ({"input": [[1] * 5000]}, "limit of 4096"),
    ],
)
def test_bad_inputs_on_the_real_model(tiny_client, tiny_engine, body, fragment) -> None:
    response = tiny_client.post("/v1/embeddings", json=body)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]["message"]


def test_eager_attention_and_float32_agree_with_sdpa(tiny_model_dir, tiny_engine) -> None:
    from litellm_local_embed.engine import EmbedInput, QwenVLEmbeddingEngine
    from litellm_local_embed.settings import Settings

    eager = QwenVLEmbeddingEngine(Settings(model=str(tiny_model_dir), device="cpu", attention="eager"))
    item = EmbedInput(kind="text", text="compare attention kernels")
    np.testing.assert_allclose(
        eager.embed([eager.prepare(item)]), tiny_engine.embed([tiny_engine.prepare(item)]), atol=1e-5
    )
