"""The real `trl` console script: unchanged without --recipe, training with it; and `avem dpo`.

These run the installed programs in subprocesses, as a user would, on the tiny model (built
from a config, no download) and synthetic clips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from avem_plugins.launch.trl_hook import ENV_VAR

BIN = Path(sys.executable).parent
TRL = BIN / "trl"
AVEM = BIN / "avem"
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "CUDA_VISIBLE_DEVICES": "",
}


def _run(argv: list[str], *, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    full_env.update(OFFLINE)
    full_env.update(env)
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=300
    )


def _argv(flags: dict[str, object]) -> list[str]:
    return [str(x) for pair in flags.items() for x in pair]


# ------------------------------------------------------------------ TRL left unchanged


@pytest.fixture(scope="module")
def trl_help() -> str:
    res = _run([TRL, "dpo", "--help"], **{ENV_VAR: "0"})
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_trl_dpo_help_without_recipe_is_trls(trl_help):
    res = _run([TRL, "dpo", "--help"])
    assert res.returncode == 0, res.stderr
    assert res.stdout == trl_help
    assert "--beta_er" not in res.stdout  # TRL's own parser: no AVEm-DPO fields


def test_env_var_disables_the_hook_even_with_recipe(trl_help):
    res = _run([TRL, "dpo", "--recipe", "avem-tiny", "--help"], **{ENV_VAR: "0"})
    assert res.returncode == 0, res.stderr
    assert res.stdout == trl_help
    assert "avem" not in res.stderr


def test_recipe_routes_trl_dpo_to_our_launcher(trl_help):
    res = _run([TRL, "dpo", "--recipe", "avem-tiny", "--help"])
    assert res.returncode == 0, res.stderr
    assert res.stdout != trl_help
    text = " ".join(res.stdout.split())
    assert text.startswith("usage: trl dpo")
    assert "Recipe avem-tiny" in text and "--beta_er" in text and "--gamma_tpd" in text


def test_unknown_recipe_is_a_clear_error():
    res = _run([TRL, "dpo", "--recipe", "no-such-recipe", "--output_dir", "x"])
    assert res.returncode == 2
    assert "trl dpo: error: no recipe named 'no-such-recipe'" in res.stderr
    assert "Traceback" not in res.stderr


# ------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def prefs(avem_synth_clips, tmp_path_factory) -> tuple[Path, Path]:
    """A preference file naming the synthetic clips relative to their folder (the media root)."""
    media = avem_synth_clips[0].path.parent
    prompt = "<video>\n<audio>\nWhat emotion does the person show, and why?"
    path = tmp_path_factory.mktemp("prefs") / "prefs.jsonl"
    with open(path, "w") as fh:
        for rec in avem_synth_clips:
            row = {
                "prompt": prompt,
                "chosen": f"The person shows {rec.emotion}: {rec.visual_caption}.",
                "rejected": f"The person shows {rec.emotion} because of a smile.",
                "rejected_2": f"The person shows {rec.emotion}: {rec.audio_caption}.",
                "video": rec.path.name,
                "emotion": rec.emotion,
            }
            fh.write(json.dumps(row) + "\n")
    return path, media


def _assert_trained_lora(out: Path) -> None:
    from safetensors.numpy import load_file

    assert (out / "adapter_model.safetensors").is_file(), sorted(p.name for p in out.iterdir())
    config = json.loads((out / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"]) == (8, 32)  # from the avem recipe
    tensors = load_file(out / "adapter_model.safetensors")
    lora_b = [v for k, v in tensors.items() if "lora_B" in k]
    assert lora_b and all(".language_model." in k for k in tensors)  # recipe's LoRA targets
    assert any(abs(v).max() > 0 for v in lora_b), "lora_B is still zero: nothing was trained"


def test_trl_dpo_recipe_trains_the_tiny_model(tiny_qwen2_5_omni_dir, prefs, tmp_path):
    prefs_file, media = prefs
    accelerate_cfg = tmp_path / "cpu.yaml"
    accelerate_cfg.write_text(
        "compute_environment: LOCAL_MACHINE\ndistributed_type: 'NO'\nnum_processes: 1\n"
        "num_machines: 1\nmachine_rank: 0\nmixed_precision: 'no'\nuse_cpu: true\n"
    )
    config = tmp_path / "cfg.yaml"
    config.write_text("logging_steps: 2\nbeta: 0.2\n")
    out = tmp_path / "out"
    flags = {
        "--recipe": "avem-tiny",
        "--model_name_or_path": tiny_qwen2_5_omni_dir,
        "--dataset_name": prefs_file,
        "--media_root": media,
        "--output_dir": out,
        "--max_steps": 2,
        "--config": config,
        "--accelerate_config": accelerate_cfg,
    }
    res = _run([TRL, "dpo", *_argv(flags)])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "`--num_processes` was set" not in res.stderr  # accelerate read our config file
    _assert_trained_lora(out)
    import torch

    args = torch.load(out / "training_args.bin", weights_only=False)
    assert type(args).__name__ == "AVEmDPOConfig"
    assert args.max_steps == 2 and args.beta == 0.2  # CLI and --config
    assert args.learning_rate == 1e-3 and args.gamma_tpd == 0.2  # avem-tiny and avem


def test_avem_dpo_trains_the_tiny_model(tiny_qwen2_5_omni_dir, prefs, tmp_path):
    prefs_file, media = prefs
    out = tmp_path / "out"
    flags = {
        "--recipe": "avem-tiny",
        "--model_name_or_path": tiny_qwen2_5_omni_dir,
        "--dataset_name": prefs_file,
        "--media_root": media,
        "--output_dir": out,
        "--max_steps": 2,
        "--num_processes": 1,  # an accelerate launch flag, passed through
    }
    res = _run([AVEM, "dpo", *_argv(flags)])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    _assert_trained_lora(out)
    # quiet first-run output: no accelerate defaults block, no deprecated-argument warning
    assert "were not passed to `accelerate launch`" not in res.stderr
    assert "is deprecated" not in res.stderr, res.stderr[-3000:]
