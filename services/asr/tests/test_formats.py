"""Word mapping, clamping, segments and subtitle formats."""

# ruff: noqa: RUF001  (CJK punctuation is the point of these tests)

from __future__ import annotations

from litellm_local_asr import formats, languages
from litellm_local_asr.formats import Aligned, Word


def test_words_keep_the_transcripts_spelling_and_punctuation() -> None:
    text = '"Hello," she said. It\'s 5 p.m.!'
    items = [Aligned(t, i, i + 0.5) for i, t in enumerate(["Hello", "she", "said", "It's", "5", "pm"])]
    words = formats.words_from_alignment(text, items, 10.0)
    assert [w.word for w in words] == ['"Hello,"', "she", "said.", "It's", "5", "p.m.!"]


def test_cjk_characters_map_without_spaces() -> None:
    text = "你好，世界。"
    items = [Aligned(c, i * 0.3, i * 0.3 + 0.2) for i, c in enumerate("你好世界")]
    words = formats.words_from_alignment(text, items, 2.0)
    assert [w.word for w in words] == ["你", "好，", "世", "界。"]
    segs = formats.segments_from_words(text, words, 2.0, 0.0, lambda s: [1])
    assert [s["text"] for s in segs] == ["你好，世界。"]


def test_times_are_clamped_and_ordered() -> None:
    items = [Aligned("a", 5.0, 4.0), Aligned("b", 1.0, 2.0), Aligned("c", 125.0, 130.0), Aligned("d", -1, float("nan"))]
    words = formats.words_from_alignment("a b c d", items, 3.0)
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start <= w.end <= 3.0 for w in words)


def test_no_words_gives_one_segment_over_the_audio() -> None:
    segs = formats.segments_from_words("some text", [], 4.25, 0.0, lambda s: [1, 2])
    assert len(segs) == 1 and segs[0]["start"] == 0.0 and segs[0]["end"] == 4.25
    assert formats.segments_from_words("", [], 4.25, 0.0, lambda s: []) == []


def test_long_sentences_are_split_at_30_seconds() -> None:
    words = [Word(f"w{i}", i * 2.0, i * 2.0 + 1.0) for i in range(40)]
    segs = formats.segments_from_words(" ".join(w.word for w in words), words, 80.0, 0.0, lambda s: [])
    assert len(segs) >= 3 and all(s["end"] - s["start"] <= 30.0 for s in segs)
    assert [s["id"] for s in segs] == list(range(len(segs)))


def test_srt_and_vtt_timestamps() -> None:
    segs = [{"start": 0.0, "end": 1.5, "text": " One."}, {"start": 3661.25, "end": 3662.0, "text": " Two."}]
    assert (
        formats.to_srt(segs) == "1\n00:00:00,000 --> 00:00:01,500\nOne.\n\n2\n01:01:01,250 --> 01:01:02,000\nTwo.\n\n"
    )
    assert formats.to_vtt(segs) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nOne.\n\n01:01:01.250 --> 01:01:02.000\nTwo.\n"
    )


def test_language_mapping() -> None:
    assert languages.to_model_language("EN") == "English"
    assert languages.to_model_language("yue") == "Cantonese"
    assert languages.to_model_language("tl") == "Filipino"
    assert languages.to_model_language("") is None
    assert languages.openai_language_name("Chinese,English") == "chinese"
    assert languages.openai_language_name("") == "unknown"
    assert len(languages.ISO_TO_NAME) == 30
