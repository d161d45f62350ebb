"""NaN/inf in AVEm-DPO training: stopped at the step it appears, naming the samples.

A model whose forward produces NaN (a poisoned LoRA weight in-process; a poisoned base weight
through `trl dpo --recipe avem-tiny`, slow) makes ``AVEmDPOTrainer`` raise
``NonFiniteLossError`` naming the step and the batch's sample ids, before the optimizer
applies the step, so no NaN reaches the saved weights. (Per-sample naming when only some
rows are non-finite: tests/integration/test_trainer.py::test_non_finite_logps_name_the_samples.
NaN samples in a float wav never get that far: ``avem_plugins.media`` refuses them, see
test_bad_inputs_training.py and test_bad_inputs_lmms.py.)
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")

import torch
from reliability_data import pref_row, write_jsonl

from avem_plugins.dpo.config import AVEmDPOConfig
from avem_plugins.dpo.train import language_lora_config
from avem_plugins.dpo.trainer import AVEmDPOTrainer, NonFiniteLossError
from avem_plugins.prefs.schema import load_preference_dataset
from avem_plugins.registry import get_adapter

TRAIN_ARGS = {
    "per_device_train_batch_size": 2,
    "logging_steps": 1,
    "use_cpu": True,
    "bf16": False,
    "gradient_checkpointing": False,
    "report_to": "none",
    "save_strategy": "no",
    "num_frames": 2,
    "learning_rate": 1e-3,
    "seed": 0,
}


@pytest.fixture(scope="module")
def prefs(avem_synth_clips, tmp_path_factory) -> Path:
    media = avem_synth_clips[0].path.parent
    rows = [
        pref_row(i, rec.path.name, video_l=avem_synth_clips[(i + 1) % 4].path.name)
        for i, rec in enumerate(avem_synth_clips)
    ]
    path = write_jsonl(tmp_path_factory.mktemp("numerics") / "prefs.jsonl", rows)
    # media paths are relative to the clips' folder: pass it as the media root
    return path, media  # type: ignore[return-value]


def _named_samples(message: str) -> list[str]:
    return ast.literal_eval(message.split("samples ", 1)[1].split("]", 1)[0] + "]")


@pytest.mark.parametrize("poison", [float("nan"), float("inf")])
def test_a_nan_or_inf_forward_stops_the_first_step_naming_its_samples(
    poison, tiny_qwen2_5_omni_dir, prefs, tmp_path
):
    prefs_file, media = prefs
    dataset = load_preference_dataset(prefs_file, media)
    trainer = AVEmDPOTrainer(
        model=str(tiny_qwen2_5_omni_dir),
        args=AVEmDPOConfig(output_dir=str(tmp_path / "out"), max_steps=2, **TRAIN_ARGS),
        train_dataset=dataset,
        peft_config=language_lora_config(r=4, lora_alpha=8),
        adapter=get_adapter("qwen2_5_omni", video_max_pixels=4096),
    )
    lora = {n: p for n, p in trainer.model.named_parameters() if "lora_A" in n}
    name = sorted(lora)[0]
    with torch.no_grad():
        lora[name][0, 0] = poison  # lora_B is 0, yet 0 * NaN = NaN (and inf - inf = NaN)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" in n}

    with pytest.raises(NonFiniteLossError) as info:
        trainer.train()

    message = str(info.value)
    assert "non-finite AVEm-DPO loss or log-probabilities at step 0: samples [" in message
    named = _named_samples(message)
    assert len(named) == 2 and set(named) <= set(dataset["id"]), named  # the first batch
    assert "lower the learning rate, or train in float32" in message
    assert trainer.state.global_step == 0
    for n, p in trainer.model.named_parameters():  # the bad step was never applied
        if n in before:
            assert torch.allclose(p.detach(), before[n], rtol=0, atol=0, equal_nan=True), n


@pytest.mark.slow
def test_trl_dpo_on_a_model_that_outputs_nan_fails_with_the_sample_ids(
    tiny_qwen2_5_omni_dir, prefs, tmp_path
):
    from safetensors.torch import load_file, save_file

    prefs_file, media = prefs
    poisoned = tmp_path / "poisoned-model"
    shutil.copytree(tiny_qwen2_5_omni_dir, poisoned)
    weights = load_file(poisoned / "model.safetensors")
    weights["model.layers.0.mlp.down_proj.weight"][0, 0] = float("nan")
    save_file(weights, poisoned / "model.safetensors", metadata={"format": "pt"})
    env = {k: v for k, v in os.environ.items() if k != "AVEM_TRL_HOOK"}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", CUDA_VISIBLE_DEVICES="",
               TOKENIZERS_PARALLELISM="false")  # fmt: skip
    cmd = [
        Path(sys.executable).parent / "trl", "dpo", "--recipe", "avem-tiny",
        "--model_name_or_path", poisoned, "--dataset_name", prefs_file, "--media_root", media,
        "--output_dir", tmp_path / "out", "--num_processes", "1",
    ]  # fmt: skip
    res = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=600
    )
    assert res.returncode == 1, res.stderr[-3000:]
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    errors = [
        line.split("\r")[-1]
        for line in res.stderr.splitlines()
        if "error: NonFiniteLossError: " in line
    ]
    assert len(errors) == 1, res.stderr[-3000:]
    assert "at step 0: samples [" in errors[0]
    assert len(_named_samples(errors[0])) == 2
    assert res.stderr.rstrip().endswith("trl dpo: training exited with status 1")
    assert not list((tmp_path / "out").rglob("adapter_model.safetensors"))  # nothing saved
