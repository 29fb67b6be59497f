"""Entry point: `litellm-local-embed` (or `python -m litellm_local_embed`) serves create_app(get_settings())."""

from __future__ import annotations

import sys

import uvicorn
from litellm_local_common.logs import configure

from .app import create_app
from .settings import get_settings


def main() -> None:
    settings = get_settings()
    configure(settings.log_level, settings.log_format)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,  # one line per request comes from the app itself, with its latency
        log_config=None,  # keep the root logger configured above (text or JSON)
        timeout_graceful_shutdown=30,
    )
    if app.state.exit_code:
        sys.exit(app.state.exit_code)


if __name__ == "__main__":
    main()
