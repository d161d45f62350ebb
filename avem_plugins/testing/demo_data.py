"""A small synthetic audiovisual-emotion world for the demo and tests.

Every clip shows one visual cue and plays one audio cue from :data:`avem_plugins.testing.synth.
EMOTION_CUES`; the cue *means* an emotion. Most clips are congruent (both cues mean the same
emotion); every ``incongruent_every``-th clip swaps in the audio cue of another emotion, so
audio and video disagree. From that world we write:

- an **EmoReAlM-format benchmark**: the released file's schema (``id, video, task, question,
  choices, answer`` + ``stress_kind``) over a DFEW-style tree ``part_1/<id>.mp4``, with all five
  tasks; stress questions cite a cue that is present and relevant (Yes), present but irrelevant
  (spurious: No) or absent (hallucination: No), and some are worded to suggest the wrong answer,
  so a model answering from the text prior is misled;
- an **AVEm-DPO preference file** (SPEC §3.3) on separate clips, in the benchmark's question
  format: a grounded chosen answer, a hallucination negative (an emotion whose cues are
  absent), a spurious negative (the emotion of the other modality's cue, present but not what
  was asked), the ``modality`` the prompt asks about and the ``emotion`` label (so the trainer
  draws mismatched inputs by label);
- **supervised warm-up rows** (question, short answer) for the demo's optional warm-up.

Everything is deterministic given the seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avem_plugins.testing import synth

#: The demo's emotions (a 4-way choice keeps the tiny model's task learnable).
DEMO_EMOTIONS: tuple[str, ...] = ("happiness", "sadness", "anger", "neutral")
LETTERS = "ABCD"
YES_NO = ("(A) Yes", "(B) No")


@dataclass(frozen=True)
class WorldClip:
    """A generated clip and what its cues mean."""

    id: int
    path: Path
    visual_emotion: str
    audio_emotion: str

    @property
    def congruent(self) -> bool:
        return self.visual_emotion == self.audio_emotion

    @property
    def visual_cue(self) -> str:
        return synth.EMOTION_CUES[self.visual_emotion][0]

    @property
    def audio_cue(self) -> str:
        return synth.EMOTION_CUES[self.audio_emotion][1]


def _caption(kind: str, emotion: str) -> str:
    visual, audio = synth.EMOTION_CUES[emotion]
    return synth.VISUAL_CUES[visual] if kind == "visual" else synth.AUDIO_CUES[audio]


def write_world(
    root: Path,
    n: int,
    *,
    seed: int = 0,
    emotions: Sequence[str] = DEMO_EMOTIONS,
    incongruent_every: int = 4,
    first_id: int = 1,
    num_frames: int = 16,
) -> list[WorldClip]:
    """Write ``n`` clips as ``root/part_1/<id>.mp4`` (DFEW layout)."""
    rng = random.Random(seed)
    part = root / "part_1"
    part.mkdir(parents=True, exist_ok=True)
    clips = []
    for i in range(n):
        visual = emotions[i % len(emotions)]
        audio = visual
        if incongruent_every and i % incongruent_every == incongruent_every - 1:
            audio = rng.choice([e for e in emotions if e != visual])
        clip_id = first_id + i
        path = part / f"{clip_id}.mp4"
        synth.write_clip(
            path,
            visual_cue=synth.EMOTION_CUES[visual][0],
            audio_cue=synth.EMOTION_CUES[audio][1],
            seed=seed * 100003 + i,
            num_frames=num_frames,
        )
        clips.append(WorldClip(clip_id, path, visual, audio))
    return clips


def _choices(emotions: Sequence[str]) -> list[str]:
    return [f"({LETTERS[i]}) {e}" for i, e in enumerate(emotions)]


def _stress(
    clip: WorldClip, modality: str, kind: str, emotions: Sequence[str], misleading: bool
) -> tuple[str, str]:
    """A stress question about ``modality`` (``audio``/``visual``) and its gold letter."""
    own = clip.audio_emotion if modality == "audio" else clip.visual_emotion
    other = clip.visual_emotion if modality == "audio" else clip.audio_emotion
    where = "in the audio" if modality == "audio" else "in the video"
    if kind == "relevant":
        cue, target, gold = _caption(modality, own), own, "A"
    elif kind == "spurious":
        # present but irrelevant: this modality's cue, asked about the other modality's emotion
        cue, target, gold = _caption(modality, own), other, "B"
    else:  # hallucination: a cue typical of the target emotion, absent from the clip
        target = next(e for e in emotions if e != own and e != other)
        cue, gold = _caption(modality, target), "B"
    lead = f"The person is obviously full of {target}. " if misleading and gold == "B" else ""
    return f"{lead}Does {cue} {where} contribute to the {target} expressed in the clip?", gold


def benchmark_items(
    clips: Sequence[WorldClip], emotions: Sequence[str] = DEMO_EMOTIONS, *, seed: int = 0
) -> list[dict[str, Any]]:
    """EmoReAlM-format items (the released schema) for ``clips``."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    kinds = ("relevant", "spurious", "hallucination")

    def add(clip: WorldClip, task: str, question: str, choices: list[str], answer: str, **extra):
        items.append(
            {
                "id": f"{task}_{clip.id}_{len(items)}",
                "video": f"part_1/{clip.id}.mp4",
                "task": task,
                "question": question,
                "choices": choices,
                "answer": answer,
                **extra,
            }
        )

    for j, clip in enumerate(clips):
        choices = _choices(emotions)
        add(
            clip,
            "reasoning_basic_audio",
            "Which emotion does the sound in this clip convey?",
            choices,
            LETTERS[emotions.index(clip.audio_emotion)],
        )
        add(
            clip,
            "reasoning_basic_video",
            "Which emotion does the visual scene in this clip convey?",
            choices,
            LETTERS[emotions.index(clip.visual_emotion)],
        )
        add(
            clip,
            "modality_agreement",
            "Do the audio and the visual cues in this clip express the same emotion?",
            list(YES_NO),
            "A" if clip.congruent else "B",
        )
        for task, modality in (
            ("reasoning_stress_audio", "audio"),
            ("reasoning_stress_video", "visual"),
        ):
            kind = kinds[j % 3] if clip.congruent or j % 3 != 1 else "spurious"
            if kind == "spurious" and clip.congruent:
                kind = "hallucination"  # a congruent clip has no present-but-irrelevant cue
            question, gold = _stress(clip, modality, kind, emotions, misleading=rng.random() < 0.5)
            add(clip, task, question, list(YES_NO), gold, stress_kind=kind)
    return items


