"""The forward pass in its own process (remote.py): the same embeddings as in the server's process, and a dead
forward process turns into 503s, a failing /health and a non-zero exit, never a hang."""

from __future__ import annotations

import pickle
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import png_data_url
from fastapi.testclient import TestClient
from litellm_local_embed import lifespan as lifespan_module
from litellm_local_embed.app import create_app
from litellm_local_embed.engine import EmbedInput, Prepared, _Tensors
from litellm_local_embed.remote import ForwardProcessGone, ProcessEngine, _from_wire, _to_wire
from test_model import embeddings, image_of


@pytest.fixture(scope="module")
def process_engine(tiny_settings):
    engine = ProcessEngine(tiny_settings)
    yield engine
    engine.close()


def test_the_child_gives_the_in_process_embeddings(process_engine, tiny_engine) -> None:
    image = image_of(png_data_url(80, 60))
    items = [
        EmbedInput(kind="text", text="a text"),
        EmbedInput(kind="tokens", token_ids=[5, 6, 7]),
        EmbedInput(
            kind="chat",
            messages=[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "its caption"}]}],
            images=[image],
            add_generation_prompt=True,
        ),
    ]
    remote = process_engine.embed([process_engine.prepare(i) for i in items])
    local = tiny_engine.embed([tiny_engine.prepare(i) for i in items])
    assert remote.shape == (3, tiny_engine.hidden_size)
    np.testing.assert_allclose(remote, local, atol=1e-6)
    assert process_engine.alive


def test_the_server_answers_through_the_child(tiny_settings, tiny_client) -> None:
    body = {"input": ["one", {"image": png_data_url(), "text": "two"}]}
    settings = tiny_settings.model_copy(update={"inference_process": True})
    with TestClient(create_app(settings)) as client:  # the default engine with EMBED_INFERENCE_PROCESS: ProcessEngine
        assert client.get("/health").status_code == 200
        np.testing.assert_allclose(embeddings(client, body), embeddings(tiny_client, body), atol=1e-6)


def test_a_dead_child_means_503_and_an_exit(tiny_settings, monkeypatch) -> None:
    stops: list[bool] = []
    monkeypatch.setattr(lifespan_module, "request_stop", lambda: stops.append(True))
    app = create_app(tiny_settings.model_copy(update={"inference_process": True}))
    with TestClient(app, raise_server_exceptions=False) as client:
        engine = app.state.engine
        assert isinstance(engine, ProcessEngine)
        engine._process.kill()
        engine._process.join(10)
        response = client.post("/v1/embeddings", json={"input": "after the crash"})
        assert response.status_code == 503, response.text
        assert "forward process" in response.json()["error"]["message"]
        assert client.get("/health").status_code == 503
        for _ in range(50):  # the watchdog looks once a second
            if stops:
                break
            time.sleep(0.1)
    assert stops == [True]
    assert app.state.exit_code == 1


def test_a_child_that_cannot_load_fails_the_start(tiny_settings, tmp_path) -> None:
    for path in Path(tiny_settings.model).iterdir():  # config and processor, no weights
        if path.is_file() and not path.name.endswith(".safetensors"):
            shutil.copy(path, tmp_path / path.name)
    broken = tiny_settings.model_copy(update={"model": str(tmp_path)})
    with pytest.raises(ForwardProcessGone, match="could not load the model"):
        ProcessEngine(broken)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_pixels_cross_the_pipe_unchanged(dtype) -> None:
    pixels = torch.randn(6, 8).to(dtype)
    grid = torch.tensor([[1, 2, 3]])
    ids = np.arange(5, dtype=np.int64)
    sent = [Prepared(5, _Tensors(ids, np.zeros(5, dtype=np.int64), pixels, grid))]
    received = _from_wire(pickle.loads(pickle.dumps(_to_wire(sent))))  # noqa: S301  # our own bytes
    assert received[0].data.pixel_values.dtype == dtype
    assert torch.equal(received[0].data.pixel_values, pixels)
    assert torch.equal(received[0].data.image_grid_thw, grid)
    assert sent[0].data.pixel_values is pixels  # the caller's batch is left as it was
