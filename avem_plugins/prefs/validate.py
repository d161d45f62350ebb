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

Rows without errors are finally passed through :func:`avem_plugins.prefs.schema.normalize_row`, so a
file that validates also loads. :func:`write_report` writes the per-row report as JSONL or
CSV; :meth:`ValidationReport.summary` counts everything.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from avem_plugins.modality import (
    MODALITY_ALIASES,
    PROMPT_MODALITIES,
    infer_modality,
    strip_media_markers,
    swapped_modalities,
)
from avem_plugins.prefs.schema import (
    KNOWN_FIELDS,
    MEDIA_FIELDS,
    PreferenceDataError,
    normalize_row,
    resolve_media,
)

#: Issue levels, most severe first.
LEVELS: tuple[str, ...] = ("error", "warning", "info")
_REQUIRED_TEXT = ("prompt", "chosen", "rejected")
_OPTIONAL_TEXT = ("rejected_2",)


@dataclass(frozen=True)
class Issue:
    """One finding: ``level`` in :data:`LEVELS`, a stable ``code``, the field, a message."""

    level: str
    code: str
    message: str
    field: str | None = None


@dataclass
class RowReport:
    """The findings for one row (``line`` is the JSONL line or the JSON-list item number)."""

    where: str
    line: int | None
    id: str | None = None
    modality: str | None = None
    modality_inferred: bool | None = None
    mismatch: str | None = None
    emotion: str | None = None
    issues: list[Issue] = field(default_factory=list)
    media: dict[str, str | None] = field(default_factory=dict)
    row: dict[str, Any] | None = field(default=None, repr=False)

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
                f"  modality given: {counts(s['modality_given'])}; "
                f"inferred from the prompt: {counts(s['modality_inferred'])}",
                f"  PMP mismatched input from: {counts(s['mismatch'])} "
                "(data = video_l/audio_l, label = a different-emotion clip, fallback = in-batch/noise)",
                f"  negatives per row: {counts(s['negatives'])}",
                f"  emotions: {counts(s['emotions'])}",
            ]
        )


def _text(row: Mapping[str, Any] | None, name: str) -> str | None:
    value = (row or {}).get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


# -- reading --------------------------------------------------------------------------------


def _decode_error(e: UnicodeDecodeError, data: bytes, offset: int = 0) -> tuple[int, str]:
    start = offset + e.start
    line = data[:start].count(b"\n") + 1
    column = start - (data.rfind(b"\n", 0, start) + 1) + 1
    return line, f"not UTF-8: byte 0x{data[start]:02x} at column {column}; save the file as UTF-8"


def read_located_rows(path: Path) -> list[RowReport]:
    """One :class:`RowReport` per row, each holding its parsed ``row`` or a read error."""
    name = str(path)
    if not path.is_file():
        report = RowReport(name, None)
        report.add("error", "no_file", f"{path}: file not found")
        return [report]
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        report = RowReport(f"{name} line 1", 1)
        report.add(
            "error",
            "bom",
            "starts with a UTF-8 byte-order mark, which the loader rejects; save without BOM",
        )
        return [report]
    if data.lstrip().startswith(b"["):
        return _read_json_list(path, data)
    reports: list[RowReport] = []
    for n, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        report = RowReport(f"{name} line {n}", n)
        reports.append(report)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            report.add("error", "encoding", f"{name} line {n}: {_decode_error(e, raw)[1]}")
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            report.add(
                "error", "json",
                f"{name} line {n}: malformed JSON ({e.msg} at column {e.colno}); each line must be one "
                "JSON object (JSONL), or the whole file one JSON list",
            )  # fmt: skip
            continue
        _set_row(report, obj)
    if not reports:
        report = RowReport(name, None)
        report.add("error", "empty", f"{path}: no preference rows")
        reports.append(report)
    return reports


