"""Generate AVEm-DPO preference rows from a table of labelled clips with an LLM.

Input: a CSV with one clip per row. Required columns: ``path`` (relative to the media root,
default the CSV's folder) and ``emotion``. Optional: ``id`` (default: ``path`` without its
suffix), ``audio`` (a separate audio file), ``visual_caption``, ``audio_caption``,
``visual_cue``, ``audio_cue`` and ``notes`` (free cue notes). ``synth.make_clips``'s
``clips.csv`` is one such table.

For each clip the builder picks the modality its question asks about (``--modalities``,
cycled over the clips, restricted to those the clip has a description for), renders the
prompt templates (``system.txt``, ``user.txt``: :mod:`string.Template` files with
``$name`` placeholders, shipped in ``avem_plugins/templates/prefs`` and overridable file by
file with ``--templates DIR``) and asks the LLM for one JSON object with ``prompt``,
``chosen``, ``rejected`` (hallucination: an emotion-typical cue that is absent) and
``rejected_2`` (spurious: a present cue irrelevant to the emotion). The mismatched input
``video_l`` (and ``audio_l`` when the table has separate audio) is the table's own
``video_l``/``audio_l`` when it has them (the MAFW/MER2025 readers draw them by label), else a
clip with a different emotion, drawn deterministically from ``seed`` and the row id.

Every reply is validated (a JSON object with the four fields as non-empty strings; the
three answers pairwise different; the row loads through :mod:`avem_plugins.prefs.schema`). A row
that fails is appended to the rejects file with its reason and the raw reply, never dropped.

Resumable and append-only: an existing output is never rewritten. Rows are appended one by
one (flush + fsync), ids already in the output are skipped, and so are ids already in the
rejects file (``retry_rejected=True`` / ``--retry-rejected`` retries them), except rows
whose request failed (endpoint down after all retries: kind ``failed``), which are always
retried. A transient failure that outlives the retries, or a 401/403/404, stops the run
(in-flight rows finish); rerunning the same command resumes it. The only change ever made to
an existing output is removing a torn last line left by a killed process (no newline, not
JSON), which is moved to ``<out>.torn``. To start over, delete the output or pick another.

Token usage is summed per run and written, with the run's settings, to ``<out>.tokens.json``
(one entry per run plus the total).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import string
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from avem_plugins.modality import PROMPT_MODALITIES
from avem_plugins.prefs.llm_client import (
    ChatClient,
    Completion,
    LLMConfigError,
    LLMError,
    LLMRequestError,
    Message,
    TransientLLMError,
    Usage,
)
from avem_plugins.prefs.schema import (
    MediaPathError,
    PreferenceDataError,
    check_row,
    parse_jsonl,
    relative_to_root,
    under_root,
)
from avem_plugins.scoring.taskdata import read_csv

logger = logging.getLogger(__name__)

#: Template files, in the order of the chat messages (system, user).
TEMPLATE_FILES: tuple[str, ...] = ("system.txt", "user.txt")
#: Placeholders a template may use.
PLACEHOLDERS: tuple[str, ...] = (
    "clip_id",
    "emotion",
    "modality",
    "visual_caption",
    "audio_caption",
    "visual_cue",
    "audio_cue",
    "notes",
    "typical_cues",
)
#: Columns a clips table must have.
REQUIRED_COLUMNS: tuple[str, ...] = ("path", "emotion")
#: Modalities a question can ask about (SPEC §3.1).
MODALITIES: tuple[str, ...] = PROMPT_MODALITIES
#: Fields the LLM must return.
GENERATED_FIELDS: tuple[str, ...] = ("prompt", "chosen", "rejected", "rejected_2")
#: Reject kinds. ``failed`` (request failed after all retries) is retried on every resume.
REJECT_KINDS: tuple[str, ...] = ("input", "invalid_output", "request", "failed")

#: Cues typical of each emotion, offered to the LLM for the hallucination negative.
TYPICAL_CUES: dict[str, str] = {
    "happiness": "a broad smile, raised cheeks, laughter, a bright upbeat voice",
    "sadness": "tears, drooping mouth corners, a lowered gaze, a slow quiet trembling voice",
    "anger": "furrowed brows, clenched jaw, glaring eyes, a loud sharp shouting voice",
    "neutral": "a relaxed face, steady gaze, an even monotone voice",
    "surprise": "raised eyebrows, wide-open eyes, a dropped jaw, a sudden gasp",
    "fear": "widened eyes, raised tense brows, trembling, a shaky high-pitched voice",
    "disgust": "a wrinkled nose, raised upper lip, turning away, a groan of revulsion",
    "calm": "a soft relaxed face, slow breathing, a gentle low voice",
}

_TRAILING = " \t\n.!?"


class PrefsBuildError(ValueError):
    """The build cannot start; the message names the file, row or flag to fix."""


class GenerationRejected(ValueError):
    """A generated row failed validation; ``kind`` is one of :data:`REJECT_KINDS`."""

    def __init__(self, reason: str, kind: str = "invalid_output") -> None:
        super().__init__(reason)
        self.kind = kind


# -- clips table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """One labelled clip: a row of the clips table, as the MAFW/MER2025 readers
    (:mod:`avem_plugins.prefs.sources`) write it and :func:`read_clips` reads it.

    ``video`` is the clip file (the table's ``path`` column), ``audio`` a separate audio file.
    ``video_l``/``audio_l`` are a mismatched clip named by the table itself; it wins over a
    drawn one. ``root`` is the media root of a table's clips (``rel`` and the rows written are
    relative to it) and ``line`` the clip's line in the table.
    """

    id: str
    video: Path
    emotion: str
    audio: Path | None = None
    visual_caption: str = ""
    audio_caption: str = ""
    visual_cue: str = ""
    audio_cue: str = ""
    notes: str = ""
    video_l: Path | None = None
    audio_l: Path | None = None
    line: int | None = None
    root: Path | None = None

    @property
    def described(self) -> bool:
        """Whether the clip has any caption, cue or notes to ask about (else the build
        rejects it as ``input``)."""
        return self.describes("audiovisual")

    def describes(self, modality: str) -> bool:
        """Whether the table describes the cues this modality's question needs."""
        visual = bool(self.visual_caption or self.visual_cue)
        audio = bool(self.audio_caption or self.audio_cue)
        if modality == "visual":
            return visual or (not audio and bool(self.notes))
        if modality == "audio":
            return audio or (not visual and bool(self.notes))
        return visual or audio or bool(self.notes)

    def relative(self, path: Path | None) -> str | None:
        """``path`` relative to the clip's media root, as preference rows store it."""
        if path is None:
            return None
        if self.root is None:
            raise ValueError(f"clip {self.id!r} has no media root to write paths against")
        return relative_to_root(path, self.root)

    @property
    def rel(self) -> str:
        """The clip file relative to the media root."""
        rel = self.relative(self.video)
        assert rel is not None
        return rel

    @property
    def audio_rel(self) -> str | None:
        return self.relative(self.audio)


