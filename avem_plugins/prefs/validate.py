"""Check a preference file before training: every problem, per row, with file and line.

:func:`validate_file` reads a JSONL file or a JSON list (SPEC §3.3) and reports, for every row,

- errors (the trainer would refuse the file): bytes that are not UTF-8, malformed JSON, a row
  that is not an object, missing/empty/non-string ``prompt``/``chosen``/``rejected``, a prompt
  with nothing but media markers, a media path that escapes the media root (``../``, an
  absolute path elsewhere, a symlink leading out) or does not exist, no ``video`` nor
  ``audio``, an unknown ``modality``, a negative identical to ``chosen``, a duplicate ``id``;
- warnings (it would train, but probably not as meant): an empty optional field, the two
  negatives identical, an exact duplicate of another row, a mismatched input equal to the
  row's own media, and rows whose PMP mismatched input can come neither from the data
  (``video_l``/``audio_l``) nor from a different-label clip of the file (an ``emotion``
  field), so the trainer falls back to an in-batch swap or noise;
- information: the modality inferred from the prompt when there is no ``modality`` field.

Fields outside the schema are warnings (a misspelt optional field would otherwise be dropped).

The rows are read by :func:`avem_plugins.prefs.schema.read_file` and checked by
:func:`avem_plugins.prefs.schema.check_row`, the engine the loader runs too (it raises the first
error a row has), so a file that validates also loads; this module adds the checks across rows
(duplicates, PMP coverage). :func:`write_report` writes the per-row report as JSONL or CSV;
:meth:`ValidationReport.summary` counts everything.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from avem_plugins.modality import DEFAULT_MODALITY_RULE, PROMPT_MODALITIES, swapped_modalities
from avem_plugins.prefs.schema import Issue, RowCheck, check_row, duplicate_id, read_file


@dataclass
class RowReport:
    """The findings for one row (``line`` is the JSONL line or the JSON-list item number):
    what reading it found, the engine's :class:`~avem_plugins.prefs.schema.RowCheck`, and the
    checks across rows."""

    where: str
    line: int | None
    row: dict[str, Any] | None = field(default=None, repr=False)
    check: RowCheck | None = field(default=None, repr=False)
    issues: list[Issue] = field(default_factory=list)
    id: str | None = None
    mismatch: str | None = None

    @property
    def modality(self) -> str | None:
        return self.check.modality if self.check else None

    @property
    def modality_inferred(self) -> bool | None:
        return self.check.modality_inferred if self.check else None

    @property
    def emotion(self) -> str | None:
        return self.check.emotion if self.check else None

    @property
    def media(self) -> dict[str, str | None]:
        return self.check.media if self.check else {}

    def add(self, level: str, code: str, message: str, field_name: str | None = None) -> None:
        self.issues.append(Issue(level, code, message, field_name))

    @property
    def status(self) -> str:
        levels = {i.level for i in self.issues}
        return "error" if "error" in levels else "warning" if "warning" in levels else "ok"

    def as_dict(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "line": self.line,
            "id": self.id,
            "status": self.status,
            "modality": self.modality,
            "modality_inferred": self.modality_inferred,
            "mismatch": self.mismatch,
            "emotion": self.emotion,
            "issues": [asdict(i) for i in self.issues],
        }


@dataclass
class ValidationReport:
    """All rows' findings for one file."""

    path: Path
    media_root: Path
    rows: list[RowReport]
    modality_rule: str = DEFAULT_MODALITY_RULE

    @property
    def errors(self) -> int:
        return sum(1 for r in self.rows if r.status == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for r in self.rows if r.status == "warning")

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def summary(self) -> dict[str, Any]:
        """Counts by status, issue code, modality, mismatch source, negatives and emotion."""
        valid = [r for r in self.rows if r.status != "error" and r.row is not None]
        codes = Counter(f"{i.level}:{i.code}" for r in self.rows for i in r.issues)
        return {
            "file": str(self.path),
            "media_root": str(self.media_root),
            "rows": len(self.rows),
            "ok": sum(1 for r in self.rows if r.status == "ok"),
            "warnings": self.warnings,
            "errors": self.errors,
            "issues": dict(sorted(codes.items())),
            "modality_given": dict(Counter(r.modality for r in valid if not r.modality_inferred)),
            "modality_inferred": dict(Counter(r.modality for r in valid if r.modality_inferred)),
            "mismatch": dict(Counter(r.mismatch for r in valid)),
            "negatives": dict(
                Counter("two" if _text(r.row, "rejected_2") else "one" for r in valid if r.row)
            ),
            "emotions": dict(Counter(r.emotion or "(none)" for r in valid)),
        }

    def format_summary(self) -> str:
        """The summary as a few human-readable lines."""
        s = self.summary()

        def counts(d: Mapping[str, int]) -> str:
            return ", ".join(f"{k}: {v}" for k, v in sorted(d.items(), key=str)) or "-"

        return "\n".join(
            [
                f"{s['file']} (media root {s['media_root']}): {s['rows']} rows, {s['ok']} ok, "
                f"{s['warnings']} with warnings, {s['errors']} with errors",
                f"  issues: {counts(s['issues'])}",
                f"  modality given: {counts(s['modality_given'])}; not given, "
                + (
                    "inferred from the prompt"
                    if self.modality_rule == "infer"
                    else f"set by --modality_rule {self.modality_rule}"
                )
                + f": {counts(s['modality_inferred'])}",
                f"  PMP mismatched input from: {counts(s['mismatch'])} "
                "(data = video_l/audio_l, label = a different-emotion clip, fallback = in-batch/noise)",
                f"  negatives per row: {counts(s['negatives'])}",
                f"  emotions: {counts(s['emotions'])}",
            ]
        )


