"""Built-in plugin: registers the shipped task and recipe folders.

Written exactly as a third-party plugin would register its own folders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from avem_plugins.hookspecs import hookimpl


@hookimpl
def avem_register_task_dirs(register: Callable[[Path], None]) -> None:
    import avem_plugins.tasks

    register(Path(avem_plugins.tasks.__file__).parent)


@hookimpl
def avem_register_recipe_dirs(register: Callable[[Path], None]) -> None:
    import avem_plugins.recipes

    register(Path(avem_plugins.recipes.__file__).parent)
