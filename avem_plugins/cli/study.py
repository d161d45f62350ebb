"""``avem study``: the paper's comparison table (recipes × seeds) through the real CLIs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def study(
    out: Annotated[
        Path, typer.Option("--out", help="Study folder (resumed when it already holds this study).")
    ] = Path("avem-study"),
    recipes: Annotated[
        str,
        typer.Option(
            "--recipes",
            help="Comma-separated recipe names or .yaml paths (any recipe, e.g. vista-dpo). "
            "The starting model is always the first row.",
        ),
    ] = "naive-dpo,avem,avem-no-tpd,avem-no-pmp,avem-no-erp",
    seeds: Annotated[
        int, typer.Option("--seeds", min=1, help="Training seeds per recipe (≥ 2 for intervals).")
    ] = 3,
    first_seed: Annotated[int, typer.Option("--first-seed", help="The first seed.")] = 0,
    baseline: Annotated[
        str, typer.Option("--baseline", help="The recipe every other row is compared with.")
    ] = "naive-dpo",
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="CI size: naive-dpo and avem, 2 seeds, a small world, few steps."
        ),
    ] = False,
    world: Annotated[
        str, typer.Option("--world", help="Embedded default only: the cue world (A or B).")
    ] = "A",
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="A real starting model (path or hub id) instead of the embedded default.",
        ),
    ] = None,
    prefs: Annotated[
        Path | None, typer.Option("--prefs", help="With --model: the preference file to train on.")
    ] = None,
    media_root: Annotated[
        Path | None, typer.Option("--media-root", help="With --model: the preference media root.")
    ] = None,
    tasks: Annotated[
        str, typer.Option("--tasks", help="lmms-eval tasks (data from the environment).")
    ] = "emorealm",
    model_args: Annotated[
        str,
        typer.Option(
            "--model-args", help="Extra avem_av model_args, e.g. device=cuda,dtype=bfloat16."
        ),
    ] = "",
    train_config: Annotated[
        Path | None,
        typer.Option(
            "--train-config", help="With --model: a YAML of training settings for every recipe."
        ),
    ] = None,
    train_arg: Annotated[
        list[str] | None,
        typer.Option("--train-arg", help="An extra `trl dpo` argument (repeat for several)."),
    ] = None,
    accelerate_config: Annotated[
        str | None,
        typer.Option(
            "--accelerate_config", "--accelerate-config", help="accelerate config for training."
        ),
    ] = None,
    gpus: Annotated[
        int | None,
        typer.Option("--gpus", min=1, help="Processes (GPUs) for training and evaluation."),
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Preference-training steps per run.")
    ] = None,
    eval_group: Annotated[
        int | None,
        typer.Option(
            "--eval-group",
            min=0,
            help="Models per lmms-eval process (0: all runs of a seed; default 0 for the "
            "embedded default, 1 with --model).",
        ),
    ] = None,
    text_probe: Annotated[
        bool,
        typer.Option("--text-probe/--no-text-probe", help="Also evaluate with media withheld."),
    ] = True,
    report_only: Annotated[
        bool, typer.Option("--report-only", help="Rebuild the report from the finished runs.")
    ] = False,
) -> None:
    """Train several recipes from one starting model, evaluate each with lmms-eval, and write
    the comparison table (mean ± 95% interval over seeds) with plots. Resumable."""
    from avem_plugins.cli.extras import require

    if report_only:
        require("avem study --report-only", "report")
    else:
        require("avem study", "lmms-eval", "trl", "report", transformers=True)
    from avem_plugins.study import Study, StudyConfig, StudyError

    config = StudyConfig(
        out=out,
        recipes=tuple(r.strip() for r in recipes.split(",") if r.strip()),
        seeds=seeds,
        first_seed=first_seed,
        baseline=baseline,
        quick=quick,
        world=world,
        model=model,
        prefs=prefs,
        media_root=media_root,
        tasks=tasks,
        model_args=model_args,
        train_config=train_config,
        train_args=tuple(train_arg or ()),
        accelerate_config=accelerate_config,
        gpus=gpus,
        steps=steps,
        eval_group=eval_group,
        text_probe=text_probe,
    )
    try:
        runner = Study(config, echo=typer.echo)
        if report_only:
            runner.setup()
            runner.write_report()
        else:
            runner.run()
    except (StudyError, KeyError) as exc:
        typer.echo(f"avem study: {exc}", err=True)
        raise typer.Exit(1) from exc


def register(app: typer.Typer) -> None:
    app.command("study")(study)
