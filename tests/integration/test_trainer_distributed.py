"""Two CPU processes (gloo, DDP) follow the one-process loss trajectory at the same global batch.

Both runs go through the shipped entry point ``python -m avem_plugins.dpo.train`` under
``torch.distributed.run`` (torchrun): 1 process x batch 4, then 2 processes x batch 2, three
optimizer steps of LoRA on the tiny Qwen2.5-Omni with the same seed, data and sampler.
(``accelerate launch --cpu --num_processes 2`` needs ``mpirun`` to start several CPU
processes; torchrun starts them directly and accelerate then runs gloo DDP.)

Tolerance, documented: the two runs only differ in the order of float32 reductions, and
agree to ~1e-6 in loss and ~1e-6 relative in gradient norm. We allow 2e-5 (loss, absolute)
and 1e-4 (gradient norm, relative). A run whose gradients are *not* all-reduced (each rank
stepping on its own half-batch) differs by ~3e-2 relative in gradient norm from the first
step and ~4e-4 in loss from the second: far outside the tolerance.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from avem_dpo_data import write_authors_file

pytest.importorskip("trl")

FLAGS = {
    "use_peft": None,
    "lora_r": "4",
    "lora_alpha": "8",
    "max_steps": "3",
    "logging_steps": "1",
    "use_cpu": None,
    "bf16": "false",
    "gradient_checkpointing": "false",
    "report_to": "none",
    "save_strategy": "no",
    "num_frames": "4",
    "learning_rate": "1e-2",
    "seed": "0",
    "adapter_kwargs": json.dumps({"video_max_pixels": 4096}),
}
GLOBAL_BATCH = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(nproc: int, model_dir, data, out) -> list[dict]:
    argv = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    argv += [f"--master_port={free_port()}", "-m", "avem_plugins.dpo.train"]
    argv += ["--model_name_or_path", str(model_dir), "--dataset_name", str(data)]
    argv += ["--output_dir", str(out), "--per_device_train_batch_size", str(GLOBAL_BATCH // nproc)]
    for flag, value in FLAGS.items():
        argv += [f"--{flag}"] + ([] if value is None else [value])
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
    )
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    state = json.loads((out / "trainer_state.json").read_text())
    return [h for h in state["log_history"] if "loss" in h]


def test_two_processes_match_one_process(tiny_qwen2_5_omni_dir, avem_synth_clips, tmp_path):
    data = write_authors_file(avem_synth_clips, avem_synth_clips[0].path.parent, n_rows=12)
    one = run(1, tiny_qwen2_5_omni_dir, data, tmp_path / "one")
    two = run(2, tiny_qwen2_5_omni_dir, data, tmp_path / "two")
    assert len(one) == len(two) == 3
    for a, b in zip(one, two, strict=True):
        assert math.isfinite(a["loss"])
        assert b["loss"] == pytest.approx(a["loss"], abs=2e-5), (one, two)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4), (one, two)
        assert b["epoch"] == pytest.approx(a["epoch"])  # the data is sharded, not duplicated
    assert one[-1]["loss"] != pytest.approx(one[0]["loss"], abs=1e-3)  # it did train


@pytest.mark.parametrize(
    ("name", "kind", "detail"),
    [
        ("ddp", "MULTI_GPU", None),
        ("fsdp2", "FSDP", ("fsdp_config", "fsdp_version", 2)),
        ("zero2", "DEEPSPEED", ("deepspeed_config", "zero_stage", 2)),
        ("zero3", "DEEPSPEED", ("deepspeed_config", "zero_stage", 3)),
    ],
)
def test_shipped_accelerate_configs_load_with_accelerate(name, kind, detail):
    import avem_plugins.recipes
    from accelerate.commands.config.config_args import load_config_from_file

    path = Path(avem_plugins.recipes.__file__).parent / "accelerate" / f"{name}.yaml"
    config = load_config_from_file(str(path))
    assert config.distributed_type.name == kind
    assert not config.use_cpu
    if detail is not None:
        section, key, value = detail
        assert getattr(config, section)[key] == value
    assert f"--accelerate_config {name}" in path.read_text()  # the header shows how to launch it
