"""`python -m litellm_local_client` is the `litellm-local` command."""

from .cli import main

main()
