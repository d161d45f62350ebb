"""MER2023 (MER-SEMI, test3) for lmms-eval: one-word emotion answers, weighted F1 first.

The labels CSV (``test3-label.csv``, columns ``name,discrete[,valence]``) and the clips are
the user's, found through the environment variables in README.md when the task loads; no
side effects at import. Scoring reuses the DFEW/RAVDESS machinery
(:mod:`avem_plugins.tasks.classification`) and adds the weighted F1 that MER2023 reports.

MER's ``worried`` has no label of its own in the shared emotion lexicon: its words
(``worried``, ``anxious``, ``nervous``, ``scared`` ...) are the lexicon's ``fear``, so the
6-class task parses answers with ``fear`` standing in for ``worried`` and reports it as
``worried``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from avem_plugins.tasks.classification import METRICS as CLASSIFICATION_METRICS
from avem_plugins.tasks.classification import result_record

from avem_plugins.media import AUDIO_SUFFIXES, VIDEO_SUFFIXES
from avem_plugins.scoring import authors, emotions, lexicon, metrics, taskdata
from avem_plugins.scoring.lexicon import MER_CLASSES

log = logging.getLogger(__name__)

#: The authors' scorer used by ``AVEM_ANSWER_PARSER=compat`` (:mod:`avem_plugins.scoring.authors`).
SCORER_FAMILY = "mer2023"
#: ``MER2023_ROOT`` (else ``$LMMS_EVAL_MEDIA_ROOT/MER2023``) and an optional audio tree.
CLIPS = taskdata.ClipRoots(
    root_env="MER2023_ROOT",
    audio_env="MER2023_AUDIO_ROOT",
    media_root_names=("MER2023", "mer2023"),
    purpose="the MER2023 folder (holding the test3 clips)",
)
LABELS_ENV = "MER2023_LABELS"
#: The MER-SEMI test set's label file, as released.
LABEL_FILE = "test3-label.csv"

#: MER's discrete labels, in the challenge's order -> our label names.
CLASSES: dict[str, str] = dict(MER_CLASSES)
LABELS_6: list[str] = list(CLASSES.values())
#: The paper's protocol: ``worried`` excluded.
LABELS_5: list[str] = [label for label in LABELS_6 if label != "worried"]
#: Task labels the emotion lexicon knows under another name.
PARSE_AS: dict[str, str] = {"worried": "fear"}

METRICS: tuple[str, ...] = (*CLASSIFICATION_METRICS, "weighted_f1")


# --- data ------------------------------------------------------------------------------


def labels_csv(root: Path) -> Path:
    """``MER2023_LABELS`` (the CSV, or a folder holding ``test3-label.csv``), else the
    ``test3-label.csv`` found under ``MER2023_ROOT``."""
    explicit = taskdata.optional_env_path(LABELS_ENV)
    if explicit is not None and explicit.is_file():
        return explicit
    base = explicit or root
    found = sorted(base.rglob(LABEL_FILE))
    if not found:
        where = (
            f"{LABELS_ENV}={base}" if explicit else f"{CLIPS.root_env}={base} (or set {LABELS_ENV})"
        )
        raise taskdata.TaskDataError(
            f"mer2023: no {LABEL_FILE} under {where}; use the MER2023 release's test3 labels "
            "(columns name,discrete)."
        )
    if len(found) > 1:
        log.warning("mer2023: several %s under %s; using %s", LABEL_FILE, base, found[0])
    return found[0]


def _clip_name(value: str) -> str:
    """A clip name without a video suffix (``sample_00000001.mp4`` -> ``sample_00000001``)."""
    path = Path(value)
    return path.stem if path.suffix.lower() in VIDEO_SUFFIXES else value


def read_labels(path: Path) -> list[tuple[str, str]]:
    """``(clip name, label)`` rows of a MER label CSV (columns ``name,discrete``).

    Labels are mapped to :data:`CLASSES`' names; every row is kept (the 5-class task drops
    ``worried`` later).

    :raises TaskDataError: naming the file and line for a missing column, an empty name,
        an unknown label or a repeated name.
    """
    rows: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for line, row in taskdata.read_csv(path, ("name", "discrete")):
        name, discrete = _clip_name(row["name"]), row["discrete"].lower()
        if not name:
            raise taskdata.TaskDataError(f"{path}, line {line}: empty 'name'")
        if discrete not in CLASSES:
            raise taskdata.TaskDataError(
                f"{path}, line {line}: discrete label {row['discrete']!r} is not one of "
                f"{list(CLASSES)}"
            )
        if name in seen:
            raise taskdata.TaskDataError(
                f"{path}, line {line}: clip {name!r} is listed again (first on line {seen[name]})"
            )
        seen[name] = line
        rows.append((name, CLASSES[discrete]))
    return rows


@functools.lru_cache(maxsize=4)
def clips_by_name(root: str) -> dict[str, Path]:
    """Every video under ``root`` (any depth), by file stem."""
    return taskdata.index_files(Path(root), VIDEO_SUFFIXES)


@functools.lru_cache(maxsize=4)
def audio_by_name(root: str) -> dict[str, Path]:
    """Every audio file under ``root`` (any depth), by file stem."""
    return taskdata.index_files(Path(root), AUDIO_SUFFIXES)


def build_docs(labels: Sequence[str] = LABELS_5) -> list[dict[str, Any]]:
    """The docs of the test3 rows whose label is in ``labels``."""
    sources = CLIPS.find(authors.checked_parser(SCORER_FAMILY))
    parser, root, audio_root = sources.parser, sources.root, sources.audio_root
    task = "mer2023" if len(labels) == len(LABELS_5) else f"mer2023 ({len(labels)} classes)"
    clips = clips_by_name(str(root))
    audios = audio_by_name(str(audio_root)) if audio_root is not None else {}
    rows, excluded = [], 0
    for name, label in read_labels(labels_csv(root)):
        if label not in labels:
            excluded += 1
            continue
        video = clips.get(name)
        video_path = str(video) if video is not None else str(root / "**" / f"{name}.mp4")
        if audio_root is not None:
            audio = audios.get(name)
            audio_path = str(audio) if audio is not None else str(audio_root / f"{name}.wav")
        else:
            audio_path = video_path
        rows.append(
            {
                "id": name,
                "video_path": video_path,
                "audio_path": audio_path,
                "audio_source": "wav" if audio_root else "video_track",
                "label": label,
                "labels": list(labels),
                "modality": "av",
                "answer_parser": parser,
                "scorer_family": SCORER_FAMILY,
            }
        )
    if excluded:
        log.info("%s: %d rows with labels outside %s left out (protocol)", task, excluded, labels)
    return taskdata.keep_present(rows, task=task, env_vars=sources.env_vars)


process_docs_5class = taskdata.process_docs_of(build_docs, LABELS_5, task="mer2023")
process_docs_6class = taskdata.process_docs_of(build_docs, LABELS_6, task="mer2023")


# --- scoring ---------------------------------------------------------------------------


def parse_answer(
    text: str | None, labels: Sequence[str], parser: str = "robust"
) -> emotions.EmotionAnswer:
    """Map an answer to one of ``labels`` (``worried`` parsed as the lexicon's ``fear``).

    ``compat`` is the authors' keyword scorer searching only the task's classes, in their
    order (for the 5 classes exactly their MER2023 scorer; ``fear`` words stand for
    ``worried`` in the 6-class variant, which they did not evaluate).
    """
    lexicon_labels = [PARSE_AS.get(label, label) for label in labels]
    back = {PARSE_AS[label]: label for label in labels if label in PARSE_AS}
    if parser == "compat":
        order = [label for label in lexicon.COMPAT_ORDER if label in lexicon_labels]
        parsed = emotions.parse_emotion_compat(text, order=order)
    else:
        parsed = emotions.parse_answer(text, lexicon_labels, parser)
    if parsed.label in back:
        return emotions.EmotionAnswer(back[parsed.label], parsed.status)
    return parsed


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """The shared classification record, parsed with :func:`parse_answer` (``worried``)."""
    return dict.fromkeys(METRICS, result_record(doc, results, parse=parse_answer))


def aggregate_weighted_f1(items: list[dict[str, Any]]) -> float:
    """F1 per class weighted by gold support (MER2023's headline; compat drops excluded)."""
    kept = [r for r in items if r["status"] != "dropped"]
    labels = items[0]["labels"] if items else []
    return metrics.weighted_f1([r["gold"] for r in kept], [r["pred"] for r in kept], labels)