def _table_path(row: Mapping[str, str], column: str, root: Path, where: str) -> Path | None:
    """A path column of the clips table under the media root (``None`` when empty)."""
    if not row.get(column):
        return None
    try:
        return under_root(row[column], root)
    except MediaPathError as e:
        raise PrefsBuildError(
            f"{where}, column {column!r}: {e}; pass --media-root with a folder that contains "
            "every clip"
        ) from None


def read_clips(csv_path: str | Path, media_root: str | Path | None = None) -> list[Clip]:
    """Read a clips table; paths resolve against ``media_root`` (default: the CSV's folder).

    Raises :class:`PrefsBuildError` for missing columns, empty ``path``/``emotion``, paths
    escaping the root and duplicate ids. Missing clip files are not an error here: the
    build records those rows as rejects (kind ``input``).
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise PrefsBuildError(f"clips table not found: {csv_path}")
    root = (Path(media_root) if media_root is not None else csv_path.parent).resolve()
    raw_rows = read_csv(
        csv_path,
        REQUIRED_COLUMNS,
        error=PrefsBuildError,
        hint="; a clips table may also have id, audio, visual_caption, audio_caption, "
        "visual_cue, audio_cue, notes",
    )
    clips: list[Clip] = []
    seen: dict[str, int] = {}
    for i, row in raw_rows:
        where = f"{csv_path} line {i}"
        for column in REQUIRED_COLUMNS:
            if not row.get(column):
                raise PrefsBuildError(f"{where}: column {column!r} is empty")
        video = _table_path(row, "path", root, where)
        assert video is not None
        if video == root:
            raise PrefsBuildError(
                f"{where}, column 'path': {row['path']!r} is the media root itself, not a clip"
            )
        clip = Clip(
            id=row.get("id")
            or PurePosixPath(*video.relative_to(root).parts).with_suffix("").as_posix(),
            video=video,
            emotion=row["emotion"].lower(),
            audio=_table_path(row, "audio", root, where),
            visual_caption=row.get("visual_caption", ""),
            audio_caption=row.get("audio_caption", ""),
            visual_cue=row.get("visual_cue", ""),
            audio_cue=row.get("audio_cue", ""),
            notes=row.get("notes", "") or row.get("cue_notes", ""),
            video_l=_table_path(row, "video_l", root, where),
            audio_l=_table_path(row, "audio_l", root, where),
            line=i,
            root=root,
        )
        if clip.id in seen:
            raise PrefsBuildError(
                f"{where}: duplicate clip id {clip.id!r} (also line {seen[clip.id]}); ids must be unique"
            )
        seen[clip.id] = i
        clips.append(clip)
    if not clips:
        raise PrefsBuildError(f"{csv_path}: no clips")
    return clips


# -- templates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Templates:
    """The system and user prompt templates and where each came from."""

    system: string.Template
    user: string.Template
    sources: tuple[str, str]
    sha256: str

    def render(self, values: Mapping[str, str]) -> list[Message]:
        """The chat messages for one clip."""
        return [
            {"role": "system", "content": self.system.substitute(values)},
            {"role": "user", "content": self.user.substitute(values)},
        ]


def shipped_templates_dir() -> Path:
    """The folder of the shipped templates (``avem_plugins/templates/prefs``)."""
    return Path(str(resources.files("avem_plugins") / "templates" / "prefs"))


def load_templates(directory: str | Path | None = None) -> Templates:
    """The prompt templates; files in ``directory`` override the shipped ones one by one.

    Each template is checked for unknown ``$placeholders`` (see :data:`PLACEHOLDERS`).
    """
    shipped = shipped_templates_dir()
    texts: list[string.Template] = []
    sources: list[str] = []
    digest = hashlib.sha256()
    if directory is not None and not Path(directory).is_dir():
        raise PrefsBuildError(f"--templates {directory}: not a folder")
    for name in TEMPLATE_FILES:
        path = Path(directory) / name if directory is not None else None
        if path is None or not path.is_file():
            path = shipped / name
        text = path.read_text(encoding="utf-8")
        template = string.Template(text)
        dummy = dict.fromkeys(PLACEHOLDERS, "x")
        try:
            template.substitute(dummy)
        except KeyError as e:
            raise PrefsBuildError(
                f"template {path}: unknown placeholder ${e.args[0]}; use {', '.join('$' + p for p in PLACEHOLDERS)} "
                "(write $$ for a literal $)"
            ) from e
        except ValueError as e:
            raise PrefsBuildError(f"template {path}: {e} (write $$ for a literal $)") from e
        texts.append(template)
        sources.append(str(path))
        digest.update(text.encode("utf-8"))
    return Templates(texts[0], texts[1], (sources[0], sources[1]), digest.hexdigest())


def template_values(clip: Clip, modality: str) -> dict[str, str]:
    """The placeholder values for one clip and modality (empty ones read ``none given``)."""

    def given(text: str) -> str:
        return text or "none given"

    return {
        "clip_id": clip.id,
        "emotion": clip.emotion,
        "modality": modality,
        "visual_caption": given(clip.visual_caption or clip.visual_cue.replace("_", " ")),
        "audio_caption": given(clip.audio_caption or clip.audio_cue.replace("_", " ")),
        "visual_cue": given(clip.visual_cue),
        "audio_cue": given(clip.audio_cue),
        "notes": given(clip.notes),
        "typical_cues": TYPICAL_CUES.get(clip.emotion, "choose cues typical of this emotion"),
    }


# -- jobs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One row to generate: a clip, the modality its question asks about, its mismatch."""

    id: str
    clip: Clip
    modality: str | None
    mismatch: Clip | None


