"""AVEmDPOTrainer on a tiny Qwen2.5-Omni thinker with LoRA, on generated clips.

The preference file is written in the authors' DPO format (``<video>\\n<audio>\\n`` prompts,
``chosen``, ``rejected``, ``rejected_2``, ``video``, ``audio``, ``video_l``, ``audio_l``),
with media paths relative to the file's folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

pytest.importorskip("trl")

from avem_dpo_data import PROMPTS, write_authors_file

from avem_plugins.dpo.config import AVEmDPOConfig
from avem_plugins.dpo.train import language_lora_config, train
from avem_plugins.dpo.trainer import AVEmDPOTrainer, NonFiniteLossError
from avem_plugins.prefs.schema import load_preference_dataset
from avem_plugins.registry import get_adapter

#: Small frames keep the tiny model fast (see avem_plugins.testing.fixtures).
ADAPTER_KWARGS = {"video_max_pixels": 4096}
TRAIN_ARGS = {
    "per_device_train_batch_size": 2,
    "logging_steps": 1,
    "use_cpu": True,
    "bf16": False,
    "gradient_checkpointing": False,
    "report_to": "none",
    "save_strategy": "no",
    "num_frames": 4,
    "learning_rate": 1e-2,
    "seed": 0,
}
EXPECTED_METRICS = {
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
    "logps/chosen",
    "logps/rejected",
    "rewards/input_margins",
    "rewards/input_accuracies",
    "rewards/rejected_2",
    "logps/rejected_2",
    "logps/chosen_mismatched",
    "loss/response",
    "loss/input",
    "tpd/offset",
    "media/encoder_calls_per_sample",
    "mismatch/data",
}


@pytest.fixture(scope="module")
def authors_file(avem_synth_clips) -> Path:
    return write_authors_file(avem_synth_clips, avem_synth_clips[0].path.parent)


@pytest.fixture(scope="module")
def trained(tiny_qwen2_5_omni_dir, authors_file, tmp_path_factory):
    args = AVEmDPOConfig(output_dir=str(tmp_path_factory.mktemp("out")), max_steps=3, **TRAIN_ARGS)
    trainer = AVEmDPOTrainer(
        model=str(tiny_qwen2_5_omni_dir),
        args=args,
        train_dataset=load_preference_dataset(authors_file),
        peft_config=language_lora_config(r=4, lora_alpha=8),
        adapter=get_adapter("qwen2_5_omni", **ADAPTER_KWARGS),
    )
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    return trainer, before


def test_trains_with_finite_loss_and_logs_every_metric(trained):
    trainer, _ = trained
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 3
    assert all(math.isfinite(h["loss"]) for h in logs)
    logged = set().union(*logs)
    assert logged >= EXPECTED_METRICS, EXPECTED_METRICS - logged
    assert all(h["mismatch/data"] == 1.0 for h in logs)  # video_l/audio_l given in the data


def test_every_lora_tensor_changes_and_base_weights_do_not(trained):
    trainer, before = trained
    after = dict(trainer.model.named_parameters())
    lora = [n for n in before if "lora_" in n]
    assert lora, "no LoRA parameters"
    # only the language model is adapted: the towers stay frozen (and encoded once)
    assert not any(".visual." in n or ".audio_tower." in n for n in lora)
    for name, old in before.items():
        changed = not torch.equal(old, after[name].detach())
        assert changed == (name in lora), f"{name}: changed={changed}"


def test_encode_once_is_exact_and_saves_encoder_calls(trained):
    trainer, _ = trained
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    metrics = trainer._metrics["train" if trainer.model.training else "eval"]
    results = {}
    for once in (True, False):
        trainer.args.encode_media_once = once
        with torch.no_grad():
            loss = trainer.compute_loss(trainer.model, batch)
        results[once] = (loss.item(), metrics["media/encoder_calls_per_sample"][-1])
    trainer.args.encode_media_once = True
    assert results[True][0] == pytest.approx(results[False][0], abs=1e-5)
    assert results[True][1] < results[False][1]
    # once: each tower runs once per batch for policy *and* reference (2 towers / 2 samples)
    assert results[True][1] == pytest.approx(1.0)


def test_non_finite_logps_name_the_samples(trained, monkeypatch):
    trainer, _ = trained
    batch = trainer.data_collator([trainer.train_dataset[i] for i in (0, 1)])
    bad_rows = batch["media_row_sample"] == 1
    original = trainer.adapter.forward_logps

    def poisoned(model, rows, features=None):
        out = original(model, rows, features)
        if out.shape[0] == bad_rows.shape[0]:
            out = out.masked_fill(bad_rows.unsqueeze(1).to(out.device), float("nan"))
        return out

    monkeypatch.setattr(trainer.adapter, "forward_logps", poisoned)
    ids = batch["sample_ids"]
    with pytest.raises(NonFiniteLossError, match=rf"samples \['{ids[1]}'\]"):
        trainer.compute_loss(trainer.model, batch)


def test_authors_file_trains_end_to_end(tiny_qwen2_5_omni_dir, authors_file, tmp_path, capsys):
    out = tmp_path / "run"
    trainer = train(
        {
            "model_name_or_path": str(tiny_qwen2_5_omni_dir),
            "dataset_name": str(authors_file),
            "output_dir": str(out),
            "use_peft": True,
            "lora_r": 4,
            "lora_alpha": 8,
            "max_steps": 2,
            "adapter_kwargs": ADAPTER_KWARGS,
            "modality_rule": "infer",
            **TRAIN_ARGS,
        }
    )
    assert type(trainer).__name__ == "AVEmDPOTrainer"
    assert (out / "adapter_model.safetensors").is_file()
    state = json.loads((out / "trainer_state.json").read_text())
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    # the prompt markers were stripped and the modality inferred from the prompt (modality_rule)
    assert trainer.train_dataset[0]["prompt"] == PROMPTS[0]
    assert trainer.train_dataset[0]["modality"] == "audio"
    # training says at start how many rows got each modality, and how
    line = "modality given: none; not given, inferred from the prompt: audio 2, audiovisual 1, visual 1"
    assert f"AVEm-DPO training rows: 4 rows; {line}" in capsys.readouterr().out


def test_text_prior_network_is_a_switch(trained):
    trainer, _ = trained
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    metrics = trainer._metrics["train" if trainer.model.training else "eval"]
    offsets = {}
    for network in ("reference", "policy"):
        trainer.args.text_prior_model = network
        with torch.no_grad():
            trainer.compute_loss(trainer.model, batch)
        offsets[network] = metrics["tpd/offset"][-1]
    trainer.args.text_prior_model = "reference"
    # the trained LoRA adapter moves the policy's text prior away from the base model's
    assert offsets["reference"] != pytest.approx(offsets["policy"], abs=1e-6)


def test_media_tokens_are_never_truncated(trained):
    """max_length counts text tokens: a text prompt that alone reaches it is an error."""
    trainer, _ = trained
    collator = trainer.data_collator
    old = collator.max_length
    collator.max_length = 16
    try:
        with pytest.raises(ValueError, match=r"text-only prompt alone.*raise --max_length") as info:
            collator([trainer.train_dataset[0]])
    finally:
        collator.max_length = old
    assert trainer.train_dataset[0]["id"] in str(info.value)
    assert "media tokens are never cut" in str(info.value)


def test_batch_mixing_track_and_separate_audio_is_fed_uniformly(trained, caplog):
    trainer, _ = trained
    own_track = dict(trainer.train_dataset[0], audio=None, audio_l=None)  # the video's own track
    separate = dict(trainer.train_dataset[1])  # a separate .wav file
    with caplog.at_level("WARNING", logger="avem_plugins.dpo.collator"):
        batch = trainer.data_collator([own_track, separate])
    assert "use_audio_in_video" not in batch["media_rows"]
    assert "separate item" in caplog.text
    loss = trainer.compute_loss(trainer.model, batch)
    assert torch.isfinite(loss)


def test_evaluate_reports_loss_and_metrics(trained):
    trainer, _ = trained
    metrics = trainer.evaluate(trainer.train_dataset)
    assert math.isfinite(metrics["eval_loss"])
    assert {"eval_rewards/margins", "eval_loss/input", "eval_tpd/offset"} <= set(metrics)


def test_full_fine_tuning_uses_a_frozen_copy_as_reference(
    tiny_qwen2_5_omni_dir, authors_file, tmp_path
):
    args = AVEmDPOConfig(output_dir=str(tmp_path), max_steps=1, **TRAIN_ARGS)
    trainer = AVEmDPOTrainer(
        model=str(tiny_qwen2_5_omni_dir),
        args=args,
        train_dataset=load_preference_dataset(authors_file),
        adapter=get_adapter("qwen2_5_omni", **ADAPTER_KWARGS),
    )
    ref, policy = trainer.ref_model, trainer.model
    assert ref is not None and ref is not policy
    assert not any(p.requires_grad for p in ref.parameters())
    before = {n: p.detach().clone() for n, p in ref.named_parameters()}
    trainer.train()
    assert all(torch.equal(before[n], p) for n, p in ref.named_parameters())
    assert any(not torch.equal(before[n], p.detach()) for n, p in policy.named_parameters())
    # the towers train too, so their encodings cannot be shared between passes
    assert trainer.state.log_history[0]["media/encoder_calls_per_sample"] > 1
