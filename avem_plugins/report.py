"""``avem report``: lmms-eval results files → a Markdown summary and an HTML page with PNG plots.

Reads the ``*_results.json`` files lmms-eval writes under ``--output_path`` (ours or any other
model's). A run is labelled by its ``--labels`` entry, else by the folder it came from. Plots:

- per-task headline scores for every run side by side (before/after when two runs are given);
- EmoReAlM stress-test yes-rate and spurious/hallucination/relevant subset accuracies;
- confusion matrices of the classification tasks (DFEW, RAVDESS);
- the text-only probe (a run with ``modalities=text``) beside the audiovisual score.

The page is self-contained apart from the PNGs written beside it; every value shown is read
from the results files, nothing is computed anew except means over the shown numbers.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Metrics drawn as the headline of a task, in order of preference.
HEADLINE_METRICS: tuple[str, ...] = (
    "accuracy",
    "uar",
    "war",
    "macro_f1",
    "weighted_f1",
    "paper_f1_yes_no",
    "emotion_overlap_f",
    "judge_mean",
)
STRESS_METRICS: tuple[str, ...] = ("yes_rate", "relevant_acc", "spurious_acc", "hallucination_acc")


class ReportError(ValueError):
    """A results file could not be read; the message names it."""


@dataclass
class Run:
    """One lmms-eval results file."""

    label: str
    path: Path
    model: str
    model_args: str
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def modalities(self) -> str:
        match = re.search(r"(?:^|,)modalities=([a-z]+)", self.model_args)
        return match.group(1) if match else "av"

    def value(self, task: str, metric: str) -> Any:
        return self.metrics.get(task, {}).get(metric)


def find_results_file(path: Path) -> Path:
    """``path`` itself when it is a file, else the newest ``*results*.json`` below it."""
    if path.is_file():
        return path
    if not path.exists():
        raise ReportError(f"{path}: no such file or folder (pass lmms-eval's --output_path)")
    found = sorted(path.rglob("*_results.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise ReportError(f"{path}: no *_results.json below it (did lmms-eval finish?)")
    return found[-1]


def load_run(path: Path, label: str | None = None) -> Run:
    """Read one results file (or the newest one in a folder)."""
    file = find_results_file(Path(path))
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{file}: not a readable JSON results file ({exc})") from exc
    if "results" not in data:
        raise ReportError(f"{file}: has no 'results' key; is it an lmms-eval results file?")
    metrics: dict[str, dict[str, Any]] = {}
    for task, values in data["results"].items():
        clean = {}
        for key, value in values.items():
            name, _, _filter = key.partition(",")
            if name == "alias" or "_stderr" in name:
                continue
            clean[name] = value
        metrics[task] = clean
    config = data.get("config", {})
    model_args = config.get("model_args", "")
    if isinstance(model_args, dict):
        model_args = ",".join(f"{k}={v}" for k, v in model_args.items())
    default_label = Path(path).name if Path(path).is_dir() else file.parent.name
    return Run(
        label=label or default_label,
        path=file,
        model=str(config.get("model", "")),
        model_args=str(model_args),
        metrics=metrics,
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def _headline(run: Run, task: str) -> tuple[str, float] | None:
    for metric in HEADLINE_METRICS:
        value = _number(run.value(task, metric))
        if value is not None:
            return metric, value
    return None


def _tasks(runs: Sequence[Run]) -> list[str]:
    seen: dict[str, None] = {}
    for run in runs:
        for task in run.metrics:
            seen.setdefault(task, None)
    return list(seen)


def markdown_summary(runs: Sequence[Run]) -> str:
    """A table: one row per task and numeric metric, one column per run."""
    lines = ["# avem report", ""]
    lines += [f"- **{r.label}**: `{r.model}` `{r.model_args}` ({r.path})" for r in runs]
    lines += ["", "| task | metric | " + " | ".join(r.label for r in runs) + " |"]
    lines.append("|---|---|" + "---|" * len(runs))
    for task in _tasks(runs):
        names: dict[str, None] = {}
        for run in runs:
            for name, value in run.metrics.get(task, {}).items():
                if _number(value) is not None or value is None:
                    names.setdefault(name, None)
        for name in names:
            cells = []
            for run in runs:
                value = _number(run.value(task, name))
                cells.append("–" if value is None else f"{value:.4g}")
            lines.append(f"| {task} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _bar_plot(
    path: Path, title: str, groups: list[str], series: dict[str, list[float | None]]
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(groups) + 2), 4))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [g + i * width for g in range(len(groups))]
        ax.bar(xs, [v if v is not None else 0.0 for v in values], width, label=name)
        for x, v in zip(xs, values, strict=True):
            ax.text(
                x, (v or 0.0) + 0.01, "n/a" if v is None else f"{v:.2f}", ha="center", fontsize=7
            )
    ax.set_xticks([g + width * (len(series) - 1) / 2 for g in range(len(groups))])
    ax.set_xticklabels(groups, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _confusion_plot(path: Path, title: str, labels: list[str], matrix: list[list[int]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1 + 0.6 * len(labels), 1 + 0.6 * len(labels)))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def write_report(
    runs: Sequence[Run], out_dir: Path, *, baseline: Run | None = None
) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and the PNGs into ``out_dir``; return their paths."""
    if not runs:
        raise ReportError("no results to report")
    all_runs = ([baseline] if baseline else []) + list(runs)
    out_dir.mkdir(parents=True, exist_ok=True)
    images: list[tuple[str, Path]] = []

    tasks = [t for t in _tasks(all_runs) if any(_headline(r, t) for r in all_runs)]
    if tasks:
        series = {}
        for run in all_runs:
            series[run.label] = [(_headline(run, t) or ("", None))[1] for t in tasks]
        labels = [
            f"{t}\n({(_headline(all_runs[0], t) or _headline(all_runs[-1], t) or ('?',))[0]})"
            for t in tasks
        ]
        images.append(
            (
                "Headline score per task",
                _bar_plot(out_dir / "tasks.png", "Headline score per task", labels, series),
            )
        )

    stress = [
        t
        for t in _tasks(all_runs)
        if any(_number(r.value(t, "yes_rate")) is not None for r in all_runs)
    ]
    for task in stress:
        series = {
            run.label: [_number(run.value(task, m)) for m in STRESS_METRICS] for run in all_runs
        }
        title = f"{task}: yes-rate and subset accuracies"
        images.append(
            (
                title,
                _bar_plot(
                    out_dir / f"stress_{_slug(task)}.png", title, list(STRESS_METRICS), series
                ),
            )
        )

    for run in all_runs:
        for task, values in run.metrics.items():
            cm = values.get("confusion_matrix")
            if isinstance(cm, dict) and cm.get("labels") and cm.get("matrix"):
                title = f"{task} confusion matrix ({run.label})"
                png = out_dir / f"confusion_{_slug(task)}_{_slug(run.label)}.png"
                images.append(
                    (title, _confusion_plot(png, title, list(cm["labels"]), cm["matrix"]))
                )

    text_runs = [r for r in all_runs if r.modalities == "text"]
    media_runs = [r for r in all_runs if r.modalities != "text"]
    if text_runs and media_runs:
        probe_tasks = [t for t in tasks if any(_headline(r, t) for r in text_runs)]
        series = {
            f"{r.label} ({r.modalities})": [(_headline(r, t) or ("", None))[1] for t in probe_tasks]
            for r in media_runs + text_runs
        }
        title = "Text-only probe beside the audiovisual score"
        images.append((title, _bar_plot(out_dir / "text_probe.png", title, probe_tasks, series)))

    md = markdown_summary(all_runs)
    md += "\n" + "\n".join(f"![{t}]({p.name})" for t, p in images) + "\n"
    md_path = out_dir / "report.md"
    md_path.write_text(md, encoding="utf-8")

    rows = []
    for task in _tasks(all_runs):
        for name in sorted({n for r in all_runs for n in r.metrics.get(task, {})}):
            cells = [_number(r.value(task, name)) for r in all_runs]
            if all(c is None for c in cells):
                continue
            rows.append(
                "<tr><td>{}</td><td>{}</td>{}</tr>".format(
                    html.escape(task),
                    html.escape(name),
                    "".join(f"<td>{'–' if c is None else f'{c:.4g}'}</td>" for c in cells),
                )
            )
    head = "".join(f"<th>{html.escape(r.label)}</th>" for r in all_runs)
    figures = "\n".join(
        f'<figure><img src="{html.escape(p.name)}" alt="{html.escape(t)}"><figcaption>{html.escape(t)}</figcaption></figure>'
        for t, p in images
    )
    runs_list = "".join(
        f"<li><b>{html.escape(r.label)}</b>: <code>{html.escape(r.model)}</code> "
        f"<code>{html.escape(r.model_args)}</code></li>"
        for r in all_runs
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>avem report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;font-size:13px}}figure{{display:inline-block;margin:1em}}
img{{max-width:520px}}</style></head><body>
<h1>avem report</h1><ul id="runs">{runs_list}</ul>
<section id="figures">{figures}</section>
<h2>All metrics</h2><table id="metrics"><tr><th>task</th><th>metric</th>{head}</tr>{"".join(rows)}</table>
<script>window.addEventListener("load", () => {{
  document.body.dataset.imagesLoaded = [...document.images].every(i => i.complete && i.naturalWidth > 0);
}});</script>
</body></html>
"""
    html_path = out_dir / "report.html"
    html_path.write_text(page, encoding="utf-8")
    return {"markdown": md_path, "html": html_path, **{p.stem: p for _, p in images}}


def report(
    paths: Sequence[Path],
    out_dir: Path,
    *,
    labels: Sequence[str] | None = None,
    baseline: Path | None = None,
) -> dict[str, Path]:
    """Load ``paths`` (files or lmms-eval output folders) and write the report."""
    labels = list(labels or [])
    if labels and len(labels) != len(paths):
        raise ReportError(f"--labels has {len(labels)} names for {len(paths)} results")
    runs = [load_run(Path(p), labels[i] if labels else None) for i, p in enumerate(paths)]
    base = load_run(Path(baseline), "baseline") if baseline else None
    return write_report(runs, out_dir, baseline=base)


def _json_default(value: Any) -> Any:  # pragma: no cover - used by the CLI's --json
    return str(value)


def dumps(paths: dict[str, Path]) -> str:
    return json.dumps({k: str(v) for k, v in paths.items()}, indent=2, default=_json_default)
