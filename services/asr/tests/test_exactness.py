"""Exact answers: ordered timestamps inside the audio, well-formed SRT/VTT for any transcript, OpenAI's language
names, and json/verbose_json bodies that validate against OpenAI's published schemas."""

# ruff: noqa: RUF001  (CJK punctuation is the point of some cases)

from __future__ import annotations

import json
import random
import re
import unicodedata

import numpy as np
import pytest
from conftest import FakeEngine, encode, post, tone
from litellm_local_asr import audio, formats, languages
from litellm_local_asr.app import create_app
from litellm_local_asr.engine import Result
from litellm_local_asr.formats import Aligned, Word
from litellm_local_asr.settings import Settings
from strict import check_timeline, parse_srt, parse_vtt, unescape_vtt, validate

GRANULARITY_CASES = [[], ["word"], ["segment"], ["word", "segment"]]


class ScriptedEngine(FakeEngine):
    """Answers with a given text, language and alignment (None: no aligner; a callable gets the job)."""

    def __init__(self, text: str, language: str = "English", aligned=None) -> None:
        super().__init__(text)
        self.language = language
        self.aligned = aligned

    def transcribe(self, jobs):
        self.batches.append(len(jobs))
        out = []
        for job in jobs:
            aligned = self.aligned(job) if callable(self.aligned) else self.aligned
            out.append(Result(language=self.language, text=self.text, aligned=aligned if job.timestamps else None))
        return out


def _app(settings: Settings, engine):
    app = create_app(settings, engine=engine)
    app.testing = True
    return app


def _ids_and_order(body: dict) -> None:
    duration = body["duration"]
    if "words" in body:
        check_timeline(body["words"], duration, "words")
    if "segments" in body:
        check_timeline(body["segments"], duration, "segments")
        assert [s["id"] for s in body["segments"]] == list(range(len(body["segments"])))
        for prev, seg in zip(body["segments"], body["segments"][1:], strict=False):
            assert prev["end"] <= seg["start"], (prev, seg)


# --- 1. timestamps -------------------------------------------------------------------------------------------------


def test_a_word_end_never_goes_back_and_times_stay_inside_the_audio() -> None:
    items = [
        Aligned("a", 0.0, 5.0),  # past the end of the audio
        Aligned("b", 1.0, 2.0),  # ends before the previous word's end
        Aligned("c", 0.5, 0.7),  # starts before the previous start
        Aligned("d", float("nan"), float("inf")),
        Aligned("e", -3.0, -1.0),
        Aligned("f", 3.5, 3.2),  # end before start
    ]
    words = formats.words_from_alignment("a b c d e f", items, 4.0)
    assert [w.word for w in words] == ["a", "b", "c", "d", "e", "f"]
    check_timeline([{"start": w.start, "end": w.end} for w in words], 4.0, "words")
    assert words[1] == Word("b", 1.0, 4.0) and words[2] == Word("c", 1.0, 4.0) and words[5] == Word("f", 3.5, 4.0)


def test_monotonic_times_is_the_one_repair() -> None:
    spans = [(2.0, 1.0), (1.0, 3.0), (0.5, 2.5), (9.0, 9.5), (float("nan"), 1.0)]
    assert formats.monotonic_times(spans, 4.0) == [(2.0, 2.0), (2.0, 3.0), (2.0, 3.0), (4.0, 4.0), (4.0, 4.0)]
    assert formats.monotonic_times([(0.12345, 0.12355)], 1.0) == [(0.123, 0.124)]
    assert formats.monotonic_times([(1.0, 2.0)], float("nan")) == [(0.0, 0.0)]


@pytest.mark.parametrize("seed", range(40))
def test_random_alignments_give_ordered_words_and_segments(seed) -> None:
    rng = random.Random(seed)  # noqa: S311  (seeded: the same cases every run)
    duration = rng.choice([0.0, 0.4, 3.0, 61.7, 300.0])
    tokens = [
        rng.choice(["so", "we", "go.", "Now!", "a,", "b", "là", "x?", "...", "ok"]) for _ in range(rng.randint(0, 80))
    ]
    text = " ".join(tokens)

    def t() -> float:
        return rng.choice([rng.uniform(-5, duration + 5), float("nan"), float("inf"), -float("inf"), 0.0, duration])

    items = [Aligned(tok.strip(",.!?"), t(), t()) for tok in tokens if tok.strip(",.!?")]
    words = formats.words_from_alignment(text, items, duration)
    segs = formats.segments_from_words(text, words, duration, 0.0, lambda s: [1], max_chars=rng.choice([8, 20, 84]))
    body = formats.verbose_json(text, "english", duration, words, segs)
    _ids_and_order(body)
    parse_srt(formats.to_srt(segs), duration)
    parse_vtt(formats.to_vtt(segs), duration)


