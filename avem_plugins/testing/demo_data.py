"""The controlled "cue world" behind ``avem demo`` and ``avem study`` (docs/STUDY.md §1).

Every clip shows one visual cue and plays one audio cue (:mod:`avem_plugins.testing.synth`);
in a world's **cue vocabulary** each emotion owns one visual and one audio cue, so a cue
*means* an emotion. A clip is **congruent** when both cues mean the same emotion and
**incongruent** otherwise. Three disjoint clip sets are drawn from the same world:

- **pretraining clips** and a text-only corpus: the supervised warm-up that makes a random
  model the study's *starting model*. The paper's two failure modes are planted here, on
  purpose and in the open, as biases of the corpus (:func:`pretraining_rows`):

  * a **text prior**: text-only rows state the vocabulary ("does <the typical cue of E>
    contribute to E?" -> Yes, any other pairing -> No), as an LLM's text pretraining would;
    in the media rows an *absent* typical cue is still credited ("Yes") with probability
    ``prior_hallucination_yes``, as captions that name the expected cue do;
  * a **spurious association**: a cue that is present in one modality is credited with the
    emotion the *other* modality expresses with probability ``prior_spurious_yes``
    (co-occurrence: both are "in the clip"); a present cue asked about an emotion absent
    from the clip is always "No", so the association needs the media;
  * everything else is labelled correctly: the media carry the basic answers;

- **preference clips**: an AVEm-DPO preference file (SPEC §3.3), correctly labelled, in the
  benchmark's question format (:func:`preference_rows`);
- **evaluation clips**: an EmoReAlM-format benchmark (the released schema + ``stress_kind``)
  over a DFEW-style tree ``part_1/<id>.mp4`` (:func:`benchmark_items`), with stress
  questions balanced over the three kinds: relevant (present and meaning the asked emotion:
  Yes), spurious (present, but meaning another emotion that the other modality expresses:
  No) and hallucination (the asked emotion's typical cue, absent from the clip: No).

A :class:`WorldSpec` fixes everything (vocabulary, sizes, shares, biases, seed); the same
spec writes the same files. :data:`WORLDS` holds the named variants; they were fixed before
any study ran (docs/STUDY.md).

The prompts follow the ``emorealm`` task's protocol (``question + " " + " ".join(choices)``,
nothing appended): the warm-up, the preference rows and the benchmark all ask the same way.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from avem_plugins.testing import synth

LETTERS = "ABCD"
YES_NO = ("(A) Yes", "(B) No")
YES, NO = "A", "B"
KINDS: tuple[str, ...] = ("relevant", "spurious", "hallucination")
#: Pretraining-only kind: a present cue asked about an emotion the clip does not express.
UNRELATED = "unrelated"

_MODALITY_OF_TASK = {
    "reasoning_basic_audio": "audio",
    "reasoning_stress_audio": "audio",
    "reasoning_basic_video": "visual",
    "reasoning_stress_video": "visual",
    "modality_agreement": "audiovisual",
}
_WHERE = {"audio": "in the audio", "visual": "in the video"}


@dataclass(frozen=True)
class WorldSpec:
    """One world: its cue vocabulary, sizes and biases. Frozen: a spec *is* a design."""

    name: str
    seed: int
    #: ``(emotion, visual cue, audio cue)``; the order fixes the answer letters.
    vocabulary: tuple[tuple[str, str, str], ...]
    eval_clips: int = 24
    pref_clips: int = 48
    pretrain_clips: int = 48
    eval_incongruent: float = 0.5
    pref_incongruent: float = 0.5
    pretrain_incongruent: float = 0.25
    #: Pretraining corpus: how often an absent typical cue is credited ("Yes").
    prior_hallucination_yes: float = 0.7
    #: Pretraining corpus: how often a present cue is credited with the other modality's emotion.
    prior_spurious_yes: float = 0.7
    #: Frames written per clip (8 fps); evaluation and training sample from them.
    clip_frames: int = 16
    notes: str = field(default="", compare=False)

    @property
    def emotions(self) -> tuple[str, ...]:
        return tuple(e for e, _, _ in self.vocabulary)

    def cue(self, emotion: str, modality: str) -> str:
        """The cue name of ``emotion`` in ``modality`` (``audio`` or ``visual``)."""
        for e, visual, audio in self.vocabulary:
            if e == emotion:
                return audio if modality == "audio" else visual
        raise KeyError(f"{emotion!r} is not an emotion of world {self.name!r}")

    def caption(self, emotion: str, modality: str) -> str:
        cue = self.cue(emotion, modality)
        return synth.AUDIO_CUES[cue] if modality == "audio" else synth.VISUAL_CUES[cue]

    def scaled(self, *, eval_clips: int, pref_clips: int, pretrain_clips: int) -> WorldSpec:
        """The same world with other set sizes (``--quick``, tests)."""
        return replace(
            self, eval_clips=eval_clips, pref_clips=pref_clips, pretrain_clips=pretrain_clips
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary (written next to the data and into reports)."""
        return {
            "name": self.name,
            "seed": self.seed,
            "vocabulary": {
                e: {
                    "visual": v,
                    "audio": a,
                    "visual_caption": synth.VISUAL_CUES[v],
                    "audio_caption": synth.AUDIO_CUES[a],
                }
                for e, v, a in self.vocabulary
            },
            "clips": {
                "eval": self.eval_clips,
                "preference": self.pref_clips,
                "pretraining": self.pretrain_clips,
            },
            "incongruent_share": {
                "eval": self.eval_incongruent,
                "preference": self.pref_incongruent,
                "pretraining": self.pretrain_incongruent,
            },
            "prior_hallucination_yes": self.prior_hallucination_yes,
            "prior_spurious_yes": self.prior_spurious_yes,
        }


