"""The AVERE authors' protocol through the real lmms-eval CLI, read back from logged samples.

1. ``emorealm``, ``dfew`` and ``ravdess`` with the tiny Qwen2.5-Omni generating: the text
   that reaches the model is ``question + " " + " ".join(choices)`` byte for byte inside
   the model's own chat template (EmoReAlM; the one-word question for DFEW/RAVDESS), and
   ``max_new_tokens`` is 5 in the logged requests and in the ``generate`` call.
2. ``AVEM_ANSWER_PARSER=compat`` with ``AVEM_AVERE_REPO``: every logged answer of a large
   generated set (:mod:`avem_plugins.testing.answer_strings`, fed to ``avem_av`` by
   ``answer_driver.py``) is scored exactly as the authors' function scores it, loaded here
   independently with plain importlib. ``AVEM_AVERE_REPO`` from the environment (a real
   checkout of github.com/ihp-lab/AVERE) is used when set; otherwise the stand-in checkout
   in tests/data/avere_standin, whose made-up rules differ from our reconstruction, so
   agreement proves the checkout's function ran.
3. (slow) The authors' sampling, ``--gen_kwargs temperature=...,do_sample=True``, reaches
   ``generate``, and the same ``--seed`` gives the same answers whatever ran before.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lmms_eval")

from avem_plugins.testing import answer_strings
from avem_plugins.testing.benchdata import write_dfew_tree

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "answer_driver.py"
STANDIN = HERE.parent / "data" / "avere_standin"
EMOREALM_TASKS = [
    "emorealm_reasoning_basic_audio",
    "emorealm_reasoning_basic_video",
    "emorealm_modality_agreement",
    "emorealm_reasoning_stress_audio",
    "emorealm_reasoning_stress_video",
]
CLASSIFICATION_PROMPT = "Describe the emotion of the person in the video in one word."
TEMPLATE_END = "<|im_end|>\n<|im_start|>assistant\n"
DFEW_IDS = {"happiness": 1, "sadness": 2, "neutral": 3, "anger": 4, "surprise": 5, "disgust": 6,
            "fear": 7}  # fmt: skip


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AVEM_", "DFEW_", "RAVDESS_"))}
    env.update(
        HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_CACHE=str(root / "hf-datasets"), TOKENIZERS_PARALLELISM="false",
        CUDA_VISIBLE_DEVICES="",
    )  # fmt: skip
    env.update(extra)
    return env


def _run(answers: str, record: Path, env: dict[str, str], *args: str, timeout: int) -> Path:
    out = record.parent / "out"
    cmd = [sys.executable, str(DRIVER), answers, str(record), "--model", "avem_av",
           "--output_path", str(out), "--log_samples", *args]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    (record.parent / "lmms-eval.log").write_text(proc.stdout + proc.stderr)
    log = proc.stdout[-3000:] + proc.stderr[-6000:]
    assert proc.returncode == 0 and list(out.rglob("*_results.json")), log
    return out


def _samples(out: Path, task: str) -> list[dict[str, Any]]:
    (path,) = out.rglob(f"*_samples_{task}.jsonl")
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _results(out: Path, section: str = "results") -> dict[str, Any]:
    (path,) = out.rglob("*_results.json")
    return json.loads(path.read_text())[section]


# --------------------------------------------------------------------------- 1. the prompt

QUESTIONS = [
    {"id": "p1", "video": "part_1/1.mp4", "task": "reasoning_basic_audio",
     "question": "What emotion does the speaker's tone of voice convey?",
     "choices": ["(A) Anger", "(B) Happiness", "(C) Sadness", "(D) Fear"], "answer": "B"},
    {"id": "p2", "video": "part_2/2.mp4", "task": "reasoning_basic_video",
     "question": "Which facial cue best explains the emotion? ",  # the trailing space stays
     "choices": ["(A) Raised eyebrows", "(B) Furrowed brow", "(C) Smile", "(D) Tears"], "answer": "C"},
    {"id": "p3", "video": "part_1/1.mp4", "task": "modality_agreement",
     "question": "Do the audio and the video express the same emotion?",
     "choices": ["(A) Yes", "(B) No"], "answer": "A"},
    {"id": "p4", "video": "part_2/2.mp4", "task": "reasoning_stress_audio",
     "question": "Does the loud laughter contribute to the happiness of the person?",
     "choices": ["(A) Yes", "(B) No"], "answer": "B"},
    {"id": "p5", "video": "part_1/1.mp4", "task": "reasoning_stress_video",
     "question": "Does the blue shirt contribute to the sadness of the person?",
     "choices": ["(A) Yes", "(B) No"], "answer": "B"},
]  # fmt: skip


def _records(record: Path) -> dict[str, dict[str, Any]]:
    """``task/doc_id`` -> what the model received (see answer_driver.py)."""
    by_id: dict[str, dict[str, Any]] = {}
    with open(record, encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            for example_id, text in zip(entry["ids"], entry["inputs"], strict=True):
                by_id[example_id] = {"input": text, "kwargs": entry["generate_kwargs"]}
    return by_id


def test_the_prompt_and_answer_length_that_reach_the_model(tiny_qwen2_5_omni_dir, tmp_path):
    from avem_plugins.testing.synth import write_clip

    dfew = write_dfew_tree(tmp_path / "DFEW", {1: "happiness", 2: "sadness"}, clips=True)
    questions = tmp_path / "emorealm_v1.json"
    questions.write_text(json.dumps(QUESTIONS))
    ravdess = tmp_path / "RAVDESS"
    for name in ("Actor_01/01-01-05-01-01-01-01.mp4", "Actor_02/01-01-03-02-01-02-02.mp4"):
        write_clip(ravdess / name, visual_cue="brightness_up", audio_cue="low_tone", seed=1,
                   num_frames=8, fps=8, size=(64, 64))  # fmt: skip
    record = tmp_path / "record.jsonl"
    env = _env(
        tmp_path, EMOREALM_JSON=str(questions), DFEW_ROOT=str(dfew), RAVDESS_ROOT=str(ravdess)
    )
    out = _run(
        "-", record, env,
        "--model_args", f"pretrained={tiny_qwen2_5_omni_dir},device=cpu,video_max_pixels=4096",
        "--tasks", "emorealm,dfew,ravdess",
        timeout=900,
    )  # fmt: skip
    seen = _records(record)
    configs = _results(out, "configs")
    items = {q["id"]: q for q in QUESTIONS}
    checked = 0
    for task in (*EMOREALM_TASKS, "dfew", "ravdess"):
        # the requests' generation settings (lmms-eval logs them with the task config)
        gen_kwargs = configs[task]["generation_kwargs"]
        assert gen_kwargs["max_new_tokens"] == 5 and gen_kwargs["until"] == []
        assert gen_kwargs["do_sample"] is False
        samples = _samples(out, task)
        assert samples, task
        for sample in samples:
            record = sample["answer_parser"]  # our per-sample record (lmms-eval omits the doc)
            if task.startswith("emorealm"):
                item = items[record["id"]]
                prompt = item["question"] + " " + " ".join(item["choices"])
            else:
                prompt = CLASSIFICATION_PROMPT
            assert sample["input"] == prompt
            got = seen[f"{task}/{sample['doc_id']}"]
            # byte for byte, inside the model's own template: after the media, before the
            # end of the user turn
            assert got["input"].endswith(prompt + TEMPLATE_END), got["input"][-300:]
            before = got["input"][: -len(prompt + TEMPLATE_END)]
            # the media (audio interleaved with the video, Qwen-Omni's form), then the text
            assert before.endswith(("<|audio_eos|>", "<|vision_eos|>")), before[-200:]
            assert "<|AUDIO|>" in before and "<|VIDEO|>" in before
            assert before.count("<|im_start|>user\n") == 1
            assert got["kwargs"]["max_new_tokens"] == 5 and got["kwargs"]["do_sample"] is False
            checked += 1
    assert checked == 5 + 2 + 2
    assert all(_results(out)[t]["answer_parser,none"] == "robust" for t in EMOREALM_TASKS)


# --------------------------------------------------------------------------- 2. compat


@contextlib.contextmanager
def _authors_module(repo: Path, relative: str) -> Iterator[Any]:
    """The authors' file loaded with plain importlib (its siblings on ``sys.path``)."""
    evaluate = repo / "evaluate" if (repo / "evaluate").is_dir() else repo
    saved_path, saved = list(sys.path), {k: sys.modules.get(k) for k in ("utils", "eval_constants")}
    sys.path.insert(0, str(evaluate))
    for name in saved:
        sys.modules.pop(name, None)
    try:
        spec = importlib.util.spec_from_file_location("_test_authors", evaluate / relative)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path[:] = saved_path
        for name, value in saved.items():
            if value is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = value


