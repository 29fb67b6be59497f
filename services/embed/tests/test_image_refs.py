"""Image references cannot make the server fetch or open anything (server-side request forgery).

Every image is a data URL unless the operator lists hosts in EMBED_REMOTE_IMAGE_HOSTS; file:, ftp: and every other
scheme, and paths of any kind, are always refused. A real HTTP server on 127.0.0.1 counts the connections it accepts:
a refused reference must cause none, an allowed one is fetched, and a redirect from it is not followed.
"""

from __future__ import annotations

import base64
import http.server
import threading
import time

import pytest
from conftest import png_data_url
from litellm_local_embed.errors import InputError
from litellm_local_embed.images import check_image_ref
from litellm_local_embed.settings import Settings
from pydantic import ValidationError

PNG = base64.b64decode(png_data_url(40, 30).split(",", 1)[1])


class _Recorder(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0
        self.paths: list[str] = []
        self.lock = threading.Lock()

    def verify_request(self, request, client_address) -> bool:  # every accepted TCP connection passes here
        with self.lock:
            self.connections += 1
        return True

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Recorder

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.paths.append(self.path)
        if self.path == "/img.png":
            self._send(200, PNG, "image/png")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", f"{self.server.base}/img.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big.png":
            self._send(200, PNG + b"\0" * 5000, "image/png")
        elif self.path == "/slow.png":  # a byte at a time: no single read waits long, the whole takes seconds
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            try:
                for byte in PNG[:30]:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
        else:
            self._send(404, b"", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = _Recorder()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def refused(response, param: str, *fragments: str) -> dict:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "400", param)
    for fragment in ("data URL", "EMBED_REMOTE_IMAGE_HOSTS", *fragments):
        assert fragment in error["message"], error["message"]
    return error


def items(url: str) -> dict:
    """The multimodal form, the image third: its param is input[2].image."""
    return {"input": ["a caption", {"text": "a photo", "image": png_data_url()}, {"image": url}]}


def chat(url: str, as_string: bool = False) -> dict:
    """The chat form as the gateway sends it, the image part at messages[1].content[1]."""
    image_url = url if as_string else {"url": url}
    return {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Represent the user's input."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "a photo"},
                    {"type": "image_url", "image_url": image_url},
                ],
            },
        ],
        "add_generation_prompt": True,
    }


CHAT_PARAM = "messages[1].content[1].image_url"


# -- refused, whatever the allow-list says ---------------------------------------------------------------------------


@pytest.mark.parametrize("hosts", ["", "127.0.0.1"])
@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        ("file:///etc/passwd", "file: URLs are refused"),
        ("FILE:///etc/passwd", "file: URLs are refused"),
        ("file://127.0.0.1/etc/passwd", "file: URLs are refused"),
        ("ftp://127.0.0.1:{port}/img.png", "ftp: URLs are refused"),
        ("gopher://127.0.0.1:{port}/_GET", "gopher: URLs are refused"),
        ("/etc/passwd", "file paths"),
        ("etc/passwd", "file paths"),
        ("./img.png", "file paths"),
        ("~/img.png", "file paths"),
        ("//127.0.0.1:{port}/img.png", "file paths"),
        ("C:\\Windows\\win.ini", "c: URLs are refused"),
        (" http://127.0.0.1:{port}/img.png", "file paths"),
    ],
)
def test_other_schemes_and_paths_are_always_refused(make_client, server, hosts, ref, fragment) -> None:
    client, engine = make_client(remote_image_hosts=hosts)
    ref = ref.replace("{port}", str(server.server_address[1]))
    refused(client.post("/v1/embeddings", json=items(ref)), "input[2].image", fragment)
    refused(client.post("/v1/embeddings", json=chat(ref)), CHAT_PARAM, fragment)
    assert engine.inputs == []  # the request was refused whole, before any input was prepared
    assert server.connections == 0


# -- no allow-list (the default): data URLs only ---------------------------------------------------------------------


def test_http_urls_are_refused_by_default_without_a_connection(make_client, server) -> None:
    client, engine = make_client()
    for url in (f"{server.base}/img.png", f"{server.base.replace('http:', 'https:')}/img.png", "http://localhost/"):
        error = refused(client.post("/v1/embeddings", json=items(url)), "input[2].image", "remote image URLs")
        assert error["message"].startswith("remote image URLs are disabled on this server: images must be sent as data")
        refused(client.post("/v1/embeddings", json=chat(url)), CHAT_PARAM, "remote image URLs are disabled")
        refused(client.post("/v1/embeddings", json=chat(url, as_string=True)), CHAT_PARAM, "disabled")
    assert engine.inputs == []
    assert server.connections == 0 and server.paths == []


def test_data_urls_work(make_client) -> None:
    client, engine = make_client()
    response = client.post("/v1/embeddings", json=items(png_data_url(20, 10)))
    assert response.status_code == 200, response.text
    assert sorted(im.size for i in engine.inputs for im in i.images) == [(20, 10), (64, 48)]
    response = client.post("/v1/embeddings", json=chat(png_data_url(12, 8)))
    assert response.status_code == 200, response.text
    assert engine.inputs[-1].images[0].size == (12, 8)
    upper = "DATA:image/png;base64," + png_data_url(5, 5).split(",", 1)[1]
    assert client.post("/v1/embeddings", json=chat(upper, as_string=True)).status_code == 200


# -- hosts allowed ---------------------------------------------------------------------------------------------------


