"""Clips tables for ``avem prefs build`` from the paper's preference sources: MAFW and MER2025.

AVERE built its preference data from MAFW and MER2025 clips. The readers here turn each
dataset's official label files into the clips table that :mod:`avem_plugins.prefs.build`
reads (:data:`CLIP_TABLE_COLUMNS`), one labelled clip
(:class:`avem_plugins.prefs.build.Clip`) per row:

- :func:`mafw_clips`: MAFW's single-label annotations, ``Labels/single-set.xlsx`` (a header
  row with ``clip`` and ``single_label``; labels 1-11 = :data:`MAFW_CLASSES`, 0 = not
  single-labelled: left out and counted), optionally the English descriptions of
  ``Labels/descriptive_text.xlsx`` (no header: clip, Chinese, English) as visual captions.
- :func:`mer2025_clips`: MER2025 track 1, ``track1_train_disdim.csv`` (columns ``name``,
  ``discrete``[, ``valence``]), clips in ``video/<name>.mp4``, optionally the English
  subtitles of ``subtitle_chieng.csv`` (``name, chinese, english``) as notes.

Both accept a generic captions CSV (``name`` + any of ``visual_caption``, ``audio_caption``,
``notes``): ``prefs build`` asks the LLM about cues it is told, so a clip with no caption
and no notes is rejected there; :attr:`SourceTable.uncaptioned` counts them.

:func:`write_clip_table` writes the table. Each row's mismatched input (``video_l``, and
``audio_l`` with separate audio) is drawn **by label** from the whole labelled pool, seeded
per clip id: first one of the *other* labels uniformly, then a clip of that label, so rare
classes serve as mismatches as often as common ones. ``per_label`` keeps a seeded sample of
each label while the pool stays the whole set. ``avem prefs build`` uses these two columns
as each row's mismatched input (it draws one itself only for tables without them).

Reading ``.xlsx`` uses openpyxl, a dependency of lmms-eval (and of ours), imported when a
workbook is read. Nothing here imports torch.
"""

from __future__ import annotations

import csv
import logging
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from avem_plugins.media import AUDIO_SUFFIXES, VIDEO_SUFFIXES
from avem_plugins.prefs.build import Clip
from avem_plugins.prefs.schema import MediaPathError, relative_to_root
from avem_plugins.scoring.lexicon import MER_CLASSES
from avem_plugins.scoring.taskdata import index_files, read_csv

log = logging.getLogger(__name__)

#: MAFW's single-label ids 1..11, in order.
MAFW_CLASSES: tuple[str, ...] = (
    "anger",
    "disgust",
    "fear",
    "happiness",
    "neutral",
    "sadness",
    "surprise",
    "contempt",
    "anxiety",
    "helplessness",
    "disappointment",
)
#: The columns :func:`write_clip_table` writes (``prefs build`` needs ``path`` and ``emotion``).
CLIP_TABLE_COLUMNS: tuple[str, ...] = (
    "id",
    "path",
    "audio",
    "emotion",
    "visual_caption",
    "audio_caption",
    "notes",
    "video_l",
    "audio_l",
)
CAPTION_COLUMNS: tuple[str, ...] = ("visual_caption", "audio_caption", "notes")
_HEADER_SCAN_ROWS = 10


class SourceError(ValueError):
    """A source file is missing or malformed; the message names the file, row and fix."""


@dataclass(frozen=True)
class SourceTable:
    """What a reader found: the clips with media, and what it had to leave out."""

    source: str
    label_file: Path
    clips: list[Clip]
    missing: list[str] = field(default_factory=list)  # labelled names with no video file
    unlabelled: int = 0  # rows without a single label (MAFW label 0)

    @property
    def uncaptioned(self) -> int:
        """Clips with no caption and no notes (``prefs build`` rejects them as input)."""
        return sum(not c.described for c in self.clips)

    def counts(self) -> dict[str, int]:
        """Clips per label."""
        out: dict[str, int] = {}
        for clip in self.clips:
            out[clip.emotion] = out.get(clip.emotion, 0) + 1
        return dict(sorted(out.items()))