def _text(row: Mapping[str, Any] | None, name: str) -> str | None:
    value = (row or {}).get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _mismatch_coverage(reports: list[RowReport]) -> None:
    usable = [r for r in reports if r.status != "error" and r.row is not None]
    # Rows with errors still lend their clip: once fixed they will, and counting them avoids
    # a cascade of fallback warnings caused by one broken row.
    lends: dict[str, set[tuple[bool, bool]]] = {}  # emotion -> {(has_audio, has_video)}
    for r in reports:
        if r.row is not None and r.emotion:
            has_video = bool(r.media.get("video"))
            lends.setdefault(r.emotion, set()).add(
                (bool(r.media.get("audio")) or has_video, has_video)
            )
    for r in usable:
        needs_audio, needs_video = (
            swapped_modalities(r.modality) if r.modality in PROMPT_MODALITIES else (False, False)
        )
        video_l, audio_l = r.media.get("video_l"), r.media.get("audio_l") or r.media.get("video_l")
        own_video, own_audio = r.media.get("video"), r.media.get("audio") or r.media.get("video")
        data_ok = (not needs_video or (video_l and video_l != own_video)) and (
            not needs_audio or (audio_l and audio_l != own_audio)
        )
        if data_ok:
            r.mismatch = "data"
            continue
        if r.emotion and any(
            (has_a or not needs_audio) and (has_v or not needs_video)
            for emotion, kinds in lends.items()
            if emotion != r.emotion
            for has_a, has_v in kinds
        ):
            r.mismatch = "label"
            continue
        r.mismatch = "fallback"
        if not r.emotion:
            why = "it has no 'emotion' label to draw a different-label clip"
        elif set(lends) - {r.emotion}:
            why = "no clip of another emotion has the media to swap"
        else:
            why = "its emotion is the only one in the file"
        r.add(
            "warning", "mismatch_fallback",
            f"{r.where}: no usable video_l/audio_l and {why}: PMP falls back to an in-batch swap "
            "or noise (give video_l, or emotion labels)",
        )  # fmt: skip


def _duplicates(reports: list[RowReport], source: str) -> None:
    first_id: dict[str, str] = {}
    first_row: dict[str, str] = {}
    for i, r in enumerate(reports):
        if r.row is None:
            continue
        if r.id is None:
            r.id = f"{source}:{i}"
        duplicate = duplicate_id(r.id, r.where, first_id)
        if duplicate is not None:
            r.issues.append(duplicate)
        key = json.dumps(
            {k: v for k, v in r.row.items() if k != "id"} | {f"media:{k}": v for k, v in r.media.items()},
            sort_keys=True, default=str,
        )  # fmt: skip
        if key in first_row:
            r.add(
                "warning",
                "duplicate_row",
                f"{r.where}: same content as {first_row[key]} (duplicate row)",
            )
        else:
            first_row[key] = r.where


def validate_file(
    path: str | Path,
    media_root: str | Path | None = None,
    *,
    check_exists: bool = True,
    modality_rule: str = DEFAULT_MODALITY_RULE,
) -> ValidationReport:
    """Validate a preference file; media paths resolve against ``media_root`` (default: its folder)."""
    path = Path(path)
    root = (Path(media_root) if media_root is not None else path.resolve().parent).resolve()
    reports: list[RowReport] = []
    for i, raw in enumerate(read_file(path)):
        report = RowReport(raw.where, raw.line, raw.row)
        if raw.problem is not None:
            report.issues.append(raw.problem)
        if raw.row is not None:
            report.check = check_row(
                raw.row,
                where=raw.where,
                root=root,
                default_id=f"{path.name}:{i}",
                check_exists=check_exists,
                modality_rule=modality_rule,
            )
            report.issues.extend(report.check.issues)
            report.id = report.check.id
        reports.append(report)
    _duplicates(reports, path.name)
    _mismatch_coverage(reports)
    return ValidationReport(path, root, reports, modality_rule)


REPORT_COLUMNS: tuple[str, ...] = (
    "where", "line", "id", "status", "modality", "modality_inferred", "mismatch", "emotion", "issues",
)  # fmt: skip


def write_report(report: ValidationReport, out: str | Path) -> Path:
    """Write the per-row report: ``.csv`` (one line per row, issues joined) or JSONL."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        with open(out, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=REPORT_COLUMNS)
            writer.writeheader()
            for r in report.rows:
                d = r.as_dict()
                d["issues"] = " | ".join(
                    f"{i['level']}:{i['code']}: {i['message']}" for i in d["issues"]
                )
                writer.writerow(d)
    else:
        with open(out, "w", encoding="utf-8") as handle:
            for r in report.rows:
                handle.write(json.dumps(r.as_dict(), ensure_ascii=False) + "\n")
    return out
