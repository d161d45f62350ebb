"""The ``avem`` command line. Commands only parse arguments and call the library.

Each command group lives in its own module (``avem_plugins/cli/<group>.py``) exposing a
``register(app)`` function; modules must stay cheap to import (``avem --help`` imports none
of torch, transformers, trl or lmms_eval).
"""

from __future__ import annotations

import importlib

import typer

#: Command modules, in ``--help`` order. Each has ``register(app: typer.Typer) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "avem_plugins.cli.demo",
    "avem_plugins.cli.study",
    "avem_plugins.cli.core",
    "avem_plugins.cli.synth",
    "avem_plugins.cli.tiny",
    "avem_plugins.cli.dpo",
    "avem_plugins.cli.prefs",
    "avem_plugins.cli.sources",
    "avem_plugins.cli.recipes",
    "avem_plugins.cli.doctor",
    "avem_plugins.cli.tasks",
    "avem_plugins.cli.report",
    "avem_plugins.cli.compare",
)

app = typer.Typer(
    name="avem",
    help="AVEm-DPO training and EmoReAlM evaluation, as lmms-eval and TRL plugins.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    """Console-script entry point."""
    app()