def test_server_repairs_a_bad_alignment_and_reports_the_decoded_duration(settings) -> None:
    samples = 23_456  # 1.466 s at 16 kHz
    data = encode(tone(samples / 16000), 16000)

    def backwards(job):
        return [Aligned("One", 0.9, 1.4), Aligned("two", 0.2, 0.5), Aligned("Three", 1.3, 9.0), Aligned("four", -1, 0)]

    app = _app(settings, ScriptedEngine("One two. Three four!", aligned=backwards))
    with app.test_client() as c:
        body = post(c, data, response_format="verbose_json", **{"timestamp_granularities[]": ["word", "segment"]}).json
    app.extensions["asr"]["batcher"].close()
    assert body["duration"] == round(samples / 16000, 3) == round(len(audio.decode(data, 30.0)) / 16000, 3)
    assert [w["word"] for w in body["words"]] == ["One", "two.", "Three", "four!"]
    _ids_and_order(body)
    assert body["words"][-1]["end"] == body["duration"]
    validate(body, "CreateTranscriptionResponseVerboseJson")


@pytest.mark.parametrize(("rate", "container"), [(44100, "flac"), (8000, "wav"), (48000, "ogg")])
def test_duration_is_the_decoded_length(client, rate, container) -> None:
    data = encode(tone(2.345, rate), rate, container)
    body = post(client, data, filename=f"a.{container}", response_format="verbose_json").json
    assert body["duration"] == round(len(audio.decode(data, 30.0)) / audio.SAMPLE_RATE, 3)
    assert abs(body["duration"] - 2.345) < 0.03
    _ids_and_order(body)


# --- 2. SRT and VTT ------------------------------------------------------------------------------------------------


NASTY = [
    "line one\n\nline two",
    "a --> b ---> c -- > d",
    "  leading\r\ntrailing  \r\r\n",
    "\n\nNOTE injected\n\n00:00:00.000 --> 00:00:05.000\nfake cue",
    "STYLE\n::cue { color: red }",
    "REGION\nid:x",
    "WEBVTT\n\n1",
    "2\n00:00:01,000 --> 00:00:02,000\nfake srt cue",
    "x\u2028y\u2029z\x85w\x0bv\x0cu",
    "<b>bold</b> & co &amp; &lt;",
    "tab\there\x00nul\x1bescape",
    "",
    "   \n\t\r\n ",
    "émoji 👩‍👩‍👧 עברית العربية 中文。",
]


def test_nasty_cue_text_cannot_break_srt_or_vtt() -> None:
    segs = [{"start": i * 1.0, "end": i * 1.0 + 0.5, "text": t} for i, t in enumerate(NASTY)]
    srt = formats.to_srt(segs)
    vtt = formats.to_vtt(segs)
    srt_cues, vtt_cues = parse_srt(srt), parse_vtt(vtt)
    kept = [t for t in NASTY if t.strip()]
    assert len(srt_cues) == len(vtt_cues) == len(kept)
    assert srt_cues[0].lines == ("line one", "line two")
    assert srt_cues[1].lines == ("a -> b -> c -- > d",)
    assert vtt_cues[3].lines[0] == "NOTE injected" and vtt_cues[3].lines[1] == "00:00:00.000 -> 00:00:05.000"
    assert vtt_cues[9].lines == ("&lt;b>bold&lt;/b> &amp; co &amp;amp; &amp;lt;",)
    assert srt_cues[9].lines == ("<b>bold</b> & co &amp; &lt;",)
    assert srt_cues[10].lines == ("tab herenulescape",)
    assert (
        [c.start for c in srt_cues]
        == [c.start for c in vtt_cues]
        == [float(i) for i, t in enumerate(NASTY) if t.strip()]
    )


