"""DFEW for lmms-eval: fold CSVs + clips found by id, scored as one-word emotion answers.

No side effects at import: data are read when a task loads, through the environment
variables in README.md.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from avem_plugins.media import VIDEO_SUFFIXES
from avem_plugins.scoring import authors, taskdata

log = logging.getLogger(__name__)
#: The authors' scorer used by ``AVEM_ANSWER_PARSER=compat`` (:mod:`avem_plugins.scoring.authors`).
SCORER_FAMILY = "dfew"
#: ``DFEW_ROOT`` (else ``$LMMS_EVAL_MEDIA_ROOT/DFEW``) and an optional 16 kHz wav tree.
CLIPS = taskdata.ClipRoots(
    root_env="DFEW_ROOT",
    audio_env="DFEW_AUDIO_ROOT",
    media_root_names=("DFEW", "dfew"),
    purpose="the DFEW clips folder (holding part_1 ... part_11)",
)
ANNOTATIONS_ENV = "DFEW_ANNOTATIONS"

#: DFEW's label ids (0 = not single-labelled, excluded).
CLASSES: dict[int, str] = {
    1: "happiness",
    2: "sadness",
    3: "neutral",
    4: "anger",
    5: "surprise",
    6: "disgust",
    7: "fear",
}
LABELS: list[str] = list(CLASSES.values())
FOLDS: tuple[int, ...] = (1, 2, 3, 4, 5)


def _fold_csv_name(fold: int) -> str:
    return f"set_{fold}.csv"


def fold_csv(fold: int, root: Path) -> Path:
    """``test(single-labeled)/set_<fold>.csv`` under ``DFEW_ANNOTATIONS`` (a folder or the
    CSV itself) or, when unset, anywhere under ``DFEW_ROOT``."""
    annotations = taskdata.optional_env_path(ANNOTATIONS_ENV)
    if annotations is not None and annotations.is_file():
        return annotations
    base = annotations or root
    name = _fold_csv_name(fold)
    candidates = sorted(
        p for p in base.rglob(name) if p.parent.name.lower() == "test(single-labeled)"
    )
    if not candidates:
        where = (
            f"{ANNOTATIONS_ENV}={base}"
            if annotations
            else f"{CLIPS.root_env}={base} (set {ANNOTATIONS_ENV} to elsewhere)"
        )
        raise taskdata.TaskDataError(
            f"dfew fold {fold}: no 'test(single-labeled)/{name}' under {where}; "
            "use DFEW's official EmoLabel_DataSplit folder."
        )
    return candidates[0]


def read_fold(path: Path) -> list[tuple[int, str]]:
    """``(clip id, label)`` rows of a fold CSV (columns ``video_name,label``); label 0 (not
    single-labelled) is left out and counted in a log line."""
    rows = []
    unlabelled = 0
    for line, row in taskdata.read_csv(path, ("video_name", "label")):
        try:
            clip, label = int(row["video_name"]), int(float(row["label"]))
        except (ValueError, OverflowError):
            raise taskdata.TaskDataError(
                f"{path}, line {line}: video_name and label must be integers, got {row}"
            ) from None
        if label == 0:
            unlabelled += 1
            continue
        if label not in CLASSES:
            raise taskdata.TaskDataError(f"{path}, line {line}: label {label} is not one of 0-7")
        rows.append((clip, CLASSES[label]))
    if unlabelled:
        log.info("%s: %d rows with label 0 (not single-labelled) left out", path, unlabelled)
    return rows


def clip_id(stem: str) -> int | None:
    """The DFEW id a clip's file stem names (``"00042"`` -> 42); ``None`` for another name
    (ASCII digits only: ``"²".isdigit()`` is true and ``int("²")`` fails)."""
    return int(stem) if stem.isascii() and stem.isdigit() and len(stem) <= 18 else None


@functools.lru_cache(maxsize=4)
def clips_by_id(root: str) -> dict[int, Path]:
    """Every DFEW clip under ``root`` (``part_1 ... part_11`` or any layout), by integer id."""
    return taskdata.index_files(Path(root), VIDEO_SUFFIXES, key=lambda p: clip_id(p.stem))


def build_docs(fold: int = 1) -> list[dict[str, Any]]:
    """The docs of one fold's test split."""
    sources = CLIPS.find(authors.checked_parser(SCORER_FAMILY))
    parser, root, audio_root = sources.parser, sources.root, sources.audio_root
    clips = clips_by_id(str(root))
    rows = []
    for clip, label in read_fold(fold_csv(fold, root)):
        video = clips.get(clip)
        video_path = video if video is not None else root / "**" / f"{clip}.mp4"  # not found
        if audio_root is not None and video is not None:
            audio = audio_root / video.relative_to(root).with_suffix(".wav")
        else:
            audio = video_path
        rows.append(
            {
                "id": str(clip),
                "video_path": str(video_path),
                "audio_path": str(audio),
                "audio_source": "wav" if audio_root else "video_track",
                "label": label,
                "labels": LABELS,
                "modality": "av",
                "fold": fold,
                "answer_parser": parser,
                "scorer_family": SCORER_FAMILY,
            }
        )
    return taskdata.keep_present(rows, task=f"dfew fold {fold}", env_vars=sources.env_vars)


process_docs_fold1 = taskdata.process_docs_of(build_docs, 1, task="dfew fold 1")
process_docs_fold2 = taskdata.process_docs_of(build_docs, 2, task="dfew fold 2")
process_docs_fold3 = taskdata.process_docs_of(build_docs, 3, task="dfew fold 3")
process_docs_fold4 = taskdata.process_docs_of(build_docs, 4, task="dfew fold 4")
process_docs_fold5 = taskdata.process_docs_of(build_docs, 5, task="dfew fold 5")
