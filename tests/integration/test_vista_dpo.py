"""The ``vista-dpo`` recipe: trains through ``trl dpo --recipe``, and its input term has gradient.

The public Vista-DPO code detaches the policy log-probabilities of its video-level term, so
the term is a constant with no gradient. Ours must train: the CLI run logs the input term on
noise videos, and an in-process check takes the gradient of that term alone with respect to
the LoRA weights and finds it non-zero.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("trl")

from avem_dpo_data import write_authors_file

from avem_plugins.dpo.config import AVEmDPOConfig
from avem_plugins.dpo.train import language_lora_config
from avem_plugins.dpo.trainer import AVEmDPOTrainer
from avem_plugins.launch import recipe as R
from avem_plugins.prefs.schema import load_preference_dataset
from avem_plugins.registry import get_adapter

TRL = Path(sys.executable).parent / "trl"
#: avem-tiny's CPU settings, applied over the shipped recipe (as `--config` or kwargs).
TINY = {
    "use_cpu": True,
    "bf16": False,
    "gradient_checkpointing": False,
    "learning_rate": 1e-3,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "num_frames": 2,
    "logging_steps": 1,
    "save_strategy": "no",
    "report_to": "none",
    "seed": 0,
    "adapter_kwargs": {"video_max_pixels": 4096},
}
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "CUDA_VISIBLE_DEVICES": "",
}


@pytest.fixture(scope="module")
def authors_file(avem_synth_clips) -> Path:
    """Audio, visual and audiovisual prompts; rows 0-2 have rejected_2."""
    return write_authors_file(avem_synth_clips, avem_synth_clips[0].path.parent)


def test_recipe_is_vista_dpo_over_the_avem_defaults():
    recipe, base = R.load_recipe("vista-dpo"), R.load_recipe("avem")
    diff = {k: v for k, v in recipe.args.items() if base.args.get(k) != v}
    assert diff == {
        "beta_er": 0.7,
        "beta_vr": 0.3,
        "gamma_tpd": 0.0,
        "mismatch_source": "noise",
        "mismatch_modalities": "video",
    }
    assert recipe.args["lambda_av"] == 1.0  # the input term is on


def test_trl_dpo_recipe_vista_dpo_trains_and_logs_the_input_term(
    tiny_qwen2_5_omni_dir, authors_file, tmp_path
):
    accelerate_cfg = tmp_path / "cpu.yaml"
    accelerate_cfg.write_text(
        "compute_environment: LOCAL_MACHINE\ndistributed_type: 'NO'\nnum_processes: 1\n"
        "num_machines: 1\nmachine_rank: 0\nmixed_precision: 'no'\nuse_cpu: true\n"
    )
    config = tmp_path / "tiny.yaml"
    config.write_text(
        json.dumps(
            {
                **TINY,
                "dtype": "float32",
                "lora_target_modules": [
                    r".*language_model\.layers\.\d+\.self_attn\.(q_proj|k_proj|v_proj|o_proj)"
                ],
            }
        )
    )  # fmt: skip  (JSON is YAML)
    out = tmp_path / "out"
    argv = [
        TRL, "dpo", "--recipe", "vista-dpo",
        "--model_name_or_path", tiny_qwen2_5_omni_dir,
        "--dataset_name", authors_file,
        "--output_dir", out,
        "--max_steps", 2,
        "--config", config,
        "--accelerate_config", accelerate_cfg,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "AVEM_TRL_HOOK"} | OFFLINE
    res = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, env=env, timeout=600
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]

    args = torch.load(out / "training_args.bin", weights_only=False)
    assert type(args).__name__ == "AVEmDPOConfig"
    assert (args.beta_er, args.beta_vr, args.gamma_tpd, args.lambda_av) == (0.7, 0.3, 0.0, 1.0)
    assert (args.mismatch_source, args.mismatch_modalities) == ("noise", "video")
    logs = [h for h in json.loads((out / "trainer_state.json").read_text())["log_history"]
            if "loss" in h]  # fmt: skip
    assert len(logs) == 2
    for entry in logs:
        assert math.isfinite(entry["loss"]) and math.isfinite(entry["loss/input"])
        assert entry["mismatch/noise"] == 1.0  # every sample's input term ran on noise
        assert entry["tpd/offset"] == 0.0
        assert "rewards/input_margins" in entry and "logps/chosen_mismatched" in entry


@pytest.fixture(scope="module")
def trainer(tiny_qwen2_5_omni_dir, authors_file, tmp_path_factory):
    """AVEmDPOTrainer with the vista-dpo recipe's objective and avem-tiny's CPU settings."""
    fields = {f.name for f in dataclasses.fields(AVEmDPOConfig)}
    objective = {k: v for k, v in R.load_recipe("vista-dpo").args.items() if k in fields}
    objective |= {k: v for k, v in TINY.items() if k != "adapter_kwargs"}
    # the authors' rows carry no modality: infer it (here and when the file is loaded), so
    # the prompts ask about different ones
    objective["modality_rule"] = "infer"
    args = AVEmDPOConfig(output_dir=str(tmp_path_factory.mktemp("vista")), **objective)
    return AVEmDPOTrainer(
        model=str(tiny_qwen2_5_omni_dir),
        args=args,
        train_dataset=load_preference_dataset(authors_file, modality_rule="infer"),
        peft_config=language_lora_config(r=8, lora_alpha=32, lora_dropout=0.0),
        adapter=get_adapter("qwen2_5_omni", **TINY["adapter_kwargs"]),
    )


def test_the_video_is_swapped_for_noise_whatever_the_prompt_asks(trainer):
    rows = [trainer.train_dataset[i] for i in range(4)]
    assert [r["modality"] for r in rows[:3]] == ["audio", "visual", "audiovisual"]
    choices = trainer.data_collator.mismatch.choose(rows)
    assert [(c.source, c.swap_audio, c.swap_video) for c in choices] == [("noise", False, True)] * 4


def test_the_input_term_has_a_non_zero_gradient(trainer):
    model = trainer.model
    model.train()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    assert batch["has_mismatched"].all() and batch["mismatch_source"] == ["noise", "noise"]
    loss, outputs = trainer.compute_loss(model, batch, return_outputs=True)
    out = outputs["loss_output"]
    lora = [p for n, p in model.named_parameters() if "lora_" in n and p.requires_grad]
    assert lora
    # the input term alone, as it enters the loss (lambda_av * mean over samples)
    term = trainer.args.lambda_av * out.loss_input.mean()
    assert term.requires_grad, "the input term is detached: it cannot train anything"
    grads = torch.autograd.grad(term, lora, retain_graph=True, allow_unused=True)
    norm = torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None))
    assert math.isfinite(norm.item()) and norm.item() > 1e-6, norm
    # and it is part of the loss that is back-propagated: d(loss) = d(response) + d(input)
    response = torch.autograd.grad(
        out.loss_response.mean(), lora, retain_graph=True, allow_unused=True
    )
    total = torch.autograd.grad(loss, lora, allow_unused=True)
    for g_total, g_input, g_resp in zip(total, grads, response, strict=True):
        parts = [g for g in (g_input, g_resp) if g is not None]
        if g_total is None:
            assert not parts
        else:
            assert torch.allclose(g_total, sum(parts), atol=1e-6)
