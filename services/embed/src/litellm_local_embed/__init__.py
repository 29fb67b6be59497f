"""litellm-local-embed: an OpenAI-compatible embedding server for Qwen3-VL-Embedding (text, images, both)."""

__version__ = "0.1.0"
