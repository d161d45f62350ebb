"""The preference-data schema of AVEm-DPO (SPEC §3.3): load, validate, normalise.

A preference file is JSONL (one object per line) or a JSON list of objects with the fields

==============  ==========================================================================
``prompt``      the question (the authors' prompts start with ``<video>\\n<audio>\\n``:
                the markers are stripped, the model adapter places the media itself)
``chosen``      y_w
``rejected``    y_er, the hallucination negative
``rejected_2``  y_vr, the spurious-cue negative (optional)
``video``       the clip (optional when ``audio`` is given)
``audio``       optional: taken from the video's own track when absent
``video_l``     mismatched clip for PMP (optional)
``audio_l``     mismatched audio for PMP (optional; the track of ``video_l`` when absent)
``modality``    what the prompt asks about: ``audio``, ``visual`` or ``audiovisual``
                (optional: inferred from the prompt, and the inference is logged)
``emotion``     the clip's emotion label (optional; lets PMP draw a different-label clip)
``id``          optional; defaults to ``<file>:<row>``
==============  ==========================================================================

The authors' DPO file loads as is. Relative media paths resolve against a media root
(default: the file's folder) and may not escape it, neither with ``../``, nor as an absolute
path outside it, nor through a symlink. Every error names the file, the row and the field.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avem_plugins.modality import MODALITY_ALIASES, infer_modality, strip_media_markers

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)

#: Fields of a preference row that hold media paths.
MEDIA_FIELDS: tuple[str, ...] = ("video", "audio", "video_l", "audio_l")
#: Fields this schema reads; anything else in a row is reported once and ignored.
KNOWN_FIELDS: frozenset[str] = frozenset(
    {"id", "prompt", "chosen", "rejected", "rejected_2", "modality", "emotion", *MEDIA_FIELDS}
)


class PreferenceDataError(ValueError):
    """A preference row is malformed; the message names the file, row and field."""


@dataclass(frozen=True)
class PreferenceSample:
    """One validated preference sample; media paths are absolute and inside the root."""

    id: str
    prompt: str
    chosen: str
    rejected: str
    rejected_2: str | None
    video: str | None
    audio: str | None
    video_l: str | None
    audio_l: str | None
    modality: str
    modality_inferred: bool
    emotion: str | None

    def to_row(self) -> dict[str, Any]:
        """The sample as a plain dict (a row of the normalised dataset)."""
        return asdict(self)


#: Columns of a normalised preference dataset, in order.
COLUMNS: tuple[str, ...] = tuple(PreferenceSample.__dataclass_fields__)


def read_rows(path: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """Raw rows of a JSONL file or JSON list, each with a ``"<file> line N"`` location."""
    path = Path(path)
    if not path.is_file():
        raise PreferenceDataError(f"preference file not found: {path}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:  # name the line, as for every other row error
        line_no = data[: e.start].count(b"\n") + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise PreferenceDataError(
            f"{path} line {line_no}: not UTF-8 (byte 0x{data[e.start]:02x} at column {column}); "
            "save the file as UTF-8 (`avem prefs validate` lists every such line)"
        ) from None
    stripped = text.lstrip()
    rows: list[tuple[str, dict[str, Any]]] = []
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise PreferenceDataError(f"{path}: not valid JSON ({e})") from e
        for i, item in enumerate(items, start=1):
            rows.append((f"{path} item {i}", item))
    else:
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((f"{path} line {n}", json.loads(line)))
            except json.JSONDecodeError as e:
                raise PreferenceDataError(
                    f"{path} line {n}: not valid JSON ({e.msg}); a preference file is JSONL "
                    "(one object per line) or a JSON list"
                ) from e
    for where, row in rows:
        if not isinstance(row, Mapping):
            raise PreferenceDataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    if not rows:
        raise PreferenceDataError(f"{path}: no preference rows")
    return rows


def resolve_media(
    value: Any, *, root: Path | None, where: str, field: str, check_exists: bool = True
) -> str | None:
    """Resolve one media path under ``root``; ``None``/empty stays ``None``.

    Raises :class:`PreferenceDataError` for a non-string, a path escaping the root (``../``,
    an absolute path elsewhere, a symlink pointing out), or a missing file.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise PreferenceDataError(
            f"{where}, field {field!r}: expected a path string, got {type(value).__name__}"
        )
    path = Path(value.strip()).expanduser()
    if root is None:
        if not path.is_absolute():
            raise PreferenceDataError(
                f"{where}, field {field!r}: relative path {value!r} needs a media root; "
                "set media_root (--media_root)"
            )
        resolved = path.resolve()
    else:
        root = root.resolve()
        resolved = (path if path.is_absolute() else root / path).resolve()
        if not resolved.is_relative_to(root):
            raise PreferenceDataError(
                f"{where}, field {field!r}: {value!r} resolves to {resolved}, outside the media "
                f"root {root}; keep media under the root (no '..', absolute paths or symlinks "
                "leading out) or set media_root (--media_root) to a folder containing them"
            )
    if check_exists and not resolved.is_file():
        raise PreferenceDataError(
            f"{where}, field {field!r}: media file not found: {resolved} "
            f"(media root: {root}); fix the path or set media_root (--media_root)"
        )
    return str(resolved)


