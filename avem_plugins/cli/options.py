"""Typer option types shared by several ``avem`` command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
