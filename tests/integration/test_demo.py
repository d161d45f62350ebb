"""`avem demo` end to end (shrunk): real lmms-eval CLI, real `trl dpo --recipe avem-tiny`, report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avem_plugins.cli.main import app


def test_demo_refuses_to_overwrite(tmp_path):
    (tmp_path / "keep.txt").write_text("user data")
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path)])
    assert res.exit_code == 1
    assert "--force" in res.output
    assert (tmp_path / "keep.txt").read_text() == "user data"


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    avem = Path(sys.executable).with_name("avem")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    res = subprocess.run(
        [str(avem), "demo", "--out", str(out), "--eval-clips", "4", "--train-clips", "4",
         "--warmup-steps", "3", "--train-steps", "2"],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "TINY RANDOM-WEIGHT model" in res.stdout
    for step in range(1, 8):
        assert f"[demo {step}/7]" in res.stdout
    for run in ("before_av", "before_text", "after_av", "after_text"):
        (results,) = (out / "eval" / run).rglob("*_results.json")
        data = json.loads(results.read_text())
        assert "emorealm" in data["results"]
        assert f"modalities={run.split('_')[1]}" in data["config"]["model_args"]
    assert (out / "models" / "avem-dpo" / "adapter_model.safetensors").exists()
    page = (out / "report" / "report.html").read_text()
    assert 'src="tasks.png"' in page and 'src="text_probe.png"' in page
    assert "emorealm_reasoning_stress_audio" in res.stdout
    # the summary says how much training changed, measured from the logged answers
    assert re.search(r"answers changed by training \(av\): \d+ of 20\b", res.stdout), res.stdout[
        -2000:
    ]
    assert "rewards/accuracies" in res.stdout
