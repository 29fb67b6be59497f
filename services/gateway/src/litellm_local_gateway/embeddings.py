"""The `embedding` alias's provider: one request shape for text, image and image+text embeddings.

Clients send OpenAI's `POST /v1/embeddings`. `input` is a string or a list whose items are strings or objects
`{"text"?, "image"?, "instruction"?}` (an image as a data URL), with an optional top-level `instruction`; token-id
inputs are passed through as they are. LiteLLM forwards such a list unchanged, but vLLM's `input` field refuses
objects and skips the chat template, so this provider sends every item to the backend in vLLM's chat form — the
Qwen3-VL-Embedding recipe (system instruction, user turn with the image then the text, `add_generation_prompt`;
embedding_request.py, the recipe shared with our server) — at most LITELLM_LOCAL_EMBED_CONCURRENCY at once, and
assembles one OpenAI response in input order. Both backends (vLLM `--runner pooling` and our Pascal server) accept
that chat form, so the alias can point at either, or both as replicas.

The gateway's guard checks the input count and image URLs before LiteLLM runs; this provider checks them again
(LITELLM_LOCAL_MAX_EMBEDDING_INPUTS, and an image must be a data: URL or an http(s) URL of a host in
LITELLM_LOCAL_ALLOWED_MEDIA_DOMAINS), since LiteLLM may reach it from other routes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import litellm
from litellm.llms.custom_llm import CustomLLM, CustomLLMError
from litellm.types.utils import EmbeddingResponse, Usage

from .embedding_request import ItemRefused, chat_request
from .policy import count_embedding_inputs
from .settings import MAX_EMBEDDING_INPUTS, GatewaySettings

PROVIDER = "litellm-local-embed"
PASSED_PARAMS = ("dimensions", "encoding_format", "user")
# Items handled between two yields to the event loop while requests are built and results assembled.
YIELD_EVERY = 32

# LiteLLM refuses every OpenAI embedding parameter (`dimensions`, `encoding_format`, ...) for a custom provider
# unless the provider is listed as OpenAI-compatible; ours takes exactly OpenAI's parameters, so say so. (The list
# only drives parameter checks: embedding calls still reach this handler through `custom_provider_map`.)
if PROVIDER not in litellm.openai_compatible_providers:
    litellm.openai_compatible_providers.append(PROVIDER)


def _is_token_ids(item: Any) -> bool:
    return isinstance(item, int) or (isinstance(item, list) and all(isinstance(t, int) for t in item))


def _backend_error(response: httpx.Response) -> CustomLLMError:
    try:
        body = response.json()
        message = body.get("error", {}).get("message") if isinstance(body.get("error"), dict) else body.get("message")
        message = message or body.get("detail") or response.text
    except ValueError:
        message = response.text
    status = response.status_code if 400 <= response.status_code < 600 else 502
    return CustomLLMError(status_code=status, message=f"embedding backend: {str(message)[:1000]}")


class MultimodalEmbeddings(CustomLLM):
    """LiteLLM custom provider `litellm-local-embed/<served model name>`, with `api_base` ending in /v1."""

    def __init__(self, settings: GatewaySettings | None = None) -> None:
        super().__init__()
        self._client: httpx.AsyncClient | None = None
        self._settings = settings

    @property
    def settings(self) -> GatewaySettings:
        """The limits, read from the environment at first use (the handler is created when LiteLLM imports it)."""
        if self._settings is None:
            self._settings = GatewaySettings.from_env()
        return self._settings

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))
        return self._client

    async def _post(self, url: str, body: dict[str, Any], timeout: float | httpx.Timeout | None) -> dict[str, Any]:
        try:
            response = await self._http().post(url, json=body, timeout=timeout or 600.0)
        except httpx.TimeoutException as exc:
            raise CustomLLMError(status_code=408, message=f"embedding backend {url} timed out") from exc
        except httpx.HTTPError as exc:
            raise CustomLLMError(status_code=503, message=f"embedding backend {url} unreachable: {exc}") from exc
        if response.status_code != 200:
            raise _backend_error(response)
        return response.json()

    async def _post_all(
        self, url: str, bodies: list[dict[str, Any]], timeout: float | httpx.Timeout | None, concurrency: int
    ) -> list[dict[str, Any]]:
        """The backend's answers to `bodies`, in order, at most `concurrency` requests in flight at once; the first
        failure cancels the requests still waiting or running and is raised."""
        semaphore = asyncio.Semaphore(concurrency)

        async def one(body: dict[str, Any]) -> dict[str, Any]:
            async with semaphore:
                return await self._post(url, body, timeout)

        tasks = [asyncio.ensure_future(one(body)) for body in bodies]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise

    async def aembedding(  # type: ignore[override]
        self,
        model: str,
        input: list,
        model_response: EmbeddingResponse,
        print_verbose: Any,
        logging_obj: Any,
        optional_params: dict,
        api_key: str | None = None,
        api_base: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        litellm_params: Any = None,
    ) -> EmbeddingResponse:
        if not api_base:
            raise CustomLLMError(status_code=500, message="the embedding deployment has no api_base")
        url = api_base.rstrip("/") + "/embeddings"
        params = {k: optional_params[k] for k in PASSED_PARAMS if optional_params.get(k) is not None}
        extra = optional_params.get("extra_body") or {}
        instruction = optional_params.get("instruction") or extra.get("instruction") or None
        items = input if isinstance(input, list) else [input]
        if not items:
            raise CustomLLMError(status_code=400, message="`input` is empty: give at least one text or image")
        settings = self.settings
        inputs = count_embedding_inputs(input)
        if inputs > settings.max_embedding_inputs:
            raise CustomLLMError(
                status_code=400,
                message=(
                    f"`input` holds {inputs} inputs; at most {settings.max_embedding_inputs} per request "
                    f"({MAX_EMBEDDING_INPUTS}): split it into several requests"
                ),
            )
        token_items = [i for i in items if _is_token_ids(i)]
        if token_items and len(token_items) != len(items):
            raise CustomLLMError(status_code=400, message="do not mix token-id inputs with text or image inputs")
        if token_items:  # raw token ids: no chat template to apply, OpenAI's own form
            bodies = [{"model": model, "input": items, **params}]
        else:
            bodies = []
            for n, item in enumerate(items):
                try:
                    body = chat_request(
                        model,
                        item,
                        instruction,
                        params,
                        allowed_media_domains=settings.allowed_media_domains,
                        param=f"input[{n}]" if isinstance(input, list) else "input",
                    )
                except ItemRefused as exc:
                    raise CustomLLMError(status_code=400, message=str(exc)) from exc
                bodies.append(body)
                await _yield_now_and_then(n)
        results = await self._post_all(url, bodies, timeout, settings.embed_concurrency)
        data: list[dict[str, Any]] = []
        prompt_tokens = 0
        for n, result in enumerate(results):
            for entry in result.get("data", []):
                data.append({"object": "embedding", "index": len(data), "embedding": entry["embedding"]})
            prompt_tokens += int((result.get("usage") or {}).get("prompt_tokens") or 0)
            await _yield_now_and_then(n)
        model_response.object = "list"
        model_response.data = data
        model_response.model = model
        model_response.usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=0, total_tokens=prompt_tokens)
        return model_response


async def _yield_now_and_then(n: int) -> None:
    """Let the event loop run other requests every YIELD_EVERY items of a long loop."""
    if n % YIELD_EVERY == YIELD_EVERY - 1:
        await asyncio.sleep(0)


handler = MultimodalEmbeddings()
