"""The study's table, preconditions and report, computed from lmms-eval's own output files.

Every number comes from the ``*_results.json`` files (and, for the answer-level columns, the
``*_samples_*.jsonl`` files beside them) that ``lmms-eval --log_samples`` wrote for each run;
nothing is re-scored. A run is one model evaluated twice: with its media (``modalities=av``)
and with the media withheld (``modalities=text``, the text-only probe).

Columns (:data:`COLUMNS`, the paper's Table 3/5 layout plus the text probe):

========== ===================================================================================
basic A    ``emorealm_reasoning_basic_audio`` accuracy
basic V    ``emorealm_reasoning_basic_video`` accuracy
stress A   ``emorealm_reasoning_stress_audio`` paper F1 (``paper_f1_yes_no``)
stress V   ``emorealm_reasoning_stress_video`` paper F1
spurious   mean of the two stress tasks' ``spurious_acc``
halluc.    mean of the two stress tasks' ``hallucination_acc``
agree F1   ``emorealm_modality_agreement`` paper F1
mean       ``emorealm`` group accuracy: the unweighted mean of the 5 task accuracies
text mean  the same, with the media withheld (the text-only probe)
text=av    share of stress items answered the same (Yes/No as scored) with and without media
========== ===================================================================================
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avem_plugins.report import Run, load_run
from avem_plugins.study_stats import Difference, Summary, difference, summarize

STRESS_TASKS = ("emorealm_reasoning_stress_audio", "emorealm_reasoning_stress_video")


@dataclass
class Evaluated:
    """One evaluated model: its ``av`` run and (optionally) its text-only run."""

    av: Run
    text: Run | None = None

    @classmethod
    def load(cls, av: Path, text: Path | None = None) -> Evaluated:
        return cls(load_run(av), load_run(text) if text else None)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if len(vals) == len(values) and vals else None


def _record(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The task's per-answer record in a logged sample (any metric's value carrying ``choices``)."""
    for value in entry.values():
        if isinstance(value, dict) and "choices" in value:
            return value
    return None


def _pick(entry: dict[str, Any]) -> str | None:
    """The answer as scored: ``yes``/``no`` on yes/no items, else the parsed option letter
    (``None``: unparsed). Without the task's record, the stripped, lower-cased text."""
    from avem_plugins.scoring.answers import parse_choice

    answer = entry.get("filtered_resps")
    while isinstance(answer, list) and answer:
        answer = answer[0]
    text = str(answer if answer is not None else "")
    record = _record(entry)
    if record is None:
        return text.strip().strip(".").strip().lower()
    if record.get("answered_yes") is not None:
        return "yes" if record["answered_yes"] else "no"
    if record.get("gold_yes") is not None:  # a yes/no item answered neither
        return None
    return parse_choice(text, record["choices"]).letter


def logged_answers(results: Path) -> dict[tuple[str, int], str | None]:
    """``{(task, doc_id): answer as scored}`` from the samples files beside a results file."""
    out: dict[tuple[str, int], str | None] = {}
    for path in results.parent.glob("*_samples_*.jsonl"):
        task = path.stem.split("_samples_", 1)[1]
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                out[(task, int(entry["doc_id"]))] = _pick(entry)
    return out


def text_agreement(ev: Evaluated) -> float | None:
    """Share of stress items answered the same (Yes/No as scored) with and without media."""
    if ev.text is None:
        return None
    av, text = logged_answers(ev.av.path), logged_answers(ev.text.path)
    keys = [k for k in av.keys() & text.keys() if k[0] in STRESS_TASKS]
    if not keys:
        return None
    return sum(av[k] == text[k] for k in keys) / len(keys)


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    description: str
    get: Callable[[Evaluated], float | None] = field(compare=False)


def _metric(task: str, metric: str) -> Callable[[Evaluated], float | None]:
    return lambda ev: _num(ev.av.value(task, metric))


def _stress_mean(metric: str) -> Callable[[Evaluated], float | None]:
    return lambda ev: _mean([_num(ev.av.value(t, metric)) for t in STRESS_TASKS])


def _text_mean(ev: Evaluated) -> float | None:
    return None if ev.text is None else _num(ev.text.value("emorealm", "accuracy"))