#: The named worlds. ``A`` is the default; ``B`` is the second variant (another seed and
#: another cue vocabulary), fixed before either was first studied (docs/STUDY.md).
WORLDS: dict[str, WorldSpec] = {
    "A": WorldSpec(
        name="A",
        seed=0,
        vocabulary=(
            ("happiness", "yellow_circle", "high_tone"),
            ("sadness", "blue_square", "low_tone"),
            ("anger", "red_triangle", "fast_beeps"),
            ("neutral", "grey_square", "mid_tone"),
        ),
    ),
    "B": WorldSpec(
        name="B",
        seed=1,
        vocabulary=(
            ("happiness", "orange_triangle", "rising_tone"),
            ("sadness", "purple_circle", "falling_tone"),
            ("anger", "green_stripes", "noise"),
            ("neutral", "blue_triangle", "beeps"),
        ),
    ),
}
DEFAULT_WORLD = "A"


def get_world(name: str) -> WorldSpec:
    try:
        return WORLDS[name]
    except KeyError:
        raise KeyError(f"unknown world {name!r}; choose one of {sorted(WORLDS)}") from None


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

    def emotion(self, modality: str) -> str:
        return self.audio_emotion if modality == "audio" else self.visual_emotion

    def other_emotion(self, modality: str) -> str:
        return self.visual_emotion if modality == "audio" else self.audio_emotion


def _pairs(
    spec: WorldSpec, n: int, incongruent: float, rng: random.Random
) -> list[tuple[str, str]]:
    """``n`` (visual, audio) emotion pairs: emotions cycle, ``round(n * incongruent)`` differ."""
    emotions = spec.emotions
    n_inc = round(n * incongruent)
    flags = [True] * n_inc + [False] * (n - n_inc)
    rng.shuffle(flags)
    pairs = []
    for i, inc in enumerate(flags):
        visual = emotions[i % len(emotions)]
        audio = rng.choice([e for e in emotions if e != visual]) if inc else visual
        pairs.append((visual, audio))
    return pairs