def _keyword_words(module: Any) -> list[str]:
    """The words of a module's keyword table, if it has one (used in memory only)."""
    table = getattr(module, "emotion_list", None) or {}
    words = []
    for value in table.values() if isinstance(table, dict) else []:
        words += [str(w) for w in value] if isinstance(value, list | tuple | set) else []
    return words


def _emorealm_items(cases: list[tuple[str, list[str], str]]) -> tuple[list[dict], dict[str, str]]:
    items, answers = [], {}
    four = [t for t in EMOREALM_TASKS[:2]]
    yes_no = [t for t in EMOREALM_TASKS[2:]]
    for i, (answer, choices, gold) in enumerate(cases):
        tasks = yes_no if len(choices) == 2 else four
        item_id = f"emo-{i:06d}"
        items.append({
            "id": item_id, "video": "part_1/1.mp4", "task": tasks[i % len(tasks)].removeprefix("emorealm_"),
            "question": f"Question {i}?", "choices": choices, "answer": gold,
        })  # fmt: skip
        answers[item_id] = answer
    return items, answers


def _write_dfew(root: Path, strings: list[str]) -> dict[str, str]:
    """A fold-1 tree with one empty clip per answer string (media are not decoded here)."""
    split = root / "EmoLabel_DataSplit" / "test(single-labeled)"
    split.mkdir(parents=True)
    answers = {}
    with open(split / "set_1.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_name", "label"])
        for i, text in enumerate(strings):
            clip = i + 1
            part = root / "Clip" / f"part_{clip % 11 + 1}"
            part.mkdir(parents=True, exist_ok=True)
            (part / f"{clip}.mp4").touch()
            writer.writerow([clip, i % 7 + 1])
            answers[str(clip)] = text
    return answers


