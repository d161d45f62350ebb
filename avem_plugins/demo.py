"""``avem demo``: the study in miniature — the starting model, ``naive-dpo`` and ``avem`` on the
controlled cue world (docs/STUDY.md), one seed, through the real tools.

1. write cue world A (:mod:`avem_plugins.testing.demo_data`) and build its starting model: a
   tiny random-weight Qwen2.5-Omni thinker warmed up on the world's corpus, which plants a
   text prior and a spurious association (:mod:`avem_plugins.study_world`);
2. train ``trl dpo --recipe naive-dpo`` and ``trl dpo --recipe avem`` (LoRA) on the world's
   preference file;
3. evaluate the three models with ``lmms-eval --model avem_av --tasks emorealm``, with the
   media and with the media withheld (the text-only probe), in one ``lmms-eval --config``
   process;
4. write the study report (``report/study.html``) and print a summary that leads with the
   three rows of hallucination / spurious accuracy, stress F1 and the text-probe agreement,
   and how many answers each training changed.

It is :func:`avem_plugins.study.run_study` with two recipes and one seed (``avem study`` runs
all five recipes over three seeds). The model is tiny and random: the numbers describe this
world, not the paper's models.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from avem_plugins.testing import demo_data

RECIPES: tuple[str, ...] = ("naive-dpo", "avem")


class DemoError(RuntimeError):
    """A demo step failed; the message names the step and where its log is."""


@dataclass
class DemoConfig:
    """What ``avem demo`` does; every field has a CLI flag (``None``: the world's own value)."""

    out: Path = Path("avem-demo")
    family: str = "qwen2_5_omni"
    world: str = demo_data.DEFAULT_WORLD
    eval_clips: int | None = None
    train_clips: int | None = None
    pretrain_clips: int | None = None
    warmup_steps: int | None = None
    train_steps: int | None = None
    seed: int = 0
    force: bool = False


@dataclass
class DemoResult:
    """Paths and timings of a finished demo."""

    out: Path
    report: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    summary: str = ""


def study_config(config: DemoConfig) -> object:
    """The :class:`~avem_plugins.study.StudyConfig` the demo runs."""
    from avem_plugins.study import StudyConfig

    spec = demo_data.get_world(config.world)
    sizes = None
    if config.eval_clips or config.train_clips or config.pretrain_clips:
        sizes = (
            config.eval_clips or spec.eval_clips,
            config.train_clips or spec.pref_clips,
            config.pretrain_clips or spec.pretrain_clips,
        )
    return StudyConfig(
        out=config.out,
        recipes=RECIPES,
        seeds=1,
        first_seed=config.seed,
        world=config.world,
        family=config.family,
        steps=config.train_steps,
        eval_at_end=True,
        world_sizes=sizes,
        warmup_steps=config.warmup_steps,
    )


def run_demo(config: DemoConfig, echo: Callable[[str], None] = print) -> DemoResult:
    """Run the whole demo; see the module docstring."""
    from avem_plugins.study import Study, StudyError

    out = config.out.resolve()
    if out.exists() and any(out.iterdir()):
        if not config.force:
            raise DemoError(
                f"{out} exists and is not empty: pass --force to replace it, or --out DIR"
            )
        shutil.rmtree(out)
    echo(
        "avem demo: a TINY RANDOM-WEIGHT model on a synthetic cue world. It runs the real "
        "pipeline (lmms-eval CLI, trl dpo --recipe naive-dpo / avem, the study report); its "
        "numbers describe this world, not the paper's models (docs/STUDY.md)."
    )
    clock = time.perf_counter()
    study = Study(study_config(config), echo=echo)  # type: ignore[arg-type]
    try:
        paths = study.run()
    except StudyError as exc:
        raise DemoError(str(exc)) from exc
    result = DemoResult(out=out, report=paths, seconds=time.perf_counter() - clock)
    result.summary = summarize(study)
    echo("")
    echo(result.summary)
    echo(f"report: {paths['html']}")
    echo(f"done in {result.seconds:.0f} s")
    (out / "report" / "demo_summary.txt").write_text(result.summary + "\n", encoding="utf-8")
    return result


def changed_answers(before: Path, after: Path) -> tuple[int, int]:
    """How many answers (as scored: the parsed option, Yes/No) logged next to two results
    files differ: ``(changed, total)``."""
    from avem_plugins.study_table import logged_answers

    first, second = logged_answers(before), logged_answers(after)
    shared = first.keys() & second.keys()
    return sum(first[k] != second[k] for k in shared), len(shared)


def training_log(log: Path) -> list[dict[str, str]]:
    """The metrics dicts the trainer printed (``{'loss': ..., 'rewards/margins': ...}``)."""
    import ast
    import re

    text = log.read_text(encoding="utf-8", errors="replace")
    return [ast.literal_eval(m) for m in re.findall(r"\{'loss': [^{}]*\}", text)]


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def summarize(study: object) -> str:
    """The demo's lead table: start, naive-dpo and avem on the failure-mode columns."""
    from avem_plugins.study import Study
    from avem_plugins.study_table import column_values

    assert isinstance(study, Study)
    keys = ("hallucination", "spurious", "stress_audio_f1", "stress_visual_f1", "text_agreement")
    heads = ("halluc. acc", "spurious acc", "stress A F1", "stress V F1", "text=av")
    lines = [
        "Failure modes on the cue world (%, one seed; text=av: stress answers unchanged "
        "when the media are withheld):",
        f"{'':12s}" + "".join(f"{h:>14s}" for h in heads) + f"{'answers changed':>18s}",
    ]
    start_av = study.start.results("av")
    for run in [study.start, *study.runs]:
        values = column_values(study.load(run))
        cells = "".join(f"{_percent(values[k]):>14s}" for k in keys)
        changed = "–"
        av = run.results("av")
        if run is not study.start and av is not None and start_av is not None:
            n, total = changed_answers(start_av, av)
            changed = f"{n} of {total}"
        lines.append(f"{run.recipe:12s}{cells}{changed:>18s}")
    for run in study.runs:
        logged = training_log(run.folder / "train.log")
        if logged:
            first, last = logged[0], logged[-1]
            metrics = ("loss", "rewards/margins", "rewards/accuracies", "loss/input", "tpd/offset")
            lines.append(
                f"{run.recipe} training, first -> last logged step: "
                + ", ".join(
                    f"{k} {first.get(k, '?')} -> {last.get(k, '?')}"
                    for k in metrics
                    if k in first or k in last
                )
            )
    table = json.loads((study.out / "report" / "table.json").read_text(encoding="utf-8"))
    failed = [p["text"] for p in table["preconditions"] if not p["holds"]]
    lines.append(
        "preconditions on the starting model: "
        + ("all hold" if not failed else "NOT all hold: " + "; ".join(failed))
    )
    return "\n".join(lines)
