"""Adapters without a model: selection, options, request parsing, encode-once helpers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from avem_plugins import registry as adapters
from avem_plugins.adapters.base import AdapterError, Example
from avem_plugins.lmms import requests as lmreq
from avem_plugins.media import Media
from avem_plugins.modality import parse_modalities
from avem_plugins.registry import get_adapter

# ---------------------------------------------------------------- selection and options


def test_builtin_adapters_are_registered_through_the_plugin_hook():
    found = adapters.available_adapters()
    assert {"qwen2_5_omni", "qwen3_omni", "hf_generic"} <= set(found)


@pytest.mark.parametrize(
    ("model_type", "name"),
    [
        ("qwen2_5_omni", "qwen2_5_omni"),
        ("qwen2_5_omni_thinker", "qwen2_5_omni"),
        ("qwen3_omni_moe", "qwen3_omni"),
        ("qwen3_omni_moe_thinker", "qwen3_omni"),
        ("qwen2_5_vl", "hf_generic"),
        ("qwen2_audio", "hf_generic"),
    ],
)
def test_auto_picks_the_adapter_from_the_config(model_type, name):
    assert get_adapter("auto", SimpleNamespace(model_type=model_type)).name == name


def test_auto_without_a_match_says_what_to_do():
    with pytest.raises(AdapterError, match="adapter=hf_generic"):
        get_adapter("auto", SimpleNamespace(model_type="bert"))


def test_a_family_adapter_wins_over_a_matching_fallback(monkeypatch):
    class Generic(adapters.ModelAdapter):
        name, fallback, model_types = "g", True, ("fam",)
        load = generation_inputs = training_rows = None  # type: ignore[assignment]

    class Family(Generic):
        name, fallback = "f", False

    Generic.__abstractmethods__ = frozenset()
    monkeypatch.setattr(adapters, "available_adapters", lambda: {"g": Generic, "f": Family})
    assert get_adapter("auto", SimpleNamespace(model_type="fam")).name == "f"


def test_options_reach_the_adapter_and_unknown_ones_are_refused():
    omni = get_adapter("qwen2_5_omni", video_max_pixels=4096, interleave_audio_in_video="false")
    assert omni.video_max_pixels == 4096
    assert omni.interleave_audio_in_video is False
    with pytest.raises(TypeError):
        get_adapter("qwen2_5_omni", no_such_option=1)


def test_adapters_without_options_refuse_them():
    class Plain(adapters.ModelAdapter):
        name = "plain"
        load = generation_inputs = training_rows = None  # type: ignore[assignment]

    Plain.__abstractmethods__ = frozenset()
    with pytest.raises(AdapterError, match="takes no options"):
        Plain(video_max_pixels=1)


# ---------------------------------------------------------------- Qwen-Omni layout rules


def _media(*, video=True, audio=True, own_track=True, seconds=2.0, frame_rate=None) -> Media:
    frames = np.zeros((8, 4, 4, 3), np.uint8) if video else None
    wave = np.zeros(int(16000 * seconds), np.float32) if audio else None
    return Media(frames=frames, audio=wave, audio_in_video=own_track, frame_rate=frame_rate)


def test_omni_batch_key_separates_interleaved_from_plain_video():
    omni = get_adapter("qwen2_5_omni")
    av, video, audio = parse_modalities("av"), parse_modalities("video"), parse_modalities("audio")
    own = Example("q", _media())
    separate = Example("q", _media(own_track=False))
    assert omni.batch_key(own, av) == "interleaved"
    assert omni.batch_key(separate, av) == "video"
    assert omni.batch_key(own, video) == "video"
    assert omni.batch_key(own, audio) == "any"
    assert omni.batch_key(own, parse_modalities("text")) == "any"
    off = get_adapter("qwen2_5_omni", interleave_audio_in_video=False)
    assert off.batch_key(own, av) == "video"


def test_omni_frame_rate_comes_from_the_media_or_the_clip_track():
    omni = get_adapter("qwen3_omni")
    assert omni.frame_rate(_media(seconds=2.0)) == pytest.approx(4.0)  # 8 frames / 2 s
    assert omni.frame_rate(_media(seconds=2.0, frame_rate=3.0)) == 3.0
    assert omni.frame_rate(_media(own_track=False)) is None  # a separate file: unknown
    assert omni.frame_rate(_media(audio=False)) is None


# ---------------------------------------------------------------- lmms-eval requests

TASKS = {"t": {"test": [{"v": "/d/clip.mp4", "a": "/d/clip.wav", "q": "How?"}]}}


def _simple(visuals):
    return lmreq.from_simple(
        0, ("How?", {"max_new_tokens": 3}, lambda doc: visuals, 0, "t", "test"), TASKS
    )


def _chat(messages):
    return lmreq.from_chat(0, ("ctx", lambda doc: messages, {}, 0, "t", "test"), TASKS)


def test_simple_form_classifies_paths_by_extension():
    req = _simple(["/d/clip.mp4", "/d/clip.wav"])
    assert (req.video, req.audio, req.audio_from_video) == ("/d/clip.mp4", "/d/clip.wav", False)
    req = _simple(["/d/clip.MKV"])
    assert (req.video, req.audio, req.audio_from_video) == ("/d/clip.MKV", None, True)
    req = _simple(["/d/only.flac"])
    assert (req.video, req.audio, req.audio_from_video) == (None, "/d/only.flac", False)
    assert req.prompt == "How?" and req.gen_kwargs == {"max_new_tokens": 3}


def test_simple_form_takes_lmms_eval_audio_arrays():
    audio = {"array": np.zeros(10, np.float32), "sampling_rate": 8000}
    req = _simple([audio])
    assert req.audio is audio and req.video is None


def test_simple_form_errors_name_the_problem_instead_of_dropping_media():
    assert "extension" in _simple(["/d/clip.txt"]).error
    assert "image" in _simple([{"type": "image", "url": "/d/x.png"}]).error
    assert "at most one video" in _simple(["/d/a.mp4", "/d/b.mp4"]).error


def test_chat_form_reads_separate_video_and_audio_items():
    req = _chat(
        [
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {
                "role": "user",
                "content": [
                    {"type": "video", "url": "/d/clip.mp4"},
                    {"type": "audio", "url": "/d/clip.wav"},
                    {"type": "text", "text": "How does she feel?"},
                ],
            },
        ]
    )
    assert req.error is None
    assert req.system == "Be brief." and req.prompt == "How does she feel?"
    assert (req.video, req.audio, req.audio_from_video) == ("/d/clip.mp4", "/d/clip.wav", False)


def test_chat_form_audio_url_equal_to_the_video_means_its_own_track():
    req = _chat(
        [
            {
                "role": "user",
                "content": [
                    {"type": "video", "url": "/d/clip.mp4"},
                    {"type": "audio", "url": "/d/clip.mp4"},
                    {"type": "text", "text": "q"},
                ],
            }
        ]
    )
    assert (req.video, req.audio, req.audio_from_video) == ("/d/clip.mp4", None, True)


def test_chat_form_refuses_assistant_turns():
    req = _chat([{"role": "assistant", "content": "hi"}])
    assert "assistant" in req.error


def test_group_key_separates_layouts_and_settings():
    av = parse_modalities("av")
    own, separate = _simple(["/d/a.mp4"]), _simple(["/d/a.mp4", "/d/a.wav"])
    assert own.group_key(av) != separate.group_key(av)
    assert own.group_key(parse_modalities("video")) == separate.group_key(parse_modalities("video"))
    other = _simple(["/d/a.mp4"])
    other.gen_kwargs = {"max_new_tokens": 9}
    assert other.group_key(av) != own.group_key(av)


# ---------------------------------------------------------------- encode-once helpers


def test_token_logps_match_log_softmax():
    import torch

    from avem_plugins.adapters.encoding import gather_logps, token_logps

    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    ids = torch.randint(0, 7, (2, 5))
    expected = torch.log_softmax(logits, -1)[:, :-1].gather(-1, ids[:, 1:, None]).squeeze(-1)
    out = token_logps(logits, ids)
    assert torch.equal(out[:, 0], torch.zeros(2))
    assert torch.allclose(out[:, 1:], expected, atol=1e-6)
    flat = gather_logps(logits[:, :-1].reshape(-1, 7), ids[:, 1:].reshape(-1))
    assert torch.allclose(flat.view(2, 4), expected, atol=1e-6)


def test_content_key_depends_on_values_shape_and_dtype():
    import torch

    from avem_plugins.adapters.encoding import content_key

    a = torch.arange(6, dtype=torch.float32).view(2, 3)
    assert content_key(a) == content_key(a.clone())
    assert content_key(a) != content_key(a + 1)
    assert content_key(a) != content_key(a.view(3, 2))
    assert content_key(a) != content_key(a.double())


def test_encoder_call_counter_counts_calls_and_items():
    import torch

    from avem_plugins.adapters.encoding import EncoderCallCounter, find_encoders

    class Tower(torch.nn.Module):
        def forward(self, x, grid_thw=None, feature_lens=None):
            return x

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = torch.nn.Module()
            self.model.visual = Tower()
            self.model.audio_tower = Tower()

    model = Model()
    assert set(find_encoders(model)) == {"video", "audio"}
    with EncoderCallCounter(model) as counter:
        model.model.visual(torch.zeros(1), grid_thw=torch.zeros(3, 3))
        model.model.audio_tower(torch.zeros(1), feature_lens=torch.zeros(2))
        model.model.audio_tower(torch.zeros(1), feature_lens=torch.zeros(1))
    model.model.visual(torch.zeros(1), grid_thw=torch.zeros(3, 3))  # hooks removed
    assert counter.calls == {"video": 1, "audio": 2}
    assert counter.items == {"video": 3, "audio": 3}