def plan_jobs(
    clips: Sequence[Clip], modalities: Sequence[str] = MODALITIES, *, seed: int = 0
) -> list[Job]:
    """One job per clip; the modality cycles over ``modalities`` the clip has cues for.

    A clip described for none of them gets ``modality=None`` (the build rejects it as
    ``input``). The mismatch is a clip with a different emotion whose file exists, drawn
    with ``random.Random(f"{seed}:{id}")``; ``None`` when every clip has the same emotion.
    """
    bad = [m for m in modalities if m not in MODALITIES]
    if bad or not modalities:
        raise PrefsBuildError(f"--modalities {list(modalities)}: choose from {list(MODALITIES)}")
    existing = sorted((c for c in clips if c.video.is_file()), key=lambda c: c.id)
    others_of: dict[str, list[Clip]] = {}  # emotion -> existing clips of other emotions
    jobs: list[Job] = []
    for i, clip in enumerate(clips):
        usable = [m for m in modalities if clip.describes(m)]
        modality = usable[i % len(usable)] if usable else None
        job_id = f"{clip.id}-{modality}" if modality else clip.id
        if clip.emotion not in others_of:
            others_of[clip.emotion] = [c for c in existing if c.emotion != clip.emotion]
        others = others_of[clip.emotion]
        mismatch = random.Random(f"{seed}:{job_id}").choice(others) if others else None
        jobs.append(Job(job_id, clip, modality, mismatch))
    return jobs


