"""``avem recipes ls | show | cp | validate``: browse, copy and check training recipes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

recipes_app = typer.Typer(
    name="recipes",
    help="Training recipes (YAML defaults for `avem dpo` / `trl dpo --recipe`).",
    no_args_is_help=True,
)


@recipes_app.command("ls")
def ls(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the registered recipes: name, base and description."""
    from avem_plugins.launch.recipe import RecipeError, describe

    try:
        rows = describe()
    except RecipeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    width = max((len(str(r["name"])) for r in rows), default=0)
    for row in rows:
        base = f" (base: {row['base']})" if row["base"] else ""
        typer.echo(f"{str(row['name']).ljust(width)}  {row['description']}{base}")


@recipes_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Recipe name or path to a .yaml file.")],
    resolved: Annotated[
        bool,
        typer.Option(
            "--resolved",
            help="Print the merged arguments (bases applied) instead of the file; "
            "usable as `trl dpo --config`.",
        ),
    ] = False,
) -> None:
    """Print a recipe file (with its launch line), or its merged arguments."""
    from avem_plugins.launch.recipe import RecipeError, find_recipe, load_recipe, resolved_yaml

    try:
        if resolved:
            typer.echo(resolved_yaml(load_recipe(name)), nl=False)
        else:
            typer.echo(find_recipe(name).read_text(), nl=False)
    except RecipeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@recipes_app.command("cp")
def cp(
    name: Annotated[str, typer.Argument(help="Recipe name or path to copy.")],
    dest: Annotated[Path, typer.Argument(help="Destination .yaml file or folder.")],
) -> None:
    """Copy a recipe to edit it; run it with `avem dpo --recipe DEST`."""
    from avem_plugins.launch.recipe import RecipeError, copy_recipe

    try:
        target = copy_recipe(name, dest)
    except RecipeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"copied to {target}; run it with: avem dpo --recipe {target} ...")


@recipes_app.command("validate")
def validate(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Recipe names or .yaml paths (default: every registered recipe)."),
    ] = None,
) -> None:
    """Bind recipes to the real config dataclasses and adapter registry; exit 1 on errors."""
    from avem_plugins.cli.extras import require

    require("avem recipes validate", "trl", transformers=True)
    from avem_plugins.launch.recipe import RecipeError, available_recipes
    from avem_plugins.launch.recipe import validate as validate_one

    try:
        targets = list(names) if names else list(available_recipes())
    except RecipeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    failed = 0
    for target in targets:
        try:
            validate_one(target)
        except RecipeError as exc:
            failed += 1
            typer.echo(f"FAIL {target}\n{exc}", err=True)
        else:
            typer.echo(f"ok   {target}")
    if failed:
        typer.echo(f"{failed} of {len(targets)} recipes invalid", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(recipes_app, name="recipes")