def _read_json_list(path: Path, data: bytes) -> list[RowReport]:
    name = str(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line, message = _decode_error(e, data)
        report = RowReport(f"{name} line {line}", line)
        report.add("error", "encoding", f"{name} line {line}: {message}")
        return [report]
    try:
        items = json.loads(text)
    except json.JSONDecodeError as e:
        report = RowReport(f"{name} line {e.lineno}", e.lineno)
        report.add(
            "error", "json",
            f"{name} line {e.lineno}: malformed JSON ({e.msg} at column {e.colno}); the file starts "
            "with '[' so it is read as one JSON list",
        )  # fmt: skip
        return [report]
    if not isinstance(items, list):
        report = RowReport(name, None)
        report.add("error", "json", f"{name}: expected a JSON list of objects")
        return [report]
    reports = []
    for i, obj in enumerate(items, start=1):
        report = RowReport(f"{name} item {i}", i)
        _set_row(report, obj)
        reports.append(report)
    if not reports:
        report = RowReport(name, None)
        report.add("error", "empty", f"{path}: no preference rows")
        reports.append(report)
    return reports


def _set_row(report: RowReport, obj: Any) -> None:
    if not isinstance(obj, dict):
        report.add(
            "error",
            "not_object",
            f"{report.where}: expected a JSON object, got {type(obj).__name__}",
        )
        return
    report.row = obj


# -- per-row checks -------------------------------------------------------------------------


def _check_text(report: RowReport, row: Mapping[str, Any]) -> None:
    where = report.where
    for name in (*_REQUIRED_TEXT, *_OPTIONAL_TEXT):
        required = name in _REQUIRED_TEXT
        if name not in row or row[name] is None:
            if required:
                report.add("error", "missing_field", f"{where}: field {name!r} is missing", name)
            continue
        value = row[name]
        if not isinstance(value, str):
            report.add(
                "error",
                "type",
                f"{where}: field {name!r} must be a string, got {type(value).__name__}",
                name,
            )
        elif not value.strip():
            if required:
                report.add("error", "empty_field", f"{where}: field {name!r} is empty", name)
            else:
                report.add(
                    "warning", "empty_field",
                    f"{where}: field {name!r} is empty; the row trains with one negative", name,
                )  # fmt: skip
    prompt = _text(row, "prompt")
    if prompt is not None and not strip_media_markers(prompt):
        report.add(
            "error",
            "markers_only",
            f"{where}: field 'prompt' has no text besides media markers",
            "prompt",
        )
    for name in ("emotion", "modality", "id"):
        if name in row and isinstance(row[name], str) and not row[name].strip():
            report.add(
                "warning",
                "empty_field",
                f"{where}: field {name!r} is empty (treated as absent)",
                name,
            )
    chosen = _text(row, "chosen")
    if chosen is not None:
        for name in ("rejected", "rejected_2"):
            negative = _text(row, name)
            if negative is not None and _norm(negative) == _norm(chosen):
                report.add(
                    "error", "negative_equals_chosen",
                    f"{where}: {name!r} is the same text as 'chosen' (no preference to learn)", name,
                )  # fmt: skip
    rejected, rejected_2 = _text(row, "rejected"), _text(row, "rejected_2")
    if rejected and rejected_2 and _norm(rejected) == _norm(rejected_2):
        report.add(
            "warning", "negatives_equal",
            f"{where}: 'rejected' and 'rejected_2' are the same text (the two negatives should differ)",
            "rejected_2",
        )  # fmt: skip
    extra = sorted(set(row) - KNOWN_FIELDS)
    if extra:  # a warning: a misspelt optional field (``rejected2``) would be dropped silently
        report.add(
            "warning", "unknown_field",
            f"{where}: fields {extra} are not part of the schema and are ignored (misspelt? the "
            f"schema's fields are {sorted(KNOWN_FIELDS)})", ",".join(extra),
        )  # fmt: skip


def _check_media(report: RowReport, row: Mapping[str, Any], root: Path, check_exists: bool) -> None:
    for name in MEDIA_FIELDS:
        try:
            resolved = resolve_media(
                row.get(name), root=root, where=report.where, field=name, check_exists=False
            )
        except PreferenceDataError as e:
            code = "type" if "expected a path string" in str(e) else "escapes_root"
            report.add("error", code, str(e), name)
            continue
        report.media[name] = resolved
        if resolved is not None and check_exists and not Path(resolved).is_file():
            report.add(
                "error", "missing_media",
                f"{report.where}: field {name!r}: media file not found: {resolved} (media root {root}); "
                "fix the path or pass --media-root",
                name,
            )  # fmt: skip
    if (
        report.media.get("video") is None
        and report.media.get("audio") is None
        and not any(i.field in ("video", "audio") for i in report.issues)
    ):
        report.add(
            "error", "no_media", f"{report.where}: needs 'video' or 'audio' (both are missing)"
        )
    for own, other in (("video", "video_l"), ("audio", "audio_l")):
        if report.media.get(other) and report.media.get(other) == report.media.get(own):
            report.add(
                "warning", "mismatch_own_media",
                f"{report.where}: {other!r} is the row's own {own}; PMP cannot use it (falls back)", other,
            )  # fmt: skip


def _check_modality(report: RowReport, row: Mapping[str, Any]) -> None:
    raw = row.get("modality")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        prompt = _text(row, "prompt")
        if prompt is None:
            return
        report.modality, report.modality_inferred = infer_modality(prompt), True
        report.add(
            "info", "modality_inferred",
            f"{report.where}: no 'modality'; inferred {report.modality!r} from the prompt", "modality",
        )  # fmt: skip
        return
    key = str(raw).strip().lower()
    if key not in MODALITY_ALIASES:
        report.add(
            "error", "bad_modality",
            f"{report.where}: field 'modality' is {raw!r}, not one of 'audio', 'visual', 'audiovisual' "
            "(or leave it out to infer it from the prompt)", "modality",
        )  # fmt: skip
        return
    report.modality, report.modality_inferred = MODALITY_ALIASES[key], False


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
        if r.id in first_id:
            r.add(
                "error",
                "duplicate_id",
                f"{r.where}: duplicate id {r.id!r} (first at {first_id[r.id]}); ids must be unique",
                "id",
            )
        else:
            first_id[r.id] = r.where
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
    path: str | Path, media_root: str | Path | None = None, *, check_exists: bool = True
) -> ValidationReport:
    """Validate a preference file; media paths resolve against ``media_root`` (default: its folder)."""
    path = Path(path)
    root = (Path(media_root) if media_root is not None else path.resolve().parent).resolve()
    reports = read_located_rows(path)
    for r in reports:
        if r.row is None:
            continue
        row = r.row
        r.id = None if row.get("id") is None or str(row.get("id")) == "" else str(row["id"])
        emotion = row.get("emotion")
        r.emotion = (
            str(emotion).strip().lower() if emotion is not None and str(emotion).strip() else None
        )
        _check_text(r, row)
        _check_media(r, row, root, check_exists)
        _check_modality(r, row)
    _duplicates(reports, path.name)
    for i, r in enumerate(reports):  # what the loader itself says, so a valid file loads
        if r.row is not None and r.status != "error":
            try:
                normalize_row(
                    r.row,
                    where=r.where,
                    root=root,
                    default_id=f"{path.name}:{i}",
                    check_exists=check_exists,
                )
            except PreferenceDataError as e:
                r.add("error", "schema", str(e))
    _mismatch_coverage(reports)
    return ValidationReport(path, root, reports)


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
