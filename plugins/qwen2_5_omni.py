"""Built-in plugin: the Qwen2.5-Omni adapter (thinker; 3B and 7B).

Registered through the same hook a third-party plugin uses. The family logic lives in
:mod:`avem_plugins.plugins.qwen_omni`, shared with Qwen3-Omni.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from avem_plugins.plugins.qwen_omni import QwenOmniAdapter

from avem_plugins.adapters.base import ModelAdapter
from avem_plugins.hookspecs import hookimpl


class Qwen2_5OmniAdapter(QwenOmniAdapter):
    """Qwen2.5-Omni: a full checkpoint (``qwen2_5_omni``; only its thinker is loaded) or a thinker."""

    name = "qwen2_5_omni"
    model_types: ClassVar[tuple[str, ...]] = ("qwen2_5_omni", "qwen2_5_omni_thinker")
    thinker_class = "Qwen2_5OmniThinkerForConditionalGeneration"


@hookimpl
def avem_register_model_adapters(register: Callable[[type[ModelAdapter]], None]) -> None:
    register(Qwen2_5OmniAdapter)
