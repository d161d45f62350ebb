"""The demo's synthetic world: benchmark items in the released schema, valid preference rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from avem_plugins.prefs.schema import load_preferences
from avem_plugins.scoring.answers import parse_choice
from avem_plugins.testing import demo_data

CLIPS = [
    demo_data.WorldClip(i + 1, Path(f"/root/part_1/{i + 1}.mp4"), visual, audio)
    for i, (visual, audio) in enumerate(
        [
            ("happiness", "happiness"),
            ("sadness", "anger"),
            ("anger", "anger"),
            ("neutral", "sadness"),
        ]
    )
]


def test_benchmark_items_follow_the_released_schema():
    items = demo_data.benchmark_items(CLIPS)
    assert len(items) == 5 * len(CLIPS)
    assert len({i["id"] for i in items}) == len(items)
    assert {i["task"] for i in items} == {
        "reasoning_basic_audio", "reasoning_basic_video", "modality_agreement",
        "reasoning_stress_audio", "reasoning_stress_video",
    }  # fmt: skip
    for item in items:
        assert set(item) >= {"id", "video", "task", "question", "choices", "answer"}
        # the gold letter is one of the choices, as the scorer requires
        assert parse_choice(item["answer"], item["choices"]).letter == item["answer"]


def test_gold_answers_follow_the_cues():
    items = {(i["task"], i["video"]): i for i in demo_data.benchmark_items(CLIPS)}
    incongruent = items[("reasoning_basic_audio", "part_1/2.mp4")]
    assert incongruent["answer"] == "C"  # anger: the audio cue, not the sad visual
    assert items[("reasoning_basic_video", "part_1/2.mp4")]["answer"] == "B"
    assert items[("modality_agreement", "part_1/2.mp4")]["answer"] == "B"
    assert items[("modality_agreement", "part_1/1.mp4")]["answer"] == "A"


def test_stress_kinds_and_their_answers():
    items = [i for i in demo_data.benchmark_items(CLIPS) if "stress" in i["task"]]
    for item in items:
        expected = "A" if item["stress_kind"] == "relevant" else "B"
        assert item["answer"] == expected, item


def test_preference_rows_load_through_the_trainer_schema(tmp_path):
    root = tmp_path / "media"
    (root / "part_1").mkdir(parents=True)
    clips = [
        demo_data.WorldClip(
            c.id, root / "part_1" / f"{c.id}.mp4", c.visual_emotion, c.audio_emotion
        )
        for c in CLIPS
    ]
    for clip in clips:
        clip.path.write_bytes(b"")
    rows = demo_data.preference_rows(clips, root)
    path = demo_data.write_jsonl(tmp_path / "prefs.jsonl", rows)
    samples = load_preferences(path, root)
    assert len(samples) == len(rows) == 5 * len(clips)
    for sample in samples:
        assert sample.chosen != sample.rejected
        assert sample.rejected_2 in (None,) or sample.rejected_2 not in (
            sample.chosen,
            sample.rejected,
        )
        assert not sample.modality_inferred
        assert sample.prompt.startswith("Which") or sample.prompt.startswith(("Do", "The"))
    # a spurious negative exists exactly where the other modality's cue means something else
    spurious = [s for s in samples if s.rejected_2]
    assert {s.video for s in spurious} == {
        str(root / "part_1" / "2.mp4"),
        str(root / "part_1" / "4.mp4"),
    }


@pytest.mark.parametrize("clip_index", [0, 1])
def test_warmup_rows_answer_with_letters(clip_index):
    rows = demo_data.warmup_rows(CLIPS[clip_index : clip_index + 1])
    assert rows and all(r["response"] in "ABCD" for r in rows)
