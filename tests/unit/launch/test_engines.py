"""check_engine: an engine asked for but not set up is an error, never a silent fallback."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from avem_plugins.dpo.engines import EngineError, check_engine, requested_engine


def accelerator(kind: str, n: int):
    return SimpleNamespace(
        distributed_type=SimpleNamespace(name=kind), num_processes=n, device="cpu"
    )


@pytest.fixture
def env(monkeypatch):
    for name in ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_engine_that_was_set_up_passes(env):
    env.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    env.setenv("WORLD_SIZE", "2")
    assert requested_engine() == "DEEPSPEED"
    check_engine(accelerator("DEEPSPEED", 2))
    env.delenv("ACCELERATE_USE_DEEPSPEED")
    check_engine(accelerator("MULTI_CPU", 2))  # DDP on CPU asked for nothing more
    env.delenv("WORLD_SIZE")
    check_engine(accelerator("NO", 1))


@pytest.mark.parametrize(("wanted", "actual"), [("FSDP", "MULTI_CPU"), ("DEEPSPEED", "MULTI_CPU")])
def test_an_engine_asked_for_but_not_set_up_is_refused(env, wanted, actual):
    env.setenv(f"ACCELERATE_USE_{wanted}", "true")
    with pytest.raises(EngineError, match=f"asks for {wanted} but accelerate set up {actual}"):
        check_engine(accelerator(actual, 2))


def test_processes_that_do_not_know_each_other_are_refused(env):
    env.setenv("WORLD_SIZE", "2")
    with pytest.raises(
        EngineError, match="2 processes were launched but accelerate set up NO with 1"
    ):
        check_engine(accelerator("NO", 1))
