"""``avem dpo``: the supported AVEm-DPO launcher (the flags of ``trl dpo``, plus ``--recipe``)."""

from __future__ import annotations

from typing import Annotated

import typer


def dpo(
    ctx: typer.Context,
    recipe: Annotated[
        str | None,
        typer.Option(
            "--recipe",
            help="Recipe name (`avem recipes ls`) or .yaml path; its values are the defaults.",
        ),
    ] = None,
) -> None:
    """Train with AVEm-DPO: the flags of `trl dpo`, plus --recipe.

    Every other flag is handled as by `trl dpo`: ScriptArguments, AVEmDPOConfig and ModelConfig fields, --config FILE, --accelerate_config NAME_OR_PATH, and accelerate launch flags. Flags override --config, which overrides the recipe. `avem dpo --recipe NAME -h` lists every flag with the recipe's values as defaults.
    """
    from avem_plugins.cli.extras import require

    require("avem dpo", "trl", transformers=True)
    from avem_plugins.launch.launcher import RECIPE_FLAG, launch

    argv = ([RECIPE_FLAG, recipe] if recipe is not None else []) + list(ctx.args)
    raise typer.Exit(launch(argv, prog="avem dpo"))


def register(app: typer.Typer) -> None:
    app.command(
        "dpo",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(dpo)
