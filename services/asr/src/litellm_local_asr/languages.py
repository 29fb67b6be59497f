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


def openai_language_name(model_language: str) -> str:
    """verbose_json's `language`: the full name in lower case ("english"), the first one for mixed audio."""
    first = (model_language or "").split(",")[0].strip()
    return first.lower() if first else "unknown"
