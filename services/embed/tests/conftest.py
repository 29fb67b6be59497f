"""Fixtures: a fake engine behind the engine interface, and the lab's tiny Qwen3-VL-Embedding checkpoint."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from litellm_local_embed.app import create_app
from litellm_local_embed.engine import EmbedInput, Prepared
from litellm_local_embed.errors import InputError
from litellm_local_embed.settings import Settings
from PIL import Image

REPO = Path(__file__).resolve().parents[3]
LAB_MODELS = Path(os.environ.get("LAB_MODELS_DIR", "/var/cache/litellm-local-lab/models"))


def png_data_url(width: int = 64, height: int = 48, color=(200, 30, 30), fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


class FakeEngine:
    """Deterministic vectors from the input's content; records every input and batch; can be slowed or gated."""

    name = "fake-model"
    hidden_size = 32
    max_model_len = 4096

    def __init__(self, settings: Settings | None = None) -> None:
        self.inputs: list[EmbedInput] = []
        self.batches: list[int] = []
        self.batch_widths: list[int] = []
        self.delay_s = 0.0
        self.gate: threading.Event | None = None
        self.lock = threading.Lock()

    def prepare(self, item: EmbedInput) -> Prepared:
        with self.lock:
            self.inputs.append(item)
        if item.kind == "tokens":
            key, n = repr(item.token_ids), len(item.token_ids or [])
        elif item.kind == "text":
            key, n = item.text or "", len((item.text or "").split())
        else:
            sizes = [im.size for im in item.images]
            key = repr((item.messages, sizes))
            n = sum(len(str(p.get("text", "")).split()) + 1 for m in item.messages or [] for p in m["content"])
            n += sum(w * h // 1024 + 1 for w, h in sizes)
        if "stopiter" in key:
            raise StopIteration("an iterator ran dry inside the processor")
        if "explode" in key:
            raise InputError("the fake engine refuses this input")
        return Prepared(n_tokens=max(n, 1), data=key)

    def embed(self, batch: list[Prepared]) -> np.ndarray:
        if self.gate is not None:
            self.gate.wait(10)
        if self.delay_s:
            time.sleep(self.delay_s)
        with self.lock:
            self.batches.append(len(batch))
            self.batch_widths.append(max(p.n_tokens for p in batch))
        if any("stopforward" in p.data for p in batch):
            raise StopIteration("an iterator ran dry inside the model")
        if any("boom" in p.data for p in batch):
            raise RuntimeError("the fake engine failed")
        rows = []
        for p in batch:
            seed = int.from_bytes(hashlib.sha256(p.data.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.hidden_size).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.stack(rows)


@pytest.fixture
def make_client():
    """make_client(**settings) -> (TestClient, FakeEngine); the lifespan runs inside the `with`."""
    clients = []

    def factory(**overrides):
        engine = FakeEngine()
        settings = Settings(model="fake-model", **overrides)
        client = TestClient(create_app(settings, engine_factory=lambda _: engine), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client, engine

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()[0]


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_lab_models", REPO / "scripts" / "build_lab_models.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_lab_models"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The lab's tiny Qwen3-VL-Embedding (built by scripts/deploy), or one built here with the same recipe."""
    built = LAB_MODELS / "qwen3-vl-embedding"
    if (built / "config.json").is_file():
        return built
    out = tmp_path_factory.mktemp("models")
    return _load_builder().build("qwen3-vl-embedding", out)


@pytest.fixture(scope="session")
def tiny_settings(tiny_model_dir) -> Settings:
    return Settings(model=str(tiny_model_dir), device="cpu", dtype="float32", batch_wait_ms=2)


@pytest.fixture(scope="session")
def tiny_engine(tiny_settings):
    from litellm_local_embed.engine import QwenVLEmbeddingEngine

    return QwenVLEmbeddingEngine(tiny_settings)


@pytest.fixture(scope="session")
def tiny_client(tiny_settings, tiny_engine):
    with TestClient(create_app(tiny_settings, engine_factory=lambda _: tiny_engine)) as client:
        yield client