# --- small readers ---------------------------------------------------------------------


def _cell(value: Any) -> str:
    """A spreadsheet or CSV cell as text (``25.0`` -> ``"25"``, ``None`` -> ``""``)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def clip_key(name: Any) -> str:
    """How clip names are compared: no video suffix, numbers without zero padding
    (``00025.mp4``, ``25`` and ``25.0`` are one clip)."""
    text = _cell(name)
    path = PurePosixPath(text)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        text = path.stem
    return (text.lstrip("0") or "0") if text.isascii() and text.isdigit() else text


def read_xlsx(path: str | Path, sheet: str | None = None) -> list[list[Any]]:
    """The cell values of one worksheet (default: the first), row by row.

    :raises SourceError: when openpyxl is missing or the file is not a workbook.
    """
    try:
        import openpyxl
    except ImportError as e:  # pragma: no cover - installed with lmms-eval
        raise SourceError(
            f"reading {path} needs openpyxl: pip install openpyxl (or save the sheet as CSV)"
        ) from e
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises zipfile/KeyError/InvalidFileException variants
        raise SourceError(f"{path}: not a readable .xlsx workbook ({e})") from e
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise SourceError(f"{path}: no worksheet {sheet!r}; it has {book.sheetnames}")
        if not book.worksheets:  # a damaged workbook.xml can list none
            raise SourceError(f"{path}: not a readable .xlsx workbook (it lists no worksheet)")
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        try:  # read-only workbooks read the sheet only now
            return [list(row) for row in ws.iter_rows(values_only=True)]
        except Exception as e:  # zipfile/zlib/XML errors of a damaged sheet
            raise SourceError(f"{path}: not a readable .xlsx workbook ({e})") from e
    finally:
        book.close()


def _read_csv(path: str | Path, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """``(line, row)`` pairs of a UTF-8 CSV whose header has ``required`` columns."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    return read_csv(path, required, error=SourceError)


def _label_id(value: Any) -> int | None:
    text = _cell(value)
    return int(text) if text.isascii() and text.isdigit() and len(text) < 20 else None


def read_mafw_labels(path: str | Path) -> tuple[list[tuple[str, str]], int]:
    """``([(clip key, emotion)], unlabelled rows)`` of MAFW's ``single-set.xlsx``.

    The header row (within the first rows) has ``clip`` and ``single_label``; a label is
    an id 1-11 or a class name; 0 or empty means not single-labelled (counted, left out).
    """
    rows = read_xlsx(path)
    header_at, columns = None, {}
    for i, row in enumerate(rows[:_HEADER_SCAN_ROWS]):
        names = {_cell(v).lower(): j for j, v in enumerate(row)}
        if "clip" in names and "single_label" in names:
            header_at, columns = i, names
            break
    if header_at is None:
        raise SourceError(
            f"{path}: no header row with 'clip' and 'single_label' in the first "
            f"{_HEADER_SCAN_ROWS} rows; expected MAFW's Labels/single-set.xlsx"
        )
    out: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    unlabelled = 0
    for i, row in enumerate(rows[header_at + 1 :], start=header_at + 2):
        clip_cell = row[columns["clip"]] if columns["clip"] < len(row) else None
        label_cell = row[columns["single_label"]] if columns["single_label"] < len(row) else None
        if not _cell(clip_cell) and not _cell(label_cell):
            continue  # a blank row
        key = clip_key(clip_cell)
        if not key:
            raise SourceError(f"{path}, row {i}: empty 'clip'")
        number, name = _label_id(label_cell), _cell(label_cell).lower()
        if number == 0 or not name:
            unlabelled += 1
            continue
        if number is not None and 1 <= number <= len(MAFW_CLASSES):
            emotion = MAFW_CLASSES[number - 1]
        elif name in MAFW_CLASSES:
            emotion = name
        else:
            raise SourceError(
                f"{path}, row {i}: single_label {_cell(label_cell)!r} is neither 0-11 nor one of "
                f"{list(MAFW_CLASSES)}"
            )
        if key in seen:
            raise SourceError(f"{path}, row {i}: clip {key!r} is listed again (row {seen[key]})")
        seen[key] = i
        out.append((key, emotion))
    return out, unlabelled


