"""Multi-process evaluation: 2 processes answer like 1, one journal per rank, a killed run resumes.

All runs are the real lmms-eval CLI (``python -m lmms_eval`` through ``eval_rank_driver.py``,
which only records the batches ``avem_av`` generates) on a throwaway task of 8 docs over
generated clips, with the tiny Qwen2.5-Omni, greedy decoding and ``journal=DIR``:

1. one process, then two processes (torchrun, CPU): the same answer per doc and the same
   metrics; the requests are sharded (each rank generates only its own docs, none twice) and
   each rank journals its own answers in ``rank_<r>.jsonl``;
2. two processes killed (rank 0 SIGKILLs itself as it starts its second batch; torchrun stops
   rank 1), then the same command again: the resumed run generates only what the journal
   lacks, and ends with the one-process answers.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("lmms_eval")
pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
TASK = "avem_test_ranks"
N_DOCS = 8
TASK_YAML = f"""task: {TASK}
dataset_path: json
dataset_kwargs:
  data_files:
    test: docs.jsonl
test_split: test
output_type: generate_until
doc_to_text: !function av_utils.doc_to_text
doc_to_visual: !function av_utils.doc_to_visual
doc_to_messages: !function av_utils.doc_to_messages
doc_to_target: answer
generation_kwargs:
  max_new_tokens: 6
  do_sample: false
process_results: !function av_utils.process_results
metric_list:
  - metric: answered
    aggregation: mean
    higher_is_better: true
"""


@pytest.fixture(scope="module")
def task(tmp_path_factory, avem_synth_clips, tiny_qwen2_5_omni_dir):
    root = tmp_path_factory.mktemp("ranks-task")
    docs = [
        {
            "id": i,
            "video": str(avem_synth_clips[i % len(avem_synth_clips)].path),
            "question": f"Question {i}: which emotion {'is heard' if i % 2 else 'is seen'}?",
            "answer": avem_synth_clips[i % len(avem_synth_clips)].emotion,
        }
        for i in range(N_DOCS)
    ]
    (root / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / f"{TASK}.yaml").write_text(TASK_YAML)
    shutil.copy(HERE / "avem_av_task_utils.py", root / "av_utils.py")
    return SimpleNamespace(dir=root, model=tiny_qwen2_5_omni_dir)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def evaluate(task, out: Path, nproc: int, *, kill_at: int = 0) -> subprocess.CompletedProcess:
    journal = out / "journal"
    args = f"pretrained={task.model},modalities=av,video_max_pixels=4096,batch_size=2"
    args += f",journal={journal},media_prefetch=0"
    lmms = ["--model", "avem_av", "--model_args", args, "--tasks", TASK]
    lmms += ["--include_path", str(task.dir), "--log_samples", "--output_path", str(out / "res")]
    driver = [str(HERE / "eval_rank_driver.py"), str(out / "batches.jsonl"), str(kill_at)]
    if nproc == 1:
        cmd = [sys.executable, *driver, *lmms]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
        cmd += [f"--master_port={free_port()}", *driver, *lmms]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env |= {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


def answers(out: Path) -> dict[int, str]:
    files = glob.glob(str(out / "res" / "**" / f"*samples_{TASK}.jsonl"), recursive=True)
    assert len(files) == 1, files
    got = {}
    for line in Path(files[0]).read_text().splitlines():
        sample = json.loads(line)
        resp = sample["filtered_resps"]
        got[int(sample["doc_id"])] = resp[0] if isinstance(resp, list) else resp
    return got


def metrics(out: Path) -> dict:
    files = [
        f
        for f in glob.glob(str(out / "res" / "**" / "*.json"), recursive=True)
        if "samples_" not in f
    ]
    assert len(files) == 1, files
    return json.loads(Path(files[0]).read_text())["results"][TASK]


def batches(out: Path) -> list[dict]:
    path = out / "batches.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def journal(out: Path, rank: int) -> list[dict]:
    path = out / "journal" / f"rank_{rank}.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.fixture(scope="module")
def one(task, tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    proc = evaluate(task, out, 1)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = answers(out)
    assert sorted(got) == list(range(N_DOCS))
    assert len(set(got.values())) > 1  # answers differ per doc, so a mix-up would show
    return SimpleNamespace(answers=got, metrics=metrics(out), journal=journal(out, 0))


def test_two_processes_answer_each_doc_like_one_with_a_journal_per_rank(task, one, tmp_path):
    proc = evaluate(task, tmp_path, 2)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert answers(tmp_path) == one.answers  # per sample
    two_metrics = metrics(tmp_path)
    for key in ("answered,none", "answered_stderr,none"):
        assert two_metrics.get(key) == one.metrics.get(key), (two_metrics, one.metrics)
    # sharded, not duplicated: each rank generated its own docs, every doc once
    done = {
        rank: [i for b in batches(tmp_path) if b["rank"] == rank for i in b["ids"]]
        for rank in (0, 1)
    }
    assert done[0] and done[1], done
    assert not set(done[0]) & set(done[1])
    assert len(done[0]) + len(done[1]) == N_DOCS
    # one journal file per rank, each with that rank's answers, together the one-process keys
    ranks = [journal(tmp_path, 0), journal(tmp_path, 1)]
    assert len(ranks[0]) == len(done[0]) and len(ranks[1]) == len(done[1])
    keys = [{r["key"] for r in lines} for lines in ranks]
    assert not keys[0] & keys[1]
    assert keys[0] | keys[1] == {r["key"] for r in one.journal}


def test_a_killed_two_process_run_resumes_from_its_journals(task, one, tmp_path):
    killed = evaluate(task, tmp_path, 2, kill_at=2)
    assert killed.returncode != 0
    assert not glob.glob(str(tmp_path / "res" / "**" / "*.json"), recursive=True)  # no results
    kept = journal(tmp_path, 0) + journal(tmp_path, 1)
    assert 0 < len(kept) < N_DOCS, len(kept)  # rank 0 journaled its first batch, then died
    before = len(batches(tmp_path))

    resumed = evaluate(task, tmp_path, 2)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    regenerated = [i for b in batches(tmp_path)[before:] for i in b["ids"]]
    assert len(regenerated) == N_DOCS - len(kept)  # only what the journals lacked
    assert answers(tmp_path) == one.answers
    final = journal(tmp_path, 0) + journal(tmp_path, 1)
    assert len(final) == N_DOCS and len({r["key"] for r in final}) == N_DOCS  # none twice
