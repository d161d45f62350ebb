"""``avem report``: draw lmms-eval results files as Markdown + HTML with PNG plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    results: Annotated[
        list[Path],
        typer.Argument(help="lmms-eval results files, or the --output_path folders holding them."),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for report.md, report.html and PNGs.")
    ] = Path("avem-report"),
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="Another model's results, drawn first.")
    ] = None,
    labels: Annotated[
        str | None, typer.Option("--labels", help="Comma-separated run names, one per RESULTS.")
    ] = None,
) -> None:
    """Write a Markdown summary and an HTML page with plots for RESULTS."""
    from avem_plugins.cli.extras import require

    require("avem report", "report")
    from avem_plugins.report import ReportError
    from avem_plugins.report import report as write

    try:
        paths = write(
            results,
            out,
            labels=[s.strip() for s in labels.split(",")] if labels else None,
            baseline=baseline,
        )
    except ReportError as exc:
        typer.echo(f"avem report: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"wrote {paths['markdown']}\nwrote {paths['html']}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
