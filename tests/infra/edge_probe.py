"""A client on the lab's client network: copied to a lab host that is not the gateway and run there with python3.

Standard library only (the lab hosts have no extra packages). Each command prints one JSON object on stdout:

  request METHOD URL [--key K | --key-file F] [--body-bytes N] [--json JSON | --json-file F] [--content-type T]
          [--file NAME:PATH --field K=V ...] [--system-cas]
      one request; {"status", "seconds", "body" (first 2000 bytes, text), "error"}
  parallel N METHOD URL ...       N copies of that request at once; {"results": [...]}
  watch URL SECONDS               GET URL every 0.1 s for SECONDS; {"max_seconds", "failures", "count"}

The CA that verifies the gateway is the file named by SSL_CERT_FILE (the tests copy it to the host).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import ssl
import sys
import time
import urllib.parse
import uuid


def context(lab_ca: bool) -> ssl.SSLContext:
    if not lab_ca:  # the system's CAs only (OpenSSL would read SSL_CERT_FILE): the lab CA is not among them
        os.environ.pop("SSL_CERT_FILE", None)
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])


class Body:
    """A request body of `size` bytes produced in pieces, so that the client never holds it whole."""

    def __init__(self, size: int, piece: bytes = b" " * 65536) -> None:
        self.size, self.piece = size, piece

    def __iter__(self):
        left = self.size
        while left > 0:
            chunk = self.piece[: min(left, len(self.piece))]
            left -= len(chunk)
            yield chunk


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def request(args: argparse.Namespace) -> dict:
    url = urllib.parse.urlsplit(args.url)
    headers: dict[str, str] = {}
    if args.key_file:
        with open(args.key_file, encoding="utf-8") as f:
            headers["Authorization"] = f"Bearer {f.read().strip()}"
    elif args.key:
        headers["Authorization"] = f"Bearer {args.key}"
    body: object = None
    if args.body_bytes:
        body = Body(args.body_bytes)
        headers["Content-Length"] = str(args.body_bytes)
        headers["Content-Type"] = args.content_type or "application/json"
    elif args.json is not None or args.json_file:
        if args.json is not None:
            body = args.json.encode()
        else:
            with open(args.json_file, "rb") as f:
                body = f.read()
        if args.content_type != "":
            headers["Content-Type"] = args.content_type or "application/json"
    elif args.file:
        fields = dict(f.split("=", 1) for f in args.field or [])
        name, _, path = args.file.partition(":")
        with open(path, "rb") as f:
            body, headers["Content-Type"] = multipart(fields, {"file": (name, f.read())})
    started = time.monotonic()
    result: dict = {"status": None, "seconds": None, "body": "", "error": None}
    try:
        conn = http.client.HTTPSConnection(url.hostname, url.port, context=context(not args.system_cas), timeout=60)
        path = url.path + (f"?{url.query}" if url.query else "")
        conn.request(args.method, path, body=body, headers=headers)
        response = conn.getresponse()
        result["status"] = response.status
        result["body"] = response.read(2000).decode(errors="replace")
        conn.close()
    except (OSError, http.client.HTTPException) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def watch(url: str, seconds: float) -> dict:
    parts = urllib.parse.urlsplit(url)
    deadline, worst, failures, count = time.monotonic() + seconds, 0.0, 0, 0
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, context=context(True), timeout=10)
            conn.request("GET", parts.path)
            if conn.getresponse().status != 200:
                failures += 1
            conn.close()
        except (OSError, http.client.HTTPException):
            failures += 1
        worst = max(worst, time.monotonic() - started)
        count += 1
        time.sleep(0.1)
    return {"max_seconds": round(worst, 3), "failures": failures, "count": count}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("request", "parallel"):
        p = sub.add_parser(name)
        if name == "parallel":
            p.add_argument("n", type=int)
        p.add_argument("method")
        p.add_argument("url")
        p.add_argument("--key", help="a key to send (a wrong one: the gateway's key is read from --key-file)")
        p.add_argument("--key-file")
        p.add_argument("--body-bytes", type=int, default=0)
        p.add_argument("--json")
        p.add_argument("--json-file")
        p.add_argument("--content-type")
        p.add_argument("--file")
        p.add_argument("--field", action="append")
        p.add_argument("--system-cas", action="store_true")
    w = sub.add_parser("watch")
    w.add_argument("url")
    w.add_argument("seconds", type=float)
    args = parser.parse_args(argv)
    if args.command == "request":
        out = request(args)
    elif args.command == "parallel":
        with concurrent.futures.ThreadPoolExecutor(args.n) as pool:
            out = {"results": list(pool.map(lambda _: request(args), range(args.n)))}
    else:
        out = watch(args.url, args.seconds)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
