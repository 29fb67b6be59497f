"""LiteLLM plug-ins of litellm_local, loaded by the gateway through its config (see roles/litellm)."""
