"""PMP's mismatched input: data → label → batch → noise, never the sample's own media."""

from __future__ import annotations

import logging

import pytest

from avem_plugins.dpo.mismatch import (
    MismatchChoice,
    MismatchError,
    MismatchSelector,
    check_not_identity,
)


def sample(i, *, modality="audiovisual", emotion=None, audio=True, **extra):
    row = {
        "id": f"s{i}",
        "video": f"/m/v{i}.mp4",
        "audio": f"/m/a{i}.wav" if audio else None,
        "video_l": None,
        "audio_l": None,
        "modality": modality,
        "emotion": emotion,
    }
    row.update(extra)
    return row


def test_data_source_first():
    s = sample(0, video_l="/m/x.mp4", audio_l="/m/x.wav")
    (c,) = MismatchSelector().choose([s])
    assert c == MismatchChoice("data", True, True, "/m/x.mp4", "/m/x.wav", False, None)


def test_data_audio_defaults_to_the_track_of_video_l():
    s = sample(0, modality="audio", video_l="/m/x.mp4")
    (c,) = MismatchSelector().choose([s])
    assert (c.source, c.swap_audio, c.swap_video) == ("data", True, False)
    assert (c.audio_path, c.audio_in_video, c.video_path) == ("/m/x.mp4", True, None)


@pytest.mark.parametrize(
    ("modality", "swap_audio", "swap_video"),
    [("audio", True, False), ("visual", False, True), ("audiovisual", True, True)],
)
def test_only_the_asked_modality_is_swapped(modality, swap_audio, swap_video):
    s = sample(0, modality=modality, video_l="/m/x.mp4", audio_l="/m/x.wav")
    (c,) = MismatchSelector().choose([s])
    assert (c.swap_audio, c.swap_video) == (swap_audio, swap_video)
    assert (c.video_path is not None) == swap_video
    assert (c.audio_path is not None) == swap_audio


def test_modality_not_fed_has_nothing_to_swap():
    s = sample(0, modality="audio", video_l="/m/x.mp4")
    assert MismatchSelector(fed=frozenset({"video"})).choose([s]) == [None]


def test_missing_modality_has_nothing_to_swap():
    audio_only = sample(0, modality="visual", video=None, video_l="/m/x.mp4")
    assert MismatchSelector().choose([audio_only]) == [None]
    # an audiovisual prompt on an audio-only sample swaps the audio only
    (c,) = MismatchSelector().choose([dict(audio_only, modality="audiovisual", audio_l="/m/x.wav")])
    assert (c.swap_audio, c.swap_video) == (True, False)


def test_label_source_picks_a_different_emotion():
    pool = [sample(i, emotion=e) for i, e in enumerate(["happy", "happy", "sad", "angry"])]
    sel = MismatchSelector(pool, seed=3)
    for _ in range(3):
        (c,) = sel.choose([pool[0]])
        assert c.source == "label" and c.partner in {"s2", "s3"}
    # deterministic for a seed
    assert MismatchSelector(pool, seed=3).choose([pool[0]]) == sel.choose([pool[0]])
    assert sel.counts["label"] == 4


def test_label_source_lends_the_track_when_the_partner_has_no_audio_file():
    pool = [sample(0, emotion="happy"), sample(1, emotion="sad", audio=False)]
    (c,) = MismatchSelector(pool, source="label").choose([pool[0]])
    assert (c.audio_path, c.audio_in_video, c.video_path) == ("/m/v1.mp4", True, "/m/v1.mp4")


def test_batch_roll_skips_same_label_partners():
    batch = [sample(0, emotion="happy"), sample(1, emotion="happy"), sample(2, emotion="sad")]
    choices = MismatchSelector(source="batch").choose(batch)
    assert [c.partner for c in choices] == ["s2", "s2", "s0"]


def test_batch_of_one_is_detected_not_silent():
    with pytest.raises(
        MismatchError, match="per-device batch 1: the in-batch roll is the identity"
    ):
        MismatchSelector(source="batch").choose([sample(0)])


def test_batch_of_duplicates_is_detected():
    twin = sample(0)
    with pytest.raises(MismatchError, match="own media"):
        MismatchSelector(source="batch").choose([twin, dict(twin, id="s0b")])


def test_auto_falls_back_to_noise_loudly_at_batch_one(caplog):
    sel = MismatchSelector(source="auto")
    with caplog.at_level(logging.WARNING, logger="avem_plugins.dpo.mismatch"):
        (c,) = sel.choose([sample(0)])
    assert c.source == "noise" and c.video_path is None and c.audio_path is None
    assert "falls back to 'noise'" in caplog.text and "per-device batch 1" in caplog.text
    assert sel.counts == {"data": 0, "label": 0, "batch": 0, "noise": 1}


def test_auto_order_data_label_batch():
    pool = [sample(0, emotion="happy"), sample(1, emotion="sad")]
    batch = [
        sample(0, emotion="happy", video_l="/m/x.mp4", audio_l="/m/x.wav"),  # data
        sample(1, emotion="sad"),  # label
        sample(2),  # batch (no label)
    ]
    sel = MismatchSelector(pool)
    assert [c.source for c in sel.choose(batch)] == ["data", "label", "batch"]


def test_data_equal_to_own_media_falls_back():
    s = sample(0, video_l="/m/v0.mp4", audio_l="/m/a0.wav")
    with pytest.raises(MismatchError, match="equal the sample's own media"):
        MismatchSelector(source="data").choose([s])
    (c,) = MismatchSelector().choose([s])
    assert c.source == "noise"


def test_check_not_identity_catches_own_track():
    s = sample(0, audio=False)
    with pytest.raises(MismatchError, match="own audio"):
        check_not_identity(s, MismatchChoice("batch", True, False, None, "/m/v0.mp4", True))
    with pytest.raises(MismatchError, match="own video"):
        check_not_identity(s, MismatchChoice("batch", False, True, "/m/v0.mp4"))


def test_forced_label_without_labels_names_the_sample():
    with pytest.raises(MismatchError, match=r"sample 's0'.*no 'emotion' label"):
        MismatchSelector(source="label").choose([sample(0)])
