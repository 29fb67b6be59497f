"""The web UI (issue 16) tested as a person would use it: Debian's Chromium, driven by Selenium from this control
node (the client network), signs in to Open WebUI through the edge's TLS, chats with `completions`, attaches an
image, uploads a short document and asks about it; screenshots of each step are kept in .artifacts/webui/. Then the
gateway's metrics hold that session under the UI user's name, per alias.

Also without a browser: sign-up is closed and the UI itself listens on loopback only (its unit's hardening and IP
allow-list: tests/infra/test_security.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import socket
import ssl
import struct
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import pytest

from tests.conftest import (
    ROOT,
    client_key,
    gateway_base,
    group_hosts,
    host_unit,
    hostvars,
    lab_ca,
    lab_host,
    lab_secrets,
    require_lab,
)

pytestmark = [pytest.mark.lab, pytest.mark.slow]
ARTIFACTS = ROOT / ".artifacts" / "webui"
ANSWER_TIMEOUT = 240  # seconds for one answer of the lab's CPU chat model through the UI (its own time is printed)


@pytest.fixture(autouse=True)
def _lab() -> None:
    require_lab()
    if not group_hosts("webui"):
        pytest.skip("no webui host in the lab")


def ui_host() -> str:
    return group_hosts("webui")[0]


def ui_base() -> str:
    unit = host_unit(ui_host(), "open-webui")
    return f"https://{hostvars(ui_host())['ansible_host']}:{unit['port']}"


def admin() -> tuple[str, str]:
    secrets = lab_secrets()
    return secrets["open_webui_admin_email"], secrets["open_webui_admin_password"]


def end_user() -> str:
    """How the gateway names the admin's requests: the UI's client, then the signed-in user's email."""
    return f"open-webui/{admin()[0]}"


def api(method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(ui_base() + path, data=data, method=method, headers=headers)
    context = ssl.create_default_context(cafile=lab_ca())
    try:
        with urllib.request.urlopen(request, timeout=60, context=context) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"raw": raw.decode(errors="replace")}


def wait_ready(timeout: float = 300) -> None:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            last = api("GET", "/ready")[0]
            if last == 200:
                return
        except OSError as exc:
            last = exc
        time.sleep(2)
    pytest.fail(f"the web UI did not become ready through the edge: {last}")


def sign_in() -> str:
    wait_ready()
    email, password = admin()
    status, body = api("POST", "/api/v1/auths/signin", {"email": email, "password": password})
    assert status == 200, body
    return body["token"]


def gateway_usage(alias: str) -> float:
    """Answered requests (200) of the UI's admin on `alias` in the gateway's metrics (read through the edge by the
    metrics client)."""
    request = urllib.request.Request(
        gateway_base() + "/metrics", headers={"Authorization": f"Bearer {client_key('prometheus')}"}
    )
    with urllib.request.urlopen(request, timeout=30, context=ssl.create_default_context(cafile=lab_ca())) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("litellm_proxy_total_requests_metric_total{"):
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', line.split("}", 1)[0]))
            if (labels.get("end_user"), labels.get("requested_model"), labels.get("status_code")) == (
                end_user(),
                alias,
                "200",
            ):
                total += float(line.rsplit(" ", 1)[1])
    return total


# --------------------------------------------------------------------------------------------------------------------
# Without a browser
# --------------------------------------------------------------------------------------------------------------------


def test_sign_up_is_closed_and_the_admin_comes_from_the_vault() -> None:
    token = sign_in()
    status, me = api("GET", "/api/v1/auths/", token=token)
    assert status == 200 and me["role"] == "admin" and me["email"] == admin()[0], me
    status, body = api("POST", "/api/v1/auths/signup", {"name": "x", "email": "mallory@lab.test", "password": "x" * 16})
    assert status in (401, 403), (status, body)
    assert api("GET", "/api/config")[1]["features"]["enable_signup"] is False
    status, _ = api("POST", "/api/v1/auths/signin", {"email": admin()[0], "password": "not-the-password-1"})
    assert status in (400, 401, 403)