COLUMNS: tuple[Column, ...] = (
    Column("basic_audio", "basic A", "basic audio accuracy",
           _metric("emorealm_reasoning_basic_audio", "accuracy")),
    Column("basic_visual", "basic V", "basic visual accuracy",
           _metric("emorealm_reasoning_basic_video", "accuracy")),
    Column("stress_audio_f1", "stress A F1", "stress audio paper F1",
           _metric("emorealm_reasoning_stress_audio", "paper_f1_yes_no")),
    Column("stress_visual_f1", "stress V F1", "stress visual paper F1",
           _metric("emorealm_reasoning_stress_video", "paper_f1_yes_no")),
    Column("spurious", "spurious", "spurious accuracy (stress A/V mean)",
           _stress_mean("spurious_acc")),
    Column("hallucination", "halluc.", "hallucination accuracy (stress A/V mean)",
           _stress_mean("hallucination_acc")),
    Column("agreement_f1", "agree F1", "modality-agreement paper F1",
           _metric("emorealm_modality_agreement", "paper_f1_yes_no")),
    Column("mean", "mean", "EmoReAlM mean: unweighted mean of the 5 task accuracies",
           _metric("emorealm", "accuracy")),
    Column("text_mean", "text mean", "the same mean with the media withheld (text-only probe)",
           _text_mean),
    Column("text_agreement", "text=av", "stress items answered the same with and without media",
           text_agreement),
)  # fmt: skip


def column_values(ev: Evaluated) -> dict[str, float | None]:
    return {c.key: c.get(ev) for c in COLUMNS}


# --- preconditions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Precondition:
    key: str
    text: str
    value: float | None
    threshold: float

    @property
    def holds(self) -> bool:
        return self.value is not None and self.value >= self.threshold


#: Thresholds fixed with the design (docs/STUDY.md §2), before the starting model was measured.
PRECONDITION_THRESHOLDS = {
    "text_prior": 0.70,
    "hallucination_present": 0.25,
    "spurious_present": 0.25,
    "media_carry_answer": 0.25,
}


def preconditions(start: Evaluated) -> list[Precondition]:
    """The design's preconditions, measured on the starting model (docs/STUDY.md §2).

    "Credited" = not answered "No" = ``1 − accuracy`` on the gold-No subset.
    """

    def credited(run: Run | None, metric: str) -> float | None:
        if run is None:
            return None
        acc = _mean([_num(run.value(t, metric)) for t in STRESS_TASKS])
        return None if acc is None else 1.0 - acc

    def basic(run: Run | None) -> float | None:
        if run is None:
            return None
        return _mean(
            [_num(run.value(t, "accuracy"))
             for t in ("emorealm_reasoning_basic_audio", "emorealm_reasoning_basic_video")]
        )  # fmt: skip

    av_basic, text_basic = basic(start.av), basic(start.text)
    gap = None if av_basic is None or text_basic is None else av_basic - text_basic
    th = PRECONDITION_THRESHOLDS
    return [
        Precondition("text_prior", "text prior: media withheld, absent cues credited (hallucination items)",
                     credited(start.text, "hallucination_acc"), th["text_prior"]),
        Precondition("hallucination_present", "with media, absent cues still credited (hallucination items)",
                     credited(start.av, "hallucination_acc"), th["hallucination_present"]),
        Precondition("spurious_present", "with media, the other modality's emotion credited (spurious items)",
                     credited(start.av, "spurious_acc"), th["spurious_present"]),
        Precondition("media_carry_answer", "basic accuracy with media minus text-only basic accuracy",
                     gap, th["media_carry_answer"]),
    ]  # fmt: skip


# --- the table -----------------------------------------------------------------------------


@dataclass
class Cell:
    summary: Summary | None
    vs_baseline: Difference | None = None

    def text(self, digits: int = 1) -> str:
        if self.summary is None:
            return "–"
        s = self.summary
        out = f"{100 * s.mean:.{digits}f}"
        if s.half_width is not None:
            out += f" ± {100 * s.half_width:.{digits}f}"
        if self.vs_baseline is not None and self.vs_baseline.outside:
            out += " ▲" if self.vs_baseline.estimate > 0 else " ▼"
        return out