def read_mafw_descriptions(path: str | Path) -> dict[str, str]:
    """Clip key -> English description, from MAFW's ``descriptive_text.xlsx``.

    Columns by position (the file has no header): clip, Chinese, English. A header row, if
    present, is skipped; rows without an English text are ignored.
    """
    out: dict[str, str] = {}
    for i, row in enumerate(read_xlsx(path), start=1):
        cells = [_cell(v) for v in row]
        if not any(cells):
            continue
        if i == 1 and cells[0].lower() in {"clip", "name", "video", "video_name"}:
            continue
        if len(cells) < 3:
            raise SourceError(
                f"{path}, row {i}: expected 3 columns (clip, Chinese, English), got {len(cells)}"
            )
        if cells[2]:
            out[clip_key(cells[0])] = cells[2]
    return out


def read_mer_labels(path: str | Path) -> list[tuple[str, str]]:
    """``[(clip key, emotion)]`` of a MER label CSV (``name,discrete``), labels mapped
    through :data:`MER_CLASSES` (MER2025's ``track1_train_disdim.csv``, MER2023's files)."""
    out: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for line, row in _read_csv(path, ("name", "discrete")):
        key, discrete = clip_key(row["name"]), row["discrete"].lower()
        if not key:
            raise SourceError(f"{path}, line {line}: empty 'name'")
        if discrete not in MER_CLASSES:
            raise SourceError(
                f"{path}, line {line}: discrete label {row['discrete']!r} is not one of "
                f"{list(MER_CLASSES)}"
            )
        if key in seen:
            raise SourceError(
                f"{path}, line {line}: clip {key!r} is listed again (line {seen[key]})"
            )
        seen[key] = line
        out.append((key, MER_CLASSES[discrete]))
    return out


def read_text_column(path: str | Path, column: str) -> dict[str, str]:
    """Clip key -> the non-empty ``column`` of a CSV with a ``name`` column (e.g. the
    ``english`` subtitles of MER2025's ``subtitle_chieng.csv``)."""
    return {
        clip_key(row["name"]): row[column]
        for _, row in _read_csv(path, ("name", column))
        if row[column]
    }


def read_captions(path: str | Path) -> dict[str, dict[str, str]]:
    """Clip key -> ``{visual_caption, audio_caption, notes}`` (whichever the CSV has), from
    a CSV with a ``name`` (or ``id``) column."""
    rows = _read_csv(path, ())
    if not rows:
        return {}
    key_column = next((c for c in ("name", "id", "clip") if c in rows[0][1]), None)
    present = [c for c in CAPTION_COLUMNS if c in rows[0][1]]
    if key_column is None or not present:
        raise SourceError(
            f"{path}: a captions CSV needs a 'name' column and at least one of {list(CAPTION_COLUMNS)}"
        )
    return {clip_key(row[key_column]): {c: row[c] for c in present} for _, row in rows}


# --- locating clips --------------------------------------------------------------------


def _find_one(
    root: Path, name: str, subdirs: Sequence[str], suffixes: Sequence[str]
) -> Path | None:
    for sub in subdirs:
        for suffix in suffixes:
            candidate = root / sub / f"{name}{suffix}"
            if os.path.isfile(candidate):  # (False for a name longer than a file system allows)
                return candidate
    return None


def locate(
    root: Path,
    keys: Iterable[str],
    *,
    subdirs: Sequence[str] = (),
    suffixes: Sequence[str] = VIDEO_SUFFIXES,
) -> dict[str, Path]:
    """Files for clip keys: ``root/<subdir>/<key><suffix>`` first, else any file under
    ``root`` whose :func:`clip_key` matches (the tree is indexed once, only if needed)."""
    keys = list(keys)
    found: dict[str, Path] = {}
    for key in keys:
        hit = _find_one(root, key, subdirs, suffixes)
        if hit is not None:
            found[key] = hit
    if len(found) < len(keys):
        index = index_files(root, suffixes, key=lambda p: clip_key(p.stem))
        for key in keys:
            if key not in found and key in index:
                found[key] = index[key]
    return found


