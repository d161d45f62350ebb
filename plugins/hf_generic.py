"""Built-in plugin: a generic adapter for Hugging Face models taking media via a chat template.

Works for any ``transformers`` model whose processor accepts ``videos=`` and/or ``audio=``
and whose chat template places ``{"type": "video"}`` / ``{"type": "audio"}`` content items:
video-only models (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, LLaVA-OneVision, ...) and audio-only ones
(Qwen2-Audio, ...). The modalities a model can take are read from its processor at load
time (a video processor -> ``video``; a feature extractor -> ``audio``). A requested
modality the model cannot take is never dropped silently: the adapter warns once, and
:meth:`effective_modalities` reports what was really used (the ``avem_av`` model logs it
at start and records it in its run info).

Audio is always a separate content item (no interleaving). Under ``adapter=auto`` this
adapter matches the model types listed below and yields to a family's own adapter; any
other model can use it with ``adapter=hf_generic``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from avem_plugins.adapters.base import AdapterError, ModelAdapter
from avem_plugins.adapters.chat_template import ChatTemplateAdapter
from avem_plugins.hookspecs import hookimpl


class HFGenericAdapter(ChatTemplateAdapter):
    """Any HF processor with a chat template that takes video and/or audio items."""

    name = "hf_generic"
    fallback = True
    model_types: ClassVar[tuple[str, ...]] = (
        "qwen2_vl",
        "qwen2_5_vl",
        "qwen3_vl",
        "qwen3_vl_moe",
        "qwen2_audio",
        "llava_onevision",
        "llava_next_video",
        "video_llava",
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._configured_for: int | None = None

    def configure(self, processor: Any, config: Any = None) -> None:
        """Read which media the processor takes; raise if it takes neither."""
        mods = set()
        if getattr(processor, "video_processor", None) is not None:
            mods.add("video")
        if (
            getattr(processor, "feature_extractor", None) is not None
            or getattr(processor, "audio_processor", None) is not None
        ):
            mods.add("audio")
        if not mods:
            raise AdapterError(
                f"{type(processor).__name__} has neither a video processor nor an audio "
                "feature extractor; hf_generic needs a processor that takes video and/or audio"
            )
        self.modalities = frozenset(mods)  # type: ignore[misc]
        self._configured_for = id(processor)

    def encode_prompts(
        self, processor: Any, examples: Any, modalities: frozenset[str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if self._configured_for != id(processor):
            self.configure(processor)
        return super().encode_prompts(processor, examples, modalities)


@hookimpl
def avem_register_model_adapters(register: Callable[[type[ModelAdapter]], None]) -> None:
    register(HFGenericAdapter)