def _text(row: Mapping[str, Any], field: str, where: str, *, required: bool) -> str | None:
    value = row.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise PreferenceDataError(f"{where}: field {field!r} is missing or empty")
        return None
    if not isinstance(value, str):
        hint = (
            " (conversational message lists are not supported: give plain text)"
            if isinstance(value, list)
            else ""
        )
        raise PreferenceDataError(
            f"{where}, field {field!r}: expected a string, got {type(value).__name__}{hint}"
        )
    return value


def normalize_row(
    row: Mapping[str, Any],
    *,
    where: str,
    root: Path | None,
    default_id: str,
    check_exists: bool = True,
) -> PreferenceSample:
    """Validate one raw row and return the normalised :class:`PreferenceSample`."""
    raw_prompt = _text(row, "prompt", where, required=True)
    assert raw_prompt is not None
    prompt = strip_media_markers(raw_prompt)
    if not prompt:
        raise PreferenceDataError(f"{where}: field 'prompt' has no text besides media markers")
    chosen = _text(row, "chosen", where, required=True)
    rejected = _text(row, "rejected", where, required=True)
    rejected_2 = _text(row, "rejected_2", where, required=False)
    assert chosen is not None and rejected is not None
    for name, negative in (("rejected", rejected), ("rejected_2", rejected_2)):
        if negative is not None and negative.strip() == chosen.strip():
            raise PreferenceDataError(
                f"{where}, field {name!r}: identical to 'chosen', so it carries no preference; "
                "fix or drop the row"
            )
    media = {
        f: resolve_media(row.get(f), root=root, where=where, field=f, check_exists=check_exists)
        for f in MEDIA_FIELDS
    }
    if media["video"] is None and media["audio"] is None:
        raise PreferenceDataError(f"{where}: needs 'video' or 'audio' (both are missing)")
    raw_modality = row.get("modality")
    if raw_modality is None or (isinstance(raw_modality, str) and not raw_modality.strip()):
        modality, inferred = infer_modality(prompt), True
    else:
        key = str(raw_modality).strip().lower()
        if key not in MODALITY_ALIASES:
            raise PreferenceDataError(
                f"{where}, field 'modality': {raw_modality!r} is not one of "
                "'audio', 'visual', 'audiovisual' (or leave it out to infer it from the prompt)"
            )
        modality, inferred = MODALITY_ALIASES[key], False
    emotion = row.get("emotion")
    emotion = None if emotion is None or not str(emotion).strip() else str(emotion).strip().lower()
    sample_id = row.get("id")
    sample_id = default_id if sample_id is None or str(sample_id) == "" else str(sample_id)
    return PreferenceSample(
        id=sample_id,
        prompt=prompt,
        chosen=chosen,
        rejected=rejected,
        rejected_2=rejected_2,
        modality=modality,
        modality_inferred=inferred,
        emotion=emotion,
        **media,
    )