def _find_file(root: Path, names: Sequence[str], what: str, flag: str) -> Path:
    for name in names:
        if (root / name).is_file():
            return root / name
        hits = sorted(root.rglob(name))
        if hits:
            return hits[0]
    raise SourceError(f"no {' or '.join(names)} under {root}; pass {flag} with the {what}")


def _build(
    source: str,
    root: Path,
    label_file: Path,
    labelled: Sequence[tuple[str, str]],
    *,
    unlabelled: int,
    subdirs: Sequence[str],
    audio_root: Path | None,
    texts: Mapping[str, Mapping[str, str]],
) -> SourceTable:
    videos = locate(root, (k for k, _ in labelled), subdirs=subdirs)
    audios = locate(audio_root, videos, suffixes=AUDIO_SUFFIXES) if audio_root is not None else {}
    clips, missing = [], []
    for key, emotion in labelled:
        if key not in videos or (audio_root is not None and key not in audios):
            missing.append(key)
            continue
        extra = texts.get(key, {})
        clips.append(
            Clip(
                id=videos[key].stem,
                video=videos[key],
                emotion=emotion,
                audio=audios.get(key),
                visual_caption=extra.get("visual_caption", ""),
                audio_caption=extra.get("audio_caption", ""),
                notes=extra.get("notes", ""),
            )
        )
    return SourceTable(source, label_file, clips, missing, unlabelled)


