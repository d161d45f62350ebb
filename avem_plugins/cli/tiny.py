"""``avem tiny-model``: build a tiny random-weight audiovisual model offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def tiny_model(
    out_dir: Annotated[Path, typer.Argument(help="Folder to save the model and processor into.")],
    family: Annotated[
        str,
        typer.Option("--family", help="Model family: qwen2_5_omni or qwen3_omni."),
    ] = "qwen2_5_omni",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random weights.")] = 0,
) -> None:
    """Build a tiny random-weight Qwen-Omni thinker and its processor (no hub access)."""
    from avem_plugins.cli.extras import require

    require("avem tiny-model", transformers=True)
    from avem_plugins.testing.tiny import FAMILIES, build_tiny_model

    if family not in FAMILIES:
        raise typer.BadParameter(
            f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}",
            param_hint="--family",
        )
    path = build_tiny_model(out_dir, family=family, seed=seed)
    typer.echo(f"wrote a tiny {family} model and processor to {path}")


def register(app: typer.Typer) -> None:
    app.command("tiny-model")(tiny_model)
