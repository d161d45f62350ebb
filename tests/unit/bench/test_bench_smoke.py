"""The ``bench/`` scripts run and print their tables (their speed is not checked here).

Performance claims live in the benchmarks (docs/BENCHMARKS.md), never in timed tests: each
script runs here in a subprocess at its smallest size, and the test checks its exit status,
its table and the structure of the measurements it writes with ``--json``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BENCH = ROOT / "bench"


def run_script(name: str, *args: str, tmp_path: Path) -> tuple[str, dict]:
    """Run ``bench/<name>`` with ``args``; its stdout and its ``--json`` payload."""
    out = tmp_path / "out.json"
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, str(BENCH / name), *args, "--workdir", str(tmp_path / "work"),
         "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout, json.loads(out.read_text())


def table_rows(stdout: str, first_header: str) -> list[list[str]]:
    """The data rows of the printed table whose first column is ``first_header``."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} "))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def test_train_step_quick_prints_its_table_and_targets(tmp_path):
    stdout, data = run_script(
        "train_step.py", "--quick", "--steps", "1", "--samples", "2", "--batch-size", "1",
        tmp_path=tmp_path,
    )  # fmt: skip
    assert "machine: nproc=" in stdout and "command: python bench/train_step.py" in stdout
    rows = table_rows(stdout, "contender")
    assert [r[0] for r in rows] == ["trl", "avem", "policy"]
    targets = {r[0]: r[3] for r in table_rows(stdout, "target")}
    assert len(targets) == 4 and set(targets.values()) <= {"met", "MISSED"}
    results = data["results"]
    for name, result in results.items():
        assert result["finite_loss"], name
        assert positive(result["step_s"]) and positive(result["weights_bytes"]), name
        assert result["transient_peak_bytes"] is not None and result["transient_peak_bytes"] > 0
    # what each contender scores: TRL chosen + rejected; ours 4 media rows + 3 text rows
    assert results["trl"]["rows_per_sample"] == {"media": 2, "text": 0}
    assert results["avem"]["rows_per_sample"] == {"media": 4, "text": 3}
    assert results["policy"]["rows_per_sample"] == {"media": 4, "text": 0}


def test_realistic_size_config_builds_with_the_published_parameter_counts(bench_module):
    train_step = bench_module("train_step")
    from avem_plugins.testing.tiny import build_processor

    processor = build_processor("qwen2_5_omni")
    counts = {
        size: train_step.count_parameters(train_step.realistic_config(size, processor)) / 1e9
        for size in ("3b", "7b")
    }  # built on the meta device: no memory
    # thinker = language model + vision and audio towers (Qwen2.5-Omni-7B's is ~8.9 B)
    assert 4.0 < counts["3b"] < 5.5 and 8.5 < counts["7b"] < 9.5


def test_media_quick_prints_both_tables(tmp_path):
    stdout, data = run_script(
        "media.py", "--quick", "--rounds", "1", "--sets", "RAVDESS-like 320x180",
        "--eval-clips", "2", "--per-task", "1", tmp_path=tmp_path,
    )  # fmt: skip
    assert "audio baseline: lmms-eval: read_video + " in stdout
    loaders = table_rows(stdout, "loader")
    names = [r[0] for r in loaders]
    assert names[0] == "ours: decode_clip, auto (PyAV one pass)"
    assert "lmms-eval: read_video (frames only)" in names and data["audio_baseline"] in names
    assert sum(n.startswith("ours: PyAV one pass, thread_type=") for n in names) == 4
    (result,) = data["throughput"].values()
    assert all(positive(v) for v in result["clips_per_s"].values())
    frames = {tuple(s[0]) for s in result["shapes"].values()}
    assert frames == {(8, 180, 320, 3)}, "every loader must return the same frames"
    audio = {n: s[1] for n, s in result["shapes"].items() if n.startswith("ours")}
    assert audio.pop("ours: frames only (load_frames, PyAV)") is None
    assert set(audio.values()) == {16000}  # 1 s at 16 kHz, from every backend of ours
    assert all(positive(v) for v in result["cpu_ms_per_clip"].values())
    runs = table_rows(stdout, "run")
    assert [r[0] for r in runs] == ["avem_av (default media cache)", "same, cache disabled"]
    decodes = data["decodes"]
    assert decodes["clips"] == 2 and decodes["questions"] == 5
    assert decodes["cache"]["clips_decoded"] == 2
    statuses = {r[0]: r[3] for r in table_rows(stdout, "target")}
    assert len(statuses) == 4 and set(statuses.values()) <= {"met", "MISSED"}


