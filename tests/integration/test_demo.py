"""`avem demo` end to end (shrunk): start, naive-dpo and avem through the real CLIs, one report."""

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
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", AVEM_WORLD_CACHE="off")
    res = subprocess.run(
        [str(avem), "demo", "--out", str(out), "--eval-clips", "3", "--train-clips", "4",
         "--pretrain-clips", "4", "--warmup-steps", "3", "--train-steps", "2"],
        capture_output=True, text=True, env=env, timeout=1200,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "TINY RANDOM-WEIGHT model" in res.stdout
    for recipe in ("naive-dpo", "avem"):
        run = out / "runs" / recipe / "seed_0"
        assert (run / "model" / "adapter_model.safetensors").exists()
        assert json.loads((run / "train.json").read_text())["argv"][1:4] == [
            "dpo",
            "--recipe",
            recipe,
        ]
    for run in ("base", "naive-dpo/seed_0", "avem/seed_0"):
        for modalities in ("av", "text"):
            (results,) = (out / "runs" / run / "eval" / modalities).rglob("*_results.json")
            data = json.loads(results.read_text())
            assert "emorealm" in data["results"]
            assert f"modalities={modalities}" in data["config"]["model_args"]
    page = (out / "report" / "study.html").read_text()
    assert 'id="study-table"' in page and 'src="study_failure.png"' in page
    # the summary leads with the three rows and says what training changed, from the logs
    lead = res.stdout[res.stdout.index("Failure modes on the cue world") :]
    rows = [line.split()[0] for line in lead.splitlines()[2:5]]
    assert rows == ["base", "naive-dpo", "avem"]
    assert len(re.findall(r"\b\d+ of 15\b", lead)) == 2, lead
    assert "rewards/accuracies" in lead