# -- validating a reply ---------------------------------------------------------------------


def _norm(text: str) -> str:
    return " ".join(text.casefold().split()).strip(_TRAILING)


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def parse_generation(text: str) -> dict[str, str]:
    """The four generated fields from an LLM reply, validated.

    Accepts a bare JSON object, one inside a code fence, or one embedded in prose (the first
    ``{`` that starts a valid object). Raises :class:`GenerationRejected` with the reason.
    """
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    obj: Any = None
    error = "no JSON object in the reply"
    decoder = json.JSONDecoder()
    for candidate in candidates:
        start = candidate.find("{")
        while start != -1:
            try:
                obj, _ = decoder.raw_decode(candidate, start)
                break
            except json.JSONDecodeError as e:
                error = f"not valid JSON ({e.msg} at char {e.pos})"
                start = candidate.find("{", start + 1)
        if isinstance(obj, dict):
            break
    if not isinstance(obj, dict):
        raise GenerationRejected(f"reply is not a JSON object: {error}")
    missing = [f for f in GENERATED_FIELDS if f not in obj]
    if missing:
        raise GenerationRejected(f"reply lacks field(s) {missing} (has {sorted(obj)})")
    fields: dict[str, str] = {}
    for name in GENERATED_FIELDS:
        value = obj[name]
        if not isinstance(value, str):
            raise GenerationRejected(f"field {name!r} is {type(value).__name__}, not a string")
        if not value.strip():
            raise GenerationRejected(f"field {name!r} is empty")
        fields[name] = value.strip()
    pairs = (
        ("rejected", "chosen"),
        ("rejected_2", "chosen"),
        ("rejected_2", "rejected"),
        ("chosen", "prompt"),
    )
    for a, b in pairs:
        if _norm(fields[a]) == _norm(fields[b]):
            raise GenerationRejected(f"field {a!r} is the same text as {b!r}")
    return fields


