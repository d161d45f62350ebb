"""Which distributed engine a training run really uses (DDP, FSDP2, DeepSpeed ZeRO), checked.

``accelerate launch --config_file recipes/accelerate/<engine>.yaml`` (what ``trl dpo --recipe ...
--accelerate_config <engine>`` runs) passes the engine to each process through environment
variables (``ACCELERATE_USE_FSDP``, ``ACCELERATE_USE_DEEPSPEED``, ...). When the processes cannot
run that engine, accelerate 1.15 does not say so: on a machine without GPUs it sets up FSDP as
plain CPU data parallelism (``MULTI_CPU``), or, with ``use_cpu`` off, as *no* distribution at
all, each process then stepping on its own shard of the data without any gradient exchange.
:func:`check_engine` turns both into an :class:`EngineError` before step 1, and
:func:`describe_engine` is the one line the trainer prints at the first step (engine, processes,
wrapper, how the parameters are sharded) so a log shows what ran.
"""

from __future__ import annotations

import os
from typing import Any


class EngineError(RuntimeError):
    """The launch asked for an engine that the processes did not set up; the message says why."""


def _flag(name: str) -> bool:
    return os.environ.get(name, "false").strip().lower() in ("1", "true", "yes")


def requested_engine() -> str | None:
    """``"FSDP"`` or ``"DEEPSPEED"`` when the launch environment asks for one, else ``None``."""
    if _flag("ACCELERATE_USE_DEEPSPEED"):
        return "DEEPSPEED"
    if _flag("ACCELERATE_USE_FSDP"):
        return "FSDP"
    return None


def launched_processes() -> int:
    """Processes the launcher started (``WORLD_SIZE``; 1 outside a distributed launch)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def check_engine(accelerator: Any) -> None:
    """Raise :class:`EngineError` when the set-up engine is not the one the launch asked for."""
    actual = accelerator.distributed_type.name
    launched = launched_processes()
    wanted = requested_engine()
    if wanted is not None and actual != wanted:
        raise EngineError(
            f"the accelerate config asks for {wanted} but accelerate set up {actual} on "
            f"{accelerator.num_processes} process(es), device {accelerator.device}: accelerate "
            "builds FSDP only for processes that own a GPU (and DeepSpeed only with use_cpu off), "
            "so this run would not shard anything. Run it on GPUs, or launch with "
            "--accelerate_config ddp (docs/BENCHMARKS.md, 'FSDP2 and DeepSpeed ZeRO')"
        )
    if launched > 1 and accelerator.num_processes != launched:
        raise EngineError(
            f"{launched} processes were launched but accelerate set up {actual} with "
            f"{accelerator.num_processes} process(es): each would train on its own shard with no "
            "gradient exchange. On CPU, train with --use_cpu true (gloo data parallelism), or "
            "with --ddp_backend gloo for DeepSpeed"
        )


def _sharding(model: Any) -> str:
    params = list(model.parameters())
    if not params:
        return "no parameters"
    from torch.distributed.tensor import DTensor  # torch >= 2.4 (the package's floor)

    dtensor = sum(isinstance(p, DTensor) for p in params)
    if dtensor:
        return f"{dtensor} of {len(params)} parameter tensors sharded (DTensor)"
    zero3 = sum(hasattr(p, "ds_id") for p in params)
    if zero3:
        return f"{zero3} of {len(params)} parameter tensors partitioned (ZeRO-3)"
    return f"{len(params)} parameter tensors replicated"


def describe_engine(accelerator: Any, model: Any) -> str:
    """One line: engine (with the ZeRO stage), processes, wrapper class and parameter sharding."""
    kind = accelerator.distributed_type.name
    state = accelerator.state
    if kind == "DEEPSPEED":
        plugin = getattr(state, "deepspeed_plugin", None)
        stage = getattr(plugin, "zero_stage", None)
        kind = f"DEEPSPEED ZeRO-{stage}" if stage is not None else kind
    elif kind == "FSDP":
        plugin = getattr(state, "fsdp_plugin", None)
        kind = f"FSDP{getattr(plugin, 'fsdp_version', '')}"
    return (
        f"AVEm-DPO engine: {kind} over {accelerator.num_processes} process(es) on "
        f"{accelerator.device}; model {type(model).__name__}; {_sharding(model)}"
    )


__all__ = [
    "EngineError",
    "check_engine",
    "describe_engine",
    "launched_processes",
    "requested_engine",
]
