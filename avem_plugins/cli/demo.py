"""``avem demo``: the study in miniature (start, naive-dpo, avem) on the embedded cue world."""

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
    ] = "qwen2_5_omni",
    world: Annotated[str, typer.Option("--world", help="The cue world (A or B).")] = "A",
    eval_clips: Annotated[
        int | None,
        typer.Option(
            "--eval-clips", min=3, help="Benchmark clips (5 questions each); default: the world's."
        ),
    ] = None,
    train_clips: Annotated[
        int | None,
        typer.Option(
            "--train-clips", min=2, help="Preference clips (5 rows each); default: the world's."
        ),
    ] = None,
    pretrain_clips: Annotated[
        int | None,
        typer.Option("--pretrain-clips", min=2, help="Warm-up corpus clips; default: the world's."),
    ] = None,
    warmup_steps: Annotated[
        int | None,
        typer.Option(
            "--warmup-steps", min=1, help="Supervised warm-up steps (the starting model)."
        ),
    ] = None,
    train_steps: Annotated[
        int | None,
        typer.Option("--train-steps", min=1, help="Preference-training steps per recipe."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Training seed.")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty --out folder.")
    ] = False,
) -> None:
    """The starting model, naive-dpo and avem on the embedded cue world: lmms-eval before and
    after `trl dpo --recipe`, one report. `avem study` runs the full ablation table."""
    from avem_plugins.cli.extras import require

    require("avem demo", "lmms-eval", "trl", "report", transformers=True)
    from avem_plugins.demo import DemoConfig, DemoError, run_demo

    config = DemoConfig(
        out=out,
        family=family,
        world=world,
        eval_clips=eval_clips,
        train_clips=train_clips,
        pretrain_clips=pretrain_clips,
        warmup_steps=warmup_steps,
        train_steps=train_steps,
        seed=seed,
        force=force,
    )
    try:
        run_demo(config, echo=typer.echo)
    except (DemoError, KeyError) as exc:
        typer.echo(f"avem demo: {exc}", err=True)
        raise typer.Exit(1) from exc


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
