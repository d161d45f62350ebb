"""bench/*.py keep the profiler's and the device probe's native log lines out of their output.

torch's profiler library (kineto) writes ``USDT: ... profiler_start`` around each
``torch.profiler`` session and ``gpuGetDeviceCount failed`` on a machine without a GPU,
straight to file descriptor 2. ``bench/_common.quiet_native()`` (one call in each script)
turns them off; the control run without it shows the test can fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"
SESSION = """
import sys
sys.path.insert(0, {bench!r})
import _common
if {quiet!r}:
    _common.quiet_native()
import torch
from torch.profiler import ProfilerActivity, profile
with profile(activities=[ProfilerActivity.CPU], profile_memory=True):
    torch.ones(8) * 2
print("done")
"""
NOISE = ("profiler_start", "profiler_stop", "gpuGetDeviceCount")


def _session(quiet: bool) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINETO_")}
    res = subprocess.run(
        [sys.executable, "-c", SESSION.format(bench=str(BENCH), quiet=quiet)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert res.returncode == 0 and res.stdout.strip() == "done", res.stderr[-2000:]
    return res.stdout + res.stderr


def test_a_profiler_session_is_quiet_after_quiet_native():
    noisy = _session(quiet=False)
    assert "profiler_start" in noisy  # the control: the noise exists without the call
    quiet = _session(quiet=True)
    assert not [line for line in quiet.splitlines() if any(n in line for n in NOISE)], quiet


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("[!_]*.py")))
def test_every_bench_script_calls_it(script):
    text = (BENCH / script).read_text(encoding="utf-8")
    assert text.count("_common.quiet_native()") == 1, script
