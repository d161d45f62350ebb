"""`avem study` without the heavy stack: table and report from results files, resume, protocol."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avem_plugins.cli.main import app
from avem_plugins.study import BASE, Study, StudyConfig, StudyError
from avem_plugins.study_table import COLUMNS, column_values

TASKS = ("reasoning_basic_audio", "reasoning_basic_video", "modality_agreement",
         "reasoning_stress_audio", "reasoning_stress_video")  # fmt: skip


def fake_results(folder: Path, modalities: str, acc: float, answers: dict[str, list[str]]) -> Path:
    """An lmms-eval-shaped results file (+ samples files) whose numbers derive from ``acc``."""
    sub = folder / "avem_av"
    sub.mkdir(parents=True, exist_ok=True)
    results = {
        "emorealm": {"alias": "emorealm", "accuracy,none": acc, "accuracy_stderr,none": "N/A"}
    }
    for i, task in enumerate(TASKS):
        values = {"alias": task, "accuracy,none": acc + 0.01 * i}
        if "stress" in task or "agreement" in task:
            values |= {"paper_f1_yes_no,none": acc / 2 + 0.01 * i, "spurious_acc,none": acc / 3 + 0.01 * i,
                       "hallucination_acc,none": acc / 4 + 0.01 * i, "yes_rate,none": 0.5}  # fmt: skip
        results[f"emorealm_{task}"] = values
        lines = [
            json.dumps({"doc_id": j, "filtered_resps": [a]})
            for j, a in enumerate(answers.get(task, []))
        ]
        (sub / f"20260101_samples_emorealm_{task}.jsonl").write_text("\n".join(lines) + "\n")
    path = sub / "20260101_results.json"
    path.write_text(json.dumps({
        "results": results,
        "config": {"model": "avem_av", "model_args": f"pretrained=x,modalities={modalities}"},
        "versions": {"emorealm": 2.0},
        "configs": {"emorealm_reasoning_basic_audio": {"generation_kwargs": {"max_new_tokens": 5}}},
    }))  # fmt: skip
    return path


def make_study(tmp_path: Path, **kw) -> Study:
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text("{}\n")
    config = StudyConfig(out=tmp_path / "study", model="some/model", prefs=prefs,
                         recipes=("naive-dpo", "avem"), seeds=2, **kw)  # fmt: skip
    return Study(config, echo=lambda _: None)


def finish(run, acc: float, answers_av: dict, answers_text: dict) -> None:
    run.folder.mkdir(parents=True, exist_ok=True)
    if run.recipe != BASE:
        (run.folder / "train.json").write_text("{}")
    fake_results(run.eval_dir("av"), "av", acc, answers_av)
    fake_results(run.eval_dir("text"), "text", acc / 2, answers_text)


def test_table_and_report_come_from_the_results_files(tmp_path):
    study = make_study(tmp_path)
    assert [r.name for r in study.runs] == [
        "naive-dpo seed 0",
        "avem seed 0",
        "naive-dpo seed 1",
        "avem seed 1",
    ]
    stress = {"reasoning_stress_audio": ["A", "B", "A", "B"], "reasoning_stress_video": ["B", "B"]}
    flipped = {"reasoning_stress_audio": ["A", "A", "A", "A"], "reasoning_stress_video": ["B", "A"]}
    accs = {
        BASE: 0.3,
        ("naive-dpo", 0): 0.4,
        ("naive-dpo", 1): 0.5,
        ("avem", 0): 0.6,
        ("avem", 1): 0.62,
    }
    finish(study.start, accs[BASE], stress, stress)
    for run in study.runs:
        finish(run, accs[(run.recipe, run.seed)], stress, flipped)
    assert all(
        study.evaluated(r) and (r.recipe == BASE or r.trained) for r in [study.start, *study.runs]
    )
    paths = study.write_report()
    table = json.loads(paths["json"].read_text())
    assert list(table["rows"]) == [BASE, "naive-dpo", "avem"]
    naive = table["rows"]["naive-dpo"]
    assert naive["mean"]["values"] == pytest.approx([0.4, 0.5])
    assert naive["basic_visual"]["values"] == pytest.approx([0.41, 0.51])
    assert naive["hallucination"]["values"] == pytest.approx([(0.1 + 0.03 + 0.1 + 0.04) / 2,
                                                             (0.125 + 0.03 + 0.125 + 0.04) / 2])  # fmt: skip
    assert naive["text_mean"]["values"] == pytest.approx([0.2, 0.25])
    # text=av compares the logged stress answers: 3 of 6 are the same with and without media
    assert naive["text_agreement"]["values"] == pytest.approx([0.5, 0.5])
    assert table["rows"][BASE]["text_agreement"]["values"] == [1.0]
    assert table["rows"]["avem"]["mean"]["diff_vs_baseline"] == pytest.approx(0.61 - 0.45)
    assert table["manifest"]["task_versions"]["distinct_protocols"] == 1
    page = paths["html"].read_text()
    assert "data-row='avem'" in page and 'id="preconditions"' in page
    assert {c.key for c in COLUMNS} == set(naive)


def test_text_agreement_compares_the_answers_as_scored(tmp_path):
    from avem_plugins.study_table import Evaluated, text_agreement

    def record(yes):
        return {"choices": ["(A) Yes", "(B) No"], "gold_yes": False, "answered_yes": yes}

    def write(folder: Path, modalities: str, answers: list[tuple[str, bool | None]]) -> Path:
        path = fake_results(folder, modalities, 0.5, {})
        lines = [json.dumps({"doc_id": i, "filtered_resps": a, "yes_rate": record(y)})
                 for i, (a, y) in enumerate(answers)]  # fmt: skip
        (path.parent / "20260101_samples_emorealm_reasoning_stress_audio.jsonl").write_text(
            "\n".join(lines)
        )
        return path

    # "AAAAA" and "A" are the same answer (Yes); an unparsed answer matches only another one
    av = write(tmp_path / "av", "av", [("AAAAA", True), ("B", False), ("hmm", None), ("A", True)])
    text = write(tmp_path / "text", "text", [("A", True), ("A", True), ("?", None), ("A", True)])
    assert text_agreement(Evaluated.load(av, text)) == pytest.approx(3 / 4)


def test_column_values_skip_missing_metrics(tmp_path):
    path = fake_results(tmp_path / "r", "av", 0.5, {})
    from avem_plugins.study_table import Evaluated

    values = column_values(Evaluated.load(path))
    assert values["text_mean"] is None and values["text_agreement"] is None
    assert values["mean"] == 0.5


def test_resume_refuses_another_protocol(tmp_path):
    study = make_study(tmp_path)
    study.out.mkdir(parents=True)
    study.prefs = study.config.prefs
    study.model = "some/model"
    study.check_protocol(study.make_protocol(None, None, "some/model"))
    again = make_study(tmp_path)
    again.check_protocol(again.make_protocol(None, None, "some/model"))  # the same: fine
    other = make_study(tmp_path, steps=99)
    with pytest.raises(StudyError, match=r"another protocol.*train_profile"):
        other.check_protocol(other.make_protocol(None, None, "some/model"))


def test_quick_shrinks_the_plan(tmp_path):
    study = Study(StudyConfig(out=tmp_path / "q", quick=True), echo=lambda _: None)
    assert study.recipes == ["naive-dpo", "avem"]
    assert study.seeds == [0, 1]
    assert study.config.eval_at_end and study.profile().steps == 3


def test_baseline_is_always_trained(tmp_path):
    study = Study(
        StudyConfig(out=tmp_path / "s", recipes=("avem", "vista-dpo"), seeds=1), echo=lambda _: None
    )
    assert study.recipes == ["naive-dpo", "avem", "vista-dpo"]


def test_cli_needs_prefs_with_a_model(tmp_path):
    res = CliRunner().invoke(app, ["study", "--out", str(tmp_path / "s"), "--model", "m"])
    assert res.exit_code == 1
    assert "--prefs" in res.output
