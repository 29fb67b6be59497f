"""Local inputs turned into what the API takes: images as URLs or data URLs, PDFs as page images, audio as uploads."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from .errors import InputError

# A path (str or PathLike), raw bytes, or (images only) an http(s) or data URL.
ImageInput = str | os.PathLike[str] | bytes
AudioInput = str | os.PathLike[str] | bytes | IO[bytes]
ProgressCallback = Callable[[int, int], None]

_IMAGE_SIGNATURES: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
]
_IMAGE_EXTENSIONS = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}
_AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".webm": "audio/webm",
}


def is_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://", "data:"))


def is_pdf(data: bytes) -> bool:
    return data[:1024].lstrip().startswith(b"%PDF-")


def sniff_image_type(data: bytes) -> str | None:
    for signature, mime in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def read_input(value: str | os.PathLike[str] | bytes, what: str) -> tuple[bytes, str | None]:
    """(bytes, file name or None) of a path or bytes; InputError naming the file when it cannot be read."""
    if isinstance(value, bytes | bytearray):
        return bytes(value), None
    path = Path(value)
    try:
        return path.read_bytes(), path.name
    except FileNotFoundError:
        raise InputError(f"{what} {str(path)!r} does not exist", "Check the path") from None
    except IsADirectoryError:
        raise InputError(f"{what} {str(path)!r} is a directory", "Pass a file") from None
    except OSError as err:
        raise InputError(f"{what} {str(path)!r} cannot be read", detail=str(err)) from None


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_url(image: ImageInput) -> str:
    """An http(s) or data URL passes through; a path or bytes becomes a data URL of the right media type."""
    if is_url(image):
        return str(image)
    data, name = read_input(image, "image")
    mime = sniff_image_type(data) or (_IMAGE_EXTENSIONS.get(Path(name).suffix.lower()) if name else None)
    if mime is None:
        label = repr(name) if name else "the image bytes"
        raise InputError(
            f"{label} is not a PNG, JPEG, GIF, WebP, BMP or TIFF image",
            "Convert it to PNG or JPEG (for a PDF use ocr, which renders its pages)",
        )
    return data_url(data, mime)


def parse_pages(spec: str | None, count: int) -> list[int]:
    """1-based page numbers from "1-3,5" (None: every page), checked against the document's page count."""
    if not spec:
        return list(range(1, count + 1))
    pages: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        try:
            if "-" in part:
                first, _, last = part.partition("-")
                lo, hi = int(first or 1), int(last or count)
                pages.extend(range(lo, hi + 1))
            else:
                pages.append(int(part))
        except ValueError:
            raise InputError(f"bad page range {spec!r}", "Use page numbers and ranges such as 1-3,5") from None
    bad = [p for p in pages if not 1 <= p <= count]
    if bad:
        raise InputError(f"page {bad[0]} is outside the document's {count} pages", "Pick pages from 1 to " + str(count))
    return pages


def render_pdf(data: bytes, *, pages: str | None = None, scale: float = 2.0) -> Iterator[tuple[int, int, bytes]]:
    """(page number, page count, PNG bytes) for each selected page, rendered one at a time with pypdfium2.

    scale 2.0 renders at 144 dpi, enough for OCR of body text without sending huge images."""
    import pypdfium2 as pdfium  # type: ignore[import-untyped]

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as err:
        raise InputError(
            "the PDF cannot be opened", "Check that the file is a complete, unencrypted PDF", detail=str(err)
        ) from None
    try:
        count = len(document)
        if count == 0:
            raise InputError("the PDF has no pages")
        selected = parse_pages(pages, count)
        for number in selected:
            page = document[number - 1]
            try:
                bitmap = page.render(scale=scale)
                image = bitmap.to_pil()
                buf = io.BytesIO()
                image.save(buf, format="PNG")
            finally:
                page.close()
            yield number, len(selected), buf.getvalue()
    finally:
        document.close()


def sniff_audio_suffix(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return ".wav"
    if data.startswith(b"fLaC"):
        return ".flac"
    if data.startswith(b"OggS"):
        return ".ogg"
    if data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return ".mp3"
    if data[4:8] == b"ftyp":
        return ".m4a"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return ".webm"
    return None


class ProgressReader(io.RawIOBase):
    """A seekable, read-only view of a file or bytes that reports (bytes read, total) as the upload reads it.

    Seekable so that the openai client can rewind it and replay the upload on a retry."""

    def __init__(self, raw: IO[bytes], total: int, callback: ProgressCallback | None) -> None:
        super().__init__()
        self._raw = raw
        self._total = total
        self._callback = callback

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def read(self, size: int | None = -1) -> bytes:
        chunk = self._raw.read(-1 if size is None else size)
        if self._callback is not None and chunk:
            self._callback(self._raw.tell(), self._total)
        return chunk

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        self._raw.close()
        super().close()


@dataclass
class AudioUpload:
    """The multipart `file` of a transcription: a name whose extension tells the server the format, the content
    type, and a reader. Use as a context manager so a file opened here is closed."""

    name: str
    content_type: str
    reader: ProgressReader
    size: int

    def as_file(self) -> tuple[str, IO[bytes], str]:
        return (self.name, cast(IO[bytes], self.reader), self.content_type)

    def __enter__(self) -> AudioUpload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reader.close()


def open_audio(
    audio: AudioInput, *, filename: str | None = None, progress: ProgressCallback | None = None
) -> AudioUpload:
    """An upload of a path (streamed from disk, not read into memory), bytes or a binary file object."""
    raw: IO[bytes]
    if isinstance(audio, bytes | bytearray):
        raw = io.BytesIO(bytes(audio))
        size = len(audio)
        head = bytes(audio[:16])
        name = filename or "audio" + (sniff_audio_suffix(head) or ".wav")
    elif isinstance(audio, str | os.PathLike):
        path = Path(audio)
        if not path.is_file():
            raise InputError(f"audio file {str(path)!r} does not exist", "Check the path")
        raw = path.open("rb")
        size = path.stat().st_size
        name = filename or path.name
    else:
        raw = audio
        try:  # the upload always starts at the beginning of the stream (httpx seeks to 0)
            size = raw.seek(0, io.SEEK_END)
            raw.seek(0)
        except (OSError, AttributeError):
            raw = io.BytesIO(raw.read())
            size = len(raw.getbuffer())
        given = getattr(audio, "name", None)
        name = filename or (Path(given).name if isinstance(given, str) and given else "audio")
    if size == 0:
        raw.close()
        raise InputError("the audio is empty", "Pass a non-empty audio file")
    suffix = Path(name).suffix.lower()
    if suffix not in _AUDIO_TYPES:
        start = raw.tell()
        sniffed = sniff_audio_suffix(raw.read(16))
        raw.seek(start)
        if sniffed:
            name, suffix = Path(name).stem + sniffed, sniffed
    content_type = _AUDIO_TYPES.get(suffix, "application/octet-stream")
    return AudioUpload(name=name, content_type=content_type, reader=ProgressReader(raw, size, progress), size=size)


def image_items(images: Sequence[ImageInput]) -> list[dict[str, object]]:
    """Chat content parts for images, in order."""
    return [{"type": "image_url", "image_url": {"url": image_url(img)}} for img in images]
