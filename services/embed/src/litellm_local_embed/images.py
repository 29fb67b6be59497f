"""Images from data URLs, or from http(s) URLs of allow-listed hosts only; every refusal is an InputError (400).

Fetching remote URLs is off by default: it would let any client make the server fetch arbitrary addresses. The
operator enables it for named hosts (EMBED_REMOTE_IMAGE_HOSTS); redirects are not followed.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import urllib.parse
import warnings

import httpx
from PIL import Image, UnidentifiedImageError

from .errors import InputError
from .settings import Settings

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,", re.I)


def host_allowed(host: str, allowed: list[str]) -> bool:
    host = host.lower().rstrip(".")
    for entry in allowed:
        if entry.startswith("*."):
            if host.endswith(entry[1:]) and host != entry[2:]:
                return True
        elif host == entry:
            return True
    return False


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


async def fetch_remote(url: str, settings: Settings, param: str, client: httpx.AsyncClient) -> bytes:
    parsed = urllib.parse.urlsplit(url)
    if not settings.remote_image_hosts:
        raise InputError(
            "remote image URLs are disabled on this server: send the image as a data URL "
            "(data:image/png;base64,...), or ask the operator to allow the host (EMBED_REMOTE_IMAGE_HOSTS)",
            param=param,
        )
    if not parsed.hostname or not host_allowed(parsed.hostname, settings.remote_image_hosts):
        raise InputError(f"image host {parsed.hostname!r} is not in this server's allow-list", param=param)
    try:
        async with client.stream("GET", url, timeout=settings.remote_image_timeout_s) as response:
            if response.status_code != 200:
                raise InputError(f"fetching the image failed: HTTP {response.status_code}", param=param)
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > settings.max_image_bytes:
                    raise InputError(f"the image is larger than {settings.max_image_bytes} bytes", param=param)
            return bytes(data)
    except httpx.HTTPError as exc:
        raise InputError(f"fetching the image failed: {type(exc).__name__}: {exc}", param=param) from exc


async def load_image_bytes(url: str, settings: Settings, param: str, client: httpx.AsyncClient) -> bytes:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "data":
        return decode_data_url(url, settings, param)
    if scheme in ("http", "https"):
        return await fetch_remote(url, settings, param, client)
    raise InputError("an image must be a data URL (data:image/png;base64,...) or an http(s) URL", param=param)


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
