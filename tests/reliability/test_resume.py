"""Interrupted runs: training killed after a checkpoint resumes to the same weights; an
evaluation run with `--use_cache` does not recompute the samples a finished run answered.

Both are real CLI runs (`trl dpo --recipe avem-tiny`, `lmms-eval` through
``lmms_driver.py``) and take about a minute each on 2 cores: marked ``slow``.

Training (CPU, fixed seed): the uninterrupted run and the run killed with SIGKILL right after
``checkpoint-2`` was complete, then resumed with ``--resume_from_checkpoint``, end with the
same LoRA tensors (tolerance: absolute 1e-6, none relative; on one machine they are equal to
the bit) and the same logged losses, and every file they wrote is complete.

Evaluation: lmms-eval 0.7.3's ``--use_cache DIR`` keeps one SQLite file per rank and merges it
into ``DIR/cache.db`` when a run ends; it stores a run's answers only after the model has
answered all of that run's requests (see docs/RELIABILITY.md), so what resumes is the work of
runs that finished, e.g. earlier chunks (``--limit``) or tasks. The test proves that through
``avem_av``'s own ``generate`` calls.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reliability_data import lmms_env, pref_row, read_record, run_lmms, write_jsonl

pytestmark = pytest.mark.slow

TRL = Path(sys.executable).parent / "trl"
ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "CUDA_VISIBLE_DEVICES": "",
    "OMP_NUM_THREADS": "1",  # the same thread count in every run: the same float sums
}
#: Absolute tolerance on the final adapter tensors (see the module docstring).
ATOL = 1e-6


@pytest.fixture(scope="module")
def prefs(avem_synth_clips, tmp_path_factory) -> tuple[Path, Path]:
    media = avem_synth_clips[0].path.parent
    n = len(avem_synth_clips)
    rows = [pref_row(i, avem_synth_clips[i % n].path.name) for i in range(8)]
    return write_jsonl(tmp_path_factory.mktemp("resume") / "prefs.jsonl", rows), media


def _trl_dpo(tiny: Path, prefs: tuple[Path, Path], out: Path, *extra: str) -> list[str]:
    prefs_file, media = prefs
    return [
        str(TRL), "dpo", "--recipe", "avem-tiny", "--model_name_or_path", str(tiny),
        "--dataset_name", str(prefs_file), "--media_root", str(media), "--output_dir", str(out),
        "--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2",
        "--num_processes", "1", *extra,
    ]  # fmt: skip


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "AVEM_TRL_HOOK"} | ENV


def _complete_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _run_until_killed(cmd: list[str], checkpoint: Path, log: Path) -> None:
    """Start ``cmd``, SIGKILL its whole process group once ``checkpoint`` is complete."""
    with open(log, "w") as handle:
        proc = subprocess.Popen(
            cmd, stdout=handle, stderr=handle, env=_env(), start_new_session=True
        )
    state = checkpoint / "trainer_state.json"  # the last file a checkpoint writes
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        if _complete_json(state) is not None:
            break
        time.sleep(0.01)
    assert proc.poll() is None, f"the run ended before it could be interrupted:\n{log.read_text()}"
    os.killpg(proc.pid, signal.SIGSTOP)  # freeze at once, then look
    try:
        out = checkpoint.parent
        assert _complete_json(state) is not None, log.read_text()[-3000:]
        assert (
            not (out / "checkpoint-4").exists() and not (out / "adapter_model.safetensors").exists()
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(path)


def _losses(out: Path) -> list[tuple[int, float]]:
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    return [(h["step"], h["loss"]) for h in history if "loss" in h]


def _assert_no_file_truncated(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert path.stat().st_size > 0, f"{path} is empty"
            if path.suffix == ".safetensors":
                assert _tensors(path), path
            elif path.suffix == ".json":
                assert _complete_json(path) is not None, f"{path} is not complete JSON"


def test_killed_training_resumes_to_the_same_adapter(tiny_qwen2_5_omni_dir, prefs, tmp_path):
    import torch

    full, killed = tmp_path / "full", tmp_path / "killed"
    res = subprocess.run(
        _trl_dpo(tiny_qwen2_5_omni_dir, prefs, full), capture_output=True, text=True, env=_env(),
        timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]

    _run_until_killed(
        _trl_dpo(tiny_qwen2_5_omni_dir, prefs, killed), killed / "checkpoint-2", tmp_path / "k.log"
    )
    interrupted = _tensors(killed / "checkpoint-2" / "adapter_model.safetensors")
    res = subprocess.run(
        _trl_dpo(tiny_qwen2_5_omni_dir, prefs, killed,
                 "--resume_from_checkpoint", str(killed / "checkpoint-2")),
        capture_output=True, text=True, env=_env(), timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]

    expected = _tensors(full / "adapter_model.safetensors")
    resumed = _tensors(killed / "adapter_model.safetensors")
    assert expected.keys() == resumed.keys() and any("lora_B" in k for k in expected)
    for key in expected:
        torch.testing.assert_close(resumed[key], expected[key], rtol=0, atol=ATOL, msg=key)
    # the run really moved on after the checkpoint (the comparison is not trivially true)
    assert any(not torch.equal(interrupted[k], resumed[k]) for k in interrupted)
    # the checkpoint the run was killed after is intact and equals the uninterrupted run's
    for key, value in _tensors(full / "checkpoint-2" / "adapter_model.safetensors").items():
        torch.testing.assert_close(interrupted[key], value, rtol=0, atol=ATOL)
    # steps 1-2 come from the checkpoint's state, 3-4 from the resumed run: all four logged
    full_losses, resumed_losses = _losses(full), _losses(killed)
    assert [s for s, _ in resumed_losses] == [1, 2, 3, 4] == [s for s, _ in full_losses]
    for (_, a), (_, b) in zip(full_losses, resumed_losses, strict=True):
        assert b == pytest.approx(a, abs=ATOL)
    assert json.loads((killed / "trainer_state.json").read_text())["global_step"] == 4
    for folder in (killed, killed / "checkpoint-2", killed / "checkpoint-4"):
        assert (folder / "adapter_model.safetensors").is_file(), folder
    _assert_no_file_truncated(killed)


# ----------------------------------------------------------------------- evaluation


def test_use_cache_does_not_recompute_answered_samples(tiny_qwen2_5_omni_dir, tmp_path):
    from avem_plugins.testing.benchdata import write_dfew_tree

    dfew = write_dfew_tree(tmp_path / "DFEW", {1: "happiness", 2: "sadness", 3: "anger",
                                               4: "fear"}, clips=True)  # fmt: skip
    cache = tmp_path / "cache"
    env = lmms_env(tmp_path, DFEW_ROOT=str(dfew))
    base = [
        "--model", "avem_av",
        "--model_args", f"pretrained={tiny_qwen2_5_omni_dir},device=cpu,video_max_pixels=4096,max_new_tokens=4",
        "--tasks", "dfew", "--use_cache", str(cache), "--log_samples",
    ]  # fmt: skip

    def run(name: str, *extra: str) -> tuple[list[str], dict[str, str], str]:
        record = tmp_path / f"{name}.jsonl"
        proc = run_lmms(record, [*base, "--output_path", str(tmp_path / name), *extra], env)
        log = proc.stdout + proc.stderr
        assert proc.returncode == 0 and list((tmp_path / name).rglob("*_results.json")), log[-5000:]
        generated = [i for e in read_record(record) if e["event"] == "generate" for i in e["ids"]]
        answers = {}
        for path in (tmp_path / name).rglob("*_samples_dfew.jsonl"):
            for line in path.read_text().splitlines():
                entry = json.loads(line)
                answers[entry["war"]["id"]] = entry["filtered_resps"]
        return generated, answers, log

    first, first_answers, _ = run("first", "--limit", "2")  # e.g. the first chunk
    assert sorted(first) == ["dfew/0", "dfew/1"]
    assert (cache / "cache.db").is_file()  # merged when the run finished

    second, second_answers, log = run("second")  # the whole fold
    assert sorted(second) == ["dfew/2", "dfew/3"], second  # only the new samples
    assert "ResponseCache: 2/4 cache hits" in log
    assert len(second_answers) == 4
    for clip, answer in first_answers.items():  # the cached answers are the ones scored
        assert second_answers[clip] == answer


def test_killed_evaluation_resumes_from_the_journal(tiny_qwen2_5_omni_dir, tmp_path):
    """A run killed mid-generation with ``journal=DIR`` resumes without regenerating answers.

    batch_size=1, so each answer is journaled (flush + fsync) before the next is generated;
    the run is SIGKILLed once its third generate call has started. The resumed run generates
    only what the journal lacks, and its answers equal those of an uninterrupted run.
    """
    from reliability_data import DRIVER

    from avem_plugins.testing.benchdata import write_dfew_tree

    labels = {1: "happiness", 2: "sadness", 3: "anger", 4: "fear", 5: "neutral", 6: "surprise"}
    dfew = write_dfew_tree(tmp_path / "DFEW", labels, clips=True)
    env = lmms_env(tmp_path, DFEW_ROOT=str(dfew))
    journal = tmp_path / "journal"
    model_args = (
        f"pretrained={tiny_qwen2_5_omni_dir},device=cpu,video_max_pixels=4096,max_new_tokens=4,"
        "batch_size=1"
    )

    def args(name: str, extra: str = "") -> list[str]:
        return ["--model", "avem_av", "--model_args", model_args + extra, "--tasks", "dfew",
                "--output_path", str(tmp_path / name), "--log_samples"]  # fmt: skip

    def answers(name: str) -> dict[str, list]:
        out = {}
        for path in (tmp_path / name).rglob("*_samples_dfew.jsonl"):
            for line in path.read_text().splitlines():
                entry = json.loads(line)
                out[entry["war"]["id"]] = entry["filtered_resps"]
        return out

    record = tmp_path / "killed.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(DRIVER), str(record), *args("killed", f",journal={journal}")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if sum(e["event"] == "generate" for e in read_record(record)) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    journaled = [json.loads(x) for x in (journal / "rank_0.jsonl").read_text().splitlines()]
    assert 2 <= len(journaled) < len(labels), journaled
    done = {r["request"].split("/doc ")[-1] for r in journaled}

    resumed = run_lmms(tmp_path / "resumed.jsonl", args("resumed", f",journal={journal}"), env)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]
    generated = [i for e in read_record(tmp_path / "resumed.jsonl") if e["event"] == "generate"
                 for i in e["ids"]]  # fmt: skip
    assert sorted(generated) == sorted(
        f"dfew/{i}" for i in range(len(labels)) if str(i) not in done
    )
    assert f"{len(journaled)} of {len(labels)} answers taken from the journal" in (
        resumed.stdout + resumed.stderr
    )

    fresh = run_lmms(tmp_path / "fresh.jsonl", args("fresh"), env)
    assert fresh.returncode == 0, (fresh.stdout + fresh.stderr)[-4000:]
    assert answers("resumed") == answers("fresh")
    assert len(answers("resumed")) == len(labels)
