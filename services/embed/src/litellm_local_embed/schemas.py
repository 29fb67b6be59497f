"""Request and response bodies of /v1/embeddings, in the three forms docs/embeddings.md describes.

- OpenAI form: `input` is a string, a list of strings, a list of token ids or a list of such lists. Like vLLM's plain
  `input`, the text is tokenised as it is, without the chat template.
- Multimodal form: `input` is a list whose items are strings or {"text"?, "image"?, "instruction"?} objects, or the
  request has a top-level `instruction`: each item becomes the official Qwen3-VL-Embedding conversation (system
  instruction, then the user turn with the image before the text, generation prompt added).
- vLLM chat form: `messages` (system and user turns with text and image_url parts) plus `add_generation_prompt`,
  exactly as vLLM's /v1/embeddings takes it: one embedding.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator


class MultimodalItem(BaseModel):
    """One input of the multimodal form: text, an image (a data URL), or both, with an optional instruction."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description="Text to embed (after the image when both are given).")
    image: str | None = Field(
        None, description="Image as a data URL (data:image/png;base64,...); http(s) only where the operator allows."
    )
    instruction: str | None = Field(None, description="System instruction for this item (default: the request's).")

    @model_validator(mode="after")
    def _something_to_embed(self) -> MultimodalItem:
        if not self.text and not self.image:
            raise ValueError("an input object needs a non-empty `text` or `image`")
        return self


class ImageURL(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str
    detail: str | None = None


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str


class ImagePart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["image_url"]
    image_url: ImageURL | str


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant"]
    content: str | list[ContentPart]


# Token ids are strict integers: a JSON `true` is not token 1.
InputType = str | list[StrictInt] | list[list[StrictInt]] | list[str | MultimodalItem]


class EmbeddingRequest(BaseModel):
    """Body of POST /v1/embeddings. Unknown fields are ignored, as vLLM does."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(None, description="The served model name (see /v1/models); optional.")
    input: InputType | None = Field(None, description="OpenAI or multimodal form (not with `messages`).")
    messages: list[ChatMessage] | None = Field(None, description="vLLM chat form (not with `input`).")
    instruction: str | None = Field(None, description="Default instruction of multimodal items.")
    dimensions: int | None = Field(None, ge=1, description="Matryoshka: keep this many leading dimensions.")
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = None
    add_generation_prompt: bool = Field(False, description="Chat form: append the assistant prompt (send true).")
    continue_final_message: bool = False

    @model_validator(mode="after")
    def _one_form(self) -> EmbeddingRequest:
        if (self.input is None) == (self.messages is None):
            raise ValueError("give exactly one of `input` and `messages`")
        if self.messages is not None and not self.messages:
            raise ValueError("`messages` must not be empty")
        if self.add_generation_prompt and self.continue_final_message:
            raise ValueError("`add_generation_prompt` and `continue_final_message` exclude each other")
        return self


class EmbeddingData(BaseModel):
    index: int
    object: Literal["embedding"] = "embedding"
    embedding: list[float] | str


class Usage(BaseModel):
    """OpenAI's embedding usage: exactly these two counts."""

    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    """OpenAI's CreateEmbeddingResponse, with no field of our own."""

    object: Literal["list"] = "list"
    model: str
    data: list[EmbeddingData]
    usage: Usage


class ModelCard(BaseModel):
    """OpenAI's Model: exactly id, object, created and owned_by."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "litellm-local"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorInfo(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str


class ErrorResponse(BaseModel):
    error: ErrorInfo
