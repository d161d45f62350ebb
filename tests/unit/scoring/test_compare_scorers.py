"""``avem compare-scorers``: a run's logged answers re-scored under robust and compat."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from avem_plugins.tasks import classification
from avem_plugins.tasks.emorealm import utils as emorealm
from typer.testing import CliRunner

from avem_plugins.cli.main import app
from avem_plugins.compare import CompareError, compare_run, format_table
from avem_plugins.scoring import authors

STANDIN = Path(__file__).resolve().parents[2] / "data" / "avere_standin"
FOUR = ["(A) Joy", "(B) Sad", "(C) Anger", "(D) Fear"]
YES_NO = ["(A) Yes", "(B) No"]
DFEW = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]


@pytest.fixture(autouse=True)
def reconstruction(monkeypatch):
    monkeypatch.delenv("AVEM_AVERE_REPO", raising=False)
    authors._authors_scorer.cache_clear()
    yield
    authors._authors_scorer.cache_clear()


def _write(folder: Path, task: str, samples: list[dict]) -> None:
    """A samples file as lmms-eval 0.7.3 writes it (the doc itself is not kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"20260101_000000_samples_{task}.jsonl", "w", encoding="utf-8") as handle:
        for sample in samples:
            handle.write(json.dumps(sample) + "\n")


def _emorealm_samples(task: str, golds_answers: list[tuple[str, str]]) -> list[dict]:
    out = []
    for i, (gold, answer) in enumerate(golds_answers):
        doc = {"id": f"{task}-{i}", "task": task, "choices": YES_NO if "basic" not in task else FOUR,
               "answer": gold, "stress_kind": None, "answer_parser": "robust"}  # fmt: skip
        metrics = emorealm.process_results(doc, [answer])
        out.append({"doc_id": i, "target": gold, "filtered_resps": answer, "input": "q", **metrics})
    return out


def _dfew_samples(golds_answers: list[tuple[str, str]]) -> list[dict]:
    out = []
    for i, (gold, answer) in enumerate(golds_answers):
        doc = {"id": str(i + 1), "label": gold, "labels": DFEW, "modality": "av",
               "answer_parser": "robust", "scorer_family": "dfew"}  # fmt: skip
        metrics = classification.process_results(doc, [answer])
        out.append({"doc_id": i, "target": gold, "filtered_resps": answer, "input": "q", **metrics})
    return out


@pytest.fixture
def run(tmp_path) -> Path:
    out = tmp_path / "out" / "model"
    # "A or B" and "a man smiles" are right for the authors' scorer, unparsed for ours;
    # a bare "Yes" is right for ours and never for theirs
    _write(out, "emorealm_reasoning_basic_video",
           _emorealm_samples("reasoning_basic_video", [("A", "A or B"), ("A", "a man smiles"), ("B", "(B)"), ("C", "b")]))  # fmt: skip
    _write(out, "emorealm_modality_agreement",
           _emorealm_samples("modality_agreement", [("A", "Yes"), ("B", "No"), ("A", "(A)")]))  # fmt: skip
    # "sad"/"angry" are unknown to the authors' scorer (happiness); "" is dropped by theirs
    _write(out, "dfew", _dfew_samples([("sadness", "sad"), ("anger", "angry"), ("happiness", ""),
                                       ("fear", "Fear."), ("happiness", "happy")]))  # fmt: skip
    (out / "20260101_000000_results.json").write_text("{}")
    return tmp_path / "out"


