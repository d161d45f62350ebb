"""Re-score a finished lmms-eval run's logged answers under ``robust`` and ``compat``.

How much of a difference to the paper's numbers comes from scoring alone? lmms-eval's
``--log_samples`` files (``<date>_samples_<task>.jsonl``) hold each answer
(``filtered_resps``) and our per-sample record (with the gold answer, the choices or the
label list). :func:`compare_run` scores every answer again with the tasks' own functions
under both parsers and returns one :class:`TaskComparison` per task; nothing is generated
and no media are read. ``compat`` is the authors' own scorer when ``AVEM_AVERE_REPO`` is
set (:mod:`avem_plugins.scoring.authors`), else our reconstruction (labelled so).

Tasks: EmoReAlM (``emorealm*``, accuracy; the 5-task mean), DFEW, RAVDESS and MER2023
(UAR and WAR; answers the authors' scorer skips are left out under ``compat``, as in
their evaluation). Samples logged by task versions before 2.0 lack the fields needed and
are reported as skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from avem_plugins.scoring import emotions, metrics

_SAMPLES = re.compile(r"^(?P<date>.*)_samples_(?P<task>.+)\.jsonl$")
#: The EmoReAlM subtasks whose accuracies the paper averages.
EMOREALM_SUBTASKS: tuple[str, ...] = (
    "reasoning_basic_audio",
    "reasoning_basic_video",
    "modality_agreement",
    "reasoning_stress_audio",
    "reasoning_stress_video",
)


class CompareError(ValueError):
    """The folder holds no usable logged samples; the message says what to do."""


@dataclass
class TaskComparison:
    """One task's scores under both parsers.

    ``scores`` maps a metric (``accuracy``; ``uar``/``war``) to ``{"robust": x, "compat": y}``;
    ``changed`` counts answers whose verdict (correct or not; the predicted label) differs;
    ``examples`` holds up to a few of them as ``(answer, robust, compat)``.
    """

    task: str
    kind: str  # "emorealm" or "classification"
    n: int
    scores: dict[str, dict[str, float]]
    changed: int
    compat_scorer: str
    examples: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class RunComparison:
    """Every task of a run, plus the EmoReAlM 5-task mean when all five are there."""

    tasks: list[TaskComparison]
    emorealm_mean: dict[str, float] | None
    compat_scorer: str
    compat_note: str
    skipped: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_files(paths: Iterable[str | Path]) -> dict[str, Path]:
    """``task -> samples file`` under ``paths`` (files or folders; the newest per task).

    :raises CompareError: when there is none.
    """
    found: dict[str, Path] = {}
    for path in map(Path, paths):
        candidates = [path] if path.is_file() else sorted(path.rglob("*_samples_*.jsonl"))
        for file in candidates:
            match = _SAMPLES.match(file.name)
            if match is None:
                continue
            task = match["task"]
            if task not in found or file.name > found[task].name:  # date-stamped names
                found[task] = file
    if not found:
        shown = ", ".join(str(p) for p in paths)
        raise CompareError(
            f"no *_samples_<task>.jsonl files under {shown}: run lmms-eval with --log_samples "
            "(and --output_path) to keep each answer"
        )
    return found


def _read(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise CompareError(f"{path}, line {number}: not JSON ({err.msg})") from None
    return rows


def _answer(sample: dict[str, Any]) -> str:
    resp = sample.get("filtered_resps", "")
    while isinstance(resp, list):
        resp = resp[0] if resp else ""
    return "" if resp is None else str(resp)


def _record(sample: dict[str, Any]) -> dict[str, Any] | None:
    for value in sample.values():
        if isinstance(value, dict) and "parser" in value and "id" in value:
            return value
    return None


def _emorealm(task: str, rows: list[tuple[str, dict[str, Any]]], examples: int) -> TaskComparison:
    from avem_plugins.tasks.emorealm import utils as emorealm

    correct: dict[str, list[bool]] = {"robust": [], "compat": []}
    changed, label = 0, ""
    shown: list[tuple[str, str, str]] = []
    for answer, record in rows:
        doc = {"id": record["id"], "task": record["task"], "choices": record["choices"],
               "answer": record["gold"], "stress_kind": record.get("kind")}  # fmt: skip
        robust = emorealm.score(doc, answer, "robust")
        compat = emorealm.score(doc, answer, "compat")
        label = compat["parser"]
        correct["robust"].append(robust["correct"])
        correct["compat"].append(compat["correct"])
        if robust["correct"] != compat["correct"]:
            changed += 1
            if len(shown) < examples:
                shown.append((answer, _verdict(robust["correct"]), _verdict(compat["correct"])))
    n = len(rows)
    accuracy = {k: (sum(v) / n if n else 0.0) for k, v in correct.items()}
    return TaskComparison(task, "emorealm", n, {"accuracy": accuracy}, changed, label, shown)


def _verdict(correct: bool) -> str:
    return "correct" if correct else "wrong"


def _classification(
    task: str, rows: list[tuple[str, dict[str, Any]]], examples: int
) -> TaskComparison:
    from avem_plugins.tasks import classification
    from avem_plugins.tasks.mer2023 import utils as mer2023

    per: dict[str, tuple[list[str], list[str | None]]] = {"robust": ([], []), "compat": ([], [])}
    changed, label = 0, ""
    shown: list[tuple[str, str, str]] = []
    labels: Sequence[str] = rows[0][1]["labels"] if rows else []
    for answer, record in rows:
        family = record.get("scorer_family") or _family(task)
        parse = mer2023.parse_answer if family == "mer2023" else emotions.parse_answer
        doc = {"id": record["id"], "label": record["gold"], "labels": record["labels"],
               "scorer_family": family}  # fmt: skip
        got = {}
        for parser in ("robust", "compat"):
            parsed, name, _ = classification.parse_record(doc, answer, parser, parse)
            got[parser] = parsed.label if parsed.label is not None else parsed.status
            if parser == "compat":
                label = name
            if parsed.status != "dropped":  # skipped by the authors' evaluation under compat
                per[parser][0].append(record["gold"])
                per[parser][1].append(parsed.label)
        if got["robust"] != got["compat"]:
            changed += 1
            if len(shown) < examples:
                shown.append((answer, str(got["robust"]), str(got["compat"])))
    scores: dict[str, dict[str, float]] = {"uar": {}, "war": {}}
    for parser, (golds, preds) in per.items():
        result = metrics.classification_scores(golds, preds, labels)
        scores["uar"][parser], scores["war"][parser] = result.uar, result.war
    return TaskComparison(task, "classification", len(rows), scores, changed, label, shown)


def _family(task: str) -> str:
    for family in ("mer2023", "ravdess", "dfew"):
        if task.startswith(family):
            return family
    return "dfew"


def compare_run(paths: Iterable[str | Path], *, examples: int = 0) -> RunComparison:
    """Re-score the logged answers under ``paths`` with both parsers.

    :raises CompareError: no samples files, or none of our tasks among them.
    """
    from avem_plugins.scoring import authors

    tasks, skipped = [], {}
    for task, path in sorted(sample_files(paths).items()):
        rows = []
        for sample in _read(path):
            record = _record(sample)
            if record is None:
                break
            rows.append((_answer(sample), record))
        if not rows:
            skipped[task] = "not one of our tasks (no avem record in its samples)"
            continue
        first = rows[0][1]
        if "choices" in first and "gold" in first:
            tasks.append(_emorealm(task, rows, examples))
        elif "labels" in first and "gold" in first:
            tasks.append(_classification(task, rows, examples))
        else:
            skipped[task] = "logged by a task version before 2.0; evaluate again to compare"
    if not tasks:
        raise CompareError(
            "none of the logged tasks can be re-scored: "
            + "; ".join(f"{t}: {why}" for t, why in skipped.items())
        )
    by_task = {t.task: t for t in tasks}
    names = [f"emorealm_{s}" for s in EMOREALM_SUBTASKS]
    mean = None
    if all(n in by_task for n in names):
        mean = {
            p: sum(by_task[n].scores["accuracy"][p] for n in names) / len(names)
            for p in ("robust", "compat")
        }
    scorer = next((t.compat_scorer for t in tasks if t.compat_scorer), "")
    note = authors.RECONSTRUCTION_NOTICE if scorer == authors.RECONSTRUCTION_LABEL else ""
    return RunComparison(tasks, mean, scorer, note, skipped)


def format_table(run: RunComparison) -> str:
    """The comparison as a plain-text table (percentages)."""
    lines = [
        f"compat = {run.compat_scorer}" + (f"  ({run.compat_note})" if run.compat_note else "")
    ]
    header = f"{'task':<38} {'metric':<8} {'n':>6} {'robust':>8} {'compat':>8} {'diff':>8} {'changed':>8}"
    lines += [header, "-" * len(header)]
    for t in run.tasks:
        for metric, values in t.scores.items():
            r, c = 100 * values["robust"], 100 * values["compat"]
            lines.append(
                f"{t.task:<38} {metric:<8} {t.n:>6} {r:>8.2f} {c:>8.2f} {c - r:>+8.2f} {t.changed:>8}"
            )
    if run.emorealm_mean is not None:
        r, c = 100 * run.emorealm_mean["robust"], 100 * run.emorealm_mean["compat"]
        lines.append(
            f"{'emorealm (5-task mean)':<38} {'accuracy':<8} {'':>6} {r:>8.2f} {c:>8.2f} {c - r:>+8.2f}"
        )
    for t in run.tasks:
        for answer, robust, compat in t.examples:
            lines.append(f"  {t.task}: {answer!r}: robust {robust}, compat {compat}")
    for task, why in run.skipped.items():
        lines.append(f"skipped {task}: {why}")
    return "\n".join(lines)
