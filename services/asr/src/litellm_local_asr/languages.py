"""ISO-639-1 codes <-> the language names Qwen3-ASR uses ("en" <-> "English")."""

from __future__ import annotations

from litellm_local_asr.errors import APIError

# Qwen3-ASR's 30 languages. Cantonese and Filipino have no ISO-639-1 code: their ISO-639-3 codes are accepted.
ISO_TO_NAME: dict[str, str] = {
    "zh": "Chinese",
    "en": "English",
    "yue": "Cantonese",
    "ar": "Arabic",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "pt": "Portuguese",
    "id": "Indonesian",
    "it": "Italian",
    "ko": "Korean",
    "ru": "Russian",
    "th": "Thai",
    "vi": "Vietnamese",
    "ja": "Japanese",
    "tr": "Turkish",
    "hi": "Hindi",
    "ms": "Malay",
    "nl": "Dutch",
    "sv": "Swedish",
    "da": "Danish",
    "fi": "Finnish",
    "pl": "Polish",
    "cs": "Czech",
    "fil": "Filipino",
    "fa": "Persian",
    "el": "Greek",
    "ro": "Romanian",
    "hu": "Hungarian",
    "mk": "Macedonian",
}
ALIASES = {"tl": "fil"}
NAME_TO_ISO = {name: code for code, name in ISO_TO_NAME.items()}

# Languages Qwen3-ForcedAligner times (the others get one segment for the whole audio and no words).
ALIGNER_LANGUAGES = frozenset(
    {
        "Chinese",
        "English",
        "Cantonese",
        "French",
        "German",
        "Italian",
        "Japanese",
        "Korean",
        "Portuguese",
        "Russian",
        "Spanish",
    }
)


def to_model_language(code: str | None) -> str | None:
    """The model's name for an ISO-639-1 code; None when the client let the model detect it."""
    if code is None or not code.strip():
        return None
    key = code.strip().lower()
    key = ALIASES.get(key, key)
    if key in ISO_TO_NAME:
        return ISO_TO_NAME[key]
    supported = ", ".join(sorted(ISO_TO_NAME))
    raise APIError(
        f"Unsupported language '{code}'. Use an ISO-639-1 code, one of: {supported}.",
        param="language",
        code="unsupported_language",
    )


# verbose_json's `language` as OpenAI answers it: Whisper's language names, lower case ("english", not "en").
# Whisper's code -> name table; Qwen3-ASR's names are all in it, Filipino as Whisper's "tagalog".
OPENAI_NAMES: dict[str, str] = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian", "ko": "korean",
    "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish", "pl": "polish", "ca": "catalan",
    "nl": "dutch", "ar": "arabic", "sv": "swedish", "it": "italian", "id": "indonesian", "hi": "hindi",
    "fi": "finnish", "vi": "vietnamese", "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay",
    "cs": "czech", "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian", "la": "latin",
    "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak", "te": "telugu", "fa": "persian",
    "lv": "latvian", "bn": "bengali", "sr": "serbian", "az": "azerbaijani", "sl": "slovenian", "kn": "kannada",
    "et": "estonian", "mk": "macedonian", "br": "breton", "eu": "basque", "is": "icelandic", "hy": "armenian",
    "ne": "nepali", "mn": "mongolian", "bs": "bosnian", "kk": "kazakh", "sq": "albanian", "sw": "swahili",
    "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala", "km": "khmer", "sn": "shona",
    "yo": "yoruba", "so": "somali", "af": "afrikaans", "oc": "occitan", "ka": "georgian", "be": "belarusian",
    "tg": "tajik", "sd": "sindhi", "gu": "gujarati", "am": "amharic", "yi": "yiddish", "lo": "lao",
    "uz": "uzbek", "fo": "faroese", "ht": "haitian creole", "ps": "pashto", "tk": "turkmen", "nn": "nynorsk",
    "mt": "maltese", "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar", "bo": "tibetan", "tl": "tagalog",
    "mg": "malagasy", "as": "assamese", "tt": "tatar", "haw": "hawaiian", "ln": "lingala", "ha": "hausa",
    "ba": "bashkir", "jw": "javanese", "su": "sundanese", "yue": "cantonese",
}  # fmt: skip
# Other spellings of those languages (Whisper's aliases, ISO-639-3 and -2 codes, Qwen3-ASR's "Filipino").
_OTHER_NAMES = {
    "fil": "tl", "filipino": "tl", "jv": "jw", "javanese": "jw", "zho": "zh", "chi": "zh", "mandarin": "zh",
    "eng": "en", "deu": "de", "ger": "de", "fra": "fr", "fre": "fr", "spa": "es", "castilian": "es",
    "por": "pt", "rus": "ru", "jpn": "ja", "kor": "ko", "ita": "it", "ara": "ar", "nld": "nl", "dut": "nl",
    "flemish": "nl", "ind": "id", "tha": "th", "vie": "vi", "tur": "tr", "hin": "hi", "msa": "ms", "may": "ms",
    "swe": "sv", "dan": "da", "fin": "fi", "pol": "pl", "ces": "cs", "cze": "cs", "fas": "fa", "per": "fa",
    "farsi": "fa", "ell": "el", "gre": "el", "ron": "ro", "rum": "ro", "moldavian": "ro", "moldovan": "ro",
    "hun": "hu", "mkd": "mk", "mac": "mk", "valencian": "ca", "burmese": "my", "haitian": "ht",
    "letzeburgesch": "lb", "pushto": "ps", "panjabi": "pa", "sinhalese": "si", "iw": "he", "in": "id",
}  # fmt: skip
_BY_SPELLING = {
    **{code: code for code in OPENAI_NAMES},
    **{name: code for code, name in OPENAI_NAMES.items()},
    **_OTHER_NAMES,
}


def openai_language_name(*reported: str | None) -> str:
    """verbose_json's `language`: OpenAI's lower-case English name ("english") for the first of `reported` that
    names a language, whether as qwen-asr's name ("English"), in any case, or as an ISO-639 code, with a region
    ("en-US", "zh_Hans") or not; the first language of mixed audio ("Chinese,English"). "unknown" when none does."""
    for value in reported:
        for part in (value or "").split(","):
            name = _openai_name(part)
            if name:
                return name
    return "unknown"


def _openai_name(value: str) -> str | None:
    key = " ".join(value.strip().lower().replace("_", "-").split())
    code = _BY_SPELLING.get(key) or _BY_SPELLING.get(key.split("-")[0])
    return OPENAI_NAMES[code] if code else None
