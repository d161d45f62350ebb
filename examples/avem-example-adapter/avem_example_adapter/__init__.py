"""An example avem adapter plugin: the same chat-template machinery, media after the text.

avem finds this module through the ``avem`` entry point declared in ``pyproject.toml``
and calls its ``avem_register_model_adapters`` hook. Nothing heavy is imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from avem_plugins.adapters import Example, ModelAdapter
from avem_plugins.chat_template import ChatTemplateAdapter
from avem_plugins.hookspecs import hookimpl


class MediaLastAdapter(ChatTemplateAdapter):
    """For models trained with the question first and the media after it."""

    name = "example_media_last"
    # model_type values to auto-detect (adapter=auto); empty: only adapter=example_media_last.
    model_types: ClassVar[tuple[str, ...]] = ()

    def messages(self, example: Example, *, video: bool, audio: bool) -> list[dict[str, Any]]:
        turns = super().messages(example, video=video, audio=audio)
        content = turns[-1]["content"]
        turns[-1]["content"] = [c for c in content if c["type"] == "text"] + [
            c for c in content if c["type"] != "text"
        ]
        return turns


@hookimpl
def avem_register_model_adapters(register: Callable[[type[ModelAdapter]], None]) -> None:
    register(MediaLastAdapter)
