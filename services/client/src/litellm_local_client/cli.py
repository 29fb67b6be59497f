"""The `litellm-local` command: chat, ocr, embed, transcribe, rerank, models and health against the gateway."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, cast

import click
import httpx2

from . import __version__, errors
from .client import OCR_PROMPTS, TRANSCRIPT_FORMATS, Aliases, Client, EmbedInput, RerankImage, Timeouts
from .progress import Progress
from .results import Granularity, OcrTask, Transcript, TranscriptFormat

EXIT_CODES = """\b
Exit codes:
  0  success
  1  unexpected failure
  2  usage: bad arguments, unreadable input, no base URL or key
  3  authentication: the key is missing or wrong (HTTP 401/403)
  4  bad request: the gateway refused the request (HTTP 4xx), e.g. an unknown model
  5  server: HTTP 5xx or 429 after retries, or the gateway is not ready
  6  connection: the gateway cannot be reached or did not answer in time
"""

MAIN_HELP = f"""Use the litellm_local gateway from the shell: chat, OCR, embeddings, transcription, reranking.

The gateway's address and key come from --base-url/--api-key or OPENAI_BASE_URL/OPENAI_API_KEY.
Failed requests are retried (connection errors, 429, 5xx) with backoff; see --max-retries.

\b
Examples:
  export OPENAI_BASE_URL=http://gateway:8200/v1 OPENAI_API_KEY=sk-...
  litellm-local health
  litellm-local chat "Why is the sky blue?"
  litellm-local ocr scan.pdf --task table -o tables.md
  litellm-local embed "first text" "second text" --dimensions 256 --json
  litellm-local transcribe talk.mp3 -o talk.srt
  litellm-local rerank "GPU memory" "about cats" "VRAM sizes of GPUs" --top-n 1

{EXIT_CODES}"""

SUFFIX_FORMATS: dict[str, TranscriptFormat] = {".srt": "srt", ".vtt": "vtt", ".txt": "text", ".json": "json"}
# Defaults of --model and --timeout: the SDK's own (each capability module's DEFAULT_ALIAS; core.Timeouts).
ALIASES = Aliases()
TIMEOUTS = Timeouts()


@dataclass
class State:
    base_url: str | None
    api_key: str | None
    timeout: float | None
    max_retries: int
    progress: bool
    http_client: httpx2.Client | None = None  # tests inject a transport here (runner.invoke(..., obj={...}))
    ca_file: str | None = None

    def client(self) -> Client:
        timeouts = Timeouts().scaled(self.timeout) if self.timeout else Timeouts()
        return Client(
            self.base_url,
            self.api_key,
            max_retries=self.max_retries,
            timeouts=timeouts,
            http_client=self.http_client,
            ca_file=self.ca_file,
        )


class _Group(click.Group):
    """Turns the SDK's errors into one line on stderr (JSON with --json) and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except errors.ClientError as err:
            if ctx.meta.get("litellm_local.json"):
                click.echo(
                    json.dumps(
                        {
                            "error": {
                                "type": type(err).__name__,
                                "message": str(err),
                                "what": err.what,
                                "hint": err.hint,
                                "detail": err.detail,
                                "status_code": err.status_code,
                                "exit_code": err.exit_code,
                            }
                        }
                    ),
                    err=True,
                )
            else:
                click.echo(f"litellm-local: error: {err}", err=True)
            ctx.exit(err.exit_code)


def _state(ctx: click.Context) -> State:
    return cast(State, ctx.find_root().obj)


def _json_option(f: Any) -> Any:
    def mark(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value:
            ctx.meta["litellm_local.json"] = True
        return value

    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        callback=mark,
        expose_value=True,
        is_eager=True,
        help="Print the result (and errors, on stderr) as JSON.",
    )(f)


