"""A stratified sample of preference rows for human review, as CSV and a self-contained HTML page.

:func:`stratified_sample` groups rows by ``(emotion, modality, negatives)`` where
``negatives`` is the kind of negatives a row carries (``hallucination+spurious`` with
``rejected_2``, else ``hallucination``), shuffles each group with the seed and takes rows
round-robin across the groups, so every stratum is represented before any gets a second row
(rare emotions are not drowned by frequent ones).

:func:`write_review` writes ``review.csv`` (the texts plus empty verdict columns
:data:`VERDICT_COLUMNS` for the reviewer) and ``review.html``: one table row per sample with
the clip playing in a ``<video controls>`` element (``<audio>`` for audio-only rows) beside the
prompt, the chosen answer and the two negatives, and a verdict column. Media ``src`` URLs are
**relative to the page** (so the review folder and the media can be moved together); where no
relative path exists (another drive) a ``file://`` URL is used. ``links="file"`` forces
``file://`` URLs. All text is escaped with :func:`html.escape`; the page has inline CSS and a
small inline script to download the verdicts as CSV, and loads nothing from the network.
"""

from __future__ import annotations

import csv
import html
import os
import random
import urllib.parse
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from avem_plugins.prefs.schema import PreferenceSample, load_preferences

#: Columns the reviewer fills in (CSV) / ticks (HTML).
VERDICT_COLUMNS: tuple[str, ...] = (
    "chosen_grounded",
    "rejected_is_hallucination",
    "rejected_2_is_spurious",
    "reviewer_notes",
)
#: Columns of ``review.csv``.
CSV_COLUMNS: tuple[str, ...] = (
    "id", "emotion", "modality", "negatives", "video", "audio", "prompt", "chosen", "rejected",
    "rejected_2", *VERDICT_COLUMNS,
)  # fmt: skip
#: How media URLs are written in the page.
LINK_MODES: tuple[str, ...] = ("relative", "file")


def negative_kind(sample: PreferenceSample) -> str:
    """The negatives a row carries: ``hallucination+spurious`` or ``hallucination``."""
    return "hallucination+spurious" if sample.rejected_2 else "hallucination"


def stratum(sample: PreferenceSample) -> tuple[str, str, str]:
    """``(emotion, modality, negatives)``; a missing emotion reads ``(none)``."""
    return (sample.emotion or "(none)", sample.modality, negative_kind(sample))


def stratified_sample(
    samples: Sequence[PreferenceSample], n: int, *, seed: int = 0
) -> list[PreferenceSample]:
    """Up to ``n`` samples, round-robin over shuffled strata (deterministic for ``seed``)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    groups: dict[tuple[str, str, str], list[PreferenceSample]] = defaultdict(list)
    for s in samples:
        groups[stratum(s)].append(s)
    keys = sorted(groups)
    rng.shuffle(keys)
    for key in keys:
        rng.shuffle(groups[key])
    picked: list[PreferenceSample] = []
    depth = 0
    while len(picked) < n and any(depth < len(groups[k]) for k in keys):
        for key in keys:
            if depth < len(groups[key]) and len(picked) < n:
                picked.append(groups[key][depth])
        depth += 1
    return picked


def media_url(media: str, page_dir: Path, links: str = "relative") -> str:
    """The ``src`` of a media element: relative to the page, or a ``file://`` URL."""
    path = Path(media).resolve()
    if links == "relative":
        try:
            rel = os.path.relpath(path, page_dir.resolve())
        except ValueError:  # another drive (Windows)
            return path.as_uri()
        return urllib.parse.quote(Path(rel).as_posix())
    if links == "file":
        return path.as_uri()
    raise ValueError(f"links must be one of {LINK_MODES}, got {links!r}")


_CSS = """
body{font-family:system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ccc;padding:6px;vertical-align:top;text-align:left;font-size:14px}
th{background:#eee;position:sticky;top:0}
td.media video,td.media audio{width:240px}
.meta{color:#555;font-size:12px}
.chosen{background:#eef9ee}.rejected{background:#fbeeee}.rejected_2{background:#fdf6e6}
"""

_SCRIPT = """
function avemVerdicts(){
  const rows=[["id",%s]];
  document.querySelectorAll("tr[data-id]").forEach(tr=>{
    const r=[tr.dataset.id];
    tr.querySelectorAll("[data-verdict]").forEach(el=>r.push(el.type==="checkbox"?(el.checked?"yes":"no"):el.value));
    rows.push(r);
  });
  const csv=rows.map(r=>r.map(v=>'"'+String(v).replace(/"/g,'""')+'"').join(",")).join("\\n");
  const a=document.createElement("a");
  a.href="data:text/csv;charset=utf-8,"+encodeURIComponent(csv);
  a.download="verdicts.csv";a.click();
}
"""


