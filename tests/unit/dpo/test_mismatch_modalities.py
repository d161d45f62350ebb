"""``mismatch_modalities``: swap the prompt's modality (PMP) or always a fixed set (Vista-DPO)."""

from __future__ import annotations

import pytest

from avem_plugins.dpo.mismatch import MismatchError, MismatchSelector


def sample(i, modality, *, video=True):
    return {
        "id": f"s{i}",
        "video": f"/m/v{i}.mp4" if video else None,
        "audio": f"/m/a{i}.wav",
        "video_l": f"/m/x{i}.mp4",
        "audio_l": f"/m/x{i}.wav",
        "modality": modality,
        "emotion": None,
    }


PROMPTS = ["audio", "visual", "audiovisual"]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("prompt", [(True, False), (False, True), (True, True)]),  # PMP: the prompt decides
        ("video", [(False, True)] * 3),  # Vista-DPO: the whole visual input
        ("audio", [(True, False)] * 3),
        ("av", [(True, True)] * 3),
    ],
)
def test_swapped_media_per_mode(mode, expected):
    rows = [sample(i, m) for i, m in enumerate(PROMPTS)]
    choices = MismatchSelector(modalities=mode).choose(rows)
    assert [(c.swap_audio, c.swap_video) for c in choices] == expected
    for c in choices:  # data source: the swapped media come from video_l / audio_l
        assert (c.video_path is not None) == c.swap_video
        assert (c.audio_path is not None) == c.swap_audio


def test_noise_with_video_mode_swaps_only_the_video():
    rows = [sample(i, m) for i, m in enumerate(PROMPTS)]
    choices = MismatchSelector(source="noise", modalities="video").choose(rows)
    assert [(c.source, c.swap_audio, c.swap_video) for c in choices] == [("noise", False, True)] * 3


def test_a_fixed_mode_still_swaps_only_what_is_fed_and_present():
    assert MismatchSelector(modalities="video", fed=frozenset({"audio"})).choose(
        [sample(0, "visual")]
    ) == [None]
    (c,) = MismatchSelector(modalities="av").choose([sample(0, "visual", video=False)])
    assert (c.swap_audio, c.swap_video) == (True, False)  # an audio-only sample: no video


def test_unknown_mode_is_an_error():
    with pytest.raises(MismatchError, match="mismatch modalities must be one of"):
        MismatchSelector(modalities="frames")


def test_config_field_is_validated_and_defaults_to_the_prompt():
    pytest.importorskip("trl")
    from avem_plugins.dpo.config import AVEmDPOConfig

    base = {"output_dir": "/tmp/x", "use_cpu": True, "bf16": False, "report_to": "none"}
    assert AVEmDPOConfig(**base).mismatch_modalities == "prompt"
    assert AVEmDPOConfig(**base, mismatch_modalities="video").mismatch_modalities == "video"
    with pytest.raises(ValueError, match="mismatch_modalities must be one of"):
        AVEmDPOConfig(**base, mismatch_modalities="frames")