@dataclass
class Table:
    """Rows (recipes, in order) × :data:`COLUMNS`; per-seed values kept for checking."""

    rows: list[str]
    values: dict[str, dict[str, list[float]]]  # row -> column -> per-seed values
    cells: dict[str, dict[str, Cell]]
    baseline: str | None

    def markdown(self) -> str:
        head = "| | " + " | ".join(c.header for c in COLUMNS) + " |"
        lines = [head, "|---" * (len(COLUMNS) + 1) + "|"]
        for row in self.rows:
            n = max((len(v) for v in self.values[row].values()), default=0)
            label = f"{row} (n={n})" if n > 1 else row
            lines.append(
                f"| {label} | " + " | ".join(self.cells[row][c.key].text() for c in COLUMNS) + " |"
            )
        return "\n".join(lines)

    def per_seed_markdown(self) -> str:
        head = "| run | " + " | ".join(c.header for c in COLUMNS) + " |"
        lines = [head, "|---" * (len(COLUMNS) + 1) + "|"]
        for row in self.rows:
            n = max((len(v) for v in self.values[row].values()), default=0)
            for i in range(n):
                cells = []
                for c in COLUMNS:
                    vals = self.values[row].get(c.key, [])
                    cells.append(f"{100 * vals[i]:.1f}" if i < len(vals) else "–")
                lines.append(f"| {row} #{i} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"baseline": self.baseline, "rows": {}}
        for row in self.rows:
            out["rows"][row] = {}
            for c in COLUMNS:
                cell = self.cells[row][c.key]
                s, d = cell.summary, cell.vs_baseline
                out["rows"][row][c.key] = {
                    "values": self.values[row].get(c.key, []),
                    "mean": None if s is None else s.mean,
                    "half_width": None if s is None else s.half_width,
                    "diff_vs_baseline": None if d is None else d.estimate,
                    "diff_half_width": None if d is None else d.half_width,
                    "outside_interval": None if d is None else d.outside,
                }
        return out


def build_table(
    runs: dict[str, list[dict[str, float | None]]], order: Sequence[str], baseline: str | None
) -> Table:
    """``runs``: row -> one :func:`column_values` dict per seed. Marks differences from
    ``baseline`` whose 95% Welch interval excludes 0."""
    values: dict[str, dict[str, list[float]]] = {}
    for row in order:
        values[row] = {}
        for c in COLUMNS:
            got = [r.get(c.key) for r in runs.get(row, [])]
            values[row][c.key] = [float(v) for v in got if v is not None]
    cells: dict[str, dict[str, Cell]] = {}
    for row in order:
        cells[row] = {}
        for c in COLUMNS:
            seeds = values[row][c.key]
            summary = summarize(seeds) if seeds else None
            diff = None
            base = values.get(baseline or "", {}).get(c.key, [])
            if baseline and row != baseline and seeds and base:
                diff = difference(seeds, base)
            cells[row][c.key] = Cell(summary, diff)
    return Table(list(order), values, cells, baseline)


# --- the report page -------------------------------------------------------------------------


def _plots(table: Table, out_dir: Path) -> list[tuple[str, Path]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = []
    groups = [
        ("Failure modes", ["hallucination", "spurious", "stress_audio_f1", "stress_visual_f1"]),
        ("Grounding and the text prior", ["basic_audio", "basic_visual", "agreement_f1", "mean", "text_mean", "text_agreement"]),
    ]  # fmt: skip
    headers = {c.key: c.header for c in COLUMNS}
    for title, keys in groups:
        fig, ax = plt.subplots(figsize=(max(7, 1.6 * len(keys) + 2), 4.2))
        width = 0.8 / max(1, len(table.rows))
        for i, row in enumerate(table.rows):
            xs, means, errs = [], [], []
            for g, key in enumerate(keys):
                cell = table.cells[row][key]
                x = g + i * width
                if cell.summary is None:
                    continue
                xs.append(x)
                means.append(cell.summary.mean)
                errs.append(cell.summary.half_width or 0.0)
                ax.scatter([x] * len(cell.summary.values), cell.summary.values, s=8,
                           color="black", zorder=3)  # fmt: skip
            ax.bar(xs, means, width, yerr=errs, capsize=2, label=row)
        ax.set_xticks([g + width * (len(table.rows) - 1) / 2 for g in range(len(keys))])
        ax.set_xticklabels([headers[k] for k in keys], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{title}: mean ± 95% interval, dots = seeds", fontsize=10)
        ax.legend(fontsize=7, ncol=3)
        fig.tight_layout()
        path = out_dir / f"study_{title.split()[0].lower()}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        images.append((title, path))
    return images


def write_report(
    out_dir: Path,
    *,
    table: Table,
    checks: Sequence[Precondition],
    manifest: dict[str, Any],
    sources: dict[str, list[dict[str, str]]],
) -> dict[str, Path]:
    """``study.md``, ``study.html`` (table, preconditions, plots, sources) and ``table.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images = _plots(table, out_dir)
    (out_dir / "table.json").write_text(
        json.dumps({**table.to_json(), "preconditions": [vars(p) | {"holds": p.holds} for p in checks],
                    "manifest": manifest, "sources": sources}, indent=1),
        encoding="utf-8",
    )  # fmt: skip
    legend = (
        "Cells: mean ± half-width of the 95% Student-t interval over seeds, in %. "
        f"▲/▼: the 95% Welch interval of the difference from `{table.baseline}` excludes 0."
    )
    pre_md = "\n".join(
        f"| {p.text} | {'–' if p.value is None else f'{100 * p.value:.1f}'} | "
        f"≥ {100 * p.threshold:.0f} | {'holds' if p.holds else 'FAILS'} |"
        for p in checks
    )
    md = "\n\n".join(
        [
            "# avem study",
            f"`{manifest.get('command', '')}`",
            "## Table\n\n" + legend + "\n\n" + table.markdown(),
            "## Preconditions (starting model)\n\n| precondition | measured (%) | threshold | |\n|---|---|---|---|\n" + pre_md,
            "## Per-seed values\n\n" + table.per_seed_markdown(),
            "## Protocol\n\n```json\n" + json.dumps(manifest, indent=1) + "\n```",
        ]
    )  # fmt: skip
    md_path = out_dir / "study.md"
    md_path.write_text(md + "\n", encoding="utf-8")

    def cell_html(row: str, key: str) -> str:
        cell = table.cells[row][key]
        mark = cell.vs_baseline is not None and cell.vs_baseline.outside
        data = "" if cell.summary is None else f' data-mean="{cell.summary.mean:.6f}"'
        style = ' style="font-weight:bold"' if mark else ""
        return f"<td{data}{style}>{html.escape(cell.text())}</td>"

    head = "".join(
        f"<th title='{html.escape(c.description)}'>{html.escape(c.header)}</th>" for c in COLUMNS
    )
    body = "".join(
        f"<tr data-row='{html.escape(row)}'><th>{html.escape(row)}</th>"
        + "".join(cell_html(row, c.key) for c in COLUMNS) + "</tr>"
        for row in table.rows
    )  # fmt: skip
    pre_rows = "".join(
        f"<tr><td>{html.escape(p.text)}</td><td>{'–' if p.value is None else f'{100 * p.value:.1f}'}</td>"
        f"<td>≥ {100 * p.threshold:.0f}</td><td>{'holds' if p.holds else '<b>FAILS</b>'}</td></tr>"
        for p in checks
    )  # fmt: skip
    figures = "".join(
        f'<figure><img src="{html.escape(p.name)}" alt="{html.escape(t)}">'
        f"<figcaption>{html.escape(t)}</figcaption></figure>"
        for t, p in images
    )
    src_rows = "".join(
        f"<tr><td>{html.escape(row)}</td><td>{html.escape(s.get('seed', ''))}</td>"
        f"<td><code>{html.escape(s.get('av', ''))}</code></td><td><code>{html.escape(s.get('text', ''))}</code></td></tr>"
        for row, runs in sources.items() for s in runs
    )  # fmt: skip
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>avem study</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;font-size:13px}}figure{{display:inline-block;margin:1em}}
img{{max-width:560px}}code{{font-size:11px}}</style></head><body>
<h1>avem study</h1><p><code>{html.escape(str(manifest.get("command", "")))}</code></p>
<h2>Table</h2><p>{html.escape(legend)}</p>
<table id="study-table"><tr><th></th>{head}</tr>{body}</table>
<h2>Preconditions (starting model, before preference training)</h2>
<table id="preconditions"><tr><th>precondition</th><th>measured (%)</th><th>threshold</th><th></th></tr>{pre_rows}</table>
<h2>Plots</h2><section id="figures">{figures}</section>
<h2>Protocol</h2><pre>{html.escape(json.dumps(manifest, indent=1))}</pre>
<h2>Sources (lmms-eval results files)</h2>
<table id="sources"><tr><th>row</th><th>seed</th><th>av</th><th>text</th></tr>{src_rows}</table>
</body></html>
"""
    html_path = out_dir / "study.html"
    html_path.write_text(page, encoding="utf-8")
    return {"markdown": md_path, "html": html_path, "json": out_dir / "table.json",
            **{p.stem: p for _, p in images}}  # fmt: skip
