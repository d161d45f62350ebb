"""Typer option types shared by several ``avem`` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from avem_plugins.modality import ModalityError, check_modality_rule

#: ``--media-root``: the folder relative media paths resolve against and may not leave.
MediaRoot = Annotated[
    Path | None,
    typer.Option(
        "--media-root",
        help="Folder that relative media paths resolve against (and may not leave); give "
        "`avem sources`, `avem prefs` and training the same one. Default: the input file's "
        "folder (for `avem sources`: the dataset root).",
    ),
]


def _modality_rule(value: str) -> str:
    try:
        return check_modality_rule(value)
    except ModalityError as exc:  # one line, as the commands' other errors
        typer.echo(f"error: --modality-rule: {exc}", err=True)
        raise typer.Exit(2) from exc


#: ``--modality-rule``: the modality of preference rows that have none (:mod:`avem_plugins.modality`).
ModalityRule = Annotated[
    str,
    typer.Option(
        "--modality-rule",
        callback=_modality_rule,
        help="Modality of rows without one: audiovisual (PMP swaps both media; default), "
        "infer (guessed from the prompt's words) or refuse (an error).",
    ),
]
