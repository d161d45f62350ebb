"""Built-in plugin: the Qwen3-Omni adapter (the MoE thinker).

Registered through the same hook a third-party plugin uses. The family logic lives in
:mod:`avem_plugins.plugins.qwen_omni`, shared with Qwen2.5-Omni; Qwen3-Omni's deepstack visual
features travel with the video encodings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from avem_plugins.plugins.qwen_omni import QwenOmniAdapter

from avem_plugins.adapters.base import ModelAdapter
from avem_plugins.hookspecs import hookimpl


class Qwen3OmniAdapter(QwenOmniAdapter):
    """Qwen3-Omni MoE: a full checkpoint (``qwen3_omni_moe``; only its thinker is loaded) or a thinker."""

    name = "qwen3_omni"
    model_types: ClassVar[tuple[str, ...]] = ("qwen3_omni_moe", "qwen3_omni_moe_thinker")
    thinker_class = "Qwen3OmniMoeThinkerForConditionalGeneration"


@hookimpl
def avem_register_model_adapters(register: Callable[[type[ModelAdapter]], None]) -> None:
    register(Qwen3OmniAdapter)
