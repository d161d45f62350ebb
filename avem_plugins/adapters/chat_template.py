"""The shared adapter machinery for families whose processor takes media through a chat template.

A :class:`ChatTemplateAdapter` turns an :class:`~avem_plugins.adapters.base.Example` into one user
turn -- a ``video`` item, an ``audio`` item (each only when requested *and* present), then
the prompt text with its ``<video>``/``<audio>`` markers removed -- renders it with the
processor's chat template, and lets the processor expand the placeholders and compute the
media tensors. Subclasses change one step each:

- :meth:`~ChatTemplateAdapter.load_model`: which ``transformers`` class loads the weights;
- :meth:`~ChatTemplateAdapter.encode_prompts`: how a batch of prompts becomes left-padded
  model inputs (one batched processor call here; per example in the Qwen-Omni adapters);
- :meth:`~ChatTemplateAdapter.configure`: what to learn from the loaded processor.

Training rows are built by appending the tokenized response to each prompt's token ids
(not by re-tokenizing prompt + response), so the prompt tokens of a training row are
exactly the ones generation conditions on, and the completion mask is exact.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from avem_plugins.adapters.base import AdapterError, Example, Loaded, ModelAdapter

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

#: ``dtype=`` spellings accepted by :meth:`ChatTemplateAdapter.load`.
DTYPES: dict[str, str] = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}

_RESPONSE_MARK = "\x00AVEM-RESPONSE\x00"


def resolve_dtype(dtype: Any) -> Any:
    """``"auto"`` stays ``"auto"``; a name (``bf16``, ``float32``...) becomes a torch dtype."""
    import torch

    if dtype is None or dtype == "auto" or isinstance(dtype, torch.dtype):
        return "auto" if dtype is None else dtype
    name = DTYPES.get(str(dtype).lower())
    if name is None:
        raise AdapterError(f"unknown dtype={dtype!r}: use auto or one of {sorted(set(DTYPES))}")
    return getattr(torch, name)


class ChatTemplateAdapter(ModelAdapter):
    """Base for adapters whose processor accepts video/audio items in a chat template.

    Options (constructor keywords, also ``avem_av`` model_args):

    - ``video_min_pixels`` / ``video_max_pixels``: per-frame pixel bounds passed to the
      video processor as ``size``; unset keeps the processor's defaults (what the model
      was trained with). Lower them to save memory or time.
    - ``system_prompt``: a system turn for every example without its own.
    """

    #: ``transformers`` auto classes tried, in order, by :meth:`load_model`.
    auto_model_classes: ClassVar[tuple[str, ...]] = (
        "AutoModelForMultimodalLM",
        "AutoModelForImageTextToText",
        "AutoModelForCausalLM",
    )

    def __init__(
        self,
        *,
        video_min_pixels: int | None = None,
        video_max_pixels: int | None = None,
        system_prompt: str | None = None,
    ) -> None:
        self.video_min_pixels = None if video_min_pixels is None else int(video_min_pixels)
        self.video_max_pixels = None if video_max_pixels is None else int(video_max_pixels)
        self.system_prompt = system_prompt or None
        self._suffix_cache: dict[int, str] = {}
        self._warned: set[frozenset[str]] = set()

    # ------------------------------------------------------------------ loading

    def load(
        self,
        pretrained: str,
        *,
        dtype: str = "auto",
        device: str = "cpu",
        trust_remote_code: bool = False,
        **kwargs: Any,
    ) -> Loaded:
        """Load config, processor and model from a local path or hub id, on ``device``."""
        from transformers import AutoConfig, AutoProcessor

        remote = bool(trust_remote_code)
        config = AutoConfig.from_pretrained(pretrained, trust_remote_code=remote)
        processor = AutoProcessor.from_pretrained(pretrained, trust_remote_code=remote)
        model = self.load_model(
            pretrained, config, dtype=resolve_dtype(dtype), trust_remote_code=remote, **kwargs
        )
        model.to(device)
        model.eval()
        self.configure(processor, config)
        return Loaded(model=model, processor=processor, adapter=self)

    def load_model(self, pretrained: str, config: Any, **kwargs: Any) -> Any:
        """Load the weights; tries :attr:`auto_model_classes` in order."""
        import transformers

        errors = []
        for name in self.auto_model_classes:
            auto = getattr(transformers, name, None)
            if auto is None:
                continue
            try:
                return auto.from_pretrained(pretrained, **kwargs)
            except ValueError as err:  # "Unrecognized configuration class ..."
                errors.append(f"{name}: {err}")
        raise AdapterError(
            f"cannot load {pretrained!r} (model_type={getattr(config, 'model_type', None)!r}) "
            f"with {list(self.auto_model_classes)}: " + " | ".join(errors)
        )

    def configure(self, processor: Any, config: Any = None) -> None:
        """Learn what is needed from a loaded processor (no-op here)."""

    # ------------------------------------------------------------------ prompts

    def note_modalities(self, requested: frozenset[str]) -> frozenset[str]:
        """The effective modalities; warns once per requested set that loses some."""
        effective = self.effective_modalities(requested)
        missing = requested - effective
        if missing and requested not in self._warned:
            self._warned.add(requested)
            logger.warning(
                "adapter %s: this model cannot take %s; using modalities %s instead of %s",
                self.name,
                sorted(missing),
                sorted(effective) or ["text"],
                sorted(requested),
            )
        return effective

    def media_for(self, example: Example, modalities: frozenset[str]) -> tuple[bool, bool]:
        """``(use_video, use_audio)``: requested, supported by the family, and present."""
        mods = self.effective_modalities(modalities)
        return (
            "video" in mods and example.media.frames is not None,
            "audio" in mods and example.media.audio is not None,
        )

    def messages(self, example: Example, *, video: bool, audio: bool) -> list[dict[str, Any]]:
        """The chat turns of ``example``: optional system turn, then media + text."""
        content: list[dict[str, Any]] = []
        if video:
            content.append({"type": "video"})
        if audio:
            content.append({"type": "audio"})
        content.append({"type": "text", "text": self.text_only_prompt(example.prompt)})
        turns: list[dict[str, Any]] = []
        system = example.system or self.system_prompt
        if system:
            turns.append({"role": "system", "content": system})
        turns.append({"role": "user", "content": content})
        return turns

    def prompt_text(self, processor: Any, example: Example, *, video: bool, audio: bool) -> str:
        """The rendered chat prompt, ending with the assistant's generation prefix."""
        return processor.apply_chat_template(
            self.messages(example, video=video, audio=audio),
            add_generation_prompt=True,
            tokenize=False,
        )

    def response_suffix(self, processor: Any) -> str:
        """The text that ends an assistant turn (e.g. ``<|im_end|>``), from the template."""
        cached = self._suffix_cache.get(id(processor))
        if cached is not None:
            return cached
        turns = [
            {"role": "user", "content": [{"type": "text", "text": "q"}]},
            {"role": "assistant", "content": [{"type": "text", "text": _RESPONSE_MARK}]},
        ]
        suffix = ""
        try:
            rendered = processor.apply_chat_template(turns, tokenize=False)
            if _RESPONSE_MARK in rendered:
                suffix = rendered.split(_RESPONSE_MARK, 1)[1].rstrip()
        except Exception:  # a template that rejects list content: fall back to eos
            suffix = ""
        if not suffix:
            suffix = _tokenizer(processor).eos_token or ""
        self._suffix_cache[id(processor)] = suffix
        return suffix

    # ------------------------------------------------------------------ batches

    def videos_kwargs(self, processor: Any) -> dict[str, Any]:
        """Video-processor keywords: the pixel budget and qwen-vl-utils' per-frame cap."""
        out: dict[str, Any] = {}
        video_processor = getattr(processor, "video_processor", None)
        if video_processor is None:
            return out
        if self.video_min_pixels is not None or self.video_max_pixels is not None:
            size = dict(getattr(video_processor, "size", None) or {})
            default = getattr(processor, "videos_kwargs", {}).get("size") or {}
            size = {**size, **default}
            if self.video_max_pixels is not None:
                size["longest_edge"] = self.video_max_pixels
            if self.video_min_pixels is not None:
                size["shortest_edge"] = self.video_min_pixels
            elif "shortest_edge" in size and "longest_edge" in size:
                size["shortest_edge"] = min(size["shortest_edge"], size["longest_edge"])
            out["size"] = size
        valid = getattr(getattr(video_processor, "valid_kwargs", None), "__annotations__", {})
        if "cap_pixels_per_frame" in valid:
            out["cap_pixels_per_frame"] = True
        return out

    def check_sample_rate(self, processor: Any, example: Example, index: int) -> None:
        """Audio must arrive at the feature extractor's rate; say how to fix it if not."""
        extractor = getattr(processor, "feature_extractor", None)
        wanted = getattr(extractor, "sampling_rate", None)
        if example.media.audio is not None and wanted and example.media.sample_rate != wanted:
            raise AdapterError(
                f"{_name(example, index)}: audio is at {example.media.sample_rate} Hz but "
                f"{type(extractor).__name__} expects {wanted} Hz; decode at {wanted} Hz "
                f"(sample_rate={wanted})"
            )

    def encode_prompts(
        self, processor: Any, examples: Sequence[Example], modalities: frozenset[str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Left-padded prompt inputs for ``examples`` and extra model keywords.

        One batched processor call. Returns ``(inputs, model_kwargs)``.
        """
        self.note_modalities(modalities)
        texts, videos, audios = [], [], []
        for i, ex in enumerate(examples):
            self.check_sample_rate(processor, ex, i)
            use_video, use_audio = self.media_for(ex, modalities)
            texts.append(self.prompt_text(processor, ex, video=use_video, audio=use_audio))
            if use_video:
                videos.append(ex.media.frames)
            if use_audio:
                audios.append(ex.media.audio)
        kwargs: dict[str, Any] = {"padding": True, "return_tensors": "pt"}
        if videos:
            kwargs["videos"] = videos
            kwargs["videos_kwargs"] = self.videos_kwargs(processor)
        if audios:
            kwargs["audio"] = audios
            rate = getattr(getattr(processor, "feature_extractor", None), "sampling_rate", None)
            if rate:
                kwargs["sampling_rate"] = rate
        tok = _tokenizer(processor)
        side = tok.padding_side
        tok.padding_side = "left"
        try:
            inputs = processor(text=texts, **kwargs)
        finally:
            tok.padding_side = side
        return dict(inputs), {}

    def generation_inputs(
        self, processor: Any, examples: Sequence[Example], *, modalities: frozenset[str]
    ) -> Any:
        """Left-padded inputs for ``model.generate(**inputs)``, as a ``BatchFeature``."""
        from transformers import BatchFeature

        inputs, model_kwargs = self.encode_prompts(processor, examples, modalities)
        return BatchFeature({**inputs, **model_kwargs})

    def training_rows(
        self,
        processor: Any,
        examples: Sequence[Example],
        *,
        modalities: frozenset[str],
        max_length: int | None = None,
    ) -> dict[str, Any]:
        """Right-padded prompt + response rows with ``completion_mask`` and media tensors."""
        import torch

        inputs, model_kwargs = self.encode_prompts(processor, examples, modalities)
        tok = _tokenizer(processor)
        suffix = self.response_suffix(processor)
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        media_ids = set(self.media_token_ids(processor))
        rows_ids, rows_completion = [], []
        truncated = 0
        for i, ex in enumerate(examples):
            if ex.response is None:
                raise AdapterError(f"{_name(ex, i)} has no response; training rows need one")
            keep = inputs["attention_mask"][i].bool()
            prompt = inputs["input_ids"][i][keep].tolist()
            response = tok(ex.response + suffix, add_special_tokens=False)["input_ids"]
            if max_length is not None and len(prompt) + len(response) > max_length:
                room = max_length - len(prompt)
                if room < 1:
                    n_media = sum(1 for t in prompt if t in media_ids)
                    raise AdapterError(
                        f"{_name(ex, i)}: the prompt alone is {len(prompt)} tokens "
                        f"({n_media} of them media placeholders, never truncated) > "
                        f"max_length={max_length}; raise max_length, or use fewer frames "
                        "(num_frames) or a smaller video_max_pixels"
                    )
                response = response[:room]
                truncated += 1
            rows_ids.append(prompt + response)
            rows_completion.append([0] * len(prompt) + [1] * len(response))
        if truncated:
            logger.warning(
                "truncated the response of %d of %d training rows to max_length=%s",
                truncated,
                len(examples),
                max_length,
            )
        width = max(len(r) for r in rows_ids)
        n = len(rows_ids)
        input_ids = torch.full((n, width), pad_id, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        completion = torch.zeros((n, width), dtype=torch.long)
        for i, (ids, comp) in enumerate(zip(rows_ids, rows_completion, strict=True)):
            input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention[i, : len(ids)] = 1
            completion[i, : len(ids)] = torch.tensor(comp, dtype=torch.long)
        rows = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
        # Other per-token outputs (e.g. ``mm_token_type_ids``): response tokens are text (0).
        shape = tuple(inputs["input_ids"].shape)
        for key, value in list(rows.items()):
            if isinstance(value, torch.Tensor) and tuple(value.shape) == shape:
                per_token = torch.zeros((n, width), dtype=value.dtype)
                for i in range(n):
                    kept = value[i][inputs["attention_mask"][i].bool()]
                    per_token[i, : kept.shape[0]] = kept
                rows[key] = per_token
        rows.update(
            input_ids=input_ids,
            attention_mask=attention,
            completion_mask=completion,
            **model_kwargs,
        )
        return rows

    def media_token_ids(self, processor: Any) -> list[int]:
        """Ids of the placeholder tokens the processor expands (image/video/audio)."""
        out = []
        for attr in ("image_token_id", "video_token_id", "audio_token_id"):
            value = getattr(processor, attr, None)
            if value is None:
                value = getattr(_tokenizer(processor), attr, None)
            if isinstance(value, int):
                out.append(value)
        return out


def _tokenizer(processor: Any) -> Any:
    return getattr(processor, "tokenizer", processor)


def _name(example: Example, index: int) -> str:
    return f"example {example.id!r}" if example.id is not None else f"example #{index} of the batch"


def left_pad(rows: Sequence[torch.Tensor], pad_value: int) -> torch.Tensor:
    """Stack 1-D tensors, left-padded with ``pad_value`` to the longest."""
    import torch

    width = max(int(r.shape[0]) for r in rows)
    out = torch.full((len(rows), width), pad_value, dtype=rows[0].dtype)
    for i, r in enumerate(rows):
        if r.shape[0]:
            out[i, width - r.shape[0] :] = r
    return out
