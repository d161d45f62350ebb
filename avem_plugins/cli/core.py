"""``avem plugins`` and ``avem tasks-dir``."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List loaded plugins, their versions and the hooks each implements."""
    from avem_plugins.registry import describe_plugins

    rows = describe_plugins()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        kind = "built-in" if row["builtin"] else str(row["distribution"])
        hooks = ", ".join(row["hooks"]) or "-"  # type: ignore[arg-type]
        typer.echo(f"{row['name']}  ({kind} {row['version']})  {row['module']}\n    hooks: {hooks}")


def register(app: typer.Typer) -> None:
    app.command("plugins")(plugins)