def _write_ravdess(root: Path, strings: list[str]) -> tuple[dict[str, str], list[str]]:
    """Empty ``01-01-*`` clips, one per string (at most the 1536 names RAVDESS has)."""
    names = [f"01-01-{e:02d}-{i:02d}-{s:02d}-{r:02d}-{a:02d}" for a in range(1, 25)
             for e in range(1, 9) for i in (1, 2) for s in (1, 2) for r in (1, 2)]  # fmt: skip
    answers = {}
    for name, text in zip(names, strings, strict=False):
        folder = root / f"Actor_{name[-2:]}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.mp4").touch()
        answers[name] = text
    return answers, strings[: len(names)]


def _authors_label(fn: Callable[[str], Any], text: str) -> str | None:
    """What the authors' evaluation does with one answer: a label, or ``None`` (skipped)."""
    try:
        return str(fn(text.strip().lower()))
    except Exception:
        return None


def test_compat_scores_every_logged_answer_as_the_authors_function(tiny_qwen2_5_omni_dir, tmp_path):
    repo = Path(os.environ.get("AVEM_AVERE_REPO") or STANDIN).expanduser().resolve()
    with _authors_module(repo, "tasks/evaluate_emorealm.py") as module:
        matches = module.matches_correct_answer
    with _authors_module(repo, "tasks/evaluate_emotion_dfew.py") as module:
        dfew_fn = module.description2emotion
        extra = _keyword_words(module)
    with _authors_module(repo, "tasks/evaluate_emotion_ravdess_video.py") as module:
        ravdess_fn = module.description2emotion

    cases = answer_strings.emorealm_cases()
    strings = answer_strings.emotion_strings(extra_words=extra)
    assert len(cases) >= 5000 and len(strings) >= 6000
    items, emo_answers = _emorealm_items(cases)
    questions = tmp_path / "emorealm_v1.json"
    questions.write_text(json.dumps(items))
    dfew_answers = _write_dfew(tmp_path / "DFEW", strings)
    subset = random.Random(15).sample(strings, k=min(len(strings), 1536))
    ravdess_answers, _ = _write_ravdess(tmp_path / "RAVDESS", subset)
    table = tmp_path / "answers.json"
    table.write_text(
        json.dumps({"emorealm": emo_answers, "dfew": {**dfew_answers, **ravdess_answers}})
    )
    env = _env(
        tmp_path, EMOREALM_JSON=str(questions), DFEW_ROOT=str(tmp_path / "DFEW"),
        RAVDESS_ROOT=str(tmp_path / "RAVDESS"), AVEM_ANSWER_PARSER="compat", AVEM_AVERE_REPO=str(repo),
    )  # fmt: skip
    out = _run(
        str(table), tmp_path / "record.jsonl", env,
        "--model_args", f"pretrained={tiny_qwen2_5_omni_dir},device=cpu,modalities=text,batch_size=64",
        "--tasks", "emorealm,dfew,ravdess_8class",
        timeout=1800,
    )  # fmt: skip
    results = _results(out)

    # EmoReAlM: the logged verdict of every answer is the authors' function's
    n_emo = disagree_emo = 0
    for task in EMOREALM_TASKS:
        logged = _samples(out, task)
        verdicts = []
        for sample in logged:
            record, answer = sample["answer_parser"], sample["filtered_resps"]
            assert (
                answer == emo_answers[record["id"]].strip()
            )  # the fed answer, as lmms-eval strips it
            want = bool(matches(answer.strip().lower(), record["gold"]))
            disagree_emo += record["correct"] != want or sample["accuracy"] != float(want)
            verdicts.append(want)
            n_emo += 1
        assert results[task]["accuracy,none"] == pytest.approx(sum(verdicts) / len(verdicts))
        assert results[task]["answer_parser,none"].startswith("compat-authors@")
        assert results[task]["answer_parser_note,none"] == ""
    assert n_emo == len(cases)

    # DFEW / RAVDESS: the logged label of every answer is the authors' function's, and the
    # answers their evaluation skips (it raised) are the ones dropped
    disagree_cls = n_cls = 0
    for task, fn, fed in (
        ("dfew", dfew_fn, dfew_answers),
        ("ravdess_8class", ravdess_fn, ravdess_answers),
    ):
        kept_gold, kept_pred = [], []
        for sample in _samples(out, task):
            record, answer = sample["war"], sample["filtered_resps"]
            assert answer == fed[record["id"]].strip()
            want = _authors_label(fn, answer)
            got = None if record["status"] == "dropped" else record["pred"]
            disagree_cls += got != want
            n_cls += 1
            if want is not None:
                kept_gold.append(record["gold"])
                kept_pred.append(want)
        war = sum(g == p for g, p in zip(kept_gold, kept_pred, strict=True)) / len(kept_gold)
        assert results[task]["war,none"] == pytest.approx(war)
        assert results[task]["dropped_count,none"] == len(_samples(out, task)) - len(kept_gold)
        assert results[task]["answer_parser,none"].startswith("compat-authors@")
    assert n_cls == len(strings) + len(subset)
    print(f"\ncompat agreement with {repo}: EmoReAlM {n_emo} cases, {disagree_emo} disagreements; "
          f"DFEW+RAVDESS {n_cls} strings, {disagree_cls} disagreements")  # fmt: skip
    assert (disagree_emo, disagree_cls) == (0, 0)


