"""``avem demo``: the main job on an embedded default (tiny model, synthetic clips)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for models, data, logs, results and the report.")
    ] = Path("avem-demo"),
    family: Annotated[
        str, typer.Option("--family", help="Tiny model family: qwen2_5_omni or qwen3_omni.")
    ] = ("qwen2_5_omni"),
    eval_clips: Annotated[
        int,
        typer.Option(
            "--eval-clips", min=4, help="Clips in the synthetic benchmark (5 questions each)."
        ),
    ] = 16,
    train_clips: Annotated[
        int, typer.Option("--train-clips", min=4, help="Clips for warm-up and preference data.")
    ] = 32,
    warmup_steps: Annotated[
        int,
        typer.Option(
            "--warmup-steps",
            min=0,
            help="Supervised warm-up steps before the first evaluation (0: none).",
        ),
    ] = 150,
    train_steps: Annotated[
        int, typer.Option("--train-steps", min=1, help="AVEm-DPO optimizer steps.")
    ] = 20,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the model, data and training.")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty --out folder.")
    ] = False,
) -> None:
    """Evaluate → train (AVEm-DPO) → re-evaluate → report, on a tiny random model and synthetic clips."""
    from avem_plugins.cli.extras import require

    require("avem demo", "lmms-eval", "trl", "report", transformers=True)
    from avem_plugins.demo import DemoConfig, DemoError, run_demo

    config = DemoConfig(
        out=out,
        family=family,
        eval_clips=eval_clips,
        train_clips=train_clips,
        warmup_steps=warmup_steps,
        train_steps=train_steps,
        seed=seed,
        force=force,
    )
    try:
        run_demo(config, echo=typer.echo)
    except DemoError as exc:
        typer.echo(f"avem demo: {exc}", err=True)
        raise typer.Exit(1) from exc


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