def _media_cell(sample: PreferenceSample, page_dir: Path, links: str) -> str:
    if sample.video:
        src = html.escape(media_url(sample.video, page_dir, links), quote=True)
        return f'<video controls preload="metadata" src="{src}"></video>'
    if sample.audio:
        src = html.escape(media_url(sample.audio, page_dir, links), quote=True)
        return f'<audio controls preload="metadata" src="{src}"></audio>'
    return "(no media)"


def render_html(samples: Sequence[PreferenceSample], page_dir: Path, *, links: str = "relative",
                title: str = "AVEm-DPO preference review") -> str:  # fmt: skip
    """The review page (a complete, self-contained HTML document)."""
    e = html.escape
    rows = []
    for s in samples:
        emotion = e(s.emotion or "(none)")
        verdicts = (
            "".join(
                f'<label><input type="checkbox" data-verdict="{e(v)}"> {e(v)}</label><br>'
                for v in VERDICT_COLUMNS[:-1]
            )
            + f'<textarea data-verdict="{e(VERDICT_COLUMNS[-1])}" rows="2" placeholder="notes"></textarea>'
        )
        rows.append(
            f'<tr data-id="{e(s.id, quote=True)}">'
            f'<td class="media">{_media_cell(s, page_dir, links)}'
            f'<div class="meta">{e(s.id)}<br>emotion: {emotion}<br>modality: {e(s.modality)}'
            f"<br>negatives: {e(negative_kind(s))}</div></td>"
            f'<td class="prompt">{e(s.prompt)}</td>'
            f'<td class="chosen">{e(s.chosen)}</td>'
            f'<td class="rejected">{e(s.rejected)}</td>'
            f'<td class="rejected_2">{e(s.rejected_2 or "(none)")}</td>'
            f'<td class="verdict">{verdicts}</td></tr>'
        )
    columns = ",".join(f'"{v}"' for v in VERDICT_COLUMNS)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>{_CSS}</style><script>{_SCRIPT % columns}</script></head><body>"
        f'<h1>{e(title)}</h1><p class="meta">{len(samples)} samples. Watch the clip, then judge: is the '
        "chosen answer grounded in the clip; does the hallucination negative cite a cue that is absent; "
        "does the spurious negative cite a cue that is present but irrelevant? Record verdicts in "
        "review.csv, or tick them here and "
        '<button type="button" onclick="avemVerdicts()">download verdicts.csv</button>.</p>'
        "<table><thead><tr><th>clip</th><th>prompt</th><th>chosen</th>"
        "<th>rejected (hallucination)</th><th>rejected_2 (spurious)</th><th>verdict</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></body></html>\n"
    )


def write_review(
    samples: Sequence[PreferenceSample], out_dir: str | Path, *, links: str = "relative"
) -> tuple[Path, Path]:
    """Write ``review.csv`` and ``review.html`` into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out_dir / "review.csv", out_dir / "review.html"
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for s in samples:
            writer.writerow(
                {
                    "id": s.id, "emotion": s.emotion or "", "modality": s.modality,
                    "negatives": negative_kind(s), "video": s.video or "", "audio": s.audio or "",
                    "prompt": s.prompt, "chosen": s.chosen, "rejected": s.rejected,
                    "rejected_2": s.rejected_2 or "", **dict.fromkeys(VERDICT_COLUMNS, ""),
                }
            )  # fmt: skip
    html_path.write_text(render_html(samples, out_dir, links=links), encoding="utf-8")
    return csv_path, html_path


def sample_for_review(
    path: str | Path,
    n: int,
    out_dir: str | Path,
    media_root: str | Path | None = None,
    *,
    seed: int = 0,
    links: str = "relative",
) -> tuple[list[PreferenceSample], Path, Path]:
    """Load ``path``, draw a stratified sample of ``n`` and write the CSV and HTML."""
    if links not in LINK_MODES:
        raise ValueError(f"links must be one of {LINK_MODES}, got {links!r}")
    picked = stratified_sample(load_preferences(path, media_root), n, seed=seed)
    csv_path, html_path = write_review(picked, out_dir, links=links)
    return picked, csv_path, html_path