def test_compat_without_the_authors_code_says_so_in_the_log_and_the_results(
    tiny_qwen2_5_omni_dir, tmp_path
):
    from avem_plugins.scoring.authors import RECONSTRUCTION_NOTICE

    dfew = write_dfew_tree(tmp_path / "DFEW", {1: "happiness", 2: "sadness"}, clips=False)
    questions = tmp_path / "emorealm_v1.json"
    questions.write_text(json.dumps(QUESTIONS))
    env = _env(
        tmp_path, EMOREALM_JSON=str(questions), DFEW_ROOT=str(dfew), AVEM_ANSWER_PARSER="compat"
    )
    out = _run(
        "-", tmp_path / "record.jsonl", env,
        "--model_args", f"pretrained={tiny_qwen2_5_omni_dir},device=cpu,modalities=text",
        "--tasks", "emorealm,dfew",
        timeout=600,
    )  # fmt: skip
    results = _results(out)
    for task in (*EMOREALM_TASKS, "dfew"):
        assert results[task]["answer_parser,none"] == "compat-reconstruction"
        assert results[task]["answer_parser_note,none"] == RECONSTRUCTION_NOTICE
    assert RECONSTRUCTION_NOTICE in (tmp_path / "lmms-eval.log").read_text()


# --------------------------------------------------------------------------- 3. sampling


