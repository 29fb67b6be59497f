"""The LiteLLM callback that installs the request guard (guard.py) around the proxy's application, once.

Listed in litellm.yaml.j2 as `litellm_local_gateway.guard.request_guard` (guard.py hands this module's instance
out under that name) or, equally, `litellm_local_gateway.guard_callback.request_guard`. The limits are read from
the environment here, once per worker process; a malformed value stops the gateway at start. The guard reads the
aliases' modes from LiteLLM's router at each request (models.live_catalog).
"""

from __future__ import annotations

import logging

from litellm.integrations.custom_logger import CustomLogger

from .guard import install
from .models import live_catalog
from .settings import GatewaySettings

log = logging.getLogger(__name__)


class RequestGuardCallback(CustomLogger):
    """Loaded by LiteLLM from `litellm_settings.callbacks`; installs the guard once, when created."""

    def __init__(self) -> None:
        super().__init__()
        settings = GatewaySettings.from_env()
        try:
            from litellm.proxy.proxy_server import app
        except ImportError:  # litellm used as a library, without its proxy
            return
        if install(app, settings, live_catalog):
            log.info("litellm_local_gateway.guard: request guard installed (%s)", settings)


request_guard = RequestGuardCallback()
