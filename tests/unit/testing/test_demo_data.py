"""The cue world: benchmark items in the released schema, the corpus biases, preference rows."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from avem_plugins.prefs.schema import load_preferences
from avem_plugins.scoring.answers import parse_choice
from avem_plugins.testing import demo_data

SPEC = demo_data.get_world("A")
PAIRS = [("happiness", "happiness"), ("sadness", "anger"), ("anger", "anger"), ("neutral", "sadness"),
         ("happiness", "sadness"), ("sadness", "sadness")]  # fmt: skip
CLIPS = [
    demo_data.WorldClip(i + 1, Path(f"/root/part_1/{i + 1}.mp4"), visual, audio)
    for i, (visual, audio) in enumerate(PAIRS)
]


def test_benchmark_items_follow_the_released_schema():
    items = demo_data.benchmark_items(SPEC, CLIPS)
    assert len(items) == 5 * len(CLIPS)
    assert len({i["id"] for i in items}) == len(items)
    assert Counter(i["task"] for i in items) == {
        "reasoning_basic_audio": 6, "reasoning_basic_video": 6, "modality_agreement": 6,
        "reasoning_stress_audio": 6, "reasoning_stress_video": 6,
    }  # fmt: skip
    for item in items:
        assert set(item) >= {"id", "video", "task", "question", "choices", "answer"}
        assert parse_choice(item["answer"], item["choices"]).letter == item["answer"]


def test_gold_answers_follow_the_cues():
    items = {(i["task"], i["video"]): i for i in demo_data.benchmark_items(SPEC, CLIPS)}
    assert items[("reasoning_basic_audio", "part_1/2.mp4")]["answer"] == "C"  # the anger tone
    assert items[("reasoning_basic_video", "part_1/2.mp4")]["answer"] == "B"  # the sad square
    assert items[("modality_agreement", "part_1/2.mp4")]["answer"] == "B"
    assert items[("modality_agreement", "part_1/1.mp4")]["answer"] == "A"


def test_stress_kinds_are_balanced_and_mean_what_they_say():
    items = [i for i in demo_data.benchmark_items(SPEC, CLIPS) if "stress" in i["task"]]
    by_clip = {c.id: c for c in CLIPS}
    for task in ("reasoning_stress_audio", "reasoning_stress_video"):
        kinds = Counter(i["stress_kind"] for i in items if i["task"] == task)
        assert kinds == {"relevant": 2, "spurious": 2, "hallucination": 2}
    for item in items:
        clip = by_clip[int(Path(item["video"]).stem)]
        modality = "audio" if item["task"].endswith("audio") else "visual"
        own, other = clip.emotion(modality), clip.other_emotion(modality)
        target = item["question"].split("contribute to the ")[1].split(" expressed")[0]
        assert item["answer"] == ("A" if item["stress_kind"] == "relevant" else "B")
        if item["stress_kind"] == "relevant":
            assert target == own and SPEC.caption(own, modality) in item["question"]
        elif item["stress_kind"] == "spurious":
            assert not clip.congruent and target == other != own
            assert SPEC.caption(own, modality) in item["question"]
        else:  # the asked emotion's own cue, and the clip expresses that emotion nowhere
            assert target not in (own, other)
            assert SPEC.caption(target, modality) in item["question"]


def test_pretraining_corpus_plants_the_declared_biases():
    rows = demo_data.pretraining_rows(SPEC, CLIPS * 20)
    by_kind: dict[str, Counter] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], Counter())[row["response"]] += 1
    yes = {k: c["A"] / (c["A"] + c["B"]) for k, c in by_kind.items() if k.startswith("stress")}
    assert yes["stress_relevant"] == 1.0 and yes["stress_unrelated"] == 0.0
    assert yes["stress_hallucination"] == pytest.approx(SPEC.prior_hallucination_yes, abs=0.08)
    assert yes["stress_spurious"] == pytest.approx(SPEC.prior_spurious_yes, abs=0.08)
    text = [r for r in rows if r["video"] is None]
    assert Counter(r["response"] for r in text) == {"A": 24, "B": 24}
    assert by_kind["basic_audio"] and all(r["response"] in "ABCD" for r in rows)


def test_preference_rows_load_through_the_trainer_schema(tmp_path):
    root = tmp_path / "media"
    (root / "part_1").mkdir(parents=True)
    clips = [demo_data.WorldClip(c.id, root / "part_1" / f"{c.id}.mp4", c.visual_emotion,
                                 c.audio_emotion) for c in CLIPS]  # fmt: skip
    for clip in clips:
        clip.path.write_bytes(b"")
    rows = demo_data.preference_rows(SPEC, clips, root)
    samples = load_preferences(demo_data.write_jsonl(tmp_path / "prefs.jsonl", rows), root)
    assert len(samples) == len(rows) == 5 * len(clips)
    for sample in samples:
        assert sample.chosen != sample.rejected
        assert sample.rejected_2 is None or sample.rejected_2 not in (
            sample.chosen,
            sample.rejected,
        )
        assert not sample.modality_inferred
    # a spurious negative exists exactly on the emotion questions of incongruent clips
    spurious = {s.video for s in samples if s.rejected_2}
    assert spurious == {str(c.path) for c in clips if not c.congruent}


def test_worlds_differ_in_seed_and_vocabulary():
    a, b = demo_data.get_world("A"), demo_data.get_world("B")
    assert a.seed != b.seed
    assert not {v for _, v, _ in a.vocabulary} & {v for _, v, _ in b.vocabulary}
    assert not {x for _, _, x in a.vocabulary} & {x for _, _, x in b.vocabulary}
    with pytest.raises(KeyError, match="unknown world"):
        demo_data.get_world("Z")
