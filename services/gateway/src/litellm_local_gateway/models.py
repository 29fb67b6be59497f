"""Which endpoint each model alias serves, so that an alias sent to an endpoint of another mode is a 400, not a 500,
and a model nobody serves is OpenAI's 404 `model_not_found`.

LiteLLM's config (roles/litellm/templates/litellm.yaml.j2) gives each deployment a `model_info.mode`: `embedding`
for the `embedding` alias, `audio_transcription` for `asr`, none (chat) for the vLLM chat aliases. LiteLLM itself
sends such a request to the backend anyway (`embedding` on /v1/chat/completions reaches the embedding provider,
which fails with a 500; `completions` on /v1/audio/transcriptions gets vLLM's 404), and answers a model it does not
know with a 400 whose body is not quite OpenAI's (on the transcription route: `"type": "None"` and a Python dict
as the message). The catalog is read from LiteLLM's live router (`litellm.proxy.proxy_server.llm_router`) at each
request, so deployments added at run time count too. A deployment is named by its alias (`model_name`), its
`model_info.id` or its `litellm_params.model`, as LiteLLM routes all three. A name the catalog does not list is
refused only when the router would not route it either (no wildcard route, default deployment, pass-through,
`model_group_alias`, `litellm.model_alias_map` entry or comma list of models): when in doubt, LiteLLM decides.

This module does not import LiteLLM: it reads LiteLLM's modules only when LiteLLM has already loaded them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import Refusal

CHAT = "chat"
EMBEDDINGS = "embeddings"
TRANSCRIPTION = "transcription"

# The modes (LiteLLM's `model_info.mode`) each endpoint serves; a deployment without a mode is a chat model.
ENDPOINT_MODES: Mapping[str, frozenset[str]] = {
    CHAT: frozenset({"chat", "completion"}),
    EMBEDDINGS: frozenset({"embedding"}),
    TRANSCRIPTION: frozenset({"audio_transcription"}),
}
ENDPOINTS: Mapping[str, tuple[str, str]] = {
    CHAT: ("chat completions", "/v1/chat/completions"),
    EMBEDDINGS: ("embeddings", "/v1/embeddings"),
    TRANSCRIPTION: ("audio transcriptions", "/v1/audio/transcriptions"),
}
DEFAULT_MODE = "chat"
MODEL_NOT_FOUND = "model_not_found"


class Catalog:
    """The model names a gateway serves, each with its modes; `routable(name)` says whether LiteLLM would still
    route a name the catalog does not list (None: it would not)."""

    def __init__(self, modes: Mapping[str, frozenset[str]], routable: Callable[[str], bool] | None = None) -> None:
        self.modes = modes
        self.routable = routable

    def unknown(self, name: str) -> bool:
        return name not in self.modes and not (self.routable is not None and self.routable(name))


def deployment_modes(deployments: Iterable[Any]) -> dict[str, frozenset[str]]:
    """{name: the modes of the deployments it names} from a LiteLLM model list: by alias, id and model."""
    found: dict[str, set[str]] = {}
    for deployment in deployments:
        if not isinstance(deployment, Mapping):
            continue
        info = deployment.get("model_info")
        params = deployment.get("litellm_params")
        mode = info.get("mode") if isinstance(info, Mapping) else None
        mode = mode if isinstance(mode, str) and mode else DEFAULT_MODE
        names = [deployment.get("model_name")]
        names.append(info.get("id") if isinstance(info, Mapping) else None)
        names.append(params.get("model") if isinstance(params, Mapping) else None)
        for name in names:
            if isinstance(name, str) and name:
                found.setdefault(name, set()).add(mode)
    return {name: frozenset(modes) for name, modes in found.items()}


def _routes_anyway(router: Any, name: str) -> bool:
    """Whether LiteLLM's proxy (route_llm_request.route_request) would route `name` though no deployment lists it."""
    try:
        if "," in name:  # a comma list of models: LiteLLM's batch completion
            return True
        recognized = getattr(router, "is_recognized_model", None)  # ids, model_group_alias, routing groups
        if callable(recognized) and recognized(name):
            return True
        if name in (getattr(router, "deployment_names", None) or ()) or name in (
            getattr(router, "team_public_model_names", None) or ()
        ):
            return True
        if getattr(router, "default_deployment", None) is not None:
            return True
        if getattr(getattr(router, "pattern_router", None), "patterns", None):
            return True
        if getattr(getattr(router, "router_general_settings", None), "pass_through_all_models", False):
            return True
        litellm = sys.modules.get("litellm")
        if name in (getattr(litellm, "model_alias_map", None) or {}):
            return True
        proxy = sys.modules.get("litellm.proxy.proxy_server")
        return getattr(proxy, "user_model", None) is not None
    except Exception:  # a router this module does not understand: leave the name to LiteLLM
        return True


def live_catalog() -> Catalog | None:
    """The catalog of LiteLLM's running router, or None when there is none (LiteLLM's proxy not loaded, or its
    router not built yet): then nothing is refused."""
    proxy = sys.modules.get("litellm.proxy.proxy_server")
    router = getattr(proxy, "llm_router", None)
    model_list = getattr(router, "model_list", None)
    if not isinstance(model_list, list):
        return None
    modes = deployment_modes(model_list)
    group_aliases = getattr(router, "model_group_alias", None)
    for alias, target in (group_aliases if isinstance(group_aliases, Mapping) else {}).items():
        name = target.get("model") if isinstance(target, Mapping) else target
        if isinstance(alias, str) and isinstance(name, str) and name in modes:
            modes[alias] = modes.get(alias, frozenset()) | modes[name]
    return Catalog(modes, lambda name: _routes_anyway(router, name))


def _mode_words(mode: str) -> str:
    for endpoint, modes in ENDPOINT_MODES.items():
        if mode in modes:
            what, where = ENDPOINTS[endpoint]
            return f"{what}; use {where}"
    return f"`{mode}` requests"


def check_model(endpoint: str, model: Any, catalog: Catalog | None) -> Refusal | None:
    """For a request to `endpoint` (CHAT, EMBEDDINGS, TRANSCRIPTION): a 404 for a model nobody serves, a 400 for an
    alias that serves no mode of the endpoint; None otherwise (also when `model` is no string: the contract's)."""
    if catalog is None or not isinstance(model, str) or not model:
        return None
    served = catalog.modes.get(model)
    if served is None:
        if not catalog.unknown(model):
            return None
        return Refusal(
            f"`model`: the model `{model}` does not exist or you do not have access to it (GET /v1/models lists "
            "the models this gateway serves)",
            "model",
            404,
            MODEL_NOT_FOUND,
        )
    if served & ENDPOINT_MODES[endpoint]:
        return None
    what, where = ENDPOINTS[endpoint]
    serves = " and ".join(_mode_words(mode) for mode in sorted(served))
    return Refusal(f"`model`: the alias `{model}` serves {serves} ({where} is for {what})", "model")