@pytest.mark.parametrize(
    ("seconds", "srt", "vtt"),
    [
        (0.0, "00:00:00,000", "00:00:00.000"),
        (1.5, "00:00:01,500", "00:00:01.500"),
        (59.9996, "00:01:00,000", "00:01:00.000"),
        (3599.999, "00:59:59,999", "00:59:59.999"),
        (3661.25, "01:01:01,250", "01:01:01.250"),
        (360000.0, "100:00:00,000", "100:00:00.000"),
        (-2.0, "00:00:00,000", "00:00:00.000"),
        (float("nan"), "00:00:00,000", "00:00:00.000"),
    ],
)
def test_timestamps_are_formatted_exactly(seconds, srt, vtt) -> None:
    assert formats._timestamp(seconds, ",") == srt and formats._timestamp(seconds, ".") == vtt


def test_srt_numbers_cues_from_one_and_never_ends_before_it_starts() -> None:
    segs = [
        {"start": 2.0, "end": 1.0, "text": " a"},
        {"start": 2.0, "end": 3.0, "text": " "},
        {"start": 3, "end": 4, "text": "b"},
    ]
    assert formats.to_srt(segs) == "1\n00:00:02,000 --> 00:00:02,000\na\n\n2\n00:00:03,000 --> 00:00:04,000\nb\n\n"
    assert formats.to_srt([]) == "" and formats.to_vtt([]) == "WEBVTT\n\n"


_ALPHABET = [
    "a", "b", "Z", "9", " ", "  ", "\n", "\n\n", "\r", "\r\n", "\t", "-", "--", "-->", ">", "<", "&", ".", "!", "?",
    ",", "NOTE", "STYLE", "WEBVTT", "REGION", "1", "00:00:01,000", "中", "文", "。", "，", "」", "👍", "é", "\u0301",
    "\u2028", "\x00", "\x85", "\u200b", "\ufeff", "word", "sentence.", "ʕ•ᴥ•ʔ", "\x1c",
]  # fmt: skip


def _random_text(rng: random.Random) -> str:
    if rng.random() < 0.05:
        return ""
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, rng.choice([5, 40, 400]))))


def _canonical(text: str) -> str:
    """What cue text keeps of a transcript: everything but whitespace and control characters, "-->" as "->"."""
    kept = "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch) != "Cc")
    return re.sub(r"-{2,}>", "->", kept)


@pytest.mark.parametrize("seed", range(300))
def test_fuzzed_transcripts_give_strictly_valid_srt_and_vtt(seed) -> None:
    rng = random.Random(seed)  # noqa: S311  (seeded: the same cases every run)
    text = _random_text(rng)
    duration = rng.choice([0.0, 0.25, 7.5, 1199.999])
    max_chars = rng.choice([8, 30, 84])
    if rng.random() < 0.5:  # timed: an aligner that found every token, with times good and bad
        tokens = text.split()
        items = [Aligned(tok, rng.uniform(-1, duration + 1), rng.uniform(-1, duration + 1)) for tok in tokens]
        words = formats.words_from_alignment(text, items, duration)
    else:
        words = []
    segs = formats.segments_from_words(text, words, duration, 0.0, lambda s: [0], max_chars=max_chars)
    _ids_and_order(formats.verbose_json(text, "english", duration, words, segs))
    srt_cues = parse_srt(formats.to_srt(segs), duration)
    vtt_cues = parse_vtt(formats.to_vtt(segs), duration)
    assert [(c.start, c.end) for c in srt_cues] == [(c.start, c.end) for c in vtt_cues]
    assert _canonical("".join("".join(c.lines) for c in srt_cues)) == _canonical(text)
    assert _canonical("".join(unescape_vtt("".join(c.lines)) for c in vtt_cues)) == _canonical(text)
    if not words:
        assert all(len(s["text"].strip()) <= max_chars for s in segs)


# --- 2b. untimed transcripts are cut into cues of bounded length ----------------------------------------------------


LONG_TEXT = " ".join(f"word{i}" for i in range(200))  # no sentence end at all: ~1,400 characters