def test_both_parsers_per_task(run):
    result = compare_run([run], examples=5)
    by = {t.task: t for t in result.tasks}
    basic = by["emorealm_reasoning_basic_video"]
    assert basic.n == 4 and basic.scores["accuracy"] == {"robust": 0.25, "compat": 0.75}
    assert basic.changed == 2 and basic.compat_scorer == "compat-reconstruction"
    agreement = by["emorealm_modality_agreement"]
    assert agreement.scores["accuracy"] == {"robust": 1.0, "compat": 1 / 3}
    dfew = by["dfew"]
    # robust: sad, angry, fear, happy right; "" wrong -> 4/5. compat: "" dropped; sad and
    # angry -> happiness (wrong); fear and happy right -> 2/4
    assert dfew.scores["war"] == {"robust": pytest.approx(4 / 5), "compat": pytest.approx(2 / 4)}
    assert dfew.changed == 3  # sad, angry, and the dropped blank
    assert ("sad", "sadness", "happiness") in dfew.examples
    assert ("", "empty", "dropped") in dfew.examples
    assert result.emorealm_mean is None  # not all five subtasks were run
    assert result.compat_note.startswith("compat: reconstruction, known to differ")
    table = format_table(result)
    assert "compat = compat-reconstruction" in table
    assert "emorealm_reasoning_basic_video" in table and "+50.00" in table


def test_the_five_task_mean(tmp_path):
    out = tmp_path / "out"
    for task in ("reasoning_basic_audio", "reasoning_basic_video", "modality_agreement",
                 "reasoning_stress_audio", "reasoning_stress_video"):  # fmt: skip
        pairs = [("A", "(A)"), ("B", "A")] if "basic" in task else [("A", "Yes")]
        _write(out, f"emorealm_{task}", _emorealm_samples(task, pairs))
    mean = compare_run([out]).emorealm_mean
    assert mean == {"robust": pytest.approx((0.5 * 2 + 1.0 * 3) / 5),
                    "compat": pytest.approx((0.5 * 2 + 0.0 * 3) / 5)}  # fmt: skip


def test_compat_is_the_authors_function_with_avem_avere_repo(run, monkeypatch):
    monkeypatch.setenv("AVEM_AVERE_REPO", str(STANDIN))
    result = compare_run([run])
    by = {t.task: t for t in result.tasks}
    assert result.compat_scorer.startswith("compat-authors@") and result.compat_note == ""
    # the stand-in: right when the answer starts with the gold letter or holds "(x)"
    assert by["emorealm_reasoning_basic_video"].scores["accuracy"]["compat"] == 0.75
    # the stand-in's emotions: none of these words -> its fallback (neutral); "" raises
    assert by["dfew"].scores["war"]["compat"] == 0.0


def test_no_samples_is_a_clear_error(tmp_path):
    (tmp_path / "x_results.json").write_text("{}")
    with pytest.raises(CompareError, match="run lmms-eval with --log_samples"):
        compare_run([tmp_path])
    result = CliRunner().invoke(app, ["compare-scorers", str(tmp_path)])
    assert result.exit_code == 2 and "--log_samples" in result.output


def test_older_task_versions_and_other_tasks_are_skipped(run):
    _write(run / "model", "mmmu_val", [{"doc_id": 0, "filtered_resps": "A", "mmmu_acc": {"x": 1}}])
    old = {"doc_id": 0, "filtered_resps": "A", "answer_parser": {"id": "1", "correct": True,
           "status": "ok", "parser": "robust"}}  # fmt: skip
    _write(run / "model", "emorealm_reasoning_stress_audio", [old])
    result = compare_run([run])
    assert (
        "mmmu_val" in result.skipped
        and "before 2.0" in result.skipped["emorealm_reasoning_stress_audio"]
    )
    assert "skipped mmmu_val" in format_table(result)


def test_the_cli_prints_the_table_and_writes_json(run, tmp_path):
    out = tmp_path / "cmp.json"
    result = CliRunner().invoke(
        app, ["compare-scorers", str(run), "--examples", "1", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "dfew" in result.output and "war" in result.output and "robust" in result.output
    saved = json.loads(out.read_text())
    assert {t["task"] for t in saved["tasks"]} == {
        "dfew", "emorealm_reasoning_basic_video", "emorealm_modality_agreement",
    }  # fmt: skip
