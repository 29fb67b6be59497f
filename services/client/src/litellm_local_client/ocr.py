"""OCR through chat completions: an image, or each selected page of a PDF rendered to an image, sent with the OCR
model's task prompt, greedily."""

from __future__ import annotations

from collections.abc import Iterator

from . import errors, media
from .chat import sampling
from .core import ClientCore, to_usage
from .results import OcrPage, OcrResult, OcrTask

DEFAULT_ALIAS = "ocr"
OCR_PROMPTS: dict[str, str] = {
    "text": "Text Recognition:",
    "table": "Table Recognition:",
    "formula": "Formula Recognition:",
}


class OcrMixin(ClientCore):
    def ocr_pages(
        self,
        source: media.ImageInput,
        *,
        task: OcrTask = "text",
        model: str | None = None,
        pages: str | None = None,
        scale: float = 2.0,
        max_tokens: int | None = None,
        repetition_penalty: float = 1.05,
    ) -> Iterator[tuple[OcrPage, int]]:
        """(page result, number of pages selected) as each page is done. `source` is an image (path, bytes, URL)
        or a PDF (path or bytes), whose pages (all, or `pages` such as "1-3,5") are rendered at `scale` x 72 dpi."""
        if task not in OCR_PROMPTS:
            raise errors.InputError(f"unknown OCR task {task!r}", "Use one of: " + ", ".join(OCR_PROMPTS))
        model = model or self.aliases.ocr
        images: Iterator[tuple[int, int, str]]
        if media.is_url(source):
            images = iter([(1, 1, str(source))])
        else:
            data, _ = media.read_input(source, "document")
            if media.is_pdf(data):
                images = (
                    (n, total, media.data_url(png, "image/png"))
                    for n, total, png in media.render_pdf(data, pages=pages, scale=scale)
                )
            else:
                images = iter([(1, 1, media.image_url(data))])
        for number, total, url in images:
            with self._errors(f"ocr of page {number}", model):
                reply = self.openai.chat.completions.create(
                    model=model,
                    messages=[
                        {
                            "role": "user",
                            "content": [
                                {"type": "image_url", "image_url": {"url": url}},
                                {"type": "text", "text": OCR_PROMPTS[task]},
                            ],
                        }
                    ],
                    **sampling(max_tokens, 0),
                    extra_body={"repetition_penalty": repetition_penalty},
                    timeout=self._timeout(self.timeouts.ocr),
                )
            choice = reply.choices[0]
            page = OcrPage(
                page=number,
                text=choice.message.content or "",
                finish_reason=choice.finish_reason,
                usage=to_usage(reply.usage),
            )
            yield page, total

    def ocr(
        self,
        source: media.ImageInput,
        *,
        task: OcrTask = "text",
        model: str | None = None,
        pages: str | None = None,
        scale: float = 2.0,
        max_tokens: int | None = None,
        repetition_penalty: float = 1.05,
    ) -> OcrResult:
        """Text, a table or formulas read from an image or every selected page of a PDF."""
        model = model or self.aliases.ocr
        done = [
            page
            for page, _ in self.ocr_pages(
                source,
                task=task,
                model=model,
                pages=pages,
                scale=scale,
                max_tokens=max_tokens,
                repetition_penalty=repetition_penalty,
            )
        ]
        return OcrResult(task=task, model=model, pages=done)
