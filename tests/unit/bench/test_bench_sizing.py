"""bench/sizing.py: the parameter counts behind the sizing plan, and the per-GPU arithmetic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"


@pytest.mark.slow
def test_params_only_counts_the_recipes_on_the_meta_device():
    pytest.importorskip("transformers")
    res = subprocess.run(
        [sys.executable, str(BENCH / "sizing.py"), "--params-only"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    rows = {
        line.split("|")[1].strip(): line for line in res.stdout.splitlines() if "| avem-" in line
    }
    # the published thinkers: 4.70 B (3B), 8.93 B (7B, as bench/train_step.py --params-only)
    assert "| 4.70 B " in rows["avem-qwen2.5-omni-3b"]
    assert "| 8.93 B " in rows["avem-qwen2.5-omni-7b"]
    assert "| 31.72 B " in rows["avem-qwen3-omni-30b-a3b"]


def test_engines_shard_what_they_promise():
    sys.path.insert(0, str(BENCH))
    try:
        import sizing
    finally:
        sys.path.remove(str(BENCH))
    c = {"total": 8_000, "lora": 80, "layer": 100, "layers": 10, "lm": 7_000}
    ddp = sizing.per_gpu(c, act=1000.0, batch=2, engine="DDP")
    assert (ddp["weights"], ddp["lora"], ddp["grads"], ddp["adam"]) == (16_000, 320, 320, 640)
    assert ddp["activations"] == 2000.0 and ddp["gathered"] == 0
    z2 = sizing.per_gpu(c, act=1000.0, batch=2, engine="ZeRO-2")
    assert (z2["weights"], z2["grads"], z2["adam"]) == (16_000, 40, 80)  # 8 GPUs
    for engine in ("ZeRO-3", "FSDP2"):
        z3 = sizing.per_gpu(c, act=1000.0, batch=2, engine=engine)
        assert z3["weights"] == 2_000 and z3["gathered"] == 200 and z3["adam"] == 80
