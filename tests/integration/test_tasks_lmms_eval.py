"""Our tasks through the real lmms-eval 0.7.3 (and lm-eval 0.4.13), with no --include_path.

One CLI run (a subprocess: ``python -m lmms_eval``) evaluates ``emorealm`` on an
official-format questions file over generated DFEW-style clips, ``dfew`` on a generated
DFEW tree and ``ravdess_audio`` on the real RAVDESS wavs with a tiny Qwen2.5-Omni, and
checks the results file has every metric. In-process tests check the task index (our
tasks found, lm-eval YAMLs hidden, built-ins win with a warning) and the missing-media
error raised when a task loads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lmms_eval")

from avem_plugins.testing.benchdata import write_dfew_tree, write_emorealm_json

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
RAVDESS = REALDATA / "ravdess"
EMOREALM_TASKS = [
    "emorealm_reasoning_basic_audio",
    "emorealm_reasoning_basic_video",
    "emorealm_modality_agreement",
    "emorealm_reasoning_stress_audio",
    "emorealm_reasoning_stress_video",
]
COMMON = {
    "unparsed_count", "unparsed_rate", "empty_count", "missing_media_count", "answer_parser",
    "answer_parser_note", "model_modalities",
}  # fmt: skip
YES_NO = {
    "paper_precision_yes_acc", "paper_recall_no_acc", "paper_f1_yes_no", "yes_rate",
    "relevant_acc", "spurious_acc", "hallucination_acc",
}  # fmt: skip
CLASSIFICATION = {"uar", "war", "macro_f1", "confusion_matrix", "dropped_count", *COMMON}
DFEW_LABELS = {1: "happiness", 2: "sadness", 3: 0, 4: "anger", 5: "fear"}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """Generated DFEW tree (real mp4s with audio) and an EmoReAlM file over its clips."""
    root = tmp_path_factory.mktemp("bench")
    dfew = write_dfew_tree(root / "DFEW", DFEW_LABELS, clips=True)
    # released paths look like part_1/1.mp4; ours are zero-padded: found by id
    questions = write_emorealm_json(
        root / "emorealm_v1.json", ["part_1/1.mp4", "part_2/2.mp4"], stress_kinds=True
    )
    return {"root": root, "dfew": dfew, "questions": questions}


def _env(bench, **extra):
    env = dict(os.environ)
    for var in (
        "AVEM_ALLOW_MISSING_MEDIA",
        "AVEM_ANSWER_PARSER",
        "DFEW_AUDIO_ROOT",
        "DFEW_ANNOTATIONS",
    ):
        env.pop(var, None)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_DATASETS_CACHE=str(bench["root"] / "hf-datasets"),
        EMOREALM_JSON=str(bench["questions"]),
        DFEW_ROOT=str(bench["dfew"]),
        RAVDESS_ROOT=str(RAVDESS),
    )
    env.update(extra)
    return env


@pytest.mark.skipif(not RAVDESS.is_dir(), reason=f"real RAVDESS wavs not found at {RAVDESS}")
def test_cli_runs_emorealm_dfew_and_ravdess_audio_with_no_include_path(
    bench, tiny_qwen2_5_omni_dir, tmp_path
):
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "lmms_eval",
        "--model", "avem_av",
        "--model_args", f"pretrained={tiny_qwen2_5_omni_dir},device=cpu,video_max_pixels=4096,max_new_tokens=8",
        "--tasks", "emorealm,dfew,ravdess_audio",
        "--limit", "2",
        "--output_path", str(out),
        "--log_samples",
    ]  # fmt: skip
    # LMMS_EVAL_PLUGINS=avem_plugins (lmms-eval's legacy plugin variable) must not crash it
    proc = subprocess.run(
        cmd,
        env=_env(bench, LMMS_EVAL_PLUGINS="avem_plugins"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = proc.stdout[-4000:] + proc.stderr[-8000:]
    results_files = sorted(out.rglob("*_results.json"))
    assert proc.returncode == 0 and results_files, (
        log
    )  # lmms-eval exits 0 on errors: check the file
    results = json.loads(results_files[-1].read_text())["results"]

    def metrics(task):
        return {key.split(",")[0] for key in results[task] if "_stderr" not in key and "," in key}

    for task in EMOREALM_TASKS:
        expected = {"accuracy", *COMMON} | (YES_NO if task not in EMOREALM_TASKS[:2] else set())
        assert metrics(task) == expected, task
        assert results[task]["answer_parser,none"] == "robust"
        assert results[task]["missing_media_count,none"] == 0
        # which media reached the model is in the results file itself
        assert results[task]["model_modalities,none"] == "audio,video"
    # the headline: the unweighted mean of the five task accuracies
    mean = sum(results[t]["accuracy,none"] for t in EMOREALM_TASKS) / 5
    assert results["emorealm"]["accuracy,none"] == pytest.approx(mean)
    # the generated stress items say their kind; the first two are relevant and spurious
    assert results["emorealm_reasoning_stress_audio"]["relevant_acc,none"] is not None
    assert (
        results["emorealm_reasoning_stress_audio"]["hallucination_acc,none"] is None
    )  # none within --limit 2
    for task in ("dfew", "ravdess_audio"):
        assert metrics(task) == CLASSIFICATION, task
        cm = results[task]["confusion_matrix,none"]
        assert len(cm["labels"]) == 7 and len(cm["matrix"]) == 7
        n_scored = sum(map(sum, cm["matrix"])) + sum(cm["predicted_outside_labels"])
        assert n_scored == 2  # every answer is in the matrix or counted as outside the labels
        assert 0.0 <= results[task]["uar,none"] <= 1.0
    samples = {
        p.name.split("_samples_")[1].removesuffix(".jsonl") for p in out.rglob("*_samples_*.jsonl")
    }
    assert samples == {"dfew", "ravdess_audio", *EMOREALM_TASKS}


@pytest.fixture(scope="module")
def task_manager_cls():
    import lmms_eval.models  # noqa: F401  (runs our entry point, as the CLI does)
    from lmms_eval.tasks import TaskManager

    from avem_plugins.lmms.entrypoint import status

    assert status()["manifests"] == "ok"
    assert getattr(TaskManager.initialize_tasks, "__avem_wrapped__", False)
    return TaskManager


@pytest.fixture(scope="module")
def task_manager(task_manager_cls):
    return task_manager_cls("WARNING")  # indexing lmms-eval's ~340 task folders takes seconds


def test_task_index_has_our_tasks_without_include_path(task_manager_cls, task_manager):
    tm = task_manager
    for name in ("emorealm", *EMOREALM_TASKS, "dfew", "dfew_fold5", "ravdess", "ravdess_8class",
                 "ravdess_audio", "ravdess_audio_8class", "emer"):  # fmt: skip
        assert name in tm.all_tasks, name
    assert "emorealm" in tm.all_groups
    assert "emorealm_instructed" in tm.all_groups  # the 1.x prompt, by include (issue 15)
    for name in EMOREALM_TASKS:
        assert name.replace("emorealm_", "emorealm_instructed_") in tm.all_tasks, name
    assert "ravdess_audio_lmeval" not in tm.all_tasks  # an lm-eval task: hidden from lmms-eval
    assert "emorealm" not in task_manager_cls("WARNING", include_defaults=False).all_tasks


def test_a_task_with_our_name_elsewhere_wins_with_a_warning(task_manager_cls, tmp_path):
    from loguru import logger

    (tmp_path / "dfew.yaml").write_text("task: dfew\ndataset_path: json\n")
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(str(m)), level="WARNING")
    try:
        tm = task_manager_cls("WARNING", include_path=str(tmp_path))
    finally:
        logger.remove(sink)
    assert tm.task_index["dfew"]["yaml_path"] == str(tmp_path / "dfew.yaml")
    assert any("'dfew'" in m and "shadowed" in m for m in messages), messages


def test_missing_media_is_one_clear_error_when_the_task_loads(
    task_manager, bench, tmp_path, monkeypatch
):
    from lmms_eval.api.task import ConfigurableTask
    from lmms_eval.tasks import get_task_dict

    from avem_plugins.scoring.taskdata import MissingMediaError

    broken = write_dfew_tree(tmp_path / "DFEW", DFEW_LABELS, clips=False)
    (broken / "Clip" / "part_2" / "00002.mp4").unlink()
    for key, value in _env(bench, DFEW_ROOT=str(broken)).items():
        monkeypatch.setenv(key, value)
    # lmms-eval retries a failing dataset load 5 times, 2 s apart: skip the waits here
    monkeypatch.setattr(ConfigurableTask.download.retry, "sleep", lambda seconds: None)
    with pytest.raises(Exception) as info:
        get_task_dict(["dfew"], task_manager, task_type="chat")
    chain, err = [], info.value
    while err is not None:
        chain.append(err)
        err = err.__cause__ or err.__context__
    found = [e for e in chain if isinstance(e, MissingMediaError)]
    assert found, chain
    assert "1 of 4 items have missing media files under DFEW_ROOT=" in str(found[0])
    assert "/**/2.mp4" in str(found[0]) and "AVEM_ALLOW_MISSING_MEDIA=1" in str(found[0])

    monkeypatch.setenv("AVEM_ALLOW_MISSING_MEDIA", "1")
    tasks = get_task_dict(["dfew"], task_manager, task_type="chat")
    docs = tasks["dfew"].test_docs()
    assert len(docs) == 3 and docs[0]["missing_media_count"] == 1


@pytest.mark.skipif(not RAVDESS.is_dir(), reason=f"real RAVDESS wavs not found at {RAVDESS}")
def test_lm_eval_finds_and_runs_ravdess_audio_lmeval(monkeypatch):
    pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager
    from typer.testing import CliRunner

    from avem_plugins.cli.main import app

    folder = CliRunner().invoke(app, ["tasks-dir", "--harness", "lm-eval"]).stdout.strip()
    monkeypatch.setenv("RAVDESS_ROOT", str(RAVDESS))
    monkeypatch.delenv("AVEM_ANSWER_PARSER", raising=False)
    tm = TaskManager(include_path=folder, include_defaults=False)
    assert "ravdess_audio_lmeval" in tm.all_tasks
    task = tm.load_task_or_group(["ravdess_audio_lmeval"])["ravdess_audio_lmeval"]
    docs = task.test_docs()
    assert len(docs) == 42  # 48 speech wavs, calm dropped
    audio = task.doc_to_audio(docs[0])
    assert audio[0]["sampling_rate"] == 16000 and audio[0]["array"].ndim == 1
    assert task.doc_to_text(docs[0]).startswith("<audio>")
    items = [task.process_results(d, [d["label"]]) for d in docs]  # a perfect "model"
    agg = task.aggregation()
    assert agg["uar"]([r["uar"] for r in items]) == 1.0
    assert agg["war"]([r["war"] for r in items]) == 1.0
    assert agg["unparsed_count"]([r["unparsed_count"] for r in items]) == 0
