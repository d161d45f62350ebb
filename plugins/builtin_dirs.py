"""Built-in plugin: registers the shipped task and recipe folders.

Written exactly as a third-party plugin would register its own folders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from avem_plugins.hookspecs import hookimpl
from avem_plugins.registry import builtin_recipe_dir, builtin_task_dir


@hookimpl
def avem_register_task_dirs(register: Callable[[Path], None]) -> None:
    register(builtin_task_dir())


@hookimpl
def avem_register_recipe_dirs(register: Callable[[Path], None]) -> None:
    register(builtin_recipe_dir())
