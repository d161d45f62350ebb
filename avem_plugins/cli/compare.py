"""``avem compare-scorers``: a finished run's answers scored by our parser and by the authors'."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def compare_scorers(
    results: Annotated[
        list[Path],
        typer.Argument(
            help="lmms-eval --output_path folders (or samples files) of a run made "
            "with --log_samples."
        ),
    ],
    examples: Annotated[
        int, typer.Option("--examples", help="List up to N answers per task scored differently.")
    ] = 0,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the comparison as JSON here.")
    ] = None,
) -> None:
    """Re-score a run's logged answers with the robust parser and with compat, per task.

    compat is the AVERE authors' own scorer when AVEM_AVERE_REPO points at a checkout of
    github.com/ihp-lab/AVERE, else our reconstruction (the header says which). Nothing is
    generated: the difference shown comes from scoring alone.
    """
    from avem_plugins.compare import CompareError, compare_run, format_table
    from avem_plugins.scoring.taskdata import TaskDataError

    try:
        run = compare_run(results, examples=examples)
    except (CompareError, TaskDataError) as exc:
        typer.echo(f"avem compare-scorers: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(format_table(run))
    if json_out is not None:
        json_out.write_text(json.dumps(run.as_dict(), indent=2))
        typer.echo(f"wrote {json_out}")


def register(app: typer.Typer) -> None:
    app.command("compare-scorers")(compare_scorers)