def _merge(*tables: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for table in tables:
        for key, values in table.items():
            slot = out.setdefault(key, {})
            slot.update({c: v for c, v in values.items() if v})
    return out


def mafw_clips(
    root: str | Path,
    *,
    labels: str | Path | None = None,
    descriptions: str | Path | None = None,
    captions: str | Path | None = None,
    audio_root: str | Path | None = None,
) -> SourceTable:
    """MAFW's single-labelled clips under ``root`` (found by name at any depth).

    :param labels: ``single-set.xlsx`` (default: found under ``root``).
    :param descriptions: ``descriptive_text.xlsx``: English texts become visual captions.
    :param captions: a captions CSV (:func:`read_captions`), applied last.
    :param audio_root: separate audio files named like the clips (default: the clips' tracks).
    """
    root = Path(root)
    label_file = (
        Path(labels)
        if labels
        else _find_file(root, ("single-set.xlsx",), "MAFW single-label file", "--labels")
    )
    labelled, unlabelled = read_mafw_labels(label_file)
    described = (
        {k: {"visual_caption": v} for k, v in read_mafw_descriptions(descriptions).items()}
        if descriptions
        else {}
    )
    texts = _merge(described, read_captions(captions) if captions else {})
    return _build(
        "mafw",
        root,
        label_file,
        labelled,
        unlabelled=unlabelled,
        subdirs=("clips", "data/clips"),
        audio_root=Path(audio_root) if audio_root else None,
        texts=texts,
    )


def mer2025_clips(
    root: str | Path,
    *,
    labels: str | Path | None = None,
    subtitles: str | Path | None = None,
    captions: str | Path | None = None,
    audio_root: str | Path | None = None,
) -> SourceTable:
    """MER2025 track-1 labelled clips (``root/video/<name>.mp4``, or any depth).

    :param labels: ``track1_train_disdim.csv`` (default: found under ``root``).
    :param subtitles: ``subtitle_chieng.csv``: English subtitles become notes
        (``Speech: "..."``).
    :param captions: a captions CSV (:func:`read_captions`), applied last.
    :param audio_root: e.g. the release's ``audio/`` folder of wavs (default: the clips' tracks).
    """
    root = Path(root)
    label_file = (
        Path(labels)
        if labels
        else _find_file(root, ("track1_train_disdim.csv",), "MER2025 track-1 label CSV", "--labels")
    )
    spoken = (
        {k: {"notes": f'Speech: "{v}"'} for k, v in read_text_column(subtitles, "english").items()}
        if subtitles
        else {}
    )
    texts = _merge(spoken, read_captions(captions) if captions else {})
    return _build(
        "mer2025",
        root,
        label_file,
        read_mer_labels(label_file),
        unlabelled=0,
        subdirs=("video",),
        audio_root=Path(audio_root) if audio_root else None,
        texts=texts,
    )


# --- the clips table -------------------------------------------------------------------


def sample_per_label(clips: Sequence[Clip], per_label: int, *, seed: int = 0) -> list[Clip]:
    """At most ``per_label`` clips of each label, drawn with ``seed``; input order kept."""
    by_label: dict[str, list[int]] = {}
    for i, clip in enumerate(clips):
        by_label.setdefault(clip.emotion, []).append(i)
    rng = random.Random(f"{seed}:sample")
    keep: set[int] = set()
    for label in sorted(by_label):
        idx = by_label[label]
        keep.update(idx if len(idx) <= per_label else rng.sample(idx, per_label))
    return [clip for i, clip in enumerate(clips) if i in keep]


def assign_mismatches(
    clips: Sequence[Clip], pool: Sequence[Clip], *, seed: int = 0
) -> dict[str, Clip]:
    """Clip id -> a pool clip of another label: a uniformly drawn other label, then a clip
    of it, with ``random.Random(f"{seed}:{id}")``. Clips whose label is the pool's only
    one get none."""
    by_label: dict[str, list[Clip]] = {}
    for clip in sorted(pool, key=lambda c: c.id):
        by_label.setdefault(clip.emotion, []).append(clip)
    out: dict[str, Clip] = {}
    for clip in clips:
        others = sorted(label for label in by_label if label != clip.emotion)
        if not others:
            continue
        rng = random.Random(f"{seed}:{clip.id}")
        out[clip.id] = rng.choice(by_label[rng.choice(others)])
    return out


def _relative(path: Path, media_root: Path) -> str:
    try:  # a clip path is relative to the working folder, not to the media root
        return relative_to_root(path.absolute(), media_root)
    except MediaPathError as e:
        raise SourceError(
            f"{e}; pass a --media-root that holds every clip (and the same --media-root to "
            "`avem prefs build`)"
        ) from None


def write_clip_table(
    clips: Sequence[Clip],
    out: str | Path,
    *,
    media_root: str | Path,
    pool: Sequence[Clip] | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write the clips table ``prefs build`` reads; paths relative to ``media_root``.

    :param pool: the clips mismatches are drawn from (default: ``clips``).
    """
    out, root = Path(out), Path(media_root).resolve()
    if out.exists() and not overwrite:
        raise SourceError(f"{out} exists; pass --force to overwrite it")
    mismatches = assign_mismatches(clips, pool if pool is not None else clips, seed=seed)
    if mismatches and len(mismatches) < len(clips):
        log.warning(
            "%d clips share the pool's only label: no video_l", len(clips) - len(mismatches)
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(CLIP_TABLE_COLUMNS))
        writer.writeheader()
        for clip in clips:
            other = mismatches.get(clip.id)
            audio_l = other.audio if other is not None and clip.audio is not None else None
            writer.writerow(
                {
                    "id": clip.id,
                    "path": _relative(clip.video, root),
                    "audio": _relative(clip.audio, root) if clip.audio else "",
                    "emotion": clip.emotion,
                    "visual_caption": clip.visual_caption,
                    "audio_caption": clip.audio_caption,
                    "notes": clip.notes,
                    "video_l": _relative(other.video, root) if other is not None else "",
                    "audio_l": _relative(audio_l, root) if audio_l is not None else "",
                }
            )
    return out


__all__ = [
    "CLIP_TABLE_COLUMNS",
    "MAFW_CLASSES",
    "MER_CLASSES",
    "SourceError",
    "SourceTable",
    "assign_mismatches",
    "clip_key",
    "mafw_clips",
    "mer2025_clips",
    "read_captions",
    "read_mafw_descriptions",
    "read_mafw_labels",
    "read_mer_labels",
    "read_text_column",
    "read_xlsx",
    "sample_per_label",
    "write_clip_table",
]
