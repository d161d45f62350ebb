"""Model adapters: the one place that knows how a model family wants video, audio and text.

The same adapter serves evaluation (the ``avem_av`` lmms-eval model) and training (the
AVEm-DPO collator and trainer). Adapters are registered by plugins through the
``avem_register_model_adapters`` hook, exactly like third-party ones, and chosen
automatically from a model's config (``config.model_type``) or by name.

This module imports no heavy library at import time; adapter methods import torch and
transformers lazily.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from avem_plugins.hookspecs import PluginError
from avem_plugins.media import Media
from avem_plugins.modality import MEDIA_MODALITIES


class AdapterError(PluginError):
    """An adapter could not be found, registered or used; the message says what to do."""


@dataclass
class Example:
    """One prompt with its media, and the response for training rows.

    ``id`` names the example in error messages (a doc id, a data row); ``system`` is an
    optional system prompt placed before the user turn.
    """

    prompt: str
    media: Media = field(default_factory=Media)
    response: str | None = None
    id: str | None = None
    system: str | None = None


@dataclass
class Loaded:
    """What :meth:`ModelAdapter.load` returns."""

    model: Any
    processor: Any
    adapter: ModelAdapter


class ModelAdapter(ABC):
    """Base class for a model family's adapter.

    Subclasses set ``name`` (unique, used in ``adapter=NAME``), ``model_types`` (the
    ``config.model_type`` values auto-detected as this family) and ``modalities`` (the media
    this family can take). A family without one of the media modalities must still accept
    requests for it: the caller is warned once and the setting is recorded in the results
    (see :meth:`effective_modalities`), never silently dropped.
    """

    name: ClassVar[str]
    model_types: ClassVar[tuple[str, ...]] = ()
    modalities: ClassVar[frozenset[str]] = frozenset(MEDIA_MODALITIES)
    #: A generic adapter sets this so that, under ``adapter=auto``, a family's own
    #: adapter matching the same config is preferred.
    fallback: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        """Adapters with options (e.g. a video pixel budget) override this; the base has none."""
        if options:
            raise AdapterError(
                f"adapter {getattr(self, 'name', type(self).__name__)!r} takes no options; "
                f"got {sorted(options)}"
            )

    @classmethod
    def matches(cls, config: Any) -> bool:
        """Whether this adapter serves a model with this ``transformers`` config."""
        return getattr(config, "model_type", None) in cls.model_types

    def effective_modalities(self, requested: frozenset[str]) -> frozenset[str]:
        """The requested modalities this family can actually take."""
        return requested & self.modalities

    @abstractmethod
    def load(
        self,
        pretrained: str,
        *,
        dtype: str = "auto",
        device: str = "cpu",
        trust_remote_code: bool = False,
        **kwargs: Any,
    ) -> Loaded:
        """Load model and processor from a local path or hub id.

        ``trust_remote_code`` stays off unless the user turns it on.
        """

    @abstractmethod
    def generation_inputs(
        self, processor: Any, examples: Sequence[Example], *, modalities: frozenset[str]
    ) -> Any:
        """Batch model inputs (left-padded) for generating answers to ``examples``.

        Only the media in ``modalities`` reach the model; ``frozenset()`` is text only.
        """

    @abstractmethod
    def training_rows(
        self,
        processor: Any,
        examples: Sequence[Example],
        *,
        modalities: frozenset[str],
        max_length: int | None = None,
    ) -> dict[str, Any]:
        """Batch training rows (right-padded) of prompt + ``example.response``.

        Returns ``input_ids``, ``attention_mask``, ``completion_mask`` (1 on response tokens)
        and the family's media tensors. Media tokens are never truncated: text is, or an
        :class:`AdapterError` names the example.
        """

    def text_only_prompt(self, prompt: str) -> str:
        """The prompt with every media marker removed (for the text-prior probe/term)."""
        from avem_plugins.modality import strip_media_markers

        return strip_media_markers(prompt)

    def decode(self, processor: Any, token_ids: Any) -> list[str]:
        """Decode generated token ids (prompt already removed) to strings."""
        return processor.batch_decode(token_ids, skip_special_tokens=True)

    # -- Optional: model inputs and encode-once (see :mod:`avem_plugins.adapters.encoding`). --------
    # The defaults below are correct for any family; adapters that can reuse media
    # encodings (the Qwen-Omni ones) override ``encode_media`` and ``forward_logps``.

    #: Keys of :meth:`training_rows` that are bookkeeping, not model inputs.
    row_only_keys: ClassVar[tuple[str, ...]] = ("completion_mask",)

    def model_inputs(self, rows: dict[str, Any]) -> dict[str, Any]:
        """The model's keyword arguments in ``rows`` (drops e.g. ``completion_mask``)."""
        return {k: v for k, v in rows.items() if k not in self.row_only_keys}

    def encoder_modules(self, model: Any) -> dict[str, Any]:
        """The media encoders of ``model`` by modality (``"video"``, ``"audio"``).

        Used by :class:`avem_plugins.adapters.encoding.EncoderCallCounter`. The default looks for
        the attribute names common in ``transformers`` (``visual``, ``vision_tower``,
        ``audio_tower``, ...).
        """
        from avem_plugins.adapters.encoding import find_encoders

        return find_encoders(model)

    def encode_media(self, model: Any, rows: dict[str, Any]) -> Any:
        """Run the media encoders once for the unique media in ``rows``.

        Returns an opaque features object to pass to :meth:`forward_logps` (for any rows
        whose media it covers: other rows of the same clips, the reference pass), or
        ``None`` when the family cannot reuse encodings. Fallback (this base class):
        ``None``, and :meth:`forward_logps` then runs the encoders inside the model's own
        forward, once per call.
        """
        return None

    def forward_logps(self, model: Any, rows: dict[str, Any], features: Any = None) -> Any:
        """Per-token log-probabilities ``(B, T)`` of ``rows["input_ids"]``.

        ``out[b, t] = log p(input_ids[b, t] | input_ids[b, :t], media)`` and ``out[:, 0] = 0``,
        so ``(out * rows["completion_mask"]).sum(-1)`` is each row's summed response
        log-probability. ``features`` comes from :meth:`encode_media`; the fallback (this
        base class) ignores it and runs ``model(**model_inputs(rows))``.
        """
        from avem_plugins.adapters.encoding import token_logps

        out = model(**self.model_inputs(rows))
        return token_logps(out.logits, rows["input_ids"])