def make_row(job: Job, fields: Mapping[str, str]) -> dict[str, Any]:
    """The output row (SPEC §3.3 schema) for a job and its generated fields."""
    row: dict[str, Any] = {"id": job.id, **{f: fields[f] for f in GENERATED_FIELDS}}
    clip, other = job.clip, job.mismatch
    row["video"] = clip.rel
    if clip.audio is not None:
        row["audio"] = clip.audio_rel
    if clip.video_l is not None or clip.audio_l is not None:  # the table chose the mismatch
        if clip.video_l is not None:
            row["video_l"] = clip.relative(clip.video_l)
        if clip.audio_l is not None:
            row["audio_l"] = clip.relative(clip.audio_l)
    elif other is not None:
        row["video_l"] = other.rel
        if other.audio is not None:
            row["audio_l"] = other.audio_rel
    row["modality"] = job.modality
    row["emotion"] = job.clip.emotion
    return row


def check_input(job: Job) -> None:
    """Raise :class:`GenerationRejected` (kind ``input``) when a job cannot be generated."""
    if not job.clip.video.is_file():
        raise GenerationRejected(
            f"clip not found: {job.clip.video} (clips table line {job.clip.line})", "input"
        )
    if job.modality is None:
        raise GenerationRejected(
            f"no cue description for the requested modalities (clips table line {job.clip.line}): "
            "fill visual_caption/audio_caption/notes, or change --modalities",
            "input",
        )


# -- append-only files ----------------------------------------------------------------------


def _read_jsonl_ids(path: Path, *, repair_torn: bool, strict: bool) -> list[dict[str, Any]]:
    """The rows of an append-only JSONL file; a torn last line is moved to ``<path>.torn``."""
    if not path.exists():
        return []
    data = path.read_bytes()
    tail = data[data.rfind(b"\n") + 1 :]  # b"" when the file ends with a newline
    located = parse_jsonl(data, str(path))
    last = located.pop() if tail.strip() else None
    rows: list[dict[str, Any]] = []
    for raw in located:
        problem = raw.problem.message if raw.problem else None
        if raw.row is not None and "id" not in raw.row:
            problem = f"{raw.where}: not an object with an 'id'"
        if problem is not None:
            if strict:
                raise PrefsBuildError(
                    f"{problem}; this file was not written by `avem prefs build` or was edited: "
                    "fix or remove the line, or pick another --out (it is never overwritten)"
                )
            logger.warning("%s; ignored", problem)
            continue
        assert raw.row is not None
        rows.append(raw.row)
    if last is not None:
        if last.row is not None and "id" in last.row:
            rows.append(last.row)
            with open(path, "ab") as handle:  # complete row lacking only its newline
                handle.write(b"\n")
        elif not repair_torn:
            raise PrefsBuildError(f"{path}: the last line is incomplete; remove it and rerun")
        else:
            torn = path.with_name(path.name + ".torn")
            with open(torn, "ab") as handle:
                handle.write(tail + b"\n")
            with open(path, "r+b") as handle:
                handle.truncate(len(data) - len(tail))
            logger.warning(
                "%s: moved an incomplete last line (a run killed mid-write) to %s", path, torn
            )
    return rows


