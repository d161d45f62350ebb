"""Generated stand-ins for the benchmarks' user-provided data, laid out like the real ones.

For tests and for checking a set-up before the licensed data arrive:

- :func:`write_dfew_tree`: DFEW's layout (``Clip/part_N/<id>.mp4`` and
  ``EmoLabel_DataSplit/test(single-labeled)/set_<fold>.csv``),
- :func:`write_emorealm_json`: a questions file in the released ``emorealm_v1.json``
  format (``id, video, task, question, choices, answer``),
- :func:`write_emer_folder`: an annotation CSV (``name,reason``) with clips beside it,
- :func:`write_mer2023_tree`: MER2023's layout (``test3/<name>.mp4`` and
  ``test3-label.csv`` with columns ``name,discrete,valence``).

With ``clips=True`` the media are real H.264 + AAC mp4s from :mod:`avem_plugins.testing.synth`
(PyAV, imported lazily); with ``clips=False`` they are empty placeholder files, enough for
code that only checks that media exist.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path

#: DFEW label ids.
DFEW_IDS: dict[str, int] = {
    "happiness": 1,
    "sadness": 2,
    "neutral": 3,
    "anger": 4,
    "surprise": 5,
    "disgust": 6,
    "fear": 7,
}

EMOREALM_TASKS: tuple[str, ...] = (
    "reasoning_basic_audio",
    "reasoning_basic_video",
    "modality_agreement",
    "reasoning_stress_audio",
    "reasoning_stress_video",
)


def _write_media(path: Path, emotion: str, seed: int, clips: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not clips:
        path.touch()
        return
    from avem_plugins.testing.synth import EMOTION_CUES, write_clip

    visual, audio = EMOTION_CUES.get(emotion, EMOTION_CUES["neutral"])
    write_clip(
        path, visual_cue=visual, audio_cue=audio, seed=seed, num_frames=8, fps=8, size=(64, 64)
    )


def write_dfew_tree(
    root: str | Path,
    labels: Mapping[int, str | int] | None = None,
    *,
    fold: int = 1,
    clips: bool = True,
    parts: int = 2,
) -> Path:
    """Write a DFEW-style tree; returns ``root``.

    :param labels: clip id -> emotion name or DFEW label id (0 = not single-labelled: the
        clip is written and listed with label 0). Default: one clip per emotion.
    """
    root = Path(root)
    if labels is None:
        labels = {i + 1: name for i, name in enumerate(DFEW_IDS)}
    for n, (clip, label) in enumerate(sorted(labels.items())):
        emotion = (
            label
            if isinstance(label, str)
            else next((k for k, v in DFEW_IDS.items() if v == label), "neutral")
        )
        _write_media(
            root / "Clip" / f"part_{n % parts + 1}" / f"{clip:05d}.mp4", emotion, clip, clips
        )
    split = root / "EmoLabel_DataSplit" / "test(single-labeled)"
    split.mkdir(parents=True, exist_ok=True)
    with open(split / f"set_{fold}.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_name", "label"])
        for clip, label in sorted(labels.items()):
            writer.writerow([clip, DFEW_IDS[label] if isinstance(label, str) else label])
    return root


def write_emorealm_json(
    path: str | Path,
    videos: Sequence[str],
    *,
    per_task: int = 2,
    seed: int = 0,
    stress_kinds: bool = False,
) -> Path:
    """Write an EmoReAlM-format questions file over ``videos`` (paths relative to DFEW_ROOT).

    :param stress_kinds: also give each stress item a ``stress_kind`` field
        (``relevant``/``spurious``/``hallucination``), which the released file lacks.
    """
    rng = random.Random(seed)
    emotions = ["Happiness", "Sadness", "Anger", "Fear", "Surprise", "Disgust", "Neutral"]
    kinds = ["relevant", "spurious", "hallucination"]
    items: list[dict[str, object]] = []
    for task in EMOREALM_TASKS:
        for i in range(per_task):
            video = videos[(len(items)) % len(videos)]
            item: dict[str, object] = {"id": f"{task}_{i:03d}", "video": video, "task": task}
            if task.startswith("reasoning_basic"):
                options = rng.sample(emotions, 4)
                cue = "voice" if task.endswith("audio") else "facial expression"
                item["question"] = f"Which emotion does the person's {cue} convey?"
                item["choices"] = [f"({'ABCD'[k]}) {o}" for k, o in enumerate(options)]
                item["answer"] = "ABCD"[rng.randrange(4)]
            else:
                kind = kinds[i % 3]
                if task == "modality_agreement":
                    item["question"] = "Do the audio and the video convey the same emotion?"
                else:
                    cue = "raised pitch" if task.endswith("audio") else "furrowed brow"
                    item["question"] = (
                        f"Does the {cue} contribute to the person's anger in the video?"
                    )
                    if stress_kinds:
                        item["stress_kind"] = kind
                item["choices"] = ["(A) Yes", "(B) No"]
                if task == "modality_agreement":
                    item["answer"] = "A" if i % 2 == 0 else "B"
                else:  # relevant cues get Yes; spurious and hallucinated ones No
                    item["answer"] = "A" if kind == "relevant" else "B"
            items.append(item)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(items, indent=1), encoding="utf-8")
    return path


def write_emer_folder(root: str | Path, n: int = 3, *, clips: bool = True) -> Path:
    """Write ``root/annotations.csv`` (``name,reason``) and ``root/<name>.mp4`` clips."""
    root = Path(root)
    samples = [
        ("happiness", "She smiles broadly and her voice is bright and cheerful; she seems happy."),
        ("sadness", "His voice is low and slow, his eyes are downcast; he appears sad and tired."),
        ("anger", "She frowns and raises her voice sharply; she is clearly angry and frustrated."),
        (
            "fear",
            "He speaks quickly with a trembling voice and wide eyes; he looks nervous and afraid.",
        ),
    ]
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "annotations.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "reason"])
        for i in range(n):
            emotion, reason = samples[i % len(samples)]
            name = f"sample_{i:05d}"
            writer.writerow([name, reason])
            _write_media(root / f"{name}.mp4", emotion, i, clips)
    return root


#: MER2023's discrete labels (as written in its label CSVs) -> the emotion of a generated clip.
MER2023_CUES: dict[str, str] = {
    "neutral": "neutral",
    "angry": "anger",
    "happy": "happiness",
    "sad": "sadness",
    "worried": "fear",
    "surprise": "surprise",
}


def write_mer2023_tree(
    root: str | Path,
    labels: Mapping[str, str] | None = None,
    *,
    clips: bool = True,
) -> Path:
    """Write a MER2023-style tree; returns ``root``.

    ``root/test3/<name>.mp4`` and ``root/test3-label.csv`` (columns ``name,discrete,valence``;
    valence is empty, as in the released test3 labels).

    :param labels: clip name -> MER discrete label (``happy``, ``sad``, ``neutral``,
        ``angry``, ``surprise``, ``worried``). Default: one clip per label.
    """
    root = Path(root)
    if labels is None:
        labels = {f"sample_{i:08d}": name for i, name in enumerate(MER2023_CUES, start=1)}
    for n, (name, label) in enumerate(sorted(labels.items())):
        _write_media(root / "test3" / f"{name}.mp4", MER2023_CUES.get(label, "neutral"), n, clips)
    with open(root / "test3-label.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "discrete", "valence"])
        for name, label in sorted(labels.items()):
            writer.writerow([name, label, ""])
    return root