#: The instruction the EmoReAlM tasks append to every question (``post_prompt``).
ANSWER_INSTRUCTION = "\nAnswer with the option's letter from the given choices directly."

_MODALITY_OF_TASK = {
    "reasoning_basic_audio": "audio",
    "reasoning_stress_audio": "audio",
    "reasoning_basic_video": "visual",
    "reasoning_stress_video": "visual",
    "modality_agreement": "audiovisual",
}


def preference_rows(
    clips: Sequence[WorldClip], media_root: Path, emotions: Sequence[str] = DEMO_EMOTIONS
) -> list[dict[str, Any]]:
    """AVEm-DPO rows (SPEC §3.3) in the benchmark's own question format, on ``clips``.

    Each benchmark-style question on a training clip becomes one row: ``chosen`` is the
    grounded answer; for the emotion questions ``rejected`` names an emotion whose cues are
    absent from the clip (hallucination) and ``rejected_2`` the emotion of the *other*
    modality's cue when it differs (spurious: present but not what was asked about); for the
    yes/no questions the single negative is the other answer. ``modality`` is what the
    question asks about and ``emotion`` the label of that modality's cue (so the trainer
    draws mismatched inputs by label).
    """
    by_id = {clip.id: clip for clip in clips}
    rows = []
    for item in benchmark_items(clips, emotions, seed=2):
        clip = by_id[int(Path(item["video"]).stem)]
        modality = _MODALITY_OF_TASK[item["task"]]
        asked = clip.audio_emotion if modality == "audio" else clip.visual_emotion
        other = clip.visual_emotion if modality == "audio" else clip.audio_emotion
        row: dict[str, Any] = {
            "id": f"pref_{item['id']}",
            "prompt": "<video>\n<audio>\n"
            + item["question"]
            + " "
            + " ".join(item["choices"])
            + ANSWER_INSTRUCTION,
            "chosen": item["answer"],
            "video": str(clip.path.relative_to(media_root)),
            "modality": modality,
            "emotion": asked,
        }
        if item["task"].startswith("reasoning_basic"):
            absent = next(e for e in emotions if e not in (asked, other))
            row["rejected"] = LETTERS[emotions.index(absent)]
            if other != asked:
                row["rejected_2"] = LETTERS[emotions.index(other)]
        else:
            row["rejected"] = "B" if item["answer"] == "A" else "A"
        rows.append(row)
    return rows


def warmup_rows(
    clips: Sequence[WorldClip], emotions: Sequence[str] = DEMO_EMOTIONS
) -> list[dict[str, Any]]:
    """Supervised (question, answer) rows in the benchmark's prompt format, for a warm-up."""
    rows = []
    for item in benchmark_items(clips, emotions, seed=1):
        prompt = item["question"] + " " + " ".join(item["choices"])
        rows.append({"video": item["video"], "prompt": prompt, "response": item["answer"]})
    return rows


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return path
