"""``avem doctor``: versions, hooks and media roots; exits 1 when something required is broken."""

from __future__ import annotations

import json
from typing import Annotated

import typer

_MARK = {"ok": "ok  ", "warn": "warn", "fail": "FAIL", "info": "--  "}


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Check the installation; exit 1 when something required is broken.

    Reports package versions against the ranges avem-plugins needs, whether the torch/torchvision pair loads, filelock<4, whether the lmms-eval and TRL hooks are installed and active, and which media-root variables are set and exist.
    """
    from avem_plugins.doctor import as_dicts, run_checks

    checks = run_checks()
    if as_json:
        typer.echo(json.dumps(as_dicts(checks), indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for check in checks:
            typer.echo(
                f"{_MARK.get(check.status, check.status)}  {check.name.ljust(width)}  {check.detail}"
            )
    broken = [c.name for c in checks if c.broken]
    if broken:
        if not as_json:
            typer.echo(f"\n{len(broken)} required check(s) failed: {', '.join(broken)}", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