@pytest.mark.parametrize("aligned", [None, []], ids=["no-aligner", "empty-alignment"])
def test_an_untimed_long_transcript_is_cut_into_bounded_cues(aligned) -> None:
    settings = Settings(
        model="fake", aligner=None, max_upload_bytes=1_000_000, max_audio_seconds=30.0, max_cue_chars=40
    )
    app = _app(settings, ScriptedEngine(LONG_TEXT, aligned=aligned))
    data = encode(tone(20.0, 8000), 8000, "flac")
    with app.test_client() as c:
        srt = post(c, data, filename="a.flac", response_format="srt").get_data(as_text=True)
        vtt = post(c, data, filename="a.flac", response_format="vtt").get_data(as_text=True)
        body = post(c, data, filename="a.flac", response_format="verbose_json").json
    app.extensions["asr"]["batcher"].close()
    duration = body["duration"]
    assert abs(duration - 20.0) < 0.01
    cues = parse_srt(srt, duration)
    assert len(cues) >= len(LONG_TEXT) // 40 and all(len(line) <= 40 for c in cues for line in c.lines)
    assert cues[0].start == 0.0 and cues[-1].end == duration
    assert " ".join(line for c in cues for line in c.lines) == LONG_TEXT
    total = sum(len(line) for c in cues for line in c.lines)
    done = 0
    for cue in cues:  # times in proportion to the characters before each cue
        assert cue.start == pytest.approx(duration * done / total, abs=0.002)
        done += len(cue.lines[0])
    assert [(c.start, c.end) for c in parse_vtt(vtt, duration)] == [(c.start, c.end) for c in cues]
    _ids_and_order(body)
    assert len(body["segments"]) == len(cues)


def test_untimed_cjk_and_overlong_units_are_cut_too() -> None:
    cjk = "这是一个很长的句子没有任何标点符号" * 10 + "。结束了吗？是的」"
    segs = formats.segments_from_words(cjk, [], 10.0, 0.0, lambda s: [], max_chars=20)
    assert all(len(s["text"]) <= 20 for s in segs) and "".join(s["text"] for s in segs) == cjk
    assert segs[-1]["text"].endswith("是的」")
    url = "https://example.com/" + "x" * 200
    segs = formats.segments_from_words(f"see {url} now", [], 5.0, 0.0, lambda s: [], max_chars=50)
    assert all(len(s["text"].strip()) <= 50 for s in segs) and "".join(s["text"].strip() for s in segs).startswith(
        "see"
    )
    assert formats.segments_from_words("short text", [], 4.25, 0.0, lambda s: [])[0]["end"] == 4.25


def test_timed_segments_are_bounded_by_max_chars() -> None:
    words = [Word(f"w{i:02d}", i * 0.1, i * 0.1 + 0.05) for i in range(60)]
    segs = formats.segments_from_words(" ".join(w.word for w in words), words, 10.0, 0.0, lambda s: [], max_chars=20)
    assert all(len(s["text"].strip()) <= 20 for s in segs) and len(segs) == 12


def test_max_cue_chars_setting(monkeypatch) -> None:
    assert Settings(model="fake").max_cue_chars == 84
    monkeypatch.setenv("ASR_MAX_CUE_CHARS", "42")
    assert Settings(model="fake").max_cue_chars == 42


# --- 4. language as OpenAI gives it ----------------------------------------------------------------------------------


def test_every_qwen_language_maps_to_openais_name() -> None:
    for code, name in languages.ISO_TO_NAME.items():
        expected = "tagalog" if name == "Filipino" else name.lower()  # Whisper's (OpenAI's) name for Filipino
        for spelling in (name, name.upper(), name.lower(), f" {name} ", code, code.upper()):
            assert languages.openai_language_name(spelling) == expected, spelling
    assert languages.openai_language_name("en-US") == "english"
    assert languages.openai_language_name("zh_Hans") == "chinese"
    assert languages.openai_language_name("Chinese,English") == "chinese"
    assert languages.openai_language_name("Xyzzy", "German") == "german"
    assert languages.openai_language_name("", None) == "unknown"
    assert set(languages.OPENAI_NAMES.values()) >= {"english", "chinese", "cantonese", "tagalog", "haitian creole"}


