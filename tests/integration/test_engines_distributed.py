"""FSDP2 and DeepSpeed ZeRO-2 / ZeRO-3, run for real: 2 CPU processes (gloo) match 1 process.

Each engine run starts the training worker that ``trl dpo --recipe avem-tiny --accelerate_config
<engine>`` starts (``python -m avem_plugins.launch.launcher``) in 2 processes with torchrun, in the
environment ``accelerate launch`` derives from the shipped ``recipes/accelerate/<engine>.yaml``
(accelerate's own ``prepare_deepspeed_cmd_env`` / ``prepare_multi_gpu_env``; ``num_processes``
2 and ``mixed_precision no`` for the CPU). The reference is the same worker in 1 process at the
same global batch (4), three optimizer steps of LoRA on the tiny Qwen2.5-Omni, same seed and data.

What is not the shipped path, and why (docs/BENCHMARKS.md, "FSDP2 and DeepSpeed ZeRO"):

- ``--use_cpu false --ddp_backend gloo``: DeepSpeed is set up by accelerate only with
  ``use_cpu`` off, and then needs a backend named for CPU processes. ``trl dpo`` cannot take
  ``--ddp_backend`` on a machine without a process group (its parent process builds the training
  arguments too), hence torchrun here.
- FSDP2: accelerate 1.15 builds FSDP only for processes that own a GPU;
  ``engine_driver.py`` lifts that gate (and nothing else) so accelerate's FSDP2 preparation
  runs on CPU. Without it the worker stops with ``EngineError`` (last test), where accelerate
  alone would silently train without sharding or gradient exchange.

Tolerance, documented: the runs differ only in the order of float32 reductions (measured:
loss within 1e-6, gradient norm within 1e-6 relative, adapter tensors within 3e-5 absolute
after three Adam steps at lr 1e-2). We allow 2e-5 (loss, absolute), 1e-4 (gradient norm,
relative) and 2e-4 (each adapter tensor, absolute). A run whose processes do not exchange
gradients differs by ~4e-2 in the adapter and ~6e-3 in loss from the first step.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from avem_dpo_data import write_authors_file

pytest.importorskip("trl")
pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
ACCELERATE_DIR = HERE.parents[1] / "recipes" / "accelerate"
GLOBAL_BATCH = 4
FLAGS = [
    *("--lora_r", "4", "--lora_alpha", "8", "--max_steps", "3", "--learning_rate", "1e-2"),
    *("--num_frames", "4", "--adapter_kwargs", json.dumps({"video_max_pixels": 4096})),
]
#: What the engine line must say for each shipped config.
ENGINE_LINE = {
    "zero2": "DEEPSPEED ZeRO-2 over 2 process(es) on cpu; model DeepSpeedEngine; 120 parameter tensors replicated",
    "zero3": "DEEPSPEED ZeRO-3 over 2 process(es) on cpu; model DeepSpeedEngine; 120 of 120 parameter tensors partitioned (ZeRO-3)",
    "fsdp2": "FSDP2 over 2 process(es) on cpu; model FSDPPeftModelForCausalLM; 120 of 120 parameter tensors sharded (DTensor)",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def engine_env(name: str) -> dict[str, str]:
    """The variables ``accelerate launch --config_file <name>.yaml`` gives its workers."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    argv = ["--config_file", str(ACCELERATE_DIR / f"{name}.yaml"), "--num_processes", "2"]
    argv += ["--mixed_precision", "no", "-m", "avem_plugins.launch.launcher"]
    args, defaults, mixed_from_config = _validate_launch_command(
        launch_command_parser().parse_args(argv)
    )
    if args.use_deepspeed:
        fields = list(defaults.deepspeed_config) + (
            ["mixed_precision"] if mixed_from_config else []
        )
        args.deepspeed_fields_from_accelerate_config = ",".join(fields)
        _, env = prepare_deepspeed_cmd_env(args)
    else:
        env = prepare_multi_gpu_env(args)
    return {k: v for k, v in env.items() if k.startswith(("ACCELERATE_", "FSDP_"))}


def run(nproc: int, model_dir, data, out, *, engine: str | None, driver: bool = False):
    argv = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    argv += [f"--master_port={free_port()}"]
    argv += [str(HERE / "engine_driver.py")] if driver else ["-m", "avem_plugins.launch.launcher"]
    argv += ["--recipe", "avem-tiny", "--model_name_or_path", str(model_dir)]
    argv += ["--dataset_name", str(data), "--output_dir", str(out)]
    argv += ["--per_device_train_batch_size", str(GLOBAL_BATCH // nproc), *FLAGS]
    argv += (
        ["--use_cpu", "true"] if engine is None else ["--use_cpu", "false", "--ddp_backend", "gloo"]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "FSDP_"))}
    env |= dict(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]),
    )
    if engine is not None:
        env |= engine_env(engine)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)


def logged(out: Path) -> list[dict]:
    state = json.loads((out / "trainer_state.json").read_text())
    return [h for h in state["log_history"] if "loss" in h]


def adapter(out: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(out / "adapter_model.safetensors"))


@pytest.fixture(scope="module")
def setup(tiny_qwen2_5_omni_dir, avem_synth_clips, tmp_path_factory):
    data = write_authors_file(avem_synth_clips, avem_synth_clips[0].path.parent, n_rows=12)
    out = tmp_path_factory.mktemp("one")
    proc = run(1, tiny_qwen2_5_omni_dir, data, out, engine=None)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return tiny_qwen2_5_omni_dir, data, logged(out), adapter(out)


@pytest.mark.parametrize("engine", ["zero2", "zero3", "fsdp2"])
def test_two_processes_match_one_process(setup, engine, tmp_path):
    model_dir, data, one, one_adapter = setup
    proc = run(2, model_dir, data, tmp_path, engine=engine, driver=engine == "fsdp2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert f"AVEm-DPO engine: {ENGINE_LINE[engine]}" in proc.stdout  # the engine really ran
    two = logged(tmp_path)
    assert len(one) == len(two) == 3
    for a, b in zip(one, two, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], abs=2e-5), (one, two)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4), (one, two)
        assert b["num_tokens"] == a["num_tokens"]  # both processes' rows were counted
        assert b["epoch"] == pytest.approx(a["epoch"])  # the data is sharded, not duplicated
    assert one[-1]["loss"] != pytest.approx(one[0]["loss"], abs=1e-3)  # it did train
    # the saved adapter: the same LoRA tensors (gathered from the shards), the same values
    two_adapter = adapter(tmp_path)
    assert set(two_adapter) == set(one_adapter) and len(one_adapter) == 16
    for name, value in one_adapter.items():
        diff = (two_adapter[name].float() - value.float()).abs().max().item()
        assert diff <= 2e-4, (name, diff)


def test_fsdp_that_accelerate_does_not_set_up_stops_with_one_line(setup, tmp_path):
    """Without GPUs accelerate would run FSDP as no distribution at all: refused before step 1."""
    model_dir, data, _, _ = setup
    proc = run(2, model_dir, data, tmp_path, engine="fsdp2")
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: EngineError:")]
    assert errors, proc.stderr[-4000:]
    assert "asks for FSDP but accelerate set up NO on 2 process(es)" in errors[0]
    assert "[rank0]: Traceback" not in proc.stderr and "raise EngineError" not in proc.stderr
    assert not (tmp_path / "trainer_state.json").exists()