def write_clips(spec: WorldSpec, root: Path, which: str, *, first_id: int = 1) -> list[WorldClip]:
    """Write the ``which`` clip set (``eval``, ``preference`` or ``pretraining``) under
    ``root/part_1/<id>.mp4`` (DFEW layout)."""
    sizes = {
        "eval": (spec.eval_clips, spec.eval_incongruent, 0),
        "preference": (spec.pref_clips, spec.pref_incongruent, 1),
        "pretraining": (spec.pretrain_clips, spec.pretrain_incongruent, 2),
    }
    n, share, offset = sizes[which]
    rng = random.Random(f"{spec.seed}/{which}/clips")
    part = root / "part_1"
    part.mkdir(parents=True, exist_ok=True)
    clips = []
    for i, (visual, audio) in enumerate(_pairs(spec, n, share, rng)):
        clip_id = first_id + i
        path = part / f"{clip_id}.mp4"
        synth.write_clip(
            path,
            visual_cue=spec.cue(visual, "visual"),
            audio_cue=spec.cue(audio, "audio"),
            seed=(spec.seed * 10 + offset) * 100003 + i,
            num_frames=spec.clip_frames,
        )
        clips.append(WorldClip(clip_id, path, visual, audio))
    return clips


# --- questions ---------------------------------------------------------------------------


def choices(spec: WorldSpec) -> list[str]:
    return [f"({LETTERS[i]}) {e}" for i, e in enumerate(spec.emotions)]


def letter(spec: WorldSpec, emotion: str) -> str:
    return LETTERS[spec.emotions.index(emotion)]


def prompt_of(question: str, options: Sequence[str]) -> str:
    """The ``emorealm`` task's prompt: ``question + " " + " ".join(choices)``."""
    return question + " " + " ".join(options)


def basic_question(modality: str) -> str:
    if modality == "audio":
        return "Which emotion does the sound in this clip convey?"
    return "Which emotion does the visual scene in this clip convey?"


AGREEMENT_QUESTION = "Do the audio and the visual cues in this clip express the same emotion?"


def stress_question(spec: WorldSpec, modality: str, cue_emotion: str, target: str) -> str:
    """ "Does <the cue of ``cue_emotion`` in ``modality``> contribute to the ``target``...?"."""
    cue = spec.caption(cue_emotion, modality)
    return f"Does {cue} {_WHERE[modality]} contribute to the {target} expressed in the clip?"


def stress_case(
    spec: WorldSpec, clip: WorldClip, modality: str, kind: str, rng: random.Random
) -> tuple[str, str]:
    """``(cue emotion, target emotion)`` of a stress question of ``kind`` about ``modality``."""
    own, other = clip.emotion(modality), clip.other_emotion(modality)
    absent = [e for e in spec.emotions if e not in (own, other)]
    if kind == "relevant":  # present, and it means the asked emotion
        return own, own
    if kind == "spurious":  # present, asked about the emotion the *other* modality expresses
        if clip.congruent:
            raise ValueError("a congruent clip has no spurious stress question")
        return own, other
    if kind == "hallucination":  # the asked emotion's typical cue, absent from the clip
        target = rng.choice(absent)
        return target, target
    if kind == UNRELATED:  # present, asked about an emotion the clip does not express
        return own, rng.choice(absent)
    raise ValueError(f"unknown stress kind {kind!r}")


def gold_stress(kind: str) -> str:
    return YES if kind == "relevant" else NO


def _stress_kinds(clips: Sequence[WorldClip], rng: random.Random) -> list[str]:
    """One kind per clip, balanced: spurious on incongruent clips, the rest split evenly."""
    n = len(clips)
    kinds: list[str | None] = [None] * n
    incongruent = [i for i, c in enumerate(clips) if not c.congruent]
    rng.shuffle(incongruent)
    n_spurious = min(len(incongruent), round(n / 3))
    for i in incongruent[:n_spurious]:
        kinds[i] = "spurious"
    rest = [i for i in range(n) if kinds[i] is None]
    rng.shuffle(rest)
    for j, i in enumerate(rest):
        kinds[i] = "relevant" if j % 2 == 0 else "hallucination"
    return [k for k in kinds if k is not None]


