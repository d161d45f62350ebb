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
                (optional: when absent, ``modality_rule`` decides: ``audiovisual`` by default,
                ``infer`` from the prompt, or ``refuse``; counted and logged)
``emotion``     the clip's emotion label (optional; lets PMP draw a different-label clip)
``id``          optional; defaults to ``<file>:<row>``
==============  ==========================================================================

The authors' DPO file loads as is. Relative media paths resolve against a media root
(default: the file's folder) and may not escape it, neither with ``../``, nor as an absolute
path outside it, nor through a symlink. Every error names the file, the row and the field.

**One row-check engine.** :func:`check_row` runs every check on one row and returns its
:class:`Issue` list (each with a severity ``level``, a stable ``code``, the field and a message
naming file, row and field) and the values it read. The loader (:meth:`RowCheck.require`) raises
:class:`PreferenceDataError` with the first error issue; ``avem prefs validate``
(:mod:`avem_plugins.prefs.validate`) reports all of them, plus the file-level checks. So a
file that validates loads, and what validate calls an error the loader refuses with the
same message. :func:`read_file` is the one reader of preference files (JSONL or a JSON
list): it locates every row (``<file> line N`` / ``<file> item N``) and turns what cannot be
read into an issue. :func:`under_root` is the one media-root rule, used wherever a media path
is checked or written relative to a root.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from avem_plugins.modality import (
    DEFAULT_MODALITY_RULE,
    MODALITY_ALIASES,
    check_modality_rule,
    missing_modality,
    strip_media_markers,
)
from avem_plugins.scoring.taskdata import one_line

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)

#: Fields of a preference row that hold media paths.
MEDIA_FIELDS: tuple[str, ...] = ("video", "audio", "video_l", "audio_l")
#: Text fields; the first three are required.
TEXT_FIELDS: tuple[str, ...] = ("prompt", "chosen", "rejected", "rejected_2")
REQUIRED_TEXT: tuple[str, ...] = TEXT_FIELDS[:3]
#: Fields this schema reads; anything else in a row is reported once and ignored.
KNOWN_FIELDS: frozenset[str] = frozenset({*TEXT_FIELDS, "id", "modality", "emotion", *MEDIA_FIELDS})
#: Issue severities, most severe first.
LEVELS: tuple[str, ...] = ("error", "warning", "info")

_ROOT_HINT = "set media_root (--media-root; --media_root when training)"


class PreferenceDataError(ValueError):
    """A preference row is malformed; the message names the file, row and field."""


class MediaPathError(ValueError):
    """A media path that cannot be used: outside its media root, or no usable path at all."""


class OutsideMediaRootError(MediaPathError):
    """A media path resolves outside its media root (``..``, an absolute path elsewhere, or a
    symlink leading out)."""


def _unusable(text: str) -> str | None:
    """Why ``text`` cannot name a file (a NUL byte, a lone surrogate), else ``None``."""
    if "\x00" in text:
        return "it contains a NUL byte"
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        return "it is not valid Unicode (a lone surrogate such as \\ud800)"
    return None


# -- the media root -------------------------------------------------------------------------


def under_root(value: str | os.PathLike[str], root: Path) -> Path:
    """``value`` resolved (symlinks followed) against ``root`` when relative; it must stay
    inside the root, else :class:`OutsideMediaRootError`. The one media-root rule.
    :class:`MediaPathError` for a value that is no usable path (NUL byte, lone surrogate)."""
    root = root.resolve()
    reason = _unusable(os.fspath(value))
    if reason is not None:
        raise MediaPathError(f"{os.fspath(value)!r} is not a usable path: {reason}")
    path = Path(os.path.expanduser(value))
    try:
        resolved = (path if path.is_absolute() else root / path).resolve()
    except OSError as e:
        raise MediaPathError(
            f"{os.fspath(value)!r} cannot be resolved: {e.strerror or e}"
        ) from None
    try:
        resolved.exists()
    except OSError as e:  # e.g. a name longer than the file system allows
        raise MediaPathError(
            f"{os.fspath(value)!r} is not a usable path: {e.strerror or e}"
        ) from None
    if not resolved.is_relative_to(root):
        raise OutsideMediaRootError(
            f"{os.fspath(value)!r} resolves to {one_line(resolved)}, outside the media root "
            f"{one_line(root)}"
        )
    return resolved


