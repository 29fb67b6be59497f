"""The decoder reads only the upload, only with the accepted demuxers, and within its time limit.

Playlists and stream descriptions (SDP, HLS, ffconcat) are the uploads that make FFmpeg bind UDP ports, fetch URLs or
open files; local listeners record what FFmpeg would do with them (the control tests show they do record it when the
whitelists are off) and the decoder's refusals must leave them empty, fast.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import FakeEngine, encode, post, tone
from litellm_local_asr import audio
from litellm_local_asr.app import create_app
from litellm_local_asr.errors import APIError
from litellm_local_asr.settings import Settings

ACCEPTED = "flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav, webm"
MOV = "mov,mp4,m4a,3gp,3g2,mj2"

# (PyAV muxer, encoder, channels) -> the demuxer FFmpeg picks for the file; one case per container OpenAI lists.
ALLOWED = {
    "wav": (("wav", "pcm_s16le", 1), "wav"),
    "flac": (("flac", "flac", 1), "flac"),
    "ogg-opus": (("ogg", "libopus", 1), "ogg"),
    "ogg-vorbis": (("ogg", "vorbis", 2), "ogg"),
    "mp3": (("mp3", "libmp3lame", 1), "mp3"),
    "mpga-layer2": (("mp2", "mp2", 1), "mp3"),
    "m4a": (("ipod", "aac", 1), MOV),
    "mp4": (("mp4", "aac", 1), MOV),
    "webm": (("webm", "libopus", 1), "matroska,webm"),
    "mpeg": (("mpeg", "mp2", 1), "mpeg"),
}


class NetWatch:
    """A TCP listener that records connections, and a watch on /proc/net/udp* for a bound RTP/RTCP port pair."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.tcp.settimeout(0.05)
        self.tcp_port = self.tcp.getsockname()[1]
        self.rtp_port = _free_udp_pair()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept), threading.Thread(target=self._watch_udp)]

    def __enter__(self) -> NetWatch:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)
        self.tcp.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, addr = self.tcp.accept()
            except TimeoutError:
                continue
            with conn:
                self.events.append(f"tcp connection from {addr}")

    def _watch_udp(self) -> None:
        tables = [p for p in (Path("/proc/net/udp"), Path("/proc/net/udp6")) if p.exists()]
        while not self._stop.is_set():
            for table in tables:
                ports = {int(line.split()[1].rsplit(":", 1)[1], 16) for line in table.read_text().splitlines()[1:]}
                bound = ports & {self.rtp_port, self.rtp_port + 1}
                if bound:
                    self.events.append(f"udp port {sorted(bound)} bound")
            time.sleep(0.001)


def _free_udp_pair() -> int:
    """An even UDP port with the next one free too (RTP and RTCP)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1] & ~1
        try:
            with (
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a,
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b,
            ):
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no free UDP port pair")


def sdp(watch: NetWatch) -> bytes:
    return (
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {watch.rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    ).encode()


def hls(watch: NetWatch) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n"
        f"http://127.0.0.1:{watch.tcp_port}/x.ts\n#EXT-X-ENDLIST\n"
    ).encode()


def ffconcat(watch: NetWatch) -> bytes:
    return f"ffconcat version 1.0\nfile 'http://127.0.0.1:{watch.tcp_port}/a.wav'\nfile 'a.wav'\n".encode()


class NamedBytes(io.BytesIO):
    """In-memory bytes with a file name, which FFmpeg's HLS probe needs (it ignores m3u8 content named otherwise)."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name


def _refused(data: bytes, code: str) -> float:
    started = time.monotonic()
    with pytest.raises(APIError) as info:
        audio.decode(data, 30.0, "upload")
    elapsed = time.monotonic() - started
    err = info.value
    assert err.status == 400 and err.param == "file" and err.code == code, (err.code, err.message)
    assert ACCEPTED in err.message
    return elapsed


@pytest.mark.parametrize(
    ("builder", "code"),
    [(sdp, "unsupported_format"), (ffconcat, "unsupported_format"), (hls, "invalid_audio")],
    ids=["sdp", "ffconcat", "hls"],
)
def test_playlists_and_stream_descriptions_are_refused_without_a_socket(builder, code) -> None:
    # HLS is only probed from a .m3u8 name or a playlist mime type, neither of which FFmpeg gets from decode:
    # unrecognized, it is invalid audio (test_whitelist_refuses_hls_even_when_detected covers the demuxer).
    with NetWatch() as watch:
        elapsed = _refused(builder(watch), code)
        time.sleep(0.05)
    assert elapsed < 2.0
    assert watch.events == []


def test_whitelist_refuses_hls_even_when_detected() -> None:
    with NetWatch() as watch:
        started = time.monotonic()
        with pytest.raises(av.error.ArgumentError):  # EINVAL: "Format not on whitelist"
            av.open(NamedBytes(hls(watch), "x.m3u8"), container_options=audio.OPEN_OPTIONS)
        elapsed = time.monotonic() - started
        time.sleep(0.05)
    assert elapsed < 2.0 and watch.events == []


