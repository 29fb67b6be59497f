"""litellm_local speech-to-text server: Qwen3-ASR with word and segment timestamps behind the OpenAI contract."""
