"""Truncated, corrupt, garbage and empty uploads are a 400 (never a 500, never a partial transcript); an upload over
ASR_MAX_UPLOAD_BYTES is a 413 in OpenAI's error shape, with a Content-Length or streamed without one (also through the
real Gunicorn server)."""

from __future__ import annotations

import http.client
import io
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import encode, post, tone
from litellm_local_asr import audio
from litellm_local_asr.errors import APIError
from strict import validate
from werkzeug.test import EnvironBuilder, run_wsgi_app

HERE = Path(__file__).resolve().parent

# name -> (PyAV muxer, encoder, channels, file name)
FILES = {
    "wav": ("wav", "pcm_s16le", 1, "a.wav"),
    "flac": ("flac", "flac", 1, "a.flac"),
    "mp3": ("mp3", "libmp3lame", 1, "a.mp3"),
    "mpga-layer2": ("mp2", "mp2", 1, "a.mpga"),
    "ogg-opus": ("ogg", "libopus", 1, "a.ogg"),
    "ogg-vorbis": ("ogg", "vorbis", 2, "a.ogg"),
    "m4a": ("ipod", "aac", 1, "a.m4a"),
    "mp4": ("mp4", "aac", 1, "a.mp4"),
    "webm": ("webm", "libopus", 1, "a.webm"),
    "mpeg": ("mpeg", "mp2", 1, "a.mpeg"),
}
_cache: dict[str, bytes] = {}


def sample(name: str) -> bytes:
    if name not in _cache:
        muxer, codec, channels, _ = FILES[name]
        _cache[name] = encode(tone(3.0), 16000, muxer, channels=channels, codec=codec)
    return _cache[name]


def _refused(client, data: bytes, filename: str, codes: set[str]) -> dict:
    r = post(client, data, filename=filename, response_format="verbose_json")
    assert r.status_code == 400, (r.status_code, r.get_data(as_text=True)[:300])
    validate(r.json, "ErrorResponse")
    err = r.json["error"]
    assert err["param"] == "file" and err["type"] == "invalid_request_error" and err["code"] in codes, err
    assert filename in err["message"]
    return err


def test_complete_files_still_decode_whole(client) -> None:
    for name, (_, _, _, filename) in FILES.items():
        r = post(client, sample(name), filename=filename, response_format="verbose_json")
        assert r.status_code == 200, (name, r.json)
        assert abs(r.json["duration"] - 3.0) < 0.1, (name, r.json["duration"])


@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.37, 0.5, 0.81, 0.97])
def test_a_truncated_wav_is_a_400(client, fraction) -> None:
    """The header's data chunk claims 3 s; the file holds less."""
    data = sample("wav")
    err = _refused(client, data[: int(len(data) * fraction)], "cut.wav", {"truncated_audio"})
    assert "data chunk declares" in err["message"]


def test_a_wav_whose_header_claims_more_than_it_holds_is_a_400(client) -> None:
    data = bytearray(sample("wav"))
    pos = data.index(b"data")
    struct.pack_into("<I", data, pos + 4, struct.unpack_from("<I", data, pos + 4)[0] * 2)
    _refused(client, bytes(data), "long-header.wav", {"truncated_audio"})


def test_streamed_wav_sizes_are_not_truncation(client) -> None:
    """A streaming writer's placeholder sizes (0xFFFFFFFF, 0) are no claim: the audio is what there is."""
    for size in (0xFFFFFFFF, 0x7FFFF000):
        data = bytearray(sample("wav"))
        pos = data.index(b"data")
        struct.pack_into("<I", data, pos + 4, size)
        struct.pack_into("<I", data, 4, size)
        r = post(client, bytes(data), response_format="verbose_json")
        assert r.status_code == 200 and abs(r.json["duration"] - 3.0) < 0.01, r.json


@pytest.mark.parametrize("name", sorted(set(FILES) - {"wav"}))
@pytest.mark.parametrize("fraction", [0.03, 0.3, 0.55, 0.9, 0.99])
def test_truncated_files_of_every_container_are_a_400(client, name, fraction) -> None:
    data = sample(name)
    cut = int(len(data) * fraction)
    if name == "mpeg" and cut % 2048 == 0:  # PyAV's program stream is 2048-byte packs: a cut between them is no cut
        cut -= 7
    _refused(client, data[:cut], FILES[name][3], {"truncated_audio", "invalid_audio", "empty_audio"})


@pytest.mark.parametrize("seed", range(8))
def test_garbage_bytes_are_a_400(client, seed) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, int(rng.choice([1, 3, 64, 4096, 200_000])), dtype=np.uint8).tobytes()
    prefix = [b"", b"RIFF\xff\xff\xff\xffWAVE", b"OggS", b"fLaC", b"ID3\x04\x00\x00\x00\x00\x00\x00", b"\x1aE\xdf\xa3"]
    _refused(client, prefix[seed % len(prefix)] + data, "junk.bin", {"invalid_audio", "unsupported_format"})


def test_zero_length_and_header_only_files_are_a_400(client) -> None:
    _refused(client, b"", "empty.wav", {"empty_file"})
    data = sample("wav")
    header_only = data[: data.index(b"data") + 8]  # every chunk up to the data chunk's header, no sample
    _refused(client, header_only, "header.wav", {"truncated_audio", "empty_audio"})