def test_the_ui_listens_on_loopback_only_behind_the_edges_tls() -> None:
    unit = host_unit(ui_host(), "open-webui")
    address = hostvars(ui_host())["ansible_host"]
    with pytest.raises(OSError):
        socket.create_connection((address, unit["listen_port"]), timeout=5).close()
    listening = lab_host(ui_host()).check_output(f"ss -Htln 'sport = :{unit['listen_port']}'")
    assert listening.split() and all(" 127.0.0.1:" in f" {line.split()[3]}" for line in listening.splitlines())
    context = ssl.create_default_context(cafile=lab_ca())
    with (
        socket.create_connection((address, unit["port"]), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=address) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_ocr_through_the_ui_uses_the_ocr_alias_as_the_user() -> None:
    """Choosing the `ocr` model in the UI and sending an image: the UI's chat route sends it to the gateway's `ocr`
    alias under the signed-in user's name (what the browser does, through the UI's own API)."""
    token = sign_in()
    before = gateway_usage("ocr")
    image = "data:image/png;base64," + base64.b64encode(png()).decode()
    status, answer = api(
        "POST",
        "/api/chat/completions",
        {
            "model": "ocr",
            "stream": False,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": image}},
                        {"type": "text", "text": "Text Recognition:"},
                    ],
                }
            ],
        },
        token,
    )
    assert status == 200, answer
    assert isinstance(answer["choices"][0]["message"]["content"], str), answer
    deadline = time.monotonic() + 30
    while gateway_usage("ocr") <= before and time.monotonic() < deadline:
        time.sleep(2)
    assert gateway_usage("ocr") > before, "the OCR request did not reach the gateway's ocr alias as the user"


def test_the_ui_downloaded_nothing() -> None:
    """Its journal since it started names no download: no model hub, no tiktoken encodings, no update check."""
    unit = host_unit(ui_host(), "open-webui")["unit"]
    journal = lab_host(ui_host()).check_output(f"journalctl -u {unit} -b --no-pager -o cat")
    assert "answered 200" in journal, "the journal does not cover a start of the UI (wait-healthy's line)"
    for sign in ("huggingface.co", "Downloading", "openaipublic", "api.github.com", "ollama.com", "api.openai.com"):
        assert sign not in journal, f"the UI's journal mentions {sign!r}"


# --------------------------------------------------------------------------------------------------------------------
# In a browser
# --------------------------------------------------------------------------------------------------------------------


def png(width: int = 96, height: int = 64) -> bytes:
    """An RGB noise image as PNG (it does not compress: its size shows in the request that carries it)."""
    noise = hashlib.shake_256(b"litellm-local").digest(width * height * 3)
    rows = b"".join(b"\x00" + noise[y * width * 3 : (y + 1) * width * 3] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def spki_pin(address: str, port: int) -> str:
    """base64 SHA-256 of the served certificate's public key, after checking that the lab CA verifies it: Chromium
    then accepts exactly that key (--ignore-certificate-errors-spki-list) and no other certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    context = ssl.create_default_context(cafile=lab_ca())
    with (
        socket.create_connection((address, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=address) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    key = x509.load_der_x509_certificate(der).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    address = hostvars(ui_host())["ansible_host"]
    port = host_unit(ui_host(), "open-webui")["port"]
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in the control node
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
        f"--ignore-certificate-errors-spki-list={spki_pin(address, port)}",
        # No name resolves: the page can load nothing from anywhere but the UI's address.
        f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {address}",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(120)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def shot(driver, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path.relative_to(ROOT)}")
    return path


def wait_for(driver, condition, timeout: float, what: str, name: str):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.5).until(condition)
    except TimeoutException:
        shot(driver, f"failed-{name}")
        logs = "\n".join(str(e) for e in driver.get_log("browser")[-20:])
        pytest.fail(f"{what} did not happen within {timeout} s (screenshot failed-{name}.png); console:\n{logs}")


def answers(driver) -> list:
    """The finished answers on the page: an answer's copy button shows once it is complete."""
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, "button.copy-response-button")


def ask(driver, text: str, name: str) -> float:
    """Type `text` into the chat input, send it and wait until the assistant's answer is complete; returns the
    seconds it took. (Whether the gateway answered it with 200 is checked in its metrics afterwards.)"""
    from selenium.webdriver.common.by import By

    before = len(answers(driver))
    box = wait_for(driver, lambda d: d.find_element(By.ID, "chat-input"), 60, "the chat input", name)
    box.click()
    box.send_keys(text)
    send = wait_for(
        driver,
        lambda d: (b := d.find_element(By.ID, "send-message-button")).is_enabled() and b,
        120,
        "the send button to be enabled",
        name,
    )
    start = time.monotonic()
    send.click()
    wait_for(driver, lambda d: len(answers(d)) > before, ANSWER_TIMEOUT, f"an answer to {text!r}", name)
    seconds = time.monotonic() - start
    shown = driver.find_elements(By.CSS_SELECTOR, "#response-content-container")
    assert shown and shown[-1].text.strip(), "the answer is empty"
    shot(driver, name)
    return seconds


def new_chat(driver) -> None:
    from selenium.webdriver.common.by import By

    driver.get(ui_base() + "/")
    wait_for(driver, lambda d: d.find_element(By.ID, "chat-input"), 120, "a new chat", "new-chat")


