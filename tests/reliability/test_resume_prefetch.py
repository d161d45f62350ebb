"""A run killed while ``avem_av`` was decoding ahead resumes from its journal, losing nothing.

With ``media_prefetch=2`` a background thread decodes the media of the next two batches
while the model generates. The real lmms-eval CLI (through ``lmms_driver.py``, which records
each decode and each generate call) is SIGKILLed once the decoder has run ahead of the
model; the journal then holds only finished answers, each once. The resumed run (prefetch
on) generates exactly the requests the journal lacks, the journal ends with one line per
request, and the answers equal those of an uninterrupted run without prefetch.
Real CLI runs, about a minute on 2 cores: marked ``slow``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from reliability_data import DRIVER, lmms_env, read_record, run_lmms

pytestmark = pytest.mark.slow

LABELS = {
    1: "happiness", 2: "sadness", 3: "anger", 4: "fear", 5: "neutral", 6: "surprise",
    7: "disgust", 8: "happiness",
}  # fmt: skip


def test_killed_run_with_prefetch_resumes_without_losing_or_duplicating(
    tiny_qwen2_5_omni_dir, tmp_path
):
    from avem_plugins.testing.benchdata import write_dfew_tree

    dfew = write_dfew_tree(tmp_path / "DFEW", LABELS, clips=True)
    env = lmms_env(tmp_path, DFEW_ROOT=str(dfew))
    journal = tmp_path / "journal"
    model_args = (
        f"pretrained={tiny_qwen2_5_omni_dir},device=cpu,video_max_pixels=4096,max_new_tokens=4,"
        "batch_size=1"
    )

    def args(name: str, extra: str) -> list[str]:
        return ["--model", "avem_av", "--model_args", model_args + extra, "--tasks", "dfew",
                "--output_path", str(tmp_path / name), "--log_samples"]  # fmt: skip

    def answers(name: str) -> dict[str, list]:
        out = {}
        for path in (tmp_path / name).rglob("*_samples_dfew.jsonl"):
            for line in path.read_text().splitlines():
                entry = json.loads(line)
                out[entry["war"]["id"]] = entry["filtered_resps"]
        return out

    def events(record) -> tuple[int, int]:
        got = read_record(record)
        return (sum(e["event"] == "media" for e in got), sum(e["event"] == "generate" for e in got))

    prefetch = f",journal={journal},media_prefetch=2"
    record = tmp_path / "killed.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(DRIVER), str(record), *args("killed", prefetch)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 600
    ahead = False
    while time.time() < deadline and proc.poll() is None:
        decoded, generated = events(record)
        if generated >= 2 and decoded >= generated + 2:  # the decoder is two batches ahead
            ahead = True
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ahead, events(record)
    decoded, generated = events(record)

    lines = [json.loads(x) for x in (journal / "rank_0.jsonl").read_text().splitlines() if x]
    assert 1 <= len(lines) <= generated < len(LABELS) and decoded > len(lines)
    assert len({r["key"] for r in lines}) == len(lines)  # no answer written twice
    done = {r["request"].split("/doc ")[-1] for r in lines}

    resumed = run_lmms(tmp_path / "resumed.jsonl", args("resumed", prefetch), env)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]
    regenerated = [i for e in read_record(tmp_path / "resumed.jsonl") if e["event"] == "generate"
                   for i in e["ids"]]  # fmt: skip
    assert sorted(regenerated) == sorted(
        f"dfew/{i}" for i in range(len(LABELS)) if str(i) not in done
    )
    assert f"{len(lines)} of {len(LABELS)} answers taken from the journal" in (
        resumed.stdout + resumed.stderr
    )
    final = [json.loads(x) for x in (journal / "rank_0.jsonl").read_text().splitlines() if x]
    assert len(final) == len(LABELS) == len({r["key"] for r in final})  # each answer once

    fresh = run_lmms(tmp_path / "fresh.jsonl", args("fresh", ",media_prefetch=0"), env)
    assert fresh.returncode == 0, (fresh.stdout + fresh.stderr)[-4000:]
    assert answers("resumed") == answers("fresh")
    assert len(answers("resumed")) == len(LABELS)
