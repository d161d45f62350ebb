"""AVEmDPOConfig: paper defaults, documented fields, validation with clear messages."""

from __future__ import annotations

import dataclasses
import logging

import pytest

pytest.importorskip("trl")

from trl import DPOConfig

from avem_plugins.dpo.config import AVEmDPOConfig

BASE = {"output_dir": "unused", "use_cpu": True, "bf16": False, "report_to": "none"}
NEW_FIELDS = {
    "beta_er", "beta_vr", "gamma_tpd", "lambda_av", "text_prior_model", "mismatch_source",
    "mismatch_modalities", "media_root", "num_frames", "sample_rate", "adapter", "adapter_kwargs", "modalities",
    "encode_media_once", "modality_rule",
}  # fmt: skip


def make(**kw) -> AVEmDPOConfig:
    return AVEmDPOConfig(**BASE, **kw)


def test_paper_defaults():
    c = make()
    assert (c.beta, c.beta_er, c.beta_vr, c.gamma_tpd, c.lambda_av) == (0.1, 0.5, 0.5, 0.2, 1.0)
    assert (c.text_prior_model, c.mismatch_source, c.num_frames, c.sample_rate) == (
        "reference", "auto", 8, 16000,
    )  # fmt: skip


def test_every_new_field_is_documented_in_help_and_docstring():
    ours = {f.name: f for f in dataclasses.fields(AVEmDPOConfig)}
    theirs = {f.name for f in dataclasses.fields(DPOConfig)}
    assert set(ours) - theirs == NEW_FIELDS
    for name in NEW_FIELDS:
        assert ours[name].metadata.get("help"), name
        assert f"        {name} (`" in AVEmDPOConfig.__doc__, name


def test_trl_defaults_are_kept_except_prediction_loss_only():
    ours, theirs = make(), DPOConfig(**BASE)
    changed = [
        f.name
        for f in dataclasses.fields(DPOConfig)
        if f.name not in ("output_dir", "logging_dir")
        and getattr(ours, f.name) != getattr(theirs, f.name)
    ]
    assert changed == ["prediction_loss_only"]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"beta_er": -0.1}, "beta_er must be a finite number >= 0"),
        ({"gamma_tpd": float("nan")}, "gamma_tpd must be a finite number >= 0"),
        ({"beta": 0.0}, "beta must be > 0"),
        ({"text_prior_model": "ref"}, "text_prior_model must be one of"),
        ({"mismatch_source": "random"}, "mismatch_source must be 'auto' or one of"),
        ({"num_frames": 0}, "num_frames must be an integer >= 1"),
        ({"sample_rate": 0}, "sample_rate must be an integer > 0"),
        ({"modalities": "smell"}, "unknown modalities"),
        ({"modalities": "text"}, "set lambda_av=0"),
        ({"loss_type": ["ipo"]}, r"loss_type must be \['sigmoid'\]"),
        ({"ld_alpha": 0.5}, "ld_alpha=0.5 is not supported"),
        ({"precompute_ref_log_probs": True}, "precompute_ref_log_probs=True is not supported"),
        ({"prediction_loss_only": False}, "prediction_loss_only must be True"),
        ({"adapter_kwargs": "[1]"}, "adapter_kwargs must be a mapping"),
    ],
)
def test_validation_messages(kw, message):
    with pytest.raises(ValueError, match=message):
        make(**kw)


def test_text_only_ablation_is_allowed_without_pmp():
    c = make(modalities="text", lambda_av=0.0)
    assert c.modalities == "text"


def test_unbalanced_negative_weights_warn(caplog):
    with caplog.at_level(logging.WARNING, logger="avem_plugins.dpo.config"):
        make(beta_er=0.5, beta_vr=0.3)
    assert "does not cancel" in caplog.text


def test_adapter_kwargs_parse_from_json():
    assert make(adapter_kwargs='{"video_max_pixels": 4096}').adapter_kwargs == {
        "video_max_pixels": 4096
    }
