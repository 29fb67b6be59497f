"""Fixtures of the API tests: the official openai client on the lab gateway, test images."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess

import openai
import pytest

from tests.conftest import gateway_env


@pytest.fixture(scope="module")
def client() -> openai.OpenAI:
    env = gateway_env()
    return openai.OpenAI(base_url=env["OPENAI_BASE_URL"], api_key=env["OPENAI_API_KEY"], timeout=120, max_retries=0)


def png_data_url(width: int = 96, height: int = 64) -> str:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).text((4, 20), "litellm", fill="black")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> bytes:
    """A short WAV of speech made by espeak-ng on the control node."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.fail("espeak-ng is missing on the control node: scripts/deploy installs it")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run([exe, "-w", str(path), "Hello world. The gateway returns word timestamps."], check=True)
    return path.read_bytes()