def _dump(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _usage_error(message: str) -> NoReturn:
    raise click.UsageError(message)


def _stdin_text(what: str) -> str:
    stream = sys.stdin
    if stream.isatty():
        _usage_error(f"give {what} as an argument or on standard input")
    return stream.read()


def _read_source(source: str) -> str | bytes:
    """'-' reads binary standard input; anything else (a path or URL) is passed on."""
    if source == "-":
        data = sys.stdin.buffer.read()
        if not data:
            _usage_error("standard input is empty")
        return data
    return source


@click.group(
    cls=_Group, help=MAIN_HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
@click.option(
    "--base-url",
    envvar="OPENAI_BASE_URL",
    show_envvar=True,
    metavar="URL",
    help="The gateway's OpenAI base URL, e.g. https://gateway:8200/v1.",
)
@click.option("--api-key", envvar="OPENAI_API_KEY", show_envvar=True, metavar="KEY", help="The gateway's key.")
@click.option(
    "--ca-file",
    envvar="LITELLM_LOCAL_CA_FILE",
    show_envvar=True,
    metavar="PATH",
    help="The CA that verifies the gateway's TLS certificate (the deploy prints its path) [default: SSL_CERT_FILE, "
    "else the system's CAs].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    metavar="SECONDS",
    help=f"Read timeout for every request [default: per capability: chat {TIMEOUTS.chat:g}, "
    f"ocr {TIMEOUTS.ocr:g} a page, embed {TIMEOUTS.embed:g}, transcribe {TIMEOUTS.transcribe:g}, "
    f"rerank {TIMEOUTS.rerank:g}].",
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Retries on connection errors, 429 and 5xx, with exponential backoff.",
)
@click.option(
    "--progress/--no-progress", default=None, help="Progress on stderr [default: on when stderr is a terminal]."
)
@click.version_option(__version__, prog_name="litellm-local")
@click.pass_context
def cli(
    ctx: click.Context,
    base_url: str | None,
    api_key: str | None,
    ca_file: str | None,
    timeout: float | None,
    max_retries: int,
    progress: bool | None,
) -> None:
    injected = ctx.obj if isinstance(ctx.obj, dict) else {}
    ctx.obj = State(
        base_url=base_url,
        api_key=api_key,
        timeout=timeout,
        max_retries=max_retries,
        progress=sys.stderr.isatty() if progress is None else progress,
        http_client=injected.get("http_client"),
        ca_file=ca_file,
    )


# -- chat -------------------------------------------------------------------------------------------------------------


@cli.command(
    epilog="""\b
Examples:
  litellm-local chat "Write a haiku about GPUs"
  echo "Summarise: ..." | litellm-local chat
  litellm-local chat -i photo.jpg "What is in this picture?"
  litellm-local chat -i https://example.com/chart.png "Read the chart" --json
  litellm-local chat -s "Answer in French" "How are you?" --max-tokens 64"""
)
@click.argument("prompt", required=False)
@click.option(
    "-i",
    "--image",
    "images",
    multiple=True,
    metavar="PATH|URL",
    help="An image for the model (repeatable): a file, an http(s) URL or a data URL.",
)
@click.option("-s", "--system", help="A system message.")
@click.option("-m", "--model", default=ALIASES.chat, show_default=True, help="The gateway alias.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Most tokens to generate.")
@click.option("--temperature", type=click.FloatRange(min=0), help="Sampling temperature.")
@click.option("--no-stream", is_flag=True, help="Wait for the whole answer instead of streaming it.")
@_json_option
@click.pass_context
def chat(
    ctx: click.Context,
    prompt: str | None,
    images: tuple[str, ...],
    system: str | None,
    model: str,
    max_tokens: int | None,
    temperature: float | None,
    no_stream: bool,
    as_json: bool,
) -> None:
    """Chat with a model; PROMPT, or standard input when PROMPT is - or absent. The answer streams to stdout."""
    text = _stdin_text("a prompt") if prompt is None or prompt == "-" else prompt
    if not text.strip():
        _usage_error("the prompt is empty")
    client = _state(ctx).client()
    kwargs: dict[str, Any] = {
        "images": images,
        "system": system,
        "model": model,
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    if as_json or no_stream:
        result = client.chat(text, **kwargs)
        if as_json:
            _dump(result.to_dict())
        else:
            click.echo(result.text)
        return
    out = sys.stdout
    with client.chat_stream(text, **kwargs) as stream:
        for delta in stream:
            out.write(delta)
            out.flush()
    out.write("\n")
    if stream.finish_reason == "length":
        click.echo("litellm-local: the answer was cut at --max-tokens", err=True)


# -- ocr --------------------------------------------------------------------------------------------------------------


@cli.command(
    epilog="""\b
Examples:
  litellm-local ocr receipt.jpg
  litellm-local ocr report.pdf --pages 1-3 -o report.md
  litellm-local ocr invoice.pdf --task table --json
  litellm-local ocr equation.png --task formula
  cat scan.png | litellm-local ocr -"""
)
@click.argument("source", metavar="FILE")
@click.option(
    "-t",
    "--task",
    type=click.Choice(list(OCR_PROMPTS)),
    default="text",
    show_default=True,
    help="What to recognise: running text, tables or formulas.",
)
@click.option("--pages", metavar="RANGES", help="PDF pages to read, e.g. 1-3,5 [default: all].")
@click.option(
    "--scale",
    type=click.FloatRange(min=0.25, max=8),
    default=2.0,
    show_default=True,
    help="PDF rendering scale (x 72 dpi).",
)
@click.option("-m", "--model", default=ALIASES.ocr, show_default=True, help="The gateway alias.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Most tokens to generate per page.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the text (JSON with --json) to this file instead of stdout.",
)
@_json_option
@click.pass_context
def ocr(
    ctx: click.Context,
    source: str,
    task: str,
    pages: str | None,
    scale: float,
    model: str,
    max_tokens: int | None,
    output: Path | None,
    as_json: bool,
) -> None:
    """Read text, tables or formulas from FILE: an image, a multi-page PDF (each page in turn), a URL, or - for
    standard input."""
    state = _state(ctx)
    client = state.client()
    done = []
    with Progress(state.progress) as progress:
        progress.step("ocr: preparing")
        for page, total in client.ocr_pages(
            _read_source(source), task=cast(OcrTask, task), model=model, pages=pages, scale=scale, max_tokens=max_tokens
        ):
            done.append(page)
            progress.step(f"ocr: page {len(done)}/{total} done")
    from .results import OcrResult

    result = OcrResult(task=cast(OcrTask, task), model=model, pages=done)
    text = json.dumps(result.to_dict(), ensure_ascii=False, indent=2) if as_json else result.text
    _emit(text, output)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text)
        return
    output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    click.echo(f"litellm-local: wrote {output}", err=True)


# -- embed ------------------------------------------------------------------------------------------------------------


@cli.command(
    epilog="""\b
Items are embedded in this order: TEXTs, --image, --image-text, then --jsonl lines.
Examples:
  litellm-local embed "a cat" "a dog"
  litellm-local embed --image cat.jpg --image dog.png --json
  litellm-local embed --image-text cat.jpg "a photo of a cat" --dimensions 512
  printf 'first\\nsecond\\n' | litellm-local embed --json > vectors.json
  litellm-local embed --jsonl items.jsonl   # lines: "text" or {"text": ..., "image": ..., "instruction": ...}"""
)
@click.argument("texts", nargs=-1, metavar="[TEXT]...")
@click.option("-i", "--image", "images", multiple=True, metavar="PATH|URL", help="An image item (repeatable).")
@click.option(
    "--image-text",
    "pairs",
    multiple=True,
    nargs=2,
    metavar="PATH|URL TEXT",
    help="An item of an image and its text together (repeatable).",
)
@click.option(
    "--jsonl",
    "jsonl",
    type=click.File("r"),
    metavar="FILE",
    help='Items as JSON lines (- for stdin): a string, or {"text", "image", "instruction"}.',
)
@click.option("--instruction", help="The task instruction for every item (multimodal request).")
@click.option("-d", "--dimensions", type=click.IntRange(min=1), help="Truncate vectors to this many dimensions.")
@click.option(
    "--encoding-format",
    type=click.Choice(["float", "base64"]),
    help="Wire format (vectors print as floats either way) [default: float].",
)
@click.option("-m", "--model", default=ALIASES.embedding, show_default=True, help="The gateway alias.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the JSON result to this file.",
)
@_json_option
@click.pass_context
def embed(
    ctx: click.Context,
    texts: tuple[str, ...],
    images: tuple[str, ...],
    pairs: tuple[tuple[str, str], ...],
    jsonl: Any,
    instruction: str | None,
    dimensions: int | None,
    encoding_format: str | None,
    model: str,
    output: Path | None,
    as_json: bool,
) -> None:
    """Embed texts, images or image+text items. With no items given, each line of standard input is a text."""
    items: list[str | EmbedInput] = list(texts)
    items += [EmbedInput(image=img) for img in images]
    items += [EmbedInput(image=img, text=text) for img, text in pairs]
    if jsonl is not None:
        for number, line in enumerate(jsonl, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                _usage_error(f"--jsonl line {number} is not JSON: {err}")
            if isinstance(value, str):
                items.append(value)
            elif isinstance(value, dict) and set(value) <= {"text", "image", "instruction"}:
                items.append(EmbedInput(**value))
            else:
                _usage_error(f'--jsonl line {number}: expected a string or {{"text", "image", "instruction"}}')
    if not items:
        items = [line for line in _stdin_text("texts").splitlines() if line.strip()]
        if not items:
            _usage_error("nothing to embed: standard input has no text lines")
    client = _state(ctx).client()
    result = client.embed(
        items, model=model, dimensions=dimensions, instruction=instruction, encoding_format=encoding_format
    )
    data = {
        "model": result.model,
        "dimensions": result.dimensions,
        "usage": result.usage.to_dict() if result.usage else None,
        "data": [{"index": i, "embedding": v} for i, v in enumerate(result.vectors)],
    }
    if as_json or output is not None:
        _emit(json.dumps(data), output) if output is not None else _dump(data)
        return
    for i, vector in enumerate(result.vectors):
        head = ", ".join(f"{x:+.4f}" for x in vector[:4])
        norm = sum(x * x for x in vector) ** 0.5
        click.echo(f"#{i}  dims={len(vector)}  norm={norm:.4f}  [{head}, ...]")


# -- transcribe -------------------------------------------------------------------------------------------------------


@cli.command(
    epilog="""\b
The format of -o follows its suffix (.srt, .vtt, .txt, .json) unless --format is given.
Examples:
  litellm-local transcribe meeting.wav
  litellm-local transcribe talk.mp3 -o talk.srt
  litellm-local transcribe talk.mp3 --format vtt > talk.vtt
  litellm-local transcribe interview.m4a --language de --timestamps word --json
  litellm-local transcribe call.ogg --timestamps segment --timestamps word -o call.json
  litellm-local transcribe lecture-2h.wav --chunk 600 -o lecture.srt
  cat note.flac | litellm-local transcribe -"""
)
@click.argument("source", metavar="FILE")
@click.option("-l", "--language", metavar="CODE", help="The spoken language as ISO-639-1 (en, de, zh, ...).")
@click.option("-p", "--prompt", help="Context: names, terms or the preceding text.")
@click.option("--temperature", type=click.FloatRange(min=0, max=1), help="Sampling temperature.")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(list(TRANSCRIPT_FORMATS)),
    help="The response format [default: from -o's suffix; verbose_json with --timestamps; else text].",
)
@click.option(
    "--timestamps",
    multiple=True,
    type=click.Choice(["word", "segment"]),
    help="Word and/or segment timestamps (repeatable); implies verbose_json.",
)
@click.option(
    "--chunk",
    "chunk_seconds",
    type=click.FloatRange(min=10),
    metavar="SECONDS",
    help="Long files: split audio longer than SECONDS at pauses, transcribe the pieces in turn and merge them "
    "(WAV, or any format with PyAV installed). E.g. --chunk 600.",
)
@click.option("-m", "--model", default=ALIASES.asr, show_default=True, help="The gateway alias.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the transcript (srt, vtt, text or JSON) to this file.",
)
@_json_option
@click.pass_context
def transcribe(
    ctx: click.Context,
    source: str,
    language: str | None,
    prompt: str | None,
    temperature: float | None,
    fmt: str | None,
    timestamps: tuple[str, ...],
    chunk_seconds: float | None,
    model: str,
    output: Path | None,
    as_json: bool,
) -> None:
    """Transcribe FILE (wav, flac, ogg, mp3, m4a, webm; - for standard input), OpenAI-style. Shows upload progress
    and the time spent waiting for long files."""
    if fmt is None:
        if timestamps or as_json:
            fmt = "verbose_json"
        elif output is not None and output.suffix.lower() in SUFFIX_FORMATS:
            fmt = SUFFIX_FORMATS[output.suffix.lower()]
        else:
            fmt = "text"
    if timestamps and fmt != "verbose_json":
        _usage_error(f"--timestamps needs the verbose_json format, not {fmt}")
    state = _state(ctx)
    client = state.client()
    audio = _read_source(source)
    with Progress(state.progress) as progress:
        transcript = client.transcribe(
            audio,
            model=model,
            language=language,
            prompt=prompt,
            temperature=temperature,
            response_format=cast(TranscriptFormat, fmt),
            timestamps=cast(tuple[Granularity, ...], timestamps),
            progress=progress.upload,
            chunk_seconds=chunk_seconds,
            on_piece=progress.piece,
        )
    if as_json:
        _emit(json.dumps(transcript.to_dict(), ensure_ascii=False, indent=2), output)
    elif output is not None:
        _emit(_file_body(transcript), output)
    else:
        click.echo(_human(transcript, timestamps))


def _file_body(t: Transcript) -> str:
    if t.body is not None:
        return t.body
    if t.response_format == "verbose_json":
        return json.dumps(
            {k: v for k, v in t.to_dict().items() if k not in ("body", "response_format")}, ensure_ascii=False, indent=2
        )
    return json.dumps({"text": t.text}, ensure_ascii=False)


def _human(t: Transcript, timestamps: tuple[str, ...]) -> str:
    if t.body is not None:
        return t.body.rstrip("\n")
    if "segment" in timestamps and t.segments:
        return "\n".join(f"[{s.start:8.2f} -> {s.end:8.2f}] {s.text.strip()}" for s in t.segments)
    if "word" in timestamps and t.words:
        return "\n".join(f"[{w.start:8.2f} -> {w.end:8.2f}] {w.word}" for w in t.words)
    return t.text


# -- rerank -----------------------------------------------------------------------------------------------------------


@cli.command(
    epilog="""\b
Documents are numbered in this order: DOCs, then --image; with neither, each line of standard input is a document.
Prints one line per document, most relevant first: #index, score, the document.
Examples:
  litellm-local rerank "capital of France" "Paris is the capital of France." "Berlin is in Germany."
  litellm-local rerank "a cat on a sofa" --image cat.jpg --image dog.png --top-n 1
  grep -h . notes/*.txt | litellm-local rerank "GPU memory" --top-n 5 --json
  litellm-local rerank --instruction "Find hardware facts" "GPU memory" "about cats" "VRAM sizes" -n 1"""
)
@click.argument("query")
@click.argument("documents", nargs=-1, metavar="[DOC]...")
@click.option(
    "-i",
    "--image",
    "images",
    multiple=True,
    metavar="PATH|URL",
    help="An image document (repeatable): a file, an http(s) URL or a data URL.",
)
@click.option("-n", "--top-n", type=click.IntRange(min=1), metavar="N", help="Keep the N most relevant [default: all].")
@click.option("--instruction", help="The task instruction, for rerankers that take one.")
@click.option("-m", "--model", default=ALIASES.rerank, show_default=True, help="The gateway alias.")
@_json_option
@click.pass_context
def rerank(
    ctx: click.Context,
    query: str,
    documents: tuple[str, ...],
    images: tuple[str, ...],
    top_n: int | None,
    instruction: str | None,
    model: str,
    as_json: bool,
) -> None:
    """Order documents (texts and images) by their relevance to QUERY."""
    if not query.strip():
        _usage_error("the query is empty")
    texts = list(documents)
    if not texts and not images:
        texts = [line for line in _stdin_text("documents").splitlines() if line.strip()]
        if not texts:
            _usage_error("nothing to rerank: standard input has no text lines")
    items: list[str | RerankImage] = [*texts, *(RerankImage(image) for image in images)]
    result = _state(ctx).client().rerank(query, items, top_n=top_n, model=model, instruction=instruction)
    shown = [*texts, *images]  # what each index stands for: the text, or the image as given
    if as_json:
        _dump(
            {
                "model": result.model,
                "id": result.id,
                "usage": result.usage.to_dict() if result.usage else None,
                "results": [
                    {
                        "index": r.index,
                        "relevance_score": r.relevance_score,
                        "document": shown[r.index] if r.index < len(texts) else None,
                        "image": shown[r.index] if r.index >= len(texts) else None,
                    }
                    for r in result
                ],
            }
        )
        return
    for r in result:
        label = _one_line(shown[r.index]) if r.index < len(texts) else f"[image] {_one_line(shown[r.index])}"
        click.echo(f"#{r.index}  {r.relevance_score:.4f}  {label}")


def _one_line(text: str, width: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


# -- models, health ---------------------------------------------------------------------------------------------------


@cli.command(
    epilog="""\b
Examples:
  litellm-local models
  litellm-local models --json | jq -r '.[].id'"""
)
@_json_option
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    """List the model aliases the gateway serves."""
    listed = _state(ctx).client().models()
    if as_json:
        _dump([m.to_dict() for m in listed])
    else:
        for m in listed:
            click.echo(m.id)


@cli.command(
    epilog="""\b
Exits 0 when live and ready, 5 when it answers but is not ready, 6 when it cannot be reached.
Examples:
  litellm-local health
  litellm-local health --json"""
)
@_json_option
@click.pass_context
def health(ctx: click.Context, as_json: bool) -> None:
    """Check the gateway's liveliness and readiness."""
    result = _state(ctx).client().health()
    if as_json:
        _dump({**result.to_dict(), "ok": result.ok})
    else:
        click.echo(f"live:  {'yes' if result.live else 'no'}")
        click.echo(f"ready: {'yes' if result.ready else 'no'}")
        if result.version:
            click.echo(f"version: {result.version}")
        if result.error:
            click.echo(f"litellm-local: {result.error}", err=True)
    if not result.ok:
        ctx.exit(errors.EXIT_SERVER)


def main() -> None:
    cli(prog_name="litellm-local")


if __name__ == "__main__":
    main()
