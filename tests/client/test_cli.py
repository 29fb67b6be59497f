"""The `litellm-local` command through click's CliRunner, against the fake gateway: output, files, stdin, progress
and the documented exit codes."""

from __future__ import annotations

import json

import httpx2
import pytest
from click.testing import CliRunner, Result
from litellm_local_client.cli import cli

from tests.client.fakes import BASE_URL, KEY, FakeGateway, error, parse_form, pdf, png, wav


@pytest.fixture
def run(gateway: FakeGateway, sleeps):
    def invoke(*args: str, input: str | bytes | None = None, key: str = KEY) -> Result:
        runner = CliRunner()
        return runner.invoke(
            cli,
            ["--base-url", BASE_URL, "--api-key", key, *args],
            input=input,
            obj={"http_client": gateway.http_client()},
            catch_exceptions=False,
        )

    return invoke


COMMANDS = ["chat", "ocr", "embed", "transcribe", "models", "health"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_teaches_with_examples(command: str | None) -> None:
    result = CliRunner().invoke(cli, [command, "--help"] if command else ["--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output
    if command is None:
        assert "Exit codes:" in result.output
        assert all(c in result.output for c in COMMANDS)


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and "litellm-local, version" in result.output


# -- chat -------------------------------------------------------------------------------------------------------------


def test_chat_streams_the_answer(run, gateway: FakeGateway) -> None:
    result = run("chat", "one two three")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "echo: one two three\n"
    assert json.loads(gateway.requests[0].content)["stream"] is True
    assert "cut at --max-tokens" in result.stderr  # the fake ends streams with finish_reason=length


def test_chat_reads_stdin_and_prints_json(run, gateway: FakeGateway, tmp_path) -> None:
    image = tmp_path / "p.png"
    image.write_bytes(png(12, 12))
    result = run("chat", "--json", "-i", str(image), "-s", "terse", "--max-tokens", "5", input="What is this?\n")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["text"] == "What is this?\n images=[(12, 12)]"
    assert answer["usage"]["total_tokens"] == 8 and answer["finish_reason"] == "stop"
    body = json.loads(gateway.requests[0].content)
    assert "stream" not in body and body["max_tokens"] == 5


def test_chat_without_a_prompt_is_a_usage_error(run) -> None:
    result = run("chat", input="   \n")
    assert result.exit_code == 2 and "prompt is empty" in result.stderr


# -- ocr --------------------------------------------------------------------------------------------------------------


def test_ocr_of_a_pdf_to_a_file(run, gateway: FakeGateway, tmp_path) -> None:
    source = tmp_path / "doc.pdf"
    source.write_bytes(pdf([(50, 50), (70, 40)]))
    out = tmp_path / "doc.md"
    result = run("ocr", str(source), "--task", "table", "--scale", "1", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_text() == "Table Recognition: images=[(50, 50)]\n\nTable Recognition: images=[(70, 40)]\n"
    assert result.stdout == "" and "wrote" in result.stderr
    assert len(gateway.requests) == 2


def test_ocr_json_from_stdin(run) -> None:
    result = run("ocr", "-", "--json", "--task", "formula", input=png(20, 10))
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["task"] == "formula" and answer["model"] == "ocr"
    assert answer["pages"][0]["text"] == "Formula Recognition: images=[(20, 10)]"


def test_ocr_progress_per_page_when_asked(gateway: FakeGateway, sleeps) -> None:
    result = CliRunner().invoke(
        cli,
        ["--base-url", BASE_URL, "--api-key", KEY, "--progress", "ocr", "-", "--scale", "1"],
        input=pdf([(30, 30), (30, 30), (30, 30)]),
        obj={"http_client": gateway.http_client()},
    )
    assert result.exit_code == 0, result.stderr
    assert "page 3/3 done" in result.stderr


def test_ocr_of_a_missing_file_is_a_usage_error(run, tmp_path) -> None:
    result = run("ocr", str(tmp_path / "nope.png"))
    assert result.exit_code == 2 and "does not exist" in result.stderr


# -- embed ------------------------------------------------------------------------------------------------------------


def test_embed_texts_prints_a_summary(run) -> None:
    result = run("embed", "a", "b", "-d", "6")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("#0  dims=6") and lines[1].startswith("#1  dims=6")


def test_embed_stdin_lines_as_json(run, gateway: FakeGateway) -> None:
    result = run("embed", "--json", "--encoding-format", "float", input="first\n\nsecond\n")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["dimensions"] == 8 and [d["index"] for d in answer["data"]] == [0, 1]
    assert json.loads(gateway.requests[0].content)["input"] == ["first", "second"]


def test_embed_images_pairs_and_jsonl(run, gateway: FakeGateway, tmp_path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(png(5, 5))
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps("plain") + "\n" + json.dumps({"text": "t", "instruction": "Find"}) + "\n")
    out = tmp_path / "v.json"
    result = run(
        "embed",
        "hello",
        "--image",
        str(image),
        "--image-text",
        str(image),
        "a cat",
        "--jsonl",
        str(items),
        "--instruction",
        "Represent",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(out.read_text())["data"]) == 5
    body = json.loads(gateway.requests[0].content)
    assert body["instruction"] == "Represent"
    kinds = [sorted(i) if isinstance(i, dict) else "str" for i in body["input"]]
    assert kinds == ["str", ["image"], ["image", "text"], "str", ["instruction", "text"]]


def test_embed_bad_jsonl_is_a_usage_error(run, tmp_path) -> None:
    items = tmp_path / "bad.jsonl"
    items.write_text('{"pixels": 1}\n')
    result = run("embed", "--jsonl", str(items))
    assert result.exit_code == 2 and "line 1" in result.stderr


# -- transcribe -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "fmt", "start"),
    [(".srt", "srt", "1\n00:00:00,000 --> "), (".vtt", "vtt", "WEBVTT\n"), (".txt", "text", "hello world")],
)
def test_transcribe_to_a_subtitle_file(run, gateway: FakeGateway, tmp_path, suffix, fmt, start) -> None:
    audio = tmp_path / "talk.wav"
    audio.write_bytes(wav())
    out = tmp_path / f"talk{suffix}"
    result = run("transcribe", str(audio), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert parse_form(gateway.requests[0]).fields["response_format"] == [fmt]
    assert out.read_text().startswith(start)
    assert result.stdout == ""


def test_transcribe_stdin_with_word_timestamps_as_json(run, gateway: FakeGateway) -> None:
    result = run("transcribe", "-", "--timestamps", "word", "--language", "en", "--json", input=wav())
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["response_format"] == "verbose_json" and answer["duration"] == 1.5
    assert [w["word"] for w in answer["words"]] == ["hello", "world"]
    form = parse_form(gateway.requests[0])
    assert form.fields["timestamp_granularities[]"] == ["word"] and form.fields["language"] == ["en"]


def test_transcribe_segments_print_as_timed_lines(run, tmp_path) -> None:
    audio = tmp_path / "a.wav"
    audio.write_bytes(wav())
    result = run("transcribe", str(audio), "--timestamps", "segment")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "[    0.00 ->     1.50] hello world\n"


def test_transcribe_vtt_to_stdout(run, tmp_path) -> None:
    audio = tmp_path / "a.wav"
    audio.write_bytes(wav())
    result = run("transcribe", str(audio), "--format", "vtt")
    assert result.exit_code == 0 and result.stdout.startswith("WEBVTT")


def test_transcribe_progress_shows_the_upload_and_the_wait(gateway: FakeGateway, sleeps, tmp_path) -> None:
    audio = tmp_path / "long.wav"
    audio.write_bytes(wav(10.0))
    args = ["--base-url", BASE_URL, "--api-key", KEY, "--progress", "transcribe", str(audio)]
    result = CliRunner().invoke(cli, args, obj={"http_client": gateway.http_client()})
    assert result.exit_code == 0, result.stderr
    assert "uploading 100%" in result.stderr and "waiting for the server" in result.stderr
    assert result.stdout == "hello world\n"


def test_no_progress_when_stderr_is_not_a_terminal(run, tmp_path) -> None:
    audio = tmp_path / "a.wav"
    audio.write_bytes(wav())
    result = run("transcribe", str(audio))
    assert result.exit_code == 0 and result.stderr == ""


def test_transcribe_timestamps_with_srt_is_a_usage_error(run, tmp_path) -> None:
    audio = tmp_path / "a.wav"
    audio.write_bytes(wav())
    result = run("transcribe", str(audio), "--format", "srt", "--timestamps", "word")
    assert result.exit_code == 2 and "verbose_json" in result.stderr


# -- rerank -----------------------------------------------------------------------------------------------------------


def test_rerank_prints_index_score_and_document_best_first(run, gateway: FakeGateway) -> None:
    result = run("rerank", "gpu memory", "cats sleep", "gpu memory limits", "memory\nof cats")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "#1  1.0000  gpu memory limits",
        "#2  0.5000  memory of cats",
        "#0  0.0000  cats sleep",
    ]
    body = json.loads(gateway.requests[0].content)
    assert body["model"] == "rerank" and body["return_documents"] is False and "top_n" not in body


def test_rerank_images_and_top_n_as_json(run, gateway: FakeGateway, tmp_path) -> None:
    wide, narrow = tmp_path / "wide.png", tmp_path / "narrow.png"
    wide.write_bytes(png(800, 10))
    narrow.write_bytes(png(100, 10))
    args = ["rerank", "gpu", "gpu text", "--image", str(narrow), "-i", str(wide), "--top-n", "2", "--json"]
    result = run(*args, "--instruction", "Find")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["model"] == "rerank" and answer["id"] == "rerank-1" and answer["usage"]["total_tokens"] == 21
    assert answer["results"] == [
        {"index": 0, "relevance_score": 1.0, "document": "gpu text", "image": None},
        {"index": 2, "relevance_score": 0.8, "document": None, "image": str(wide)},
    ]
    body = json.loads(gateway.requests[0].content)
    assert body["top_n"] == 2 and body["instruction"] == "Find"
    assert body["documents"][0] == "gpu text"
    assert body["documents"][1]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")


def test_rerank_an_image_prints_as_given(run, tmp_path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(png(500, 10))
    result = run("rerank", "cat", "a dog", "--image", str(image))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"#1  0.5000  [image] {image}", "#0  0.0000  a dog"]


def test_rerank_reads_documents_from_stdin_lines(run, gateway: FakeGateway) -> None:
    result = run("rerank", "cats", "-n", "1", input="dogs bark\n\ncats purr\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "#1  1.0000  cats purr\n"
    assert json.loads(gateway.requests[0].content)["documents"] == ["dogs bark", "cats purr"]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["rerank", "q", "a", "--top-n", "0"], None, "--top-n"),
        (["rerank", "q"], "\n  \n", "nothing to rerank"),
        (["rerank", " ", "a"], None, "query is empty"),
        (["rerank", "q", "--image", "missing.png"], None, "does not exist"),
    ],
)
def test_rerank_bad_input_is_a_usage_error(run, gateway: FakeGateway, args, stdin, message) -> None:
    result = run(*args, input=stdin)
    assert result.exit_code == 2 and message in result.stderr
    assert gateway.requests == []


def test_rerank_of_an_unknown_model_exits_4(run) -> None:
    result = run("rerank", "q", "a", "--model", "nope", "--json")
    assert result.exit_code == 4
    assert json.loads(result.stderr)["error"]["type"] == "ModelNotFoundError"


def test_rerank_help_and_the_sdks_alias_defaults() -> None:
    from litellm_local_client import Aliases
    from litellm_local_client.cli import chat, embed, ocr, rerank, transcribe

    result = CliRunner().invoke(cli, ["rerank", "--help"])
    assert result.exit_code == 0 and "Examples:" in result.output
    assert "rerank" in CliRunner().invoke(cli, ["--help"]).output
    defaults = {
        c.name: next(p.default for p in c.params if p.name == "model") for c in (chat, ocr, embed, transcribe, rerank)
    }
    aliases = Aliases()
    assert defaults == {
        "chat": aliases.chat,
        "ocr": aliases.ocr,
        "embed": aliases.embedding,
        "transcribe": aliases.asr,
        "rerank": aliases.rerank,
    }


# -- models, health ---------------------------------------------------------------------------------------------------


def test_models(run) -> None:
    result = run("models")
    assert result.exit_code == 0 and result.stdout.split() == ["completions", "ocr"]
    listed = json.loads(run("models", "--json").stdout)
    assert [m["id"] for m in listed] == ["completions", "ocr"]


def test_health_ok(run) -> None:
    result = run("health", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["ok"] is True


def test_health_not_ready_exits_5(run, gateway: FakeGateway) -> None:
    gateway.ready = False
    result = run("health")
    assert result.exit_code == 5
    assert "ready: no" in result.stdout


# -- exit codes -------------------------------------------------------------------------------------------------------


def test_wrong_key_exits_3(run) -> None:
    result = run("models", key="sk-wrong")
    assert result.exit_code == 3
    assert result.stderr.startswith("litellm-local: error: listing models was refused (HTTP 401)")


def test_bad_request_exits_4_and_names_the_model(run) -> None:
    result = run("chat", "hi", "--model", "nope")
    assert result.exit_code == 4 and "'nope'" in result.stderr and "litellm-local models" in result.stderr


def test_server_error_after_retries_exits_5(run, gateway: FakeGateway) -> None:
    gateway.script["/v1/models"] = [503] * 3
    result = run("--max-retries", "2", "models")
    assert result.exit_code == 5
    assert gateway.attempts("/v1/models") == 3


def test_connection_error_exits_6_with_json_error(run, gateway: FakeGateway) -> None:
    gateway.script["/v1/embeddings"] = [httpx2.ConnectError("refused")] * 4
    result = run("embed", "x", "--json")
    assert result.exit_code == 6
    err = json.loads(result.stderr)["error"]
    assert err["type"] == "ConnectionFailedError" and err["exit_code"] == 6 and "OPENAI_BASE_URL" in err["hint"]


def test_rate_limited_exits_5(run, gateway: FakeGateway) -> None:
    gateway.script["/v1/models"] = [error(429, "too many")] * 4
    result = run("models")
    assert result.exit_code == 5 and "rate limited" in result.stderr


def test_missing_configuration_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(cli, ["models"], env={"OPENAI_BASE_URL": None, "OPENAI_API_KEY": None})
    assert result.exit_code == 2 and "OPENAI_BASE_URL" in result.stderr
    result = CliRunner().invoke(cli, ["--base-url", BASE_URL, "models"], env={"OPENAI_API_KEY": None})
    assert result.exit_code == 2 and "OPENAI_API_KEY" in result.stderr


def test_unknown_option_exits_2() -> None:
    assert CliRunner().invoke(cli, ["ocr", "x.png", "--task", "poetry"]).exit_code == 2


def test_main_is_the_console_script() -> None:
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "litellm-local"]
    assert script.value == "litellm_local_client.cli:main"


def test_transcribe_a_long_file_in_pieces_to_srt(gateway: FakeGateway, sleeps, tmp_path) -> None:
    audio = tmp_path / "lecture.wav"
    audio.write_bytes(wav(25.0, pauses=((8.8, 9.4), (18.0, 18.6))))
    out = tmp_path / "lecture.srt"
    args = ["--base-url", BASE_URL, "--api-key", KEY, "--progress", "transcribe", str(audio), "--chunk", "10"]
    result = CliRunner().invoke(cli, [*args, "-o", str(out)], obj={"http_client": gateway.http_client()})
    assert result.exit_code == 0, result.stderr
    assert gateway.attempts("/v1/audio/transcriptions") == 3
    assert "piece 3/3: uploading 100%" in result.stderr
    assert [c.split("\n")[0] for c in out.read_text().strip().split("\n\n")] == ["1", "2", "3"]
