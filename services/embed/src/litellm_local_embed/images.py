"""Image references of requests: data URLs, or http(s) URLs of allow-listed hosts only; every refusal is a 400.

The server never loads an image from a path or any scheme but data: and http(s): a client must not be able to make
it read local files or reach the addresses it can reach (server-side request forgery). Remote URLs are off by
default; the operator enables them for named hosts (EMBED_REMOTE_IMAGE_HOSTS). A URL is checked strictly before
anything is fetched (plain host name, no user name or password, no backslash, the host exactly on the list,
case-insensitively), then fetched with the very URL object that was checked: redirects not followed, no proxy or
.netrc from the environment, one overall deadline (EMBED_REMOTE_IMAGE_TIMEOUT_S) and the size cap
(EMBED_MAX_IMAGE_BYTES).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import logging
import re
import warnings

import httpx
from PIL import Image, UnidentifiedImageError

from .errors import InputError
from .settings import Settings

log = logging.getLogger(__name__)
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,", re.I)
# An http(s) URL as this server accepts it: scheme, a plain host name or IP literal, an optional port, then a path,
# query or fragment. No user name or password, no percent-encoding or other characters in the host.
_REMOTE_URL = re.compile(
    r"^(?P<scheme>https?)://(?P<host>[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?(?P<rest>[/?#].*)?$",
    re.I | re.S,
)
_SCHEME = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*):", re.I)
HOW = (
    "images must be sent as data URLs (data:image/png;base64,...); http(s) URLs are fetched only from hosts the "
    "operator lists in EMBED_REMOTE_IMAGE_HOSTS"
)


def host_allowed(host: str, allowed: list[str]) -> bool:
    """Whether `host` is on the list: equal to an entry (case-insensitive), or a subdomain of a `*.` entry."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        if entry.startswith("*."):
            if host.endswith(entry[1:]) and host != entry[2:]:
                return True
        elif host == entry:
            return True
    return False


def is_data_url(url: str) -> bool:
    return url[:5].lower() == "data:"


def check_image_ref(url: str, settings: Settings, param: str) -> httpx.URL | None:
    """None for a data URL (decoded later), the URL to fetch for an allowed http(s) URL; InputError for anything else.

    Nothing is fetched or opened here: a request is checked whole before any of its images is loaded."""
    if is_data_url(url):
        return None
    scheme_match = _SCHEME.match(url)
    scheme = scheme_match.group("scheme").lower() if scheme_match else ""
    if scheme not in ("http", "https"):
        what = f"{scheme}: URLs" if scheme else "file paths and other references"
        raise InputError(f"{what} are refused: {HOW}", param=param)
    if not settings.remote_image_hosts:
        raise InputError(
            "remote image URLs are disabled on this server: images must be sent as data URLs "
            "(data:image/png;base64,...); the operator can allow http(s) hosts with EMBED_REMOTE_IMAGE_HOSTS",
            param=param,
        )
    if "\\" in url:
        raise InputError(f"image URLs with a backslash are refused: {HOW}", param=param)
    if any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in url):
        raise InputError(f"image URLs with whitespace, control or non-ASCII characters are refused: {HOW}", param=param)
    rest = url.split(":", 1)[1]
    if not rest.startswith("//"):
        raise InputError(f"the image URL has no host: {HOW}", param=param)
    authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
    if "@" in authority:
        raise InputError(f"image URLs with a user name or password (user@host) are refused: {HOW}", param=param)
    match = _REMOTE_URL.match(url)
    if not match:
        raise InputError(f"the image URL's host is not a plain host name: {HOW}", param=param)
    host = match.group("host").lower().strip("[]")
    if not host_allowed(host, settings.remote_image_hosts):
        raise InputError(
            f"image host {host!r} is not in this server's allow-list (EMBED_REMOTE_IMAGE_HOSTS): {HOW}", param=param
        )
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise InputError(f"the image URL is not valid: {exc}", param=param) from exc
    # The client goes where httpx's parser says: it must agree with the check above.
    if parsed.userinfo or parsed.raw_host.decode("ascii", "replace").lower() != host:
        raise InputError(f"the image URL is ambiguous: {HOW}", param=param)
    return parsed


def make_http_client(settings: Settings) -> httpx.AsyncClient:
    """The client of remote images: no redirects, nothing from the environment (proxies, .netrc), no compression."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(settings.remote_image_timeout_s),
        headers={"accept": "image/*", "accept-encoding": "identity"},
    )


async def fetch_remote(url: httpx.URL, settings: Settings, param: str, client: httpx.AsyncClient) -> bytes:
    limit = settings.max_image_bytes
    too_large = f"the image is larger than {limit} bytes"
    try:
        async with asyncio.timeout(settings.remote_image_timeout_s):
            async with client.stream("GET", url, follow_redirects=False) as response:
                if response.status_code != 200:
                    note = " (redirects are not followed)" if response.is_redirect else ""
                    raise InputError(f"fetching the image failed: HTTP {response.status_code}{note}", param=param)
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > limit:
                    raise InputError(too_large, param=param)
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > limit:
                        raise InputError(too_large, param=param)
                return bytes(data)
    except TimeoutError as exc:
        raise InputError(
            f"fetching the image took longer than {settings.remote_image_timeout_s:g}s", param=param
        ) from exc
    except httpx.HTTPError as exc:
        log.info("fetching %s for %s failed: %s: %s", url, param, type(exc).__name__, exc)
        raise InputError(f"fetching the image failed: {type(exc).__name__}", param=param) from exc


def decode_data_url(url: str, settings: Settings, param: str) -> bytes:
    match = _DATA_URL.match(url)
    if not match:
        raise InputError("an image data URL must look like data:image/png;base64,<data>", param=param)
    mime = (match.group("mime") or "").lower()
    if mime and not mime.startswith("image/"):
        raise InputError(f"the data URL holds {mime}, not an image", param=param)
    if not match.group("b64"):
        raise InputError("an image data URL must be base64-encoded (data:image/...;base64,...)", param=param)
    payload = url[match.end() :]
    if len(payload) > settings.max_image_bytes * 4 // 3 + 4:
        raise InputError(f"the image is larger than {settings.max_image_bytes} bytes", param=param)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"the image data URL is not valid base64: {exc}", param=param) from exc


def decode_image(data: bytes, settings: Settings, param: str) -> Image.Image:
    """Decode to RGB, refusing what is not an image or is larger than max_image_pixels (checked before decoding)."""
    if len(data) > settings.max_image_bytes:
        raise InputError(f"the image is larger than {settings.max_image_bytes} bytes", param=param)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > settings.max_image_pixels:
                raise InputError(
                    f"the image has {width}x{height} = {width * height} pixels, more than this server's limit of "
                    f"{settings.max_image_pixels}; scale it down",
                    param=param,
                )
            if width < 1 or height < 1:
                raise InputError("the image is empty", param=param)
            image.load()
            return image.convert("RGB")
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"the image is too large to decode safely: {exc}", param=param) from exc
    except UnidentifiedImageError as exc:
        raise InputError("the image could not be decoded: not an image format this server reads", param=param) from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InputError(f"the image could not be decoded: {exc}", param=param) from exc