class _Appender:
    """Appends JSON lines durably (flush + fsync per line)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.handle = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def write(self, row: Mapping[str, Any]) -> None:
        self.handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def close(self) -> None:
        self.handle.close()


def sidecar_paths(out: str | Path) -> tuple[Path, Path]:
    """``(rejects, tokens)`` files beside an output: ``X.rejects.jsonl``, ``X.tokens.json``."""
    out = Path(out)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out.with_name(stem + ".rejects.jsonl"), out.with_name(stem + ".tokens.json")


# -- the build ------------------------------------------------------------------------------


@dataclass
class BuildResult:
    """What one :func:`build_preferences` run did."""

    out: Path
    rejects: Path
    tokens: Path
    planned: int = 0
    skipped: int = 0
    written: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    not_attempted: int = 0
    usage: Usage = field(default_factory=lambda: Usage(requests=0))
    aborted: str | None = None
    media_root: Path | None = None

    @property
    def ok(self) -> bool:
        """No abort and nothing left to do (rejected rows are recorded, not pending)."""
        return self.aborted is None and self.not_attempted == 0 and not self.rejected.get("failed")

    def summary(self) -> str:
        rejected = ", ".join(f"{k}: {v}" for k, v in sorted(self.rejected.items())) or "none"
        lines = [
            f"rows planned {self.planned}, already done {self.skipped}, written {self.written}, "
            f"rejected {sum(self.rejected.values())} ({rejected}), not attempted {self.not_attempted}",
            f"tokens: prompt {self.usage.prompt_tokens}, completion {self.usage.completion_tokens}, "
            f"total {self.usage.total_tokens} over {self.usage.requests} requests"
            + (
                "" if self.usage.reported else " (the server did not report usage for some replies)"
            ),
            f"output {self.out}; rejects {self.rejects}; token accounting {self.tokens}",
        ]
        if self.aborted:
            lines.append(f"STOPPED: {self.aborted}. Rerun the same command to resume.")
        elif self.media_root is not None:
            lines.append(f"train with: --dataset_name {self.out} --media_root {self.media_root}")
        return "\n".join(lines)


def _write_tokens(path: Path, run: dict[str, Any]) -> None:
    previous: dict[str, Any] = {}
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            logger.warning("%s: unreadable token accounting; starting a new one", path)
    runs = [*previous.get("runs", []), run]
    total = {
        k: sum(int(r.get(k, 0)) for r in runs)
        for k in ("prompt_tokens", "completion_tokens", "total_tokens", "requests", "written")
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"runs": runs, "total": total}, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def _previous_runs(path: Path) -> list[dict[str, Any]]:
    try:
        return list(json.loads(path.read_text(encoding="utf-8")).get("runs", []))
    except (OSError, ValueError, AttributeError):
        return []


def build_preferences(
    clips_csv: str | Path,
    out: str | Path,
    client: ChatClient,
    *,
    templates_dir: str | Path | None = None,
    media_root: str | Path | None = None,
    modalities: Sequence[str] = MODALITIES,
    concurrency: int = 4,
    limit: int | None = None,
    seed: int = 0,
    retry_rejected: bool = False,
    progress: bool = True,
) -> BuildResult:
    """Generate preference rows for the clips of ``clips_csv`` into ``out`` (appending).

    :param client: the LLM (:class:`~avem_plugins.prefs.llm_client.OpenAIChatClient` or
        :class:`~avem_plugins.prefs.llm_client.LocalChatClient`).
    :param media_root: media paths in the table and the output are relative to it
        (default: the CSV's folder); train with ``--media_root`` set to it.
    :param concurrency: requests in flight at once (threads).
    :param limit: generate at most this many new rows in this run.
    :param retry_rejected: also retry rows already in the rejects file.
    """
    if concurrency < 1:
        raise PrefsBuildError(f"--concurrency must be >= 1, got {concurrency}")
    out = Path(out)
    rejects_path, tokens_path = sidecar_paths(out)
    root = (Path(media_root) if media_root is not None else Path(clips_csv).parent).resolve()
    templates = load_templates(templates_dir)
    clips = read_clips(clips_csv, root)
    jobs = plan_jobs(clips, modalities, seed=seed)
    result = BuildResult(out, rejects_path, tokens_path, planned=len(jobs), media_root=root)

    for run in _previous_runs(tokens_path):
        if run.get("templates_sha256") not in (None, templates.sha256) or run.get("client") not in (
            None,
            client.name,
        ):
            logger.warning(
                "%s: resuming a build started with other templates or another model (%s); "
                "rows of both will be mixed in the output",
                out, run.get("client"),
            )  # fmt: skip
            break

    done = {str(r["id"]) for r in _read_jsonl_ids(out, repair_torn=True, strict=True)}
    rejected_before = {
        str(r["id"]): r.get("kind")
        for r in _read_jsonl_ids(rejects_path, repair_torn=True, strict=False)
    }
    skip = set(done)
    if not retry_rejected:
        skip |= {i for i, kind in rejected_before.items() if kind != "failed"}
    todo = [j for j in jobs if j.id not in skip]
    result.skipped = len(jobs) - len(todo)
    if limit is not None:
        todo = todo[: max(0, limit)]
    if result.skipped:
        logger.info(
            "%s: resuming, %d of %d rows already done or rejected", out, result.skipped, len(jobs)
        )

    started = time.time()
    writer, rejecter = _Appender(out), _Appender(rejects_path)
    try:
        _run(todo, client, templates, root, writer, rejecter, result, concurrency, progress)
    finally:
        writer.close()
        rejecter.close()
        _write_tokens(
            tokens_path,
            {
                "started": started,
                "finished": time.time(),
                "client": client.name,
                "templates": list(templates.sources),
                "templates_sha256": templates.sha256,
                "seed": seed,
                "modalities": list(modalities),
                "written": result.written,
                "rejected": dict(result.rejected),
                "aborted": result.aborted,
                **result.usage.as_dict(),
            },
        )
    return result


def _generate(job: Job, client: ChatClient, templates: Templates) -> Completion:
    return client.complete(
        templates.render(template_values(job.clip, job.modality or "audiovisual"))
    )


def _run(
    todo: Sequence[Job],
    client: ChatClient,
    templates: Templates,
    root: Path,
    writer: _Appender,
    rejecter: _Appender,
    result: BuildResult,
    concurrency: int,
    progress: bool,
) -> None:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc="prefs build", unit="row", disable=not progress)

    def reject(job: Job, kind: str, reason: str, raw: str | None = None) -> None:
        record = {
            "id": job.id,
            "clip": job.clip.rel,
            "kind": kind,
            "reason": reason,
            "time": time.time(),
        }
        if raw is not None:
            record["raw"] = raw[:4000]
        rejecter.write(record)
        result.rejected[kind] = result.rejected.get(kind, 0) + 1
        logger.debug("rejected %s (%s): %s", job.id, kind, reason)

    queue: Iterator[Job] = iter(todo)
    pending: dict[Future[Completion], Job] = {}

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="prefs-build") as pool:

        def submit_next() -> None:
            while len(pending) < concurrency and result.aborted is None:
                job = next(queue, None)
                if job is None:
                    return
                try:
                    check_input(job)
                except GenerationRejected as e:
                    reject(job, e.kind, str(e))
                    bar.update(1)
                    continue
                pending[pool.submit(_generate, job, client, templates)] = job

        submit_next()
        while pending:
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in finished:
                job = pending.pop(future)
                bar.update(1)
                try:
                    completion = future.result()
                except (TransientLLMError, LLMConfigError) as e:
                    reject(job, "failed", str(e))
                    if result.aborted is None:
                        result.aborted = str(e)
                    continue
                except LLMRequestError as e:
                    reject(job, "request", str(e))
                    continue
                except LLMError as e:  # any other client error: record, keep going
                    reject(job, "request", str(e))
                    continue
                result.usage.add(completion.usage)
                try:
                    fields = parse_generation(completion.text)
                    row = make_row(job, fields)
                    check_row(
                        row, where=f"generated row {job.id}", root=root, default_id=job.id
                    ).require()
                except GenerationRejected as e:
                    reject(job, e.kind, str(e), completion.text)
                    continue
                except PreferenceDataError as e:
                    reject(job, "invalid_output", f"schema: {e}", completion.text)
                    continue
                writer.write(row)
                result.written += 1
                bar.set_postfix(tokens=result.usage.total_tokens, refresh=False)
            submit_next()
    result.not_attempted = sum(1 for _ in queue)
    bar.close()