@pytest.mark.parametrize("name", sorted(FILES))
def test_mutated_files_are_a_200_or_a_400_never_an_error(name) -> None:
    """Bit flips, cut-out and repeated byte ranges: decode answers with audio or an APIError(400), nothing else."""
    rng = random.Random(name)  # noqa: S311  (seeded: the same cases every run)
    original = sample(name)
    outcomes = set()
    for _ in range(40):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            kind = rng.choice(["flip", "cut", "repeat", "zero"])
            i = rng.randrange(len(data))
            j = min(len(data), i + rng.randint(1, 512))
            if kind == "flip":
                data[i] ^= 1 << rng.randrange(8)
            elif kind == "cut":
                del data[i:j]
            elif kind == "repeat":
                data[i:i] = data[i:j]
            else:
                data[i:j] = bytes(j - i)
        try:
            samples = audio.decode(bytes(data), 30.0, "mutated", timeout_s=5.0)
        except APIError as exc:
            assert exc.status == 400 and exc.param == "file", exc.message
            outcomes.add(exc.code)
        else:
            assert samples.dtype == np.float32 and samples.size > 0 and np.all(np.abs(samples) <= 1.0)
            outcomes.add("ok")
    assert outcomes


# --- 413 ------------------------------------------------------------------------------------------------------------


def _multipart(payload: bytes) -> tuple[bytes, str]:
    env = EnvironBuilder(method="POST", data={"file": (io.BytesIO(payload), "a.wav"), "model": "asr"}).get_environ()
    return env["wsgi.input"].read(), env["CONTENT_TYPE"]


def _without_content_length(app, body: bytes, content_type: str):
    """Call the app as Gunicorn does for a chunked upload: no CONTENT_LENGTH, wsgi.input_terminated set."""
    env = EnvironBuilder(method="POST", path="/v1/audio/transcriptions", input_stream=io.BytesIO(body)).get_environ()
    env.pop("CONTENT_LENGTH", None)
    env["CONTENT_TYPE"] = content_type
    env["HTTP_TRANSFER_ENCODING"] = "chunked"
    env["wsgi.input_terminated"] = True
    app_iter, status, headers = run_wsgi_app(app, env, buffered=True)
    return int(status.split()[0]), dict(headers), b"".join(app_iter)


def test_an_oversized_upload_is_a_413_in_openais_shape(client) -> None:
    r = post(client, b"\0" * 1_200_000)
    assert r.status_code == 413 and r.mimetype == "application/json"
    validate(r.json, "ErrorResponse")
    assert r.json["error"]["code"] in ("request_too_large", "file_too_large")
    assert r.json["error"]["type"] == "invalid_request_error"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'asr_requests_total{response_format="json",status="413"} 1.0' in metrics


def test_an_oversized_upload_without_content_length_is_a_413_in_openais_shape(client) -> None:
    status, headers, body = _without_content_length(client.application, *_multipart(b"\0" * 1_200_000))
    assert status == 413 and headers["Content-Type"] == "application/json", body[:200]
    validate(json.loads(body), "ErrorResponse")
    assert b"<html" not in body.lower() and b"1 MB" in body
    # an upload within the limit, also without Content-Length, is transcribed
    status, _, body = _without_content_length(client.application, *_multipart(encode(tone(1.0), 16000)))
    assert status == 200, body[:300]
    validate(json.loads(body), "CreateTranscriptionResponseJson")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gunicorn_server(tmp_path_factory):
    """The production server (gunicorn_conf.py, gthread) on the fake engine, ASR_MAX_UPLOAD_BYTES=1000000."""
    port = _free_port()
    src = HERE.parent / "src"
    env = {
        **os.environ,
        "ASR_HOST": "127.0.0.1",
        "ASR_PORT": str(port),
        "ASR_MAX_UPLOAD_BYTES": "1000000",
        "ASR_THREADS": "4",
        "ASR_MAX_AUDIO_SECONDS": "30",
        "PYTHONPATH": os.pathsep.join([str(src), str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    log = tmp_path_factory.mktemp("gunicorn") / "server.log"
    out = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:litellm_local_asr.gunicorn_conf", "fake_app:create()"],
        env=env,
        cwd=HERE,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out.close()
            pytest.fail(f"gunicorn did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    yield port
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    out.close()


def _upload(port: int, payload: bytes, chunked: bool) -> tuple[int, str, bytes]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nasr\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.putrequest("POST", "/v1/audio/transcriptions")
    c.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    if chunked:
        c.putheader("Transfer-Encoding", "chunked")
    else:
        c.putheader("Content-Length", str(len(body)))
    c.endheaders()
    try:
        for i in range(0, len(body), 65536):
            piece = body[i : i + 65536]
            c.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            c.send(b"0\r\n\r\n")
    except OSError:
        pass  # the server answered and closed before the whole upload was sent
    r = c.getresponse()
    out = r.status, r.getheader("Content-Type") or "", r.read()
    c.close()
    return out


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("size", [1_200_000, 8_000_000])
def test_gunicorn_answers_an_oversized_upload_with_a_json_413(gunicorn_server, chunked, size) -> None:
    status, ctype, body = _upload(gunicorn_server, b"\0" * size, chunked)
    assert status == 413 and ctype == "application/json", body[:300]
    validate(json.loads(body), "ErrorResponse")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_gunicorn_transcribes_an_upload_within_the_limit(gunicorn_server, chunked) -> None:
    status, _, body = _upload(gunicorn_server, encode(tone(1.0), 16000), chunked)
    assert status == 200, body[:300]
    validate(json.loads(body), "CreateTranscriptionResponseJson")