def attach(driver, path: Path, name: str) -> None:
    from selenium.webdriver.common.by import By

    def file_input(d):
        found = [
            e for e in d.find_elements(By.CSS_SELECTOR, "input[type=file]") if e.get_attribute("id") != "camera-input"
        ]
        return found[0] if found else None

    wait_for(driver, file_input, 60, "the chat form's file input", name).send_keys(str(path))
    # The attachment shows as a file card; a document is processed (embedded) before it may be sent.
    wait_for(
        driver,
        lambda d: d.find_elements(By.CSS_SELECTOR, "button[aria-label*='Remove'], img[alt]"),
        60,
        f"the attachment {path.name} to show",
        name,
    )


def test_a_person_chats_attaches_an_image_and_asks_about_a_document(browser, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    token = sign_in()
    # The admin's "what's new" dialog would cover the page at the first sign-in: mark this version as seen.
    version = api("GET", "/api/version")[1]["version"]
    api("POST", "/api/v1/users/user/settings/update", {"ui": {"version": version}}, token)
    aliases = ["completions", "embedding"] + (["rerank"] if host_unit(group_hosts("embedding")[0], "rerank") else [])
    before = {alias: gateway_usage(alias) for alias in aliases}

    browser.get(ui_base() + "/auth")
    email, password = admin()
    wait_for(browser, lambda d: d.find_element(By.ID, "email"), 120, "the sign-in form", "signin")
    browser.find_element(By.ID, "email").send_keys(email)
    browser.find_element(By.ID, "password").send_keys(password)
    shot(browser, "01-signin")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "chat-input"), 120, "the chat page after sign-in", "signed-in")
    for button in browser.find_elements(By.XPATH, '//button[contains(., "Okay, Let\'s Go!")]'):
        button.click()
    shot(browser, "02-signed-in")

    chat = ask(browser, "Hello! Please say hi back.", "03-chat")

    new_chat(browser)
    image = tmp_path / "noise.png"
    image.write_bytes(png())
    attach(browser, image, "04-image")
    with_image = ask(browser, "What is in this image?", "04-image")
    # The image went to the gateway inside the chat request (as a data URL): the edge logged a request that large.
    logged = lab_host(group_hosts("gateway")[0]).check_output(
        "journalctl -t litellm_edge --since '-3min' --no-pager -o cat "
        "| grep -F 'client=open-webui \"POST /v1/chat/completions\" 200'"
    )
    sizes = [int(line.split('" 200 ')[1].split()[0]) for line in logged.splitlines()]
    assert max(sizes) >= len(base64.b64encode(image.read_bytes())), f"no chat request carried the image: {sizes}"

    new_chat(browser)
    document = tmp_path / "lab-notes.txt"
    document.write_text("Lab notes. The secret word of the lab is PERIWINKLE. The lab has two hosts.\n")
    attach(browser, document, "05-document")
    with_document = ask(browser, "What is the secret word of the lab?", "05-document")
    print(
        f"answers through the UI: chat {chat:.1f} s, with an image {with_image:.1f} s, "
        f"about a document {with_document:.1f} s"
    )

    deadline = time.monotonic() + 30
    while True:
        after = {alias: gateway_usage(alias) for alias in before}
        if all(after[a] > before[a] for a in before) or time.monotonic() > deadline:
            break
        time.sleep(2)
    print(f"the gateway's requests of {end_user()}: {before} -> {after}")
    assert after["completions"] >= before["completions"] + 3, "the three questions are not counted under the user"
    assert after["embedding"] > before["embedding"], "the document was not embedded through the gateway as the user"
    if "rerank" in after:
        assert after["rerank"] > before["rerank"], "the passages were not reranked through the gateway as the user"


def test_voice_input_is_transcribed_by_the_asr_alias_as_the_user(tmp_path) -> None:
    """What the UI's microphone button does with a recording: POST it to the UI's transcription route, which sends it
    to the gateway's `asr` alias under the signed-in user's name."""
    exe = shutil.which("espeak-ng")
    assert exe, "espeak-ng is missing on the control node: scripts/deploy installs it"
    wav = tmp_path / "voice.wav"
    subprocess.run([exe, "-w", str(wav), "Hello from the web UI."], check=True)
    token = sign_in()
    before = gateway_usage("asr")
    boundary = "litellm-local-voice"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="voice.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + wav.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        ui_base() + "/api/v1/audio/transcriptions",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=180, context=ssl.create_default_context(cafile=lab_ca())) as r:
        answer = json.loads(r.read())
    print(f"the UI's transcription: {answer}")
    assert isinstance(answer.get("text"), str)
    deadline = time.monotonic() + 30
    while gateway_usage("asr") <= before and time.monotonic() < deadline:
        time.sleep(2)
    assert gateway_usage("asr") > before, "the recording did not reach the gateway's asr alias as the user"
