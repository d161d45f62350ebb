"""``avem tasks-dir``: the task folder to pass to ``--include_path``.

lmms-eval finds our tasks with no flag (through the ``lmms_eval.models`` entry point, see
:mod:`avem_plugins.lmms.discovery`); this command serves the places that hook does not
reach: ``lmms-eval tasks list`` (which never imports the model registry), Python code
building its own ``TaskManager`` before importing ``lmms_eval.models``, and lm-eval.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer


class Harness(str, Enum):
    """Which evaluation harness the folder is for."""

    lmms_eval = "lmms-eval"
    lm_eval = "lm-eval"


def tasks_dir(
    harness: Annotated[
        Harness,
        typer.Option(
            "--harness", help="lmms-eval (audio-visual tasks) or lm-eval (audio-only tasks)."
        ),
    ] = Harness.lmms_eval,
    all_dirs: Annotated[
        bool,
        typer.Option(
            "--all", help="List every folder registered by plugins (lmms-eval), one per line."
        ),
    ] = False,
) -> None:
    """Print the task folder for --include_path.

    Example: lmms-eval tasks list --include-path "$(avem tasks-dir)"
    """
    from avem_plugins.lmms.discovery import LM_EVAL_SUBDIR, task_dirs
    from avem_plugins.registry import builtin_task_dir

    if harness is Harness.lm_eval:
        typer.echo(str(builtin_task_dir() / LM_EVAL_SUBDIR))
    elif all_dirs:
        for folder in task_dirs():
            typer.echo(str(folder))
    else:
        typer.echo(str(builtin_task_dir()))


def register(app: typer.Typer) -> None:
    app.command("tasks-dir")(tasks_dir)
