"""The hooks a plugin may implement. Every hook is documented in ``docs/hooks.md``.

Hooks hand the plugin a ``register`` callback instead of asking for a return value, so
the host owns validation and duplicate detection (the pattern of simonw/llm).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    from avem_plugins.adapters.base import ModelAdapter

PROJECT = "avem"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class PluginError(ValueError):
    """A plugin registered something unusable; the message names it and says what to do.

    The one error policy of every hook consumer (:mod:`avem_plugins.registry`): a bad
    registration raises this (adapters: its subclass ``AdapterError``). Hosts that must never
    raise (lmms-eval task discovery) catch it and fall back to the built-ins with a warning.
    """


@hookspec
def avem_register_model_adapters(register: Callable[[type[ModelAdapter]], None]) -> None:
    """Register model adapters: one class per model family.

    :param register: call ``register(AdapterClass)`` once per adapter. The class must
        subclass :class:`avem_plugins.adapters.base.ModelAdapter` and carry a unique ``name``.
        Duplicate names raise :class:`avem_plugins.adapters.base.AdapterError`.
    """


@hookspec
def avem_register_task_dirs(register: Callable[[Path], None]) -> None:
    """Register folders of lmms-eval task YAMLs to add to lmms-eval's task index.

    :param register: call ``register(path)`` with a directory; it is appended to the
        ``include_path`` of lmms-eval's ``TaskManager`` when the lmms-eval bridge loads.
    """


@hookspec
def avem_register_recipe_dirs(register: Callable[[Path], None]) -> None:
    """Register folders of recipe YAMLs (``*.yaml``) for ``avem recipes`` and ``--recipe``.

    :param register: call ``register(path)`` with a directory. Recipe names are the file
        stems; a name already registered by another plugin raises a clear error.
    """
