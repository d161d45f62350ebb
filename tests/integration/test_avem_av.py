"""The ``avem_av`` lmms-eval model through the real lmms-eval evaluator, on generated clips.

A throwaway task is written to a temporary folder: ``dataset_path: json`` docs pointing at
generated mp4s (one doc has a separate wav), with ``doc_to_messages`` / ``doc_to_visual``
from ``avem_av_task_utils.py`` (copied next to the YAML, where lmms-eval looks).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("lmms_eval")

from avem_plugins.adapters.encoding import EncoderCallCounter

HERE = Path(__file__).resolve().parent
TASK = "avem_test_av"
FAST = "video_max_pixels=4096"  # ~10x fewer video tokens on the tiny models

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
def av_task(tmp_path_factory, avem_synth_clips):
    from avem_plugins.testing.synth import write_wav

    root = tmp_path_factory.mktemp("avem-av-task")
    wav = write_wav(root / "separate.wav", audio_cue="low_tone", seconds=2.0)
    docs = []
    for i, clip in enumerate(avem_synth_clips):
        doc = {
            "id": i,
            "video": str(clip.path),
            "question": f"Clip {i}: which emotion does the person show?",
            "answer": clip.emotion,
        }
        if i == 1:
            doc["audio"] = str(wav)  # a separate audio file instead of the clip's track
        docs.append(doc)
    (root / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / f"{TASK}.yaml").write_text(TASK_YAML)
    shutil.copy(HERE / "avem_av_task_utils.py", root / "av_utils.py")
    return SimpleNamespace(dir=root, docs=docs)


@pytest.fixture(scope="module")
def task_manager(av_task):
    from lmms_eval.tasks import TaskManager

    return TaskManager(include_path=str(av_task.dir))


def _evaluate(model, task_manager, model_args=None, **kwargs):
    from lmms_eval.evaluator import simple_evaluate

    return simple_evaluate(
        model=model,
        model_args=model_args,
        tasks=[TASK],
        task_manager=task_manager,
        log_samples=True,
        bootstrap_iters=0,
        **kwargs,
    )


def _answers(results) -> dict[int, str]:
    out = {}
    for sample in results["samples"][TASK]:
        resp = sample["filtered_resps"]
        out[int(sample["doc_id"])] = resp[0] if isinstance(resp, list) else resp
    return out


def _model(path, **args):
    from avem_plugins.lmms.model import AvemAV

    return AvemAV(pretrained=str(path), video_max_pixels=4096, **args)


# ---------------------------------------------------------------- every modalities value


@pytest.mark.parametrize("mods", ["text", "audio", "video", "av"])
def test_each_modalities_value_runs_through_the_evaluator(
    mods, tiny_qwen2_5_omni_dir, av_task, task_manager
):
    from avem_plugins.lmms.model import GENERATION_ERROR
    from avem_plugins.runinfo import current as run_info

    lm = _model(tiny_qwen2_5_omni_dir, modalities=mods, batch_size=2)
    with EncoderCallCounter(lm.model) as counter:
        results = _evaluate(lm, task_manager)
    answers = _answers(results)
    assert sorted(answers) == list(range(len(av_task.docs)))
    assert GENERATION_ERROR not in answers.values() and lm.error_count == 0
    assert results["results"][TASK]["answered,none"] == 1.0
    used = {"text": [], "audio": ["audio"], "video": ["video"], "av": ["audio", "video"]}
    assert run_info()["modalities"] == used[mods] and lm.run_info["modalities"] == used[mods]
    n = len(av_task.docs)
    # Every doc's media reached the towers, and only the requested ones.
    assert counter.items == {
        "audio": n if mods in ("audio", "av") else 0,
        "video": n if mods in ("video", "av") else 0,
    }


def test_chat_and_simple_forms_give_the_same_answers(tiny_qwen3_omni_dir, task_manager):
    args = f"pretrained={tiny_qwen3_omni_dir},modalities=av,{FAST},batch_size=3"
    chat = _evaluate("avem_av", task_manager, model_args=args)
    simple = _evaluate("avem_av", task_manager, model_args=args, force_simple=True)
    assert chat["config"]["model_backend"] == "avem_plugins.lmms.model.AvemAV (chat)"
    assert simple["config"]["model_backend"] == "avem_plugins.lmms.model.AvemAVSimple (simple)"
    assert _answers(chat) == _answers(simple)


def test_model_args_win_over_the_cli_defaults(tiny_qwen2_5_omni_dir):
    from avem_plugins.lmms.model import AvemAV

    lm = AvemAV.create_from_arg_string(
        f"pretrained={tiny_qwen2_5_omni_dir},batch_size=3,device=cpu,fail_fast=true",
        {"batch_size": 1, "max_batch_size": None, "device": "cuda"},
    )
    assert lm.batch_size == 3 and str(lm.device) == "cpu" and lm.fail_fast is True
    assert lm.rank == 0 and lm.world_size == 1 and lm.accelerator is not None
    with pytest.raises(TypeError, match="unknown model_args"):
        AvemAV(pretrained=str(tiny_qwen2_5_omni_dir), modality="av")


# ---------------------------------------------------------------- errors are never silent


def _requests(av_task, docs):
    from avem_av_task_utils import doc_to_messages
    from lmms_eval.api.instance import Instance

    return [
        Instance(
            request_type="generate_until",
            arguments=("ctx", doc_to_messages, {"max_new_tokens": 3}, i, "t", "test"),
            idx=0,
            metadata={"task": "t", "doc_id": i, "repeats": 1},
        )
        for i in range(len(docs))
    ]


def test_a_broken_doc_is_counted_logged_and_marked(tiny_qwen2_5_omni_dir, av_task, caplog):
    from avem_plugins.lmms.model import GENERATION_ERROR

    docs = [dict(av_task.docs[0]), dict(av_task.docs[2], video="/no/such/clip.mp4")]
    lm = _model(tiny_qwen2_5_omni_dir, batch_size=2)
    lm.task_dict = {"t": {"test": docs}}
    with caplog.at_level(logging.ERROR, logger="avem_plugins"):
        answers = lm.generate_until(_requests(av_task, docs))
    assert answers[1] == GENERATION_ERROR and answers[0] != GENERATION_ERROR
    assert lm.error_count == 1 and lm.errors[0]["doc_id"] == 1
    assert any("t/doc 1" in r.getMessage() and "clip.mp4" in r.getMessage() for r in caplog.records)

    strict = _model(tiny_qwen2_5_omni_dir, fail_fast=True)
    strict.task_dict = lm.task_dict
    from avem_plugins.media import MediaError

    with pytest.raises(MediaError):
        strict.generate_until(_requests(av_task, docs))


def test_a_failing_generation_is_isolated_to_its_doc(tiny_qwen2_5_omni_dir, av_task, monkeypatch):
    from avem_plugins.lmms.model import GENERATION_ERROR

    docs = [av_task.docs[0], av_task.docs[2]]
    lm = _model(tiny_qwen2_5_omni_dir, batch_size=2)
    lm.task_dict = {"t": {"test": docs}}
    real = lm.adapter.generation_inputs

    def flaky(processor, examples, **kwargs):
        if any(ex.id == "t/1" for ex in examples):
            raise RuntimeError("boom")
        return real(processor, examples, **kwargs)

    monkeypatch.setattr(lm.adapter, "generation_inputs", flaky)
    answers = lm.generate_until(_requests(av_task, docs))
    assert answers[1] == GENERATION_ERROR and answers[0] != GENERATION_ERROR
    assert lm.errors == [{"task": "t", "doc_id": 1, "error": "RuntimeError: boom"}]


# ---------------------------------------------------------------- a video-only model


def test_a_video_only_model_warns_and_records_the_modalities(
    tmp_path, av_task, task_manager, caplog
):
    from tiny_generic import build_tiny_video_only

    from avem_plugins.runinfo import current as run_info

    path = build_tiny_video_only(tmp_path / "vl")
    with caplog.at_level(logging.WARNING, logger="avem_plugins"):
        lm = _model(path, modalities="av", adapter="auto")
    assert any("cannot take ['audio']" in r.getMessage() for r in caplog.records)
    info = run_info()
    assert info["adapter"] == "hf_generic"
    assert info["requested_modalities"] == ["audio", "video"] and info["modalities"] == ["video"]
    with EncoderCallCounter(lm.model) as counter:
        results = _evaluate(lm, task_manager)
    assert results["results"][TASK]["answered,none"] == 1.0
    assert counter.items == {"video": len(av_task.docs)}


# ---------------------------------------------------------------- CUDA


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_runs_on_cuda(dtype, tiny_qwen3_omni_dir, task_manager):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    lm = _model(tiny_qwen3_omni_dir, modalities="av", device="cuda", dtype=dtype, batch_size=2)
    assert lm.device.type == "cuda" and next(lm.model.parameters()).is_cuda
    assert next(lm.model.parameters()).dtype == getattr(torch, dtype)
    results = _evaluate(lm, task_manager)
    assert results["results"][TASK]["answered,none"] == 1.0 and lm.error_count == 0


# ---------------------------------------------------------------- data parallel


@pytest.mark.slow
def test_two_processes_give_the_same_answers_as_one(tiny_qwen2_5_omni_dir, av_task, tmp_path):
    """torchrun with 2 CPU processes (gloo) vs one in-process run, same model_args.

    A random tiny model may give every doc the same answer (its logits are near ties, broken
    by the CPU's arithmetic), and then a mix-up of docs between ranks would not show. So one
    doc's clip is junk: its answer is the generation-error marker on any machine, and a doc
    landing on the wrong id moves it."""
    from lmms_eval.tasks import TaskManager

    from avem_plugins.lmms.model import GENERATION_ERROR

    task_dir = tmp_path / "task"
    shutil.copytree(av_task.dir, task_dir)
    junk = task_dir / "junk.mp4"
    junk.write_bytes(b"not a video " * 64)
    docs = [dict(d, video=str(junk)) if d["id"] == 2 else d for d in av_task.docs]
    (task_dir / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    args = f"pretrained={tiny_qwen2_5_omni_dir},modalities=av,{FAST},batch_size=1"
    one = _answers(_evaluate("avem_av", TaskManager(include_path=str(task_dir)), model_args=args))
    assert one[2] == GENERATION_ERROR and GENERATION_ERROR not in {one[0], one[1], one[3]}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_port", str(29500 + os.getpid() % 1000), "-m", "lmms_eval",
        "--model", "avem_av", "--model_args", args, "--tasks", TASK,
        "--include_path", str(task_dir), "--log_samples", "--output_path", str(tmp_path / "out"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Running on rank 1" in proc.stdout + proc.stderr
    files = glob.glob(str(tmp_path / "out" / "**" / f"*samples_{TASK}.jsonl"), recursive=True)
    assert len(files) == 1, files
    two = {}
    for line in Path(files[0]).read_text().splitlines():
        sample = json.loads(line)
        resp = sample["filtered_resps"]
        two[int(sample["doc_id"])] = resp[0] if isinstance(resp, list) else resp
    assert two == one
