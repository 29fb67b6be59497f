"""litellm-local-common: what the asr, embed and gateway services share, in the standard library only."""
