"""The trainer works for every adapter: Qwen3-Omni (MoE thinker) and hf_generic (video-only)."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("trl")

from avem_dpo_data import write_authors_file

from avem_plugins.dpo.config import AVEmDPOConfig
from avem_plugins.dpo.train import language_lora_config
from avem_plugins.dpo.trainer import AVEmDPOTrainer
from avem_plugins.prefs.schema import load_preference_dataset
from avem_plugins.registry import get_adapter

ARGS = {
    "per_device_train_batch_size": 2,
    "max_steps": 2,
    "logging_steps": 1,
    "use_cpu": True,
    "bf16": False,
    "gradient_checkpointing": False,
    "report_to": "none",
    "save_strategy": "no",
    "num_frames": 4,
    "learning_rate": 1e-2,
}


def train_two_steps(model_dir, adapter, data, out):
    trainer = AVEmDPOTrainer(
        model=str(model_dir),
        args=AVEmDPOConfig(output_dir=str(out), **ARGS),
        train_dataset=load_preference_dataset(data),
        peft_config=language_lora_config(r=4, lora_alpha=8),
        adapter=adapter,
    )
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 2 and all(math.isfinite(h["loss"]) for h in logs)
    return trainer, logs


@pytest.fixture(scope="module")
def data(avem_synth_clips):
    return write_authors_file(avem_synth_clips, avem_synth_clips[0].path.parent)


def test_qwen3_omni(tiny_qwen3_omni_dir, data, tmp_path):
    adapter = get_adapter("qwen3_omni", video_max_pixels=4096)
    trainer, logs = train_two_steps(tiny_qwen3_omni_dir, adapter, data, tmp_path)
    lora = [n for n, _ in trainer.model.named_parameters() if "lora_" in n]
    assert lora and not any(".audio_tower." in n or ".visual." in n for n in lora)
    assert all(
        h["media/encoder_calls_per_sample"] == pytest.approx(1.0) for h in logs
    )  # encoded once


def test_hf_generic_video_only_model(data, tmp_path):
    from tiny_generic import build_tiny_video_only

    model_dir = build_tiny_video_only(tmp_path / "vl")
    adapter = get_adapter("hf_generic", video_max_pixels=4096)
    trainer, logs = train_two_steps(model_dir, adapter, data, tmp_path / "out")
    # a video-only model: PMP swaps the video for prompts about the face or both, and has
    # nothing to swap for prompts about the voice (those samples get no PMP row)
    assert trainer.data_collator.fed == frozenset({"video"})
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    modalities = [trainer.train_dataset[i]["modality"] for i in range(4)]
    assert batch["has_mismatched"].tolist() == [m != "audio" for m in modalities]
    assert "loss/input" in set().union(*logs) or not any(m != "audio" for m in modalities)
