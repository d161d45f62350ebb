"""``avem_av`` under the AVERE authors' media and decoding conventions (issue 15).

The tiny Qwen2.5-Omni from its config: audio padded to 1 s and cut at 30 s (model args), the
journal identity naming the media conventions (answers made under another protocol are
never reused), and seeded sampling that gives the same answers whatever the order.
"""

from __future__ import annotations

import pytest

pytest.importorskip("lmms_eval")

from avem_plugins.adapters.base import Example
from avem_plugins.lmms.journal import request_key
from avem_plugins.lmms.requests import AVRequest
from avem_plugins.media import AUDIO_CHANNEL_RULE, FRAME_RULE, Media

RULES = ("frame_rule", "audio_channel", "audio_min_seconds", "audio_max_seconds")


def _model(path, **args):
    from avem_plugins.lmms.model import AvemAV

    return AvemAV(pretrained=str(path), device="cpu", video_max_pixels=4096, **args)


@pytest.fixture(scope="module")
def text_model(tiny_qwen2_5_omni_dir):
    return _model(tiny_qwen2_5_omni_dir, modalities="text", seed=7)


def _audio_request(path) -> AVRequest:
    return AVRequest(index=0, doc_id=0, task="t", prompt="How?", audio=str(path))


def test_audio_is_padded_to_one_second_and_cut_at_thirty(tiny_qwen2_5_omni_dir, tmp_path):
    from avem_plugins.testing.synth import write_wav

    short = write_wav(tmp_path / "short.wav", audio_cue="low_tone", seconds=0.5)
    long = write_wav(tmp_path / "long.wav", audio_cue="low_tone", seconds=31.0)
    lm = _model(tiny_qwen2_5_omni_dir, modalities="audio")
    padded = lm._media(_audio_request(short)).audio
    assert padded is not None and padded.shape == (16000,) and not padded[8000:].any()
    assert padded[:8000].any()
    cut = lm._media(_audio_request(long)).audio
    assert cut is not None and cut.shape == (30 * 16000,)
    assert lm.run_info["audio_min_seconds"] == 1.0 and lm.run_info["audio_max_seconds"] == 30.0
    off = _model(tiny_qwen2_5_omni_dir, modalities="audio", audio_min_seconds="none",
                 audio_max_seconds="none")  # fmt: skip
    assert off._media(_audio_request(short)).audio.shape == (8000,)
    assert off._media(_audio_request(long)).audio.shape == (31 * 16000,)


def test_the_journal_identity_names_the_media_conventions(text_model, tiny_qwen2_5_omni_dir):
    identity = text_model._identity
    assert {k: identity[k] for k in RULES} == {
        "frame_rule": FRAME_RULE, "audio_channel": AUDIO_CHANNEL_RULE,
        "audio_min_seconds": 1.0, "audio_max_seconds": 30.0,
    }  # fmt: skip
    req = AVRequest(index=0, doc_id=3, task="dfew", prompt="How?", gen_kwargs={"max_new_tokens": 5})
    key = request_key(text_model._journal_identity(req), req)
    # a journal written before the conventions were part of the key (the old protocol) or
    # under other pad/cut lengths never answers this request
    old = {k: v for k, v in identity.items() if k not in RULES}
    assert request_key(old, req) != key
    other = _model(tiny_qwen2_5_omni_dir, modalities="text", seed=7, audio_max_seconds=10)
    assert request_key(other._journal_identity(req), req) != key
    # greedy answers do not depend on the seed; sampled ones do
    assert "sample_seed" not in text_model._journal_identity(req)
    sampled = AVRequest(index=0, doc_id=3, task="dfew", prompt="How?",
                        gen_kwargs={"max_new_tokens": 5, "temperature": 0.1})  # fmt: skip
    assert text_model._journal_identity(sampled)["sample_seed"] == 7


def _examples(n: int) -> list[Example]:
    return [Example(prompt=f"Question {i}: how?", media=Media(), id=f"t/{i}") for i in range(n)]


def test_a_seeded_sampled_run_is_reproducible_in_any_order(text_model, tiny_qwen2_5_omni_dir):
    sampled = {"temperature": 1.0, "max_new_tokens": 8}  # high: the tiny model's draws vary
    examples = _examples(4)
    forward = [text_model._generate([ex], sampled)[0] for ex in examples]
    backward = [text_model._generate([ex], sampled)[0] for ex in reversed(examples)][::-1]
    assert forward == backward
    assert len(set(forward)) > 1  # really sampled
    again = _model(tiny_qwen2_5_omni_dir, modalities="text", seed=7)
    assert [again._generate([ex], sampled)[0] for ex in examples] == forward
    other = _model(tiny_qwen2_5_omni_dir, modalities="text", seed=8)
    assert [other._generate([ex], sampled)[0] for ex in examples] != forward


def test_the_default_seed_is_lmms_evals_torch_seed(tiny_qwen2_5_omni_dir):
    import torch

    torch.manual_seed(1234)  # what lmms-eval's --seed does before it builds the model
    assert _model(tiny_qwen2_5_omni_dir, modalities="text").sample_seed == 1234