def test_eval_quick_splits_the_run(tmp_path):
    stdout, data = run_script(
        "eval.py", "--quick", "--clips", "2", "--per-task", "1", "--overlap-clips", "2",
        tmp_path=tmp_path,
    )  # fmt: skip
    phases = [r[0] for r in table_rows(stdout, "phase")]
    assert any(p.startswith("decode:") for p in phases)
    assert any(p.startswith("model:") for p in phases)
    assert any(p.startswith("scoring:") for p in phases)
    parts = table_rows(stdout, "part")
    assert [r[0].split(" ")[0] for r in parts] == ["decode", "model", "scoring", "everything"]
    assert data["questions"] == 5 and positive(data["total_s"])
    seconds = {k: v[0] for k, v in data["timers"].items()}
    assert positive(seconds["model"]) and positive(seconds["media"])
    modes = table_rows(stdout, "mode")
    assert [r[0] for r in modes] == ["overlap (media_prefetch=2)", "no overlap (media_prefetch=0)"]
    assert modes[0][-1].split(": ")[-1] in ("met", "MISSED") and modes[1][-1] == ""
    waits = data["media_wait"]
    for name in ("overlap (media_prefetch=2)", "no overlap (media_prefetch=0)"):
        assert positive(waits[name]["model_s"]) and positive(waits[name]["decode_s"])
        assert waits[name]["wait_s"] >= 0 and len(waits["runs"][name]) == 1


def test_train_loader_quick_compares_workers_with_pre_decoded(tmp_path):
    stdout, data = run_script("train_loader.py", "--quick", "--samples", "6", tmp_path=tmp_path)
    rows = table_rows(stdout, "setting")
    assert [r[0] for r in rows] == [
        "workers=2, decoded in the workers", "workers=2, pre-decoded",
        "workers=0, decoded in the loop", "workers=0, pre-decoded",
    ]  # fmt: skip
    # decoding happened in the workers, or in the training loop, as each setting says
    # (6 clips, each frames + audio; the mismatched inputs are the same clips: cache hits)
    assert [r[-1] for r in rows] == ["0", "0", "12", "0"]
    assert all(positive(v) for v in data["summary"].values())
    (status,) = [r[3] for r in table_rows(stdout, "target")]
    assert status in ("met", "MISSED")


@pytest.fixture
def bench_module():
    """Import a ``bench/`` script as a module (they import ``_common`` from their folder)."""
    import importlib

    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture
def common(bench_module):
    return bench_module("_common")


def test_tensor_peak_measures_cpu_tensors_exactly(common):
    import torch

    def work():
        a = torch.ones(1_000_000)  # 4 MB
        b = torch.ones(2_000_000)  # 8 MB, both alive: the peak
        del a
        c = torch.ones(500_000)  # 2 MB, after a is freed
        return b, c

    assert common.tensor_peak(work) == 12_000_000


def test_table_and_interleaving(common):
    text = common.table(["a", "bb"], [["x", 1.23456], ["yy", None]])
    assert text.splitlines() == ["| a  | bb   |", "|----|------|", "| x  | 1.23 |", "| yy | -    |"]
    order = []
    times = common.interleaved(
        {"p": lambda: order.append("p"), "q": lambda: order.append("q")}, rounds=2, warmup=1
    )
    assert order == ["p", "q", "q", "p", "p", "q"]  # rotated each round
    assert {k: len(v) for k, v in times.items()} == {"p": 2, "q": 2}
