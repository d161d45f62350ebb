"""DataCollatorForAVPreference on literal tensors, with a recording adapter and fake media."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from avem_plugins.adapters.base import Example, ModelAdapter
from avem_plugins.dpo.collator import (
    CHOSEN,
    CHOSEN_MISMATCHED,
    REJECTED,
    REJECTED_2,
    DataCollatorForAVPreference,
    fit_audio,
    fit_frames,
)
from avem_plugins.dpo.mismatch import MismatchError, MismatchSelector
from avem_plugins.media import Media

VOCAB = {
    w: i + 3
    for i, w in enumerate(["how", "does", "she", "feel", "happy", "sad", "calm", "loud", "dark"])
}
# Each clip's frames are filled with one value and its audio with another, so the media a
# row received can be read back from the tensors.
VIDEO_VALUE = {"/m/v0.mp4": 10, "/m/v1.mp4": 11, "/m/x.mp4": 12, "/m/copy_of_v0.mp4": 10}
AUDIO_VALUE = {"/m/a0.wav": 0.5, "/m/x.wav": 0.25}
TRACK_VALUE = {"/m/v0.mp4": 0.1, "/m/v1.mp4": 0.2, "/m/x.mp4": 0.3, "/m/copy_of_v0.mp4": 0.1}


@dataclass
class FakeClip:
    frames: np.ndarray | None
    audio: np.ndarray | None
    in_video: bool

    def to_media(self) -> Media:
        return Media(self.frames, self.audio, 16000, self.in_video, key="k")


def fake_decode(
    video=None,
    audio=None,
    *,
    num_frames,
    sample_rate,
    want_video,
    want_audio,
    missing_audio,
    backend="auto",
):
    frames = np.full((num_frames, 4, 4, 3), VIDEO_VALUE[video], np.uint8) if want_video else None
    sound = None
    if want_audio:
        sound = np.full(8, AUDIO_VALUE[audio] if audio else TRACK_VALUE[video], np.float32)
    return FakeClip(frames, sound, audio is None and want_audio)


class RecordingAdapter(ModelAdapter):
    """Tokenises words with VOCAB (prompt + response, right-padded with 0) and reports media."""

    name = "recording"

    def load(self, pretrained, **kwargs):  # pragma: no cover - not used
        raise NotImplementedError

    def generation_inputs(self, processor, examples, *, modalities):  # pragma: no cover
        raise NotImplementedError

    def training_rows(self, processor, examples, *, modalities, max_length=None):
        self.calls.append((list(examples), modalities))
        rows = []
        for ex in examples:
            prompt = [1] + [VOCAB[w] for w in ex.prompt.lower().rstrip("?").split()]
            response = [VOCAB[w] for w in ex.response.split()] + [2]
            rows.append((prompt, response))
        width = max(len(p) + len(r) for p, r in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        comp = torch.zeros_like(ids)
        for i, (p, r) in enumerate(rows):
            ids[i, : len(p) + len(r)] = torch.tensor(p + r)
            comp[i, len(p) : len(p) + len(r)] = 1
        out = {"input_ids": ids, "attention_mask": (ids != 0).long(), "completion_mask": comp}
        if modalities:
            out["video_value"] = torch.tensor(
                [
                    -1 if ex.media.frames is None else int(ex.media.frames[0, 0, 0, 0])
                    for ex in examples
                ]
            )
            out["audio_value"] = torch.tensor(
                [-1.0 if ex.media.audio is None else float(ex.media.audio[0]) for ex in examples]
            )
        return out

    def __init__(self):
        self.calls: list[tuple[list[Example], frozenset[str]]] = []


def row(i, **over):
    base = {
        "id": f"s{i}",
        "prompt": "How does she feel?",
        "chosen": "happy",
        "rejected": "sad",
        "rejected_2": None,
        "video": f"/m/v{i}.mp4",
        "audio": None,
        "video_l": None,
        "audio_l": None,
        "modality": "audiovisual",
        "modality_inferred": False,
        "emotion": None,
    }
    base.update(over)
    return base


def collator(**kw) -> DataCollatorForAVPreference:
    kw.setdefault("num_frames", 2)
    return DataCollatorForAVPreference(
        adapter=RecordingAdapter(), processor=None, decode=fake_decode, **kw
    )


def test_rows_layout_literal():
    batch = [
        row(0, audio="/m/a0.wav", rejected_2="dark", video_l="/m/x.mp4", audio_l="/m/x.wav"),
        row(1, modality="audio", chosen="calm", rejected="loud", video_l="/m/x.mp4"),
    ]
    out = collator()(batch)
    assert out["sample_ids"] == ["s0", "s1"]
    assert out["has_rejected_2"].tolist() == [True, False]
    assert out["has_mismatched"].tolist() == [True, True]
    assert out["mismatch_source"] == ["data", "data"]
    assert out["media_row_sample"].tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert out["media_row_kind"].tolist() == [
        CHOSEN, REJECTED, REJECTED_2, CHOSEN_MISMATCHED, CHOSEN, REJECTED, CHOSEN_MISMATCHED,
    ]  # fmt: skip
    h, d, s, f = VOCAB["how"], VOCAB["does"], VOCAB["she"], VOCAB["feel"]
    hp, sd, dk, cm, ld = (VOCAB[w] for w in ("happy", "sad", "dark", "calm", "loud"))
    media = out["media_rows"]
    assert media["input_ids"].tolist() == [
        [1, h, d, s, f, hp, 2],
        [1, h, d, s, f, sd, 2],
        [1, h, d, s, f, dk, 2],
        [1, h, d, s, f, hp, 2],
        [1, h, d, s, f, cm, 2],
        [1, h, d, s, f, ld, 2],
        [1, h, d, s, f, cm, 2],
    ]
    assert media["completion_mask"].tolist() == [[0, 0, 0, 0, 0, 1, 1]] * 7
    # s0 asks about both modalities: its swapped row gets video_l and audio_l;
    # s1 asks about audio: its swapped row keeps its own video, with video_l's track as audio
    assert media["video_value"].tolist() == [10, 10, 10, 12, 11, 11, 11]
    assert media["audio_value"].tolist() == pytest.approx([0.5, 0.5, 0.5, 0.25, 0.2, 0.2, 0.3])
    # text-only rows: y_w, y_er (and y_vr) on the prompt with no media
    assert out["text_row_sample"].tolist() == [0, 0, 0, 1, 1]
    assert out["text_row_kind"].tolist() == [CHOSEN, REJECTED, REJECTED_2, CHOSEN, REJECTED]
    assert out["text_rows"]["completion_mask"].tolist() == [[0, 0, 0, 0, 0, 1, 1]] * 5
    assert "video_value" not in out["text_rows"]


def test_text_rows_drop_media_markers_and_media():
    c = collator()
    c([row(0, prompt="<video>\n<audio>\nHow does she feel?", video_l="/m/x.mp4")])
    (media_call, text_call) = c.adapter.calls
    assert text_call[1] == frozenset()
    assert all(ex.prompt == "How does she feel?" for ex in text_call[0])
    assert all(ex.media.frames is None and ex.media.audio is None for ex in text_call[0])
    assert [ex.id for ex in media_call[0]] == ["s0/chosen", "s0/rejected", "s0/chosen_mismatched"]


def test_switched_off_terms_build_no_rows():
    out = collator(text_rows=False, swap_rows=False)([row(0, video_l="/m/x.mp4")])
    assert "text_rows" not in out
    assert out["media_row_kind"].tolist() == [CHOSEN, REJECTED]
    assert out["has_mismatched"].tolist() == [False]
    assert out["mismatch_source"] == ["none"]


def test_zero_weight_second_negative_builds_no_rows():
    out = collator(rejected_2_rows=False)([row(0, rejected_2="dark", video_l="/m/x.mp4")])
    assert out["has_rejected_2"].tolist() == [False]
    assert REJECTED_2 not in out["media_row_kind"].tolist()
    assert REJECTED_2 not in out["text_row_kind"].tolist()


def test_batch_of_one_uses_noise_of_the_same_shape_deterministically():
    c = collator()
    out1 = c([row(0)])
    out2 = c([row(0)])
    assert out1["mismatch_source"] == ["noise"]
    v = out1["media_rows"]["video_value"].tolist()
    a = out1["media_rows"]["audio_value"].tolist()
    assert v[:2] == [10, 10] and a[:2] == pytest.approx([0.1, 0.1])
    assert (v[2], a[2]) != (10, pytest.approx(0.1))  # the swapped row is not the sample's own media
    assert torch.equal(out1["media_rows"]["audio_value"], out2["media_rows"]["audio_value"])
    assert torch.equal(out1["media_rows"]["video_value"], out2["media_rows"]["video_value"])


def test_forced_batch_source_at_batch_one_raises():
    c = collator(mismatch=MismatchSelector(source="batch"))
    with pytest.raises(MismatchError, match="in-batch roll is the identity"):
        c([row(0)])


def test_in_batch_roll_swaps_partners_media():
    c = collator(mismatch=MismatchSelector(source="batch"))
    out = c([row(0, modality="visual"), row(1, modality="visual")])
    kinds = out["media_row_kind"].tolist()
    swapped = [i for i, k in enumerate(kinds) if k == CHOSEN_MISMATCHED]
    assert out["media_rows"]["video_value"][swapped].tolist() == [11, 10]
    # visual prompt: the audio (own track) is kept
    assert out["media_rows"]["audio_value"][swapped].tolist() == pytest.approx([0.1, 0.2])


def test_modality_not_fed_has_no_swap_row():
    out = collator(modalities=frozenset({"video"}))([row(0, modality="audio", video_l="/m/x.mp4")])
    assert out["has_mismatched"].tolist() == [False]
    assert CHOSEN_MISMATCHED not in out["media_row_kind"].tolist()


def test_duplicate_clip_under_another_name_is_caught(caplog):
    dup = row(0, modality="visual", video_l="/m/copy_of_v0.mp4")
    with pytest.raises(MismatchError, match="decodes to the sample's own media"):
        collator(mismatch=MismatchSelector(source="data"))([dup])
    with caplog.at_level("WARNING", logger="avem_plugins.dpo.collator"):
        out = collator()([dup])
    assert out["mismatch_source"] == ["noise"] and "using noise" in caplog.text
    swapped = out["media_row_kind"].tolist().index(CHOSEN_MISMATCHED)
    assert out["media_rows"]["video_value"][swapped].item() != 10


def test_unnormalised_rows_get_a_clear_error():
    with pytest.raises(ValueError, match=r"lack \['id'.*avem_plugins.prefs.schema"):
        collator()([{"prompt": "p", "chosen": "a", "rejected": "b"}])


def test_fit_audio_and_frames():
    assert fit_audio(np.arange(3, dtype=np.float32), 7).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert fit_audio(np.arange(5, dtype=np.float32), 2).tolist() == [0, 1]
    frames = np.zeros((3, 6, 8, 3), np.uint8)
    like = np.zeros((4, 4, 4, 3), np.uint8)
    assert fit_frames(frames, like).shape == (4, 4, 4, 3)
