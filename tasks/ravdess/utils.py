"""RAVDESS for lmms-eval: files found recursively, labels from their names.

No side effects at import: files are listed when a task loads (``RAVDESS_ROOT``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from avem_plugins.scoring import authors, taskdata

log = logging.getLogger(__name__)
#: The authors' scorer used by ``AVEM_ANSWER_PARSER=compat`` (:mod:`avem_plugins.scoring.authors`).
SCORER_FAMILY = "ravdess"
#: ``RAVDESS_ROOT`` and, for the audio-visual variants only, an optional tree of 16 kHz wavs
#: beside the clips (``Actor_NN/<clip name>.wav``), as the authors' evaluation reads audio.
CLIPS = taskdata.ClipRoots(
    root_env="RAVDESS_ROOT",
    audio_env="RAVDESS_AUDIO_ROOT",
    media_root_names=("RAVDESS", "ravdess"),
    purpose="your RAVDESS folder",
)

#: Emotion codes (third field of a file name).
EMOTIONS: dict[str, str] = {
    "01": "neutral",
    "02": "calm",
    "03": "happiness",
    "04": "sadness",
    "05": "anger",
    "06": "fear",
    "07": "disgust",
    "08": "surprise",
}
LABELS_8: list[str] = list(EMOTIONS.values())
#: The paper's protocol drops calm.
LABELS_7: list[str] = [label for label in LABELS_8 if label != "calm"]

#: ``modality`` -> (file-name prefix ``modality-channel``, suffix).
SOURCES: dict[str, tuple[str, str]] = {
    "av": ("01-01", ".mp4"),  # audio-visual speech
    "audio": ("03-01", ".wav"),  # audio-only speech
}


def parse_name(name: str) -> dict[str, str] | None:
    """The seven fields of a RAVDESS file name, or ``None`` for another name.

    >>> parse_name("03-01-05-01-02-01-12.wav")["emotion"]
    'anger'
    """
    parts = Path(name).stem.split("-")
    if len(parts) != 7 or not all(len(p) == 2 and p.isascii() and p.isdigit() for p in parts):
        return None
    if parts[2] not in EMOTIONS:
        return None
    keys = ("modality", "channel", "emotion_code", "intensity", "statement", "repetition", "actor")
    fields = dict(zip(keys, parts, strict=True))
    fields["emotion"] = EMOTIONS[parts[2]]
    return fields


def find_files(root: Path, modality: str) -> list[Path]:
    """The speech files of one modality under ``root`` (``Actor_NN/`` folders or flat)."""
    prefix, suffix = SOURCES[modality]
    unnamed: list[Path] = []

    def key(path: Path) -> str | None:
        if parse_name(path.name) is None:
            unnamed.append(path)
            return None
        return path.name if path.name.startswith(prefix + "-") else None

    files = taskdata.index_files(root, (suffix,), key=key)
    if unnamed:  # left out, and said so: e.g. a renamed copy or a name with a typo
        log.warning(
            "ravdess: %d %s files under %s are not named like RAVDESS files "
            "(03-01-05-01-02-01-12%s) and are left out, e.g. %s",
            len(unnamed), suffix, root, suffix, unnamed[0],
        )  # fmt: skip
    return [files[k] for k in sorted(files)]


def build_docs(modality: str = "av", classes: int = 7) -> list[dict[str, Any]]:
    """The docs of one variant: ``modality`` ``av`` or ``audio``, 7 (calm dropped) or 8 classes."""
    if modality not in SOURCES or classes not in (7, 8):
        raise ValueError(f"unknown RAVDESS variant modality={modality!r} classes={classes}")
    sources = CLIPS.find(authors.checked_parser(SCORER_FAMILY), audio=modality == "av")
    parser, root, audio_root = sources.parser, sources.root, sources.audio_root
    labels = LABELS_7 if classes == 7 else LABELS_8
    files = find_files(root, modality)
    if not files:
        prefix, suffix = SOURCES[modality]
        raise taskdata.TaskDataError(
            f"ravdess: no {prefix}-*{suffix} files under {CLIPS.root_env}={root} "
            "(RAVDESS's Actor_NN folders, or the files in one folder)"
        )
    rows = []
    outside = 0
    for path in files:
        label = parse_name(path.name)["emotion"]  # type: ignore[index]
        if label not in labels:
            outside += 1
            continue
        audio = audio_root / path.relative_to(root).with_suffix(".wav") if audio_root else path
        rows.append(
            {
                "id": path.stem,
                "video_path": str(path) if modality == "av" else "",
                "audio_path": str(audio),
                "audio_source": "video_track" if modality == "av" and not audio_root else "wav",
                "label": label,
                "labels": labels,
                "modality": modality,
                "answer_parser": parser,
                "scorer_family": SCORER_FAMILY,
            }
        )
    if outside:
        log.info("ravdess: %d files with labels outside %s left out (protocol)", outside, labels)
    return taskdata.keep_present(
        rows,
        task=f"ravdess ({modality}, {classes} classes)",
        env_vars=sources.env_vars,
    )


process_docs_av_7class = taskdata.process_docs_of(
    build_docs, "av", 7, task="ravdess (av, 7 classes)"
)
process_docs_av_8class = taskdata.process_docs_of(
    build_docs, "av", 8, task="ravdess (av, 8 classes)"
)
process_docs_audio_7class = taskdata.process_docs_of(
    build_docs, "audio", 7, task="ravdess (audio, 7 classes)"
)
process_docs_audio_8class = taskdata.process_docs_of(
    build_docs, "audio", 8, task="ravdess (audio, 8 classes)"
)