@pytest.mark.parametrize(("builder", "name"), [(sdp, "x.sdp"), (hls, "x.m3u8")], ids=["sdp", "hls"])
def test_protocol_whitelist_alone_blocks_nested_opens(builder, name) -> None:
    """The second layer: with the demuxer allowed, opening anything besides the upload is still refused."""
    options = {"protocol_whitelist": audio.OPEN_OPTIONS["protocol_whitelist"]}
    with NetWatch() as watch:
        started = time.monotonic()
        with pytest.raises(av.FFmpegError):
            av.open(NamedBytes(builder(watch), name), container_options=options, timeout=2)
        elapsed = time.monotonic() - started
        time.sleep(0.05)
    assert elapsed < 2.0 and watch.events == []


@pytest.mark.parametrize(
    ("builder", "name", "options"),
    [(sdp, "x.sdp", {}), (hls, "x.m3u8", {}), (ffconcat, "x.ffconcat", {"safe": "0"})],
    ids=["sdp", "hls", "ffconcat-unsafe"],
)
def test_control_the_watch_sees_what_ffmpeg_does_without_whitelists(builder, name, options) -> None:
    """Without the whitelists these uploads do reach the network, so the empty watches above mean something."""
    with NetWatch() as watch:
        try:
            with av.open(NamedBytes(builder(watch), name), container_options=options, timeout=1) as c:
                for _ in c.demux():
                    pass
        except (av.FFmpegError, OSError):
            pass
        time.sleep(0.05)
    if not watch.events:
        pytest.skip("this FFmpeg build opens no socket for it (no network protocols?)")


def test_refusals_leave_request_threads_and_health_free(settings) -> None:
    """16 SDP uploads at once (every request thread of the unit) are refused fast and /health keeps answering."""
    app = create_app(settings, engine=FakeEngine())
    statuses: list[int] = []
    with NetWatch() as watch:
        body = sdp(watch)

        def one() -> None:
            with app.test_client() as c:
                statuses.append(post(c, body, filename="a.sdp").status_code)

        started = time.monotonic()
        threads = [threading.Thread(target=one) for _ in range(16)]
        for t in threads:
            t.start()
        with app.test_client() as c:
            assert c.get("/health").status_code == 200
        for t in threads:
            t.join(10)
        elapsed = time.monotonic() - started
    app.extensions["asr"]["batcher"].close()
    assert statuses == [400] * 16 and elapsed < 2.0 and watch.events == []


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, id="png"),
        pytest.param(lambda: encode(tone(1.0), 16000, "adts", codec="aac"), id="raw-adts-aac"),
    ],
)
def test_other_containers_are_unsupported(data) -> None:
    _refused(data() if callable(data) else data, "unsupported_format")


@pytest.mark.parametrize("case", sorted(ALLOWED))
def test_every_accepted_container_still_decodes(case) -> None:
    (muxer, codec, channels), demuxer = ALLOWED[case]
    try:
        av.Codec(codec, "w")
    except av.FFmpegError:
        pytest.skip(f"this PyAV build has no {codec} encoder")
    data = encode(tone(1.5, 16000), 16000, muxer, channels=channels, codec=codec)
    with av.open(io.BytesIO(data), container_options=audio.OPEN_OPTIONS) as c:
        assert c.format.name == demuxer
    samples = audio.decode(data, 30.0, f"a.{case}")
    assert samples.dtype == np.float32 and abs(len(samples) / audio.SAMPLE_RATE - 1.5) < 0.25


def test_a_slow_decode_stops_at_the_time_limit(monkeypatch) -> None:
    """Each frame costs 20 ms here: a 10 s wav stops at the 0.2 s limit, with no thread left behind."""
    real_append = audio._append

    def slow_append(chunks, frame):
        time.sleep(0.02)
        return real_append(chunks, frame)

    monkeypatch.setattr(audio, "_append", slow_append)
    threads = threading.active_count()
    started = time.monotonic()
    with pytest.raises(APIError) as info:
        audio.decode(encode(tone(10.0), 16000), 30.0, "slow.wav", timeout_s=0.2)
    elapsed = time.monotonic() - started
    assert info.value.status == 400 and info.value.code == "decode_timeout"
    assert "0.2 seconds" in info.value.message and "slow.wav" in info.value.message
    assert elapsed < 1.0 and threading.active_count() == threads


def test_a_real_decode_past_a_tiny_limit_is_stopped() -> None:
    data = encode(tone(20.0), 16000, "ogg")
    started = time.monotonic()
    with pytest.raises(APIError) as info:
        audio.decode(data, 1200.0, "long.ogg", timeout_s=0.001)
    assert info.value.code == "decode_timeout" and time.monotonic() - started < 0.5


def test_decode_timeout_setting_reaches_the_decoder(monkeypatch) -> None:
    assert Settings(model="fake").decode_timeout_s == 30.0
    monkeypatch.setenv("ASR_DECODE_TIMEOUT_S", "0.05")
    settings = Settings(model="fake", aligner=None)
    assert settings.decode_timeout_s == 0.05
    real_append = audio._append
    monkeypatch.setattr(audio, "_append", lambda chunks, frame: time.sleep(0.01) or real_append(chunks, frame))
    app = create_app(settings, engine=FakeEngine())
    with app.test_client() as c:
        r = post(c, encode(tone(5.0), 16000))
    app.extensions["asr"]["batcher"].close()
    assert r.status_code == 400 and r.json["error"]["code"] == "decode_timeout"
    assert r.json["error"]["type"] == "invalid_request_error"
