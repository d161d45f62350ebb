"""User-provided benchmark data for the lmms-eval tasks: where it is and what is missing.

The benchmarks' media are licensed and never downloaded: users point environment
variables at their copies (``DFEW_ROOT``, ``RAVDESS_ROOT``, ...), falling back to a
sub-folder of lmms-eval's ``LMMS_EVAL_MEDIA_ROOT``. Every problem is one
:class:`TaskDataError` raised when the task loads, naming the variable to set.

Missing media are checked for all items at once: one :class:`MissingMediaError` gives
the count and the first few paths. ``AVEM_ALLOW_MISSING_MEDIA=1`` evaluates the items
whose media exist instead; each kept doc then carries ``missing_media_count`` and the
tasks report it as a metric.

The task YAMLs load a one-row placeholder file (lmms-eval needs *some* dataset) and
their ``process_docs`` replaces it with :func:`to_dataset` of the real rows; ``--limit``
and ``--offset`` apply to those rows as usual.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets

log = logging.getLogger(__name__)

#: Fallback media root understood by lmms-eval itself.
MEDIA_ROOT_ENV = "LMMS_EVAL_MEDIA_ROOT"
#: ``1`` evaluates the items whose media exist when some are missing.
ALLOW_MISSING_ENV = "AVEM_ALLOW_MISSING_MEDIA"
#: ``robust`` (default) or ``compat``: how answers are parsed (see the task READMEs).
PARSER_ENV = "AVEM_ANSWER_PARSER"
PARSERS: tuple[str, ...] = ("robust", "compat")


#: How many missing paths an error message lists.
SHOW_MISSING = 5


def one_line(value: object) -> str:
    """``value`` (a path, an id from the user's file) for a one-line message: as is, or quoted
    when it holds a newline or another unprintable character."""
    text = str(value)
    return text if text.isprintable() else repr(text)


class TaskDataError(RuntimeError):
    """Task data could not be found or read; the message says which variable to set."""


class MissingMediaError(TaskDataError):
    """Some items' media files do not exist."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def allow_missing_media() -> bool:
    """Whether ``AVEM_ALLOW_MISSING_MEDIA`` asks to evaluate the present subset."""
    return _truthy(os.environ.get(ALLOW_MISSING_ENV))


def answer_parser() -> str:
    """The answer parser chosen by ``AVEM_ANSWER_PARSER`` (default ``robust``)."""
    value = (os.environ.get(PARSER_ENV) or "robust").strip().lower()
    if value not in PARSERS:
        raise TaskDataError(f"{PARSER_ENV}={value!r} is not one of {list(PARSERS)}")
    return value


def _media_root_candidates(names: Sequence[str]) -> list[Path]:
    root = os.environ.get(MEDIA_ROOT_ENV, "").strip()
    if not root:
        return []
    base = Path(os.path.expanduser(root))
    return [base / name for name in names]


def env_path(var: str, *, media_root_names: Sequence[str], purpose: str, kind: str = "dir") -> Path:
    """The folder (``kind="dir"``) or file (``"file"``) named by ``var``.

    Falls back to ``$LMMS_EVAL_MEDIA_ROOT/<name>`` for the first existing ``name`` in
    ``media_root_names``.

    :raises TaskDataError: naming ``var`` when nothing usable is found.
    """
    check = Path.is_dir if kind == "dir" else Path.is_file
    value = os.environ.get(var, "").strip()
    if value:
        path = Path(os.path.expanduser(value))
        if not check(path):
            raise TaskDataError(
                f"{var}={value} is not an existing {'folder' if kind == 'dir' else 'file'}; "
                f"point it at {purpose}."
            )
        return path
    for candidate in _media_root_candidates(media_root_names):
        if check(candidate):
            return candidate
    fallback = " or ".join(f"${MEDIA_ROOT_ENV}/{n}" for n in media_root_names)
    raise TaskDataError(
        f"{var} is not set: set {var} to {purpose}"
        + (f" (or provide {fallback})." if fallback else ".")
    )


def optional_env_path(var: str, *, folder: bool = False) -> Path | None:
    """The existing path (``folder``: folder) named by an optional variable, ``None`` when unset.

    :raises TaskDataError: when set to a path that does not exist (or is not a folder).
    """
    value = os.environ.get(var, "").strip()
    if not value:
        return None
    path = Path(os.path.expanduser(value))
    if not (path.is_dir() if folder else path.exists()):
        raise TaskDataError(
            f"{var}={value} " + ("is not an existing folder" if folder else "does not exist")
        )
    return path


def optional_env_dir(var: str) -> Path | None:
    """:func:`optional_env_path` for a folder."""
    return optional_env_path(var, folder=True)


@dataclass(frozen=True)
class DocSources:
    """Where a task's docs come from: the answer parser, the media root, an optional audio
    tree, and the variables that named them (for :func:`keep_present`'s message)."""

    parser: str
    root: Path
    audio_root: Path | None
    env_vars: tuple[str, ...]


@dataclass(frozen=True)
class ClipRoots:
    """Where a task's clips are: the folder in ``root_env`` (else the first existing
    ``$LMMS_EVAL_MEDIA_ROOT/<name>`` of ``media_root_names``) and an optional tree of
    separate audio files in ``audio_env``. ``purpose`` ends the error for a missing root."""

    root_env: str
    audio_env: str
    media_root_names: tuple[str, ...]
    purpose: str

    def find(self, parser: str, *, audio: bool = True) -> DocSources:
        """The media root and, when ``audio``, the audio tree, with the answer ``parser``
        (:func:`avem_plugins.scoring.authors.checked_parser`, called first so a broken
        ``AVEM_AVERE_REPO`` fails before the media are looked for).

        :raises TaskDataError: naming the variable to set.
        """
        root = env_path(self.root_env, media_root_names=self.media_root_names, purpose=self.purpose)
        audio_root = optional_env_dir(self.audio_env) if audio else None
        env_vars = (self.root_env, self.audio_env) if audio_root else (self.root_env,)
        return DocSources(parser, root, audio_root, env_vars)


def process_docs_of(
    build_docs: Callable[..., list[dict[str, Any]]], *args: Any, task: str
) -> Callable[[Any], datasets.Dataset]:
    """A YAML's ``process_docs``: the placeholder dataset is replaced by ``build_docs(*args)``."""

    def process_docs(dataset: Any) -> datasets.Dataset:
        del dataset  # the placeholder the YAML loads
        return to_dataset(build_docs(*args), task=task)

    process_docs.__doc__ = f"``process_docs`` of {task}."
    return process_docs


def with_prompts(body: str, lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    """``body`` between the task's ``pre_prompt`` and ``post_prompt`` (lmms-eval's kwargs)."""
    kwargs = lmms_eval_specific_kwargs or {}
    return f"{kwargs.get('pre_prompt', '')}{body}{kwargs.get('post_prompt', '')}"


def read_csv(
    path: Path,
    required: Sequence[str],
    *,
    error: type[Exception] = TaskDataError,
    hint: str = "",
) -> list[tuple[int, dict[str, str]]]:
    """``(line, row)`` pairs of a UTF-8 CSV (a BOM is fine) whose header has ``required``.

    Column names and cells are stripped; cells beyond the header are ignored and missing
    ones read ``""``; blank lines are skipped. ``line`` is the row's first line in the file.

    :raises error: naming the file (and the line) for a file that is not UTF-8, a row the
        csv module cannot read (e.g. a cell over its size limit), or missing columns (the
        message then ends with ``hint``).
    """
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise error(
            f"{path} line {line}: not UTF-8 (byte 0x{data[err.start]:02x}); save the file as UTF-8"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, dict[str, str]]] = []
    header: list[str] | None = None
    start = 1
    try:
        for cells in reader:
            if header is None:
                header = [c.strip() for c in cells]
                missing = [c for c in required if c not in header]
                if missing:
                    raise error(
                        f"{path}: missing column(s) {missing}; expected columns "
                        f"{','.join(required)}, got {header}{hint}"
                    )
            elif cells:
                values = [c.strip() for c in cells] + [""] * (len(header) - len(cells))
                row: dict[str, str] = {}
                for name, value in zip(header, values, strict=False):
                    row.setdefault(name, value)  # a repeated column: the first one counts
                rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as err:
        raise error(f"{path} line {reader.line_num}: not a readable CSV row ({err})") from None
    if header is None:
        raise error(f"{path}: empty file; expected columns {','.join(required)}")
    return rows


def index_files(
    root: Path, suffixes: Iterable[str], key: Callable[[Path], Any] | None = None
) -> dict[Any, Path]:
    """Files under ``root`` (recursively) with one of ``suffixes``, keyed by ``key(path)``.

    The key defaults to the file stem; a ``key`` returning ``None`` skips the file. When
    two files share a key the first in sorted path order wins and a warning counts the
    duplicates. Symlinked folders are followed, each real folder once: a link back up the
    tree (a folder containing itself) is not walked again, which would never end.
    """
    wanted = {s.lower() for s in suffixes}
    key = key or (lambda p: p.stem)
    found: dict[Any, Path] = {}
    duplicates = 0
    visited: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        try:
            info = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (info.st_dev, info.st_ino) in visited:  # reached again through a symlink
            dirnames[:] = []
            continue
        visited.add((info.st_dev, info.st_ino))
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix.lower() not in wanted:
                continue
            k = key(path)
            if k is None:
                continue
            if k in found:
                duplicates += 1
                continue
            found[k] = path
    if duplicates:
        log.warning(
            "%d files under %s share a name with another; the first (sorted) is used",
            duplicates,
            root,
        )
    return found


def keep_present(
    rows: list[dict[str, Any]],
    *,
    task: str,
    env_vars: Sequence[str],
    fields: Sequence[str] = ("video_path", "audio_path"),
) -> list[dict[str, Any]]:
    """Check that every row's media exist; add ``missing_media_count`` to each row.

    Empty fields are not checked. Missing files raise one :class:`MissingMediaError`
    unless ``AVEM_ALLOW_MISSING_MEDIA=1``, in which case the rows with all media present
    are returned (with a warning).
    """
    missing_paths: list[str] = []
    present: list[dict[str, Any]] = []
    for row in rows:
        gone = list(  # once per row: a video is often its own audio source too
            dict.fromkeys(row[f] for f in fields if row.get(f) and not os.path.isfile(row[f]))
        )
        if gone:
            missing_paths.extend(gone)
        else:
            present.append(row)
    n_missing = len(rows) - len(present)
    if n_missing:
        shown = ", ".join(one_line(p) for p in missing_paths[:SHOW_MISSING])
        more = (
            f" (and {len(missing_paths) - SHOW_MISSING} more)"
            if len(missing_paths) > SHOW_MISSING
            else ""
        )
        where = ", ".join(f"{v}={os.environ.get(v) or '(unset)'}" for v in env_vars)
        message = (
            f"{task}: {n_missing} of {len(rows)} items have missing media files under "
            f"{where}: {shown}{more}. "
            f"Put the files there (see the task README), or set {ALLOW_MISSING_ENV}=1 to "
            f"evaluate the {len(present)} items whose media exist (the number left out is "
            f"reported as missing_media_count)."
        )
        if not allow_missing_media():
            raise MissingMediaError(message)
        log.warning("%s Evaluating the present subset because %s=1.", message, ALLOW_MISSING_ENV)
        if not present:
            raise MissingMediaError(
                f"{task}: no item has its media; nothing to evaluate. {message}"
            )
    for row in present:
        row["missing_media_count"] = n_missing
    return present


def to_dataset(rows: list[dict[str, Any]], *, task: str) -> datasets.Dataset:
    """The docs of a task as a ``datasets.Dataset``.

    :raises TaskDataError: for no rows (lmms-eval cannot run an empty task).
    """
    if not rows:
        raise TaskDataError(f"{task}: the data has no items for this task")
    import datasets

    return datasets.Dataset.from_list(rows)


def media_visuals(doc: dict[str, Any]) -> list[str]:
    """``doc_to_visual`` for simple models: the video, then a *separate* audio file.

    Audio that is the video's own track is not listed again (the model reads it from the
    video).
    """
    video, audio = doc.get("video_path") or "", doc.get("audio_path") or ""
    out = [video] if video else []
    if audio and audio != video:
        out.append(audio)
    return out


def media_messages(doc: dict[str, Any], text: str) -> list[dict[str, Any]]:
    """``doc_to_messages`` for chat models: video and audio as separate content items.

    The audio item's ``url`` is the wav file when the data has one, else the video file
    itself (its own audio track).
    """
    content: list[dict[str, Any]] = []
    if doc.get("video_path"):
        content.append({"type": "video", "url": doc["video_path"]})
    if doc.get("audio_path"):
        content.append({"type": "audio", "url": doc["audio_path"]})
    content.append({"type": "text", "text": text})
    return [{"role": "user", "content": content}]


def messages_of(doc_to_text: Callable[..., str]) -> Callable[..., list[dict[str, Any]]]:
    """A task's ``doc_to_messages``: one user turn, video and audio items, then ``doc_to_text``."""

    def doc_to_messages(
        doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        return media_messages(doc, doc_to_text(doc, lmms_eval_specific_kwargs))

    doc_to_messages.__doc__ = (
        f"One user turn: video and audio, then ``{doc_to_text.__qualname__}``."
    )
    return doc_to_messages


def model_modalities() -> str:
    """What media reached the model in this process, for the results file.

    ``avem_av`` records its effective modalities in :mod:`avem_plugins.runinfo`;
    when a model family cannot take a requested one, both are shown, e.g.
    ``video (requested audio,video)``. Another model leaves this ``not recorded``.
    """
    from avem_plugins import runinfo

    info = runinfo.current()
    if not info:
        return "not recorded (the model is not avem_av)"
    used = ",".join(info.get("modalities", [])) or "text"
    asked = ",".join(info.get("requested_modalities", [])) or "text"
    return used if used == asked else f"{used} (requested {asked})"


def aggregate_model_modalities(items: list[dict[str, Any]]) -> str:
    """The ``model_modalities`` metric: which media the model was given (see above)."""
    del items  # the value is the run's, not a sample's
    return model_modalities()