def benchmark_items(spec: WorldSpec, clips: Sequence[WorldClip]) -> list[dict[str, Any]]:
    """EmoReAlM-format items (the released schema + ``stress_kind``): five per clip."""
    rng = random.Random(f"{spec.seed}/benchmark")
    items: list[dict[str, Any]] = []
    options = choices(spec)
    kinds = {m: _stress_kinds(clips, rng) for m in ("audio", "visual")}

    def add(clip: WorldClip, task: str, question: str, opts: list[str], answer: str, **extra):
        items.append(
            {
                "id": f"{task}_{clip.id}",
                "video": f"part_1/{clip.id}.mp4",
                "task": task,
                "question": question,
                "choices": opts,
                "answer": answer,
                **extra,
            }
        )

    for j, clip in enumerate(clips):
        for task, modality in (
            ("reasoning_basic_audio", "audio"),
            ("reasoning_basic_video", "visual"),
        ):
            add(clip, task, basic_question(modality), options, letter(spec, clip.emotion(modality)))
        add(
            clip, "modality_agreement", AGREEMENT_QUESTION, list(YES_NO),
            YES if clip.congruent else NO,
        )  # fmt: skip
        for task, modality in (
            ("reasoning_stress_audio", "audio"),
            ("reasoning_stress_video", "visual"),
        ):
            kind = kinds[modality][j]
            cue_emotion, target = stress_case(spec, clip, modality, kind, rng)
            add(
                clip, task, stress_question(spec, modality, cue_emotion, target), list(YES_NO),
                gold_stress(kind), stress_kind=kind,
            )  # fmt: skip
    return items


# --- the starting model's corpus ---------------------------------------------------------


def pretraining_rows(spec: WorldSpec, clips: Sequence[WorldClip]) -> list[dict[str, Any]]:
    """Supervised warm-up rows ``{video, prompt, response, kind}``; ``video`` is ``None``
    for the text-only rows. The corpus biases are in the module docstring."""
    rng = random.Random(f"{spec.seed}/pretraining")
    options = choices(spec)
    rows: list[dict[str, Any]] = []
    for clip in clips:
        video = f"part_1/{clip.id}.mp4"
        for modality in ("audio", "visual"):
            rows.append(
                {"video": video, "prompt": prompt_of(basic_question(modality), options),
                 "response": letter(spec, clip.emotion(modality)), "kind": f"basic_{modality}"}
            )  # fmt: skip
        rows.append(
            {"video": video, "prompt": prompt_of(AGREEMENT_QUESTION, YES_NO),
             "response": YES if clip.congruent else NO, "kind": "agreement"}
        )  # fmt: skip
        for modality in ("audio", "visual"):
            kinds = ["relevant", "hallucination", UNRELATED]
            if not clip.congruent:
                kinds.append("spurious")
            for kind in kinds:
                cue_emotion, target = stress_case(spec, clip, modality, kind, rng)
                answer = gold_stress(kind)
                if kind == "hallucination" and rng.random() < spec.prior_hallucination_yes:
                    answer = YES
                if kind == "spurious" and rng.random() < spec.prior_spurious_yes:
                    answer = YES
                question = stress_question(spec, modality, cue_emotion, target)
                rows.append(
                    {"video": video, "prompt": prompt_of(question, YES_NO), "response": answer,
                     "kind": f"stress_{kind}"}
                )  # fmt: skip
    # the text prior: the vocabulary itself, with no clip (an LLM's text knowledge); each
    # typical pairing ("Yes") is repeated so that Yes and No are equally frequent
    others = len(spec.emotions) - 1
    for modality in ("audio", "visual"):
        for cue_emotion in spec.emotions:
            for target in spec.emotions:
                question = stress_question(spec, modality, cue_emotion, target)
                typical = cue_emotion == target
                row = {"video": None, "prompt": prompt_of(question, YES_NO),
                       "response": YES if typical else NO, "kind": "text_prior"}  # fmt: skip
                rows.extend([row] * (others if typical else 1))
    return rows