def relative_to_root(value: str | os.PathLike[str], root: Path) -> str:
    """:func:`under_root` as the POSIX path relative to the root that files store."""
    return PurePosixPath(*under_root(value, root).relative_to(root.resolve()).parts).as_posix()


# -- issues and rows ------------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    """One finding: ``level`` (its severity, one of :data:`LEVELS`), a stable ``code``, the
    message (naming file, row and field) and the field it is about."""

    level: str
    code: str
    message: str
    field: str | None = None


def _error(code: str, message: str, field: str | None = None) -> Issue:
    return Issue("error", code, message, field)


def _warning(code: str, message: str, field: str | None = None) -> Issue:
    return Issue("warning", code, message, field)


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


# -- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawRow:
    """One row of a preference file as read: where it is, and its object or why not."""

    where: str
    line: int | None
    row: dict[str, Any] | None = None
    problem: Issue | None = None


def _not_utf8(where: str, data: bytes, e: UnicodeDecodeError) -> Issue:
    column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
    return _error(
        "encoding",
        f"{where}: not UTF-8 (byte 0x{data[e.start]:02x} at column {column}); save the file as "
        "UTF-8 (`avem prefs validate` lists every such line)",
    )


def _located(where: str, line: int, obj: Any) -> RawRow:
    if not isinstance(obj, dict):
        return RawRow(where, line, problem=_error(
            "not_object", f"{where}: expected a JSON object, got {type(obj).__name__}"
        ))  # fmt: skip
    return RawRow(where, line, obj)


def _unreadable_json(data: bytes | str, err: Exception, *, locate: bool = True) -> str:
    """Why JSON the json module refuses beyond syntax cannot be read (and where, if known)."""
    if isinstance(err, RecursionError):
        return "lists or objects nested too deeply"
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    digits = re.search(r"\d{4301,}", text) if locate else None
    where = f" at line {text.count(chr(10), 0, digits.start()) + 1}" if digits else ""
    return f"a number with more than 4300 digits{where}"


def parse_jsonl(data: bytes, name: str) -> list[RawRow]:
    """The non-blank lines of JSONL ``data`` as rows of ``name``, each read on its own."""
    rows: list[RawRow] = []
    for n, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        where = f"{name} line {n}"
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            rows.append(RawRow(where, n, problem=_not_utf8(where, raw, e)))
        except json.JSONDecodeError as e:
            rows.append(RawRow(where, n, problem=_error("json",
                f"{where}: malformed JSON ({e.msg} at column {e.colno}); each line must be one "
                "JSON object (JSONL), or the whole file one JSON list",
            )))  # fmt: skip
        except (ValueError, RecursionError) as e:
            rows.append(RawRow(where, n, problem=_error("json",
                f"{where}: unreadable JSON ({_unreadable_json(raw, e, locate=False)})",
            )))  # fmt: skip
        else:
            rows.append(_located(where, n, obj))
    return rows


def _parse_json_list(data: bytes, name: str) -> list[RawRow]:
    try:
        items = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        return [
            RawRow(f"{name} line {line}", line, problem=_not_utf8(f"{name} line {line}", data, e))
        ]
    except json.JSONDecodeError as e:
        where = f"{name} line {e.lineno}"
        return [RawRow(where, e.lineno, problem=_error("json",
            f"{where}: malformed JSON ({e.msg} at column {e.colno}); the file starts with '[' "
            "so it is read as one JSON list",
        ))]  # fmt: skip
    except (ValueError, RecursionError) as e:
        return [RawRow(name, None, problem=_error("json",
            f"{name}: unreadable JSON list ({_unreadable_json(data, e)})",
        ))]  # fmt: skip
    return [_located(f"{name} item {i}", i, obj) for i, obj in enumerate(items, start=1)]


def read_file(path: str | Path) -> list[RawRow]:
    """The rows of a preference file (JSONL, or a JSON list when it starts with ``[``);
    what cannot be read is a row's ``problem``, so one bad line hides no other."""
    path = Path(path)
    if not path.is_file():
        return [
            RawRow(str(path), None, problem=_error("no_file", f"{path}: preference file not found"))
        ]
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        where = f"{path} line 1"
        return [RawRow(where, 1, problem=_error(
            "bom", f"{where}: starts with a UTF-8 byte-order mark; save the file as UTF-8 without it"
        ))]  # fmt: skip
    if data.lstrip().startswith(b"["):
        rows = _parse_json_list(data, str(path))
    else:
        rows = parse_jsonl(data, str(path))
    return rows or [RawRow(str(path), None, problem=_error("empty", f"{path}: no preference rows"))]


def read_rows(path: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """Raw rows of a preference file, each with its location; raises
    :class:`PreferenceDataError` for the first row that cannot be read."""
    rows = read_file(path)
    for raw in rows:
        if raw.problem is not None:
            raise PreferenceDataError(raw.problem.message)
    return [(raw.where, raw.row) for raw in rows if raw.row is not None]


# -- the row-check engine -------------------------------------------------------------------


@dataclass(frozen=True)
class RowCheck:
    """What :func:`check_row` found in one row: its issues in check order and the values read
    (``id`` is the row's own, ``None`` when it has none); ``sample`` when it has no error."""

    issues: list[Issue]
    media: dict[str, str | None]
    id: str | None
    modality: str | None
    modality_inferred: bool | None
    emotion: str | None
    sample: PreferenceSample | None

    @property
    def first_error(self) -> Issue | None:
        return next((i for i in self.issues if i.level == "error"), None)

    def require(self) -> PreferenceSample:
        """The loader's view: the normalised sample, or :class:`PreferenceDataError` with the
        first error (so what validate calls an error the loader refuses, same message)."""
        error = self.first_error
        if error is not None:
            raise PreferenceDataError(error.message)
        assert self.sample is not None
        return self.sample


def same_text(a: str, b: str) -> bool:
    """Whether two answers are the same text, ignoring case and spacing."""
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def _text(row: Mapping[str, Any], name: str, where: str, issues: list[Issue]) -> str | None:
    """A text field's value, or ``None`` (with an issue when that is wrong)."""
    value = row.get(name)
    if isinstance(value, str) and _unusable(value.replace("\x00", "")) is not None:
        issues.append(_error("encoding",
            f"{where}, field {name!r}: not valid Unicode text (a lone surrogate such as \\ud800)",
            name,
        ))  # fmt: skip
        return None
    if isinstance(value, str) and value.strip():
        return value
    if value is None or isinstance(value, str):
        if name in REQUIRED_TEXT:
            code = "missing_field" if value is None else "empty_field"
            issues.append(_error(code, f"{where}: field {name!r} is missing or empty", name))
        elif value is not None:
            issues.append(_warning("empty_field",
                f"{where}: field {name!r} is empty; the row trains with one negative", name,
            ))  # fmt: skip
        return None
    hint = (
        " (conversational message lists are not supported: give plain text)"
        if isinstance(value, list)
        else ""
    )
    issues.append(_error("type",
        f"{where}, field {name!r}: expected a string, got {type(value).__name__}{hint}", name,
    ))  # fmt: skip
    return None


def _media(
    value: Any, name: str, where: str, root: Path | None, check_exists: bool, issues: list[Issue]
) -> str | None:
    """A media field resolved under ``root`` (``None`` when absent or wrong)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        issues.append(_error("type",
            f"{where}, field {name!r}: expected a path string, got {type(value).__name__}", name,
        ))  # fmt: skip
        return None
    reason = _unusable(value)
    if reason is not None:
        issues.append(_error("bad_path",
            f"{where}, field {name!r}: {value!r} is not a usable path: {reason}", name,
        ))  # fmt: skip
        return None
    if root is None:
        resolved = Path(os.path.expanduser(value.strip()))
        if not resolved.is_absolute():
            issues.append(_error("no_media_root",
                f"{where}, field {name!r}: relative path {value!r} needs a media root; {_ROOT_HINT}",
                name,
            ))  # fmt: skip
            return None
        resolved = resolved.resolve()
    else:
        try:
            resolved = under_root(value.strip(), root)
        except MediaPathError as e:
            issues.append(_error("escapes_root",
                f"{where}, field {name!r}: {e}; keep media under the root (no '..', absolute "
                f"paths or symlinks leading out) or {_ROOT_HINT} to a folder containing them",
                name,
            ))  # fmt: skip
            return None
    if check_exists and not _is_file(resolved):
        shown_root = one_line(root.resolve()) if root is not None else None
        issues.append(_error("missing_media",
            f"{where}, field {name!r}: media file not found: {one_line(resolved)} (media root: "
            f"{shown_root}); fix the path or {_ROOT_HINT}", name,
        ))  # fmt: skip
    return str(resolved)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a name longer than the file system allows
        return False


def _texts(row: Mapping[str, Any], where: str, issues: list[Issue]) -> list[str | None]:
    """``prompt`` (markers stripped), ``chosen``, ``rejected``, ``rejected_2`` of a row."""
    prompt, chosen, rejected, rejected_2 = (_text(row, n, where, issues) for n in TEXT_FIELDS)
    if prompt is not None:
        prompt = strip_media_markers(prompt) or None
        if prompt is None:
            issues.append(_error("markers_only",
                f"{where}: field 'prompt' has no text besides media markers", "prompt",
            ))  # fmt: skip
    for name in ("emotion", "modality", "id"):
        value = row.get(name)
        if isinstance(value, str) and _unusable(value.replace("\x00", "")) is not None:
            issues.append(_error("encoding",
                f"{where}, field {name!r}: not valid Unicode text (a lone surrogate such as "
                "\\ud800)", name,
            ))  # fmt: skip
        elif isinstance(value, str) and not value.strip():
            issues.append(_warning("empty_field",
                f"{where}: field {name!r} is empty (treated as absent)", name,
            ))  # fmt: skip
    for name, negative in (("rejected", rejected), ("rejected_2", rejected_2)):
        if chosen is not None and negative is not None and same_text(negative, chosen):
            issues.append(_error("negative_equals_chosen",
                f"{where}, field {name!r}: identical to 'chosen' (ignoring case and spacing), so "
                "it carries no preference; fix or drop the row", name,
            ))  # fmt: skip
    if rejected is not None and rejected_2 is not None and same_text(rejected, rejected_2):
        issues.append(_warning("negatives_equal",
            f"{where}: 'rejected' and 'rejected_2' are the same text (the two negatives should "
            "differ)", "rejected_2",
        ))  # fmt: skip
    extra = sorted(set(row) - KNOWN_FIELDS)
    if extra:  # a warning: a misspelt optional field (``rejected2``) would be dropped silently
        issues.append(_warning("unknown_field",
            f"{where}: fields {extra} are not part of the schema and are ignored (misspelt? the "
            f"schema's fields are {sorted(KNOWN_FIELDS)})", ",".join(extra),
        ))  # fmt: skip
    return [prompt, chosen, rejected, rejected_2]


def _all_media(
    row: Mapping[str, Any], where: str, root: Path | None, check_exists: bool, issues: list[Issue]
) -> dict[str, str | None]:
    media = {f: _media(row.get(f), f, where, root, check_exists, issues) for f in MEDIA_FIELDS}
    wrong = any(i.field in ("video", "audio") for i in issues)
    if media["video"] is None and media["audio"] is None and not wrong:
        issues.append(_error("no_media", f"{where}: needs 'video' or 'audio' (both are missing)"))
    for own, other in (("video", "video_l"), ("audio", "audio_l")):
        if media[other] is not None and media[other] == media[own]:
            issues.append(_warning("mismatch_own_media",
                f"{where}: {other!r} is the row's own {own}; PMP cannot use it (falls back)", other,
            ))  # fmt: skip
    return media


def _modality(
    raw: Any, prompt: str | None, where: str, issues: list[Issue], rule: str
) -> tuple[str | None, bool | None]:
    """``(modality, not_given)``: the row's own, or the one ``rule`` gives a row without one."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if prompt is None:
            return None, None
        modality = missing_modality(prompt, rule)
        if modality is None:
            issues.append(_error("modality_missing",
                f"{where}: no 'modality' and --modality_rule refuse; give the row 'audio', "
                "'visual' or 'audiovisual'", "modality",
            ))  # fmt: skip
            return None, None
        how = "inferred from the prompt" if rule == "infer" else f"set by --modality_rule {rule}"
        issues.append(Issue("info", "modality_inferred",
            f"{where}: no 'modality'; {modality!r} {how}", "modality",
        ))  # fmt: skip
        return modality, True
    key = str(raw).strip().lower()
    if key in MODALITY_ALIASES:
        return MODALITY_ALIASES[key], False
    issues.append(_error("bad_modality",
        f"{where}, field 'modality': {raw!r} is not one of 'audio', 'visual', 'audiovisual' (or "
        "leave it out: --modality_rule decides)", "modality",
    ))  # fmt: skip
    return None, None


def check_row(
    row: Mapping[str, Any],
    *,
    where: str,
    root: Path | None,
    default_id: str,
    check_exists: bool = True,
    modality_rule: str = DEFAULT_MODALITY_RULE,
) -> RowCheck:
    """Every check of one raw row (SPEC §3.3), in field order: errors (the loader refuses the
    row), warnings (it loads, probably not as meant) and the inferred modality (info)."""
    issues: list[Issue] = []
    prompt, chosen, rejected, rejected_2 = _texts(row, where, issues)
    media = _all_media(row, where, root, check_exists, issues)
    modality, inferred = _modality(row.get("modality"), prompt, where, issues, modality_rule)
    emotion = row.get("emotion")
    emotion = str(emotion).strip().lower() if emotion is not None and str(emotion).strip() else None
    own_id = None if row.get("id") is None or str(row["id"]) == "" else str(row["id"])
    sample = None
    if not any(i.level == "error" for i in issues):
        assert prompt and chosen and rejected and modality and inferred is not None
        sample = PreferenceSample(
            id=own_id if own_id is not None else default_id,
            prompt=prompt,
            chosen=chosen,
            rejected=rejected,
            rejected_2=rejected_2,
            modality=modality,
            modality_inferred=inferred,
            emotion=emotion,
            **media,
        )
    return RowCheck(issues, media, own_id, modality, inferred, emotion, sample)


def duplicate_id(sample_id: str, where: str, first_at: dict[str, str]) -> Issue | None:
    """The error for an id seen before (``first_at``: id -> where), else record it."""
    if sample_id in first_at:
        return _error("duplicate_id",
            f"{where}, field 'id': duplicate id {sample_id!r} (first at {first_at[sample_id]}); "
            "duplicate ids are not allowed", "id",
        )  # fmt: skip
    first_at[sample_id] = where
    return None


def resolve_media(
    value: Any, *, root: Path | None, where: str, field: str, check_exists: bool = True
) -> str | None:
    """Resolve one media path under ``root``; ``None``/empty stays ``None``.

    Raises :class:`PreferenceDataError` for a non-string, a path escaping the root (``../``,
    an absolute path elsewhere, a symlink pointing out), or a missing file.
    """
    issues: list[Issue] = []
    resolved = _media(value, field, where, root, check_exists, issues)
    if issues:
        raise PreferenceDataError(issues[0].message)
    return resolved


def modality_not_given(samples: Sequence[PreferenceSample], modality_rule: str) -> str | None:
    """How the rows without a ``modality`` field got theirs, e.g. ``"modality inferred from
    the prompt for 3 of 10 rows (audio: 1, visual: 2)"``; ``None`` when every row gave it."""
    inferred = Counter(s.modality for s in samples if s.modality_inferred)
    if not inferred:
        return None
    how = "inferred from the prompt" if modality_rule == "infer" else (
        f"set by --modality_rule {modality_rule}"
    )  # fmt: skip
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(inferred.items()))
    return f"modality {how} for {sum(inferred.values())} of {len(samples)} rows ({counts})"


def normalize_rows(
    rows: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    root: Path | None,
    source: str,
    check_exists: bool = True,
    modality_rule: str = DEFAULT_MODALITY_RULE,
) -> list[PreferenceSample]:
    """Normalise located raw rows; log the modalities not given and ignored fields once."""
    check_modality_rule(modality_rule)
    samples: list[PreferenceSample] = []
    extra: Counter[str] = Counter()
    first_at: dict[str, str] = {}
    for i, (where, row) in enumerate(rows):
        extra.update(set(row) - KNOWN_FIELDS)
        sample = check_row(
            row, where=where, root=root, default_id=f"{source}:{i}", check_exists=check_exists,
            modality_rule=modality_rule,
        ).require()  # fmt: skip
        duplicate = duplicate_id(sample.id, where, first_at)
        if duplicate is not None:
            raise PreferenceDataError(duplicate.message)
        if sample.modality_inferred:
            logger.debug("%s: modality %r inferred from the prompt", where, sample.modality)
        samples.append(sample)
    inferred = modality_not_given(samples, modality_rule)
    if inferred:
        logger.info("%s: %s; add a 'modality' field to set it", source, inferred)
    if extra:
        logger.warning(
            "%s: ignoring fields outside the schema (field: rows) %s; a misspelt field? The "
            "schema's fields are %s",
            source, dict(sorted(extra.items())), sorted(KNOWN_FIELDS),
        )  # fmt: skip
    return samples


def load_preferences(
    path: str | Path,
    media_root: str | Path | None = None,
    *,
    check_exists: bool = True,
    modality_rule: str = DEFAULT_MODALITY_RULE,
) -> list[PreferenceSample]:
    """Load and validate a preference file (JSONL or JSON list)."""
    path = Path(path)
    root = Path(media_root) if media_root is not None else path.resolve().parent
    return normalize_rows(
        read_rows(path), root=root, source=path.name, check_exists=check_exists,
        modality_rule=modality_rule,
    )  # fmt: skip


def to_dataset(samples: list[PreferenceSample]) -> datasets.Dataset:
    """A ``datasets.Dataset`` with the columns :data:`COLUMNS`."""
    import datasets

    features = datasets.Features(
        {c: datasets.Value("bool" if c == "modality_inferred" else "string") for c in COLUMNS}
    )
    return datasets.Dataset.from_list([s.to_row() for s in samples], features=features)


def load_preference_dataset(
    path: str | Path,
    media_root: str | Path | None = None,
    *,
    check_exists: bool = True,
    modality_rule: str = DEFAULT_MODALITY_RULE,
) -> datasets.Dataset:
    """:func:`load_preferences` as a ``datasets.Dataset`` ready for the trainer."""
    return to_dataset(
        load_preferences(path, media_root, check_exists=check_exists, modality_rule=modality_rule)
    )


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
    modality_rule: str = DEFAULT_MODALITY_RULE,
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
    return to_dataset(
        normalize_rows(
            rows, root=root, source=source, check_exists=check_exists, modality_rule=modality_rule
        )
    )


def modality_summary(samples: Iterable[Any], rule: str = DEFAULT_MODALITY_RULE) -> str:
    """How many rows got each modality, and how: ``given`` or by ``rule`` (one line)."""
    samples = list(samples)
    given = Counter(s.modality for s in samples if not s.modality_inferred)
    other = Counter(s.modality for s in samples if s.modality_inferred)
    how = "inferred from the prompt" if rule == "infer" else f"set by --modality_rule {rule}"

    def fmt(c: Counter[str]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"

    return f"modality given: {fmt(given)}; not given, {how}: {fmt(other)}"