@pytest.mark.slow  # three CLI runs, about 4 minutes on 2 cores
def test_the_authors_sampling_is_one_gen_kwargs_away_and_reproducible(
    tiny_qwen2_5_omni_dir, tmp_path
):
    """``--gen_kwargs temperature=...,do_sample=True`` samples; the same ``--seed`` gives the
    same answers even when other tasks run first (a different RNG history)."""
    from avem_plugins.testing.synth import write_clip

    dfew = write_dfew_tree(
        tmp_path / "DFEW", {1: "happiness", 2: "sadness", 3: "anger"}, clips=True
    )
    ravdess = tmp_path / "RAVDESS"
    write_clip(ravdess / "Actor_01/01-01-05-01-01-01-01.mp4", visual_cue="brightness_up",
               audio_cue="low_tone", seed=1, num_frames=8, fps=8, size=(64, 64))  # fmt: skip
    env = _env(tmp_path, DFEW_ROOT=str(dfew), RAVDESS_ROOT=str(ravdess))
    model_args = f"pretrained={tiny_qwen2_5_omni_dir},device=cpu,video_max_pixels=4096"
    # a high temperature so the random tiny model's draws differ between seeds
    sampled = ("--gen_kwargs", "temperature=1.5,do_sample=True")

    def answers(name: str, tasks: str, seed: str) -> list[str]:
        run = tmp_path / name
        run.mkdir()
        out = _run("-", run / "record.jsonl", env, "--model_args", model_args, "--tasks", tasks,
                   *sampled, "--seed", seed, timeout=600)  # fmt: skip
        calls = [json.loads(line) for line in (run / "record.jsonl").read_text().splitlines()]
        assert all(c["generate_kwargs"]["do_sample"] is True for c in calls)
        assert {c["generate_kwargs"]["temperature"] for c in calls} == {1.5}
        assert all(c["generate_kwargs"]["max_new_tokens"] == 5 for c in calls)
        return [
            s["filtered_resps"] for s in sorted(_samples(out, "dfew"), key=lambda s: s["doc_id"])
        ]

    first = answers("a", "dfew", "0,1234,1234,1234")
    assert first == answers("b", "ravdess,dfew", "0,1234,1234,1234")
    assert first != answers("c", "dfew", "0,1234,99,1234")
