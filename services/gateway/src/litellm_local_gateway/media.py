"""Which media references a request may carry: inline data: URLs, or http(s) URLs of explicitly allowed hosts.

The backends (vLLM, the embedding server) fetch an http(s) URL they are given, and vLLM reads `file:` URLs under
its allowed local path: a URL in a request would make them fetch from wherever the gateway's network reaches. So
an image (or video, audio, document) is taken as a `data:` URL; an http(s) URL only when its host is listed in
LITELLM_LOCAL_ALLOWED_MEDIA_DOMAINS (exact host name, case-insensitive); every other scheme, `file:` included, never.
URLs that parsers read differently are refused outright: user info (`user@host`), backslashes, whitespace and
control characters.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .settings import ALLOWED_MEDIA_DOMAINS

DATA_PREFIX = "data:"
FETCHED_SCHEMES = ("http", "https")
# Characters urllib and HTTP clients treat differently (urllib strips some, browsers read `\\` as `/`).
_AMBIGUOUS = re.compile(r"[\x00-\x20\x7f\\]")


def media_url_problem(url: object, allowed_domains: frozenset[str]) -> str | None:
    """Why `url` may not be passed to a backend, or None when it may."""
    if not isinstance(url, str):
        return f"a {type(url).__name__} is not a data: URL"
    if url[: len(DATA_PREFIX)].lower() == DATA_PREFIX:
        return None
    if _AMBIGUOUS.search(url):
        return "the URL contains a backslash, whitespace or a control character"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError as exc:
        return f"the URL does not parse ({exc})"
    scheme = parts.scheme.lower()
    if scheme == "file":
        return "file: URLs are never accepted"
    if scheme not in FETCHED_SCHEMES:
        return f"{scheme}: URLs are not accepted" if scheme else "it is neither a data: URL nor an http(s) URL"
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        return "URLs with user info (user@host) are refused"
    host = parts.hostname or ""
    if not host:
        return "the URL has no host"
    if host not in allowed_domains:
        return f"host {host!r} is not an allowed media domain"
    return None


def refusal_message(param: str, problem: str, allowed_domains: frozenset[str]) -> str:
    """The 400 message for a refused media reference at `param`."""
    allowed = "some hosts are listed there" if allowed_domains else "none is listed now"
    return (
        f"`{param}`: {problem}. Images (and video, audio, documents) must be sent inline as data: URLs "
        f"(data:image/png;base64,...); the gateway passes on an http(s) URL only when its host is listed in "
        f"{ALLOWED_MEDIA_DOMAINS} ({allowed})"
    )