@pytest.mark.parametrize(
    ("reported", "forced", "expected"),
    [
        ("English", None, "english"),
        ("ENGLISH", None, "english"),
        ("en", None, "english"),
        ("zh-CN", None, "chinese"),
        ("Chinese,English", None, "chinese"),
        ("Cantonese", None, "cantonese"),
        ("Filipino", None, "tagalog"),
        ("", "ja", "japanese"),
        ("Gibberish", "de", "german"),
        ("", None, "unknown"),
    ],
)
def test_verbose_json_language_is_openais_lowercase_name(settings, reported, forced, expected) -> None:
    app = _app(settings, ScriptedEngine("Hello.", language=reported))
    fields = {"response_format": "verbose_json"}
    if forced:
        fields["language"] = forced
    with app.test_client() as c:
        body = post(c, encode(tone(1.0), 16000), **fields).json
    app.extensions["asr"]["batcher"].close()
    assert body["language"] == expected
    validate(body, "CreateTranscriptionResponseVerboseJson")


# --- 5. OpenAI's schemas -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("granularities", GRANULARITY_CASES, ids=lambda g: "+".join(g) or "default")
@pytest.mark.parametrize(
    "engine",
    [
        FakeEngine(),
        ScriptedEngine("Untimed words here. And more.", aligned=None),
        ScriptedEngine("", aligned=[]),
        ScriptedEngine(
            "你好，世界。再见！",
            "Chinese",
            lambda j: [Aligned(c, 0.1 * i, 0.1 * i + 0.1) for i, c in enumerate("你好世界再见")],
        ),
    ],
    ids=["timed", "untimed", "empty", "cjk"],
)
def test_json_and_verbose_json_validate_against_openais_schemas(settings, engine, granularities) -> None:
    app = _app(settings, engine)
    with app.test_client() as c:
        plain = post(c, encode(tone(1.7), 16000))
        verbose = post(
            c, encode(tone(1.7), 16000), response_format="verbose_json", **{"timestamp_granularities[]": granularities}
        )
    app.extensions["asr"]["batcher"].close()
    assert plain.status_code == verbose.status_code == 200
    validate(json.loads(plain.get_data()), "CreateTranscriptionResponseJson")
    body = json.loads(verbose.get_data())
    validate(body, "CreateTranscriptionResponseVerboseJson")
    _ids_and_order(body)
    assert ("words" in body) == ("word" in granularities)


def test_the_schema_check_catches_what_it_should() -> None:
    good = {
        "language": "english",
        "duration": 1.0,
        "text": "x",
        "segments": [],
        "usage": {"type": "duration", "seconds": 1},
    }
    validate(good, "CreateTranscriptionResponseVerboseJson")
    bad_cases = [
        {k: v for k, v in good.items() if k != "language"},
        {**good, "duration": "1.0"},
        {**good, "words": [{"word": "x", "start": 0.0}]},
        {**good, "segments": [{"id": 0}]},
        {**good, "usage": {"type": "tokens", "seconds": 1}},
    ]
    for bad in bad_cases:
        with pytest.raises(AssertionError):
            validate(bad, "CreateTranscriptionResponseVerboseJson")
    with pytest.raises(AssertionError):
        validate({"error": {"message": "m", "type": "t", "param": None}}, "ErrorResponse")
    validate({"error": {"message": "m", "type": "t", "param": None, "code": None}}, "ErrorResponse")


def test_error_bodies_validate_against_openais_schema(client) -> None:
    for r in (
        post(client, b""),
        post(client, b"garbage" * 10),
        post(client, encode(tone(1.0), 16000), response_format="xml"),
        post(client, b"\0" * 1_200_000),
    ):
        assert r.status_code in (400, 413) and r.mimetype == "application/json"
        validate(r.json, "ErrorResponse")


def test_segments_never_hold_nan(settings) -> None:
    engine = ScriptedEngine("A b c.", aligned=lambda j: [Aligned(w, np.nan, np.inf) for w in "Abc"])
    app = _app(settings, engine)
    with app.test_client() as c:
        raw = post(
            c,
            encode(tone(1.0), 16000),
            response_format="verbose_json",
            **{"timestamp_granularities[]": ["word", "segment"]},
        )
    app.extensions["asr"]["batcher"].close()
    body = json.loads(raw.get_data())  # strict JSON: NaN would not parse back as a number the schema accepts
    validate(body, "CreateTranscriptionResponseVerboseJson")
    _ids_and_order(body)