def normalize_rows(
    rows: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    root: Path | None,
    source: str,
    check_exists: bool = True,
) -> list[PreferenceSample]:
    """Normalise located raw rows; log inferred modalities and ignored fields once."""
    samples: list[PreferenceSample] = []
    extra: Counter[str] = Counter()
    first_at: dict[str, str] = {}
    for i, (where, row) in enumerate(rows):
        extra.update(set(row) - KNOWN_FIELDS)
        sample = normalize_row(
            row, where=where, root=root, default_id=f"{source}:{i}", check_exists=check_exists
        )
        if sample.id in first_at:
            raise PreferenceDataError(
                f"{where}, field 'id': {sample.id!r} was already used at {first_at[sample.id]}; "
                "duplicate ids are not allowed (ids must be unique)"
            )
        first_at[sample.id] = where
        if sample.modality_inferred:
            logger.debug("%s: modality %r inferred from the prompt", where, sample.modality)
        samples.append(sample)
    inferred = Counter(s.modality for s in samples if s.modality_inferred)
    if inferred:
        logger.info(
            "%s: modality inferred from the prompt for %d of %d rows (%s); add a 'modality' "
            "field to set it",
            source, sum(inferred.values()), len(samples),
            ", ".join(f"{k}: {v}" for k, v in sorted(inferred.items())),
        )  # fmt: skip
    if extra:
        logger.warning(
            "%s: ignoring fields outside the schema (field: rows) %s; a misspelt field? The "
            "schema's fields are %s",
            source, dict(sorted(extra.items())), sorted(KNOWN_FIELDS),
        )  # fmt: skip
    return samples


def load_preferences(
    path: str | Path, media_root: str | Path | None = None, *, check_exists: bool = True
) -> list[PreferenceSample]:
    """Load and validate a preference file (JSONL or JSON list)."""
    path = Path(path)
    root = Path(media_root) if media_root is not None else path.resolve().parent
    return normalize_rows(read_rows(path), root=root, source=path.name, check_exists=check_exists)


def to_dataset(samples: list[PreferenceSample]) -> datasets.Dataset:
    """A ``datasets.Dataset`` with the columns :data:`COLUMNS`."""
    import datasets

    features = datasets.Features(
        {c: datasets.Value("bool" if c == "modality_inferred" else "string") for c in COLUMNS}
    )
    return datasets.Dataset.from_list([s.to_row() for s in samples], features=features)


def load_preference_dataset(
    path: str | Path, media_root: str | Path | None = None, *, check_exists: bool = True
) -> datasets.Dataset:
    """:func:`load_preferences` as a ``datasets.Dataset`` ready for the trainer."""
    return to_dataset(load_preferences(path, media_root, check_exists=check_exists))


def is_normalized(dataset: Any) -> bool:
    """Whether a dataset already has the normalised columns (e.g. from this module)."""
    names = getattr(dataset, "column_names", None) or []
    return set(COLUMNS) <= set(names)


def normalize_dataset(
    dataset: datasets.Dataset,
    media_root: str | Path | None = None,
    *,
    source: str = "dataset",
    check_exists: bool = True,
) -> datasets.Dataset:
    """Validate an in-memory dataset (e.g. from ``load_dataset("json", ...)``).

    Relative media paths need ``media_root``; already-normalised datasets pass through. A
    streaming dataset is read in full (preference rows are text and paths, and PMP's
    different-label draws need the whole set).
    """
    if is_normalized(dataset):
        return dataset
    root = Path(media_root) if media_root is not None else None
    rows = ((f"{source} row {i + 1}", row) for i, row in enumerate(dataset))
    return to_dataset(normalize_rows(rows, root=root, source=source, check_exists=check_exists))