def test_allowed_host_is_fetched(make_client, server) -> None:
    client, engine = make_client(remote_image_hosts="127.0.0.1")
    response = client.post("/v1/embeddings", json=items(f"{server.base}/img.png"))
    assert response.status_code == 200, response.text
    assert engine.inputs[-1].images[0].size == (40, 30)
    response = client.post("/v1/embeddings", json=chat(f"{server.base.upper()}/img.png"))  # HTTP://127.0.0.1:PORT
    assert response.status_code == 200, response.text
    assert engine.inputs[-1].images[0].size == (40, 30)
    assert server.paths == ["/img.png", "/img.png"]


def test_redirect_from_an_allowed_host_is_not_followed(make_client, server) -> None:
    client, engine = make_client(remote_image_hosts="127.0.0.1")
    response = client.post("/v1/embeddings", json=items(f"{server.base}/redirect"))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "input[2].image"
    assert "HTTP 302 (redirects are not followed)" in error["message"]
    response = client.post("/v1/embeddings", json=chat(f"{server.base}/redirect"))
    assert response.status_code == 400 and response.json()["error"]["param"] == CHAT_PARAM
    assert server.paths == ["/redirect", "/redirect"]  # never the target, /img.png
    assert (40, 30) not in [im.size for i in engine.inputs for im in i.images]


def test_allowed_host_errors_size_cap_and_deadline(make_client, server) -> None:
    client, _ = make_client(remote_image_hosts="127.0.0.1", max_image_bytes=len(PNG) + 100)
    missing = client.post("/v1/embeddings", json=items(f"{server.base}/nothing.png"))
    assert missing.status_code == 400 and "HTTP 404" in missing.json()["error"]["message"]
    big = client.post("/v1/embeddings", json=items(f"{server.base}/big.png"))
    assert big.status_code == 400 and "larger than" in big.json()["error"]["message"]

    client, _ = make_client(remote_image_hosts="127.0.0.1", remote_image_timeout_s=0.5)
    started = time.monotonic()
    slow = client.post("/v1/embeddings", json=items(f"{server.base}/slow.png"))
    assert time.monotonic() - started < 2.5  # one deadline for the whole fetch, not one per read
    assert slow.status_code == 400, slow.text
    assert "longer than 0.5s" in slow.json()["error"]["message"]


def test_userinfo_and_backslash_tricks_are_refused_without_a_connection(make_client, server) -> None:
    port = server.server_address[1]
    client, engine = make_client(remote_image_hosts="allowed.example")
    for url, fragment in [
        ("http://allowed.example@127.0.0.1/", "user name or password"),
        (f"http://allowed.example@127.0.0.1:{port}/img.png", "user name or password"),
        (f"http://allowed.example:80@127.0.0.1:{port}/img.png", "user name or password"),
        (f"http://allowed.example%40@127.0.0.1:{port}/img.png", "user name or password"),
        (f"http://127.0.0.1:{port}\\@allowed.example/img.png", "backslash"),
        (f"http://127.0.0.1:{port}\\.allowed.example/img.png", "backslash"),
        (f"http://127.0.0.1:{port}/img.png", "not in this server's allow-list"),
        (f"http://allowed.example.127.0.0.1.nip.io:{port}/img.png", "not in this server's allow-list"),
        (f"http://127.0.0.1:{port}#@allowed.example/img.png", "not in this server's allow-list"),
        (f"http://%31%32%37.0.0.1:{port}/img.png", "not a plain host name"),
        ("http:/allowed.example/img.png", "no host"),
        ("http://allowed.example\t/img.png", "whitespace"),
    ]:
        refused(client.post("/v1/embeddings", json=items(url)), "input[2].image", fragment)
        refused(client.post("/v1/embeddings", json=chat(url)), CHAT_PARAM, fragment)
    # Even a listed host cannot carry a user name: it would be sent as credentials.
    client, _ = make_client(remote_image_hosts="127.0.0.1")
    url = f"http://user:secret@127.0.0.1:{port}/img.png"
    refused(client.post("/v1/embeddings", json=items(url)), "input[2].image", "user name or password")
    assert engine.inputs == []
    assert server.connections == 0


def test_host_match_is_exact_and_case_insensitive() -> None:
    settings = Settings(model="m", remote_image_hosts="Images.Example.org, [::1]")
    assert settings.remote_image_hosts == ["images.example.org", "::1"]
    for url in ("https://IMAGES.example.ORG/a.png", "http://images.example.org./a.png", "http://[::1]:8080/a"):
        assert check_image_ref(url, settings, "p") is not None
    assert check_image_ref(png_data_url(), settings, "p") is None
    for url in (
        "https://images.example.org.evil.com/a.png",
        "https://sub.images.example.org/a.png",
        "https://example.org/a.png",
        "https://imagesXexample.org/a.png",
        "https://[::2]/a.png",
    ):
        with pytest.raises(InputError, match="not in this server's allow-list"):
            check_image_ref(url, settings, "p")


@pytest.mark.parametrize(
    "entry",
    [
        "http://images.example.org",
        "images.example.org/x",
        "u@images.example.org",
        "images.example.org:80",
        "*",
        "cafe:80:",
    ],
)
def test_allow_list_entries_must_be_bare_hosts(entry) -> None:
    with pytest.raises(ValidationError, match="remote_image_hosts entry"):
        Settings(model="m", remote_image_hosts=entry)


def test_allow_list_is_empty_by_default(monkeypatch) -> None:
    monkeypatch.delenv("EMBED_REMOTE_IMAGE_HOSTS", raising=False)
    assert Settings(model="m").remote_image_hosts == []
    monkeypatch.setenv("EMBED_REMOTE_IMAGE_HOSTS", "A.example,b.example , 127.0.0.1")
    assert Settings(model="m").remote_image_hosts == ["a.example", "b.example", "127.0.0.1"]
