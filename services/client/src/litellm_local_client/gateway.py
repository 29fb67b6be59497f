"""What the gateway itself answers, not a model behind an alias: the aliases it serves and its health."""

from __future__ import annotations

import re

import httpx2

from . import errors
from .core import ClientCore
from .results import Health, ModelInfo


class GatewayMixin(ClientCore):
    def models(self) -> list[ModelInfo]:
        """The aliases the gateway serves (GET /v1/models)."""
        with self._errors("listing models"):
            page = self.openai.models.list(timeout=self._timeout(self.timeouts.models))
            return [
                ModelInfo(id=m.id, owned_by=getattr(m, "owned_by", None), created=getattr(m, "created", None))
                for m in page
            ]

    @property
    def root_url(self) -> str:
        """The gateway's address without the /v1 suffix: where its health endpoints are."""
        return re.sub(r"/v1$", "", str(self.base_url))

    def health(self) -> Health:
        """Liveliness (the process answers) and readiness (it can serve). No retries: health reports the moment.
        Raises ConnectionFailedError when the gateway cannot be reached at all."""
        quick = self.openai.with_options(max_retries=0, timeout=self._timeout(self.timeouts.health))
        try:
            with self._errors("health check"):
                quick.get(self.root_url + "/health/liveliness", cast_to=httpx2.Response)
        except errors.ConnectionFailedError:
            raise
        except errors.ClientError as err:
            return Health(live=False, ready=False, error=str(err))
        try:
            with self._errors("readiness check"):
                response = quick.get(self.root_url + "/health/readiness", cast_to=httpx2.Response)
        except errors.ClientError as err:
            return Health(live=True, ready=False, error=str(err))
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        status = str(body.get("status", "healthy")).lower()
        ready = status in ("healthy", "connected", "ok")
        return Health(
            live=True,
            ready=ready,
            version=body.get("litellm_version"),
            readiness=body,
            error=None if ready else f"readiness reports status {status!r}",
        )