# --- preference data ---------------------------------------------------------------------


def preference_rows(
    spec: WorldSpec, clips: Sequence[WorldClip], media_root: Path
) -> list[dict[str, Any]]:
    """AVEm-DPO rows (SPEC §3.3) in the benchmark's format on ``clips``, correctly labelled.

    One row per benchmark-style question (five per clip). ``chosen`` is the grounded answer.
    Emotion questions: ``rejected`` (y_er) names an emotion neither modality expresses
    (hallucination) and ``rejected_2`` (y_vr) the emotion of the *other* modality's cue when
    it differs (spurious: present, but not what was asked). Yes/no questions have the other
    answer as their one negative. ``modality`` is what the question asks about; ``emotion`` the
    label of that modality's cue (the trainer draws PMP's mismatched input by label).
    """
    by_id = {clip.id: clip for clip in clips}
    rng = random.Random(f"{spec.seed}/preference")
    rows = []
    for item in benchmark_items(replace(spec, seed=spec.seed + 1000), clips):
        clip = by_id[int(Path(item["video"]).stem)]
        modality = _MODALITY_OF_TASK[item["task"]]
        asked = clip.visual_emotion if modality == "audiovisual" else clip.emotion(modality)
        row: dict[str, Any] = {
            "id": f"pref_{item['id']}",
            "prompt": "<video>\n<audio>\n" + prompt_of(item["question"], item["choices"]),
            "chosen": item["answer"],
            "video": str(clip.path.relative_to(media_root)),
            "modality": modality,
            "emotion": asked,
        }
        if item["task"].startswith("reasoning_basic"):
            other = clip.other_emotion(modality)
            absent = [e for e in spec.emotions if e not in (asked, other)]
            row["rejected"] = letter(spec, rng.choice(absent))
            if other != asked:
                row["rejected_2"] = letter(spec, other)
        else:
            row["rejected"] = NO if item["answer"] == YES else YES
        rows.append(row)
    return rows


# --- files ---------------------------------------------------------------------------------


@dataclass
class WorldFiles:
    """Where :func:`write_world` put a world's data."""

    root: Path
    spec: WorldSpec
    bench_root: Path
    questions: Path
    pref_root: Path
    prefs: Path
    pretrain_root: Path
    pretrain_rows: list[dict[str, Any]]


def write_world(spec: WorldSpec, root: Path) -> WorldFiles:
    """Write all of ``spec``'s data under ``root`` (clips, questions, preferences, corpus)."""
    bench_root, pref_root, pretrain_root = root / "bench", root / "prefs", root / "pretrain"
    eval_clips = write_clips(spec, bench_root, "eval")
    questions = root / "emorealm_world.json"
    questions.write_text(json.dumps(benchmark_items(spec, eval_clips), indent=1), encoding="utf-8")
    pref_clips = write_clips(spec, pref_root, "preference", first_id=10_000)
    prefs = write_jsonl(root / "prefs.jsonl", preference_rows(spec, pref_clips, pref_root))
    pretrain_clips = write_clips(spec, pretrain_root, "pretraining", first_id=20_000)
    rows = pretraining_rows(spec, pretrain_clips)
    write_jsonl(root / "pretraining.jsonl", rows)
    (root / "world.json").write_text(json.dumps(spec.describe(), indent=1), encoding="utf-8")
    return WorldFiles(root, spec, bench_root, questions, pref_root, prefs, pretrain_root, rows)


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return path
