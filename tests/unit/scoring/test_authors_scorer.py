"""``compat`` through the authors' own functions, loaded from ``AVEM_AVERE_REPO`` at run time.

The checkout here is a stand-in written for these tests (tests/data/avere_standin: same
layout and function names, made-up behaviour unlike our reconstruction), so every test can
tell which scorer ran.
"""

from __future__ import annotations

import logging
import re
import shutil
import sys
from pathlib import Path

import pytest
from avem_plugins.tasks import classification
from avem_plugins.tasks.emorealm import utils as emorealm
from avem_plugins.tasks.mer2023 import utils as mer2023

from avem_plugins.scoring import authors

STANDIN = Path(__file__).resolve().parents[2] / "data" / "avere_standin"
SHA = "82c1c8d5782635751b7f2f416d4ac4bd3d5eb51a"
NOTICE = (
    "compat: reconstruction, known to differ from the authors' scorer on rare words; "
    "set AVEM_AVERE_REPO for the exact scorer"
)
DFEW_LABELS = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.delenv("AVEM_AVERE_REPO", raising=False)
    authors._authors_scorer.cache_clear()
    authors._warn_reconstruction.cache_clear()
    yield
    authors._authors_scorer.cache_clear()
    authors._warn_reconstruction.cache_clear()


def _checkout(tmp_path: Path, git: str | None = "branch") -> Path:
    repo = tmp_path / "AVERE"
    shutil.copytree(STANDIN, repo)
    dot = repo / ".git"
    if git == "branch":
        (dot / "refs" / "heads").mkdir(parents=True)
        (dot / "HEAD").write_text("ref: refs/heads/main\n")
        (dot / "refs" / "heads" / "main").write_text(SHA + "\n")
    elif git == "packed":
        dot.mkdir()
        (dot / "HEAD").write_text("ref: refs/heads/main\n")
        (dot / "packed-refs").write_text(f"# pack-refs with: peeled\n{SHA} refs/heads/main\n")
    elif git == "detached":
        dot.mkdir()
        (dot / "HEAD").write_text("0123456789abcdef0123456789abcdef01234567\n")
    elif git == "worktree":  # .git is a file naming the real git dir
        real = tmp_path / "gitdirs" / "avere"
        (real / "refs" / "heads").mkdir(parents=True)
        (real / "HEAD").write_text("ref: refs/heads/main\n")
        (real / "refs" / "heads" / "main").write_text(SHA + "\n")
        dot.write_text(f"gitdir: {real}\n")
    return repo


def _use(monkeypatch, repo: Path | str) -> None:
    monkeypatch.setenv("AVEM_AVERE_REPO", str(repo))


def _emo_doc(answer="B", task="reasoning_basic_video"):
    choices = (
        ["(A) Yes", "(B) No"]
        if task in emorealm.YES_NO_TASKS
        else ["(A) Joy", "(B) Sad", "(C) Anger", "(D) Fear"]
    )
    return {"id": "q1", "task": task, "choices": choices, "answer": answer, "stress_kind": None,
            "answer_parser": "compat", "missing_media_count": 0}  # fmt: skip


def _cls_doc(family: str, labels=DFEW_LABELS, label="anger"):
    return {"id": "1", "label": label, "labels": labels, "answer_parser": "compat",
            "scorer_family": family, "missing_media_count": 0}  # fmt: skip


# --- which scorer, and its label ----------------------------------------------------------


@pytest.mark.parametrize("git", ["branch", "packed", "worktree"])
def test_the_label_names_the_checkout_commit(tmp_path, monkeypatch, git):
    _use(monkeypatch, _checkout(tmp_path, git))
    scorer = authors.compat_scorer("emorealm")
    assert scorer.label == "compat-authors@82c1c8d57826"
    assert scorer.note == "" and scorer.function == "matches_correct_answer"
    assert scorer.file.endswith("evaluate/tasks/evaluate_emorealm.py")


def test_another_commit_only_warns(tmp_path, monkeypatch, caplog):
    _use(monkeypatch, _checkout(tmp_path, "detached"))
    with caplog.at_level(logging.WARNING, logger="avem_plugins.scoring.authors"):
        assert authors.compat_scorer("dfew").label == "compat-authors@0123456789ab"
    assert "checked against the authors' commit 82c1c8d" in caplog.text


def test_a_checkout_without_git_is_labelled_by_path_and_file_hash(tmp_path, monkeypatch):
    repo = _checkout(tmp_path, None)
    _use(monkeypatch, repo / "evaluate")  # the evaluate/ folder itself works too
    label = authors.compat_scorer("ravdess").label
    assert label.startswith(f"compat-authors@{(repo / 'evaluate').resolve()}#sha256:")
    assert len(label.rpartition(":")[2]) == 12


def test_without_the_variable_compat_is_the_reconstruction_and_says_so(caplog):
    with caplog.at_level(logging.WARNING, logger="avem_plugins.scoring.authors"):
        scorer = authors.compat_scorer("emorealm")
        authors.compat_scorer("dfew")
    assert scorer.fn is None and scorer.label == "compat-reconstruction"
    assert scorer.note == NOTICE
    assert caplog.text.count(NOTICE) == 1  # once per process


# --- the functions are the checkout's, used as they are ------------------------------------


def test_emorealm_compat_runs_the_authors_function(tmp_path, monkeypatch):
    # the stand-in: correct when the answer starts with the gold letter or holds "(x)";
    # the reconstruction: the gold letter anywhere as a standalone letter
    doc = _emo_doc(answer="B")
    assert emorealm.score(doc, "Bad")["correct"] is False  # reconstruction: no standalone b
    assert emorealm.score(doc, "The answer is B")["correct"] is True
    _use(monkeypatch, _checkout(tmp_path))
    record = emorealm.score(doc, "  Bad ")  # stripped and lower-cased, as their eval does
    assert record["correct"] is True and record["parser"] == "compat-authors@82c1c8d57826"
    assert record["parser_note"] == ""
    assert emorealm.score(doc, "The answer is B")["correct"] is False
    assert emorealm.score(doc, "it is (B)")["correct"] is True
    items = [emorealm.process_results(doc, [a])["answer_parser"] for a in ("b", "x")]
    assert emorealm.aggregate_answer_parser(items) == "compat-authors@82c1c8d57826"
    assert emorealm.aggregate_answer_parser_note(items) == ""


def test_yes_no_metrics_follow_the_authors_function(tmp_path, monkeypatch):
    _use(monkeypatch, _checkout(tmp_path))
    pairs = [(_emo_doc("A", "modality_agreement"), "a"), (_emo_doc("B", "modality_agreement"), "A")]
    items = [emorealm.process_results(d, [a])["yes_rate"] for d, a in pairs]
    assert [r["correct"] for r in items] == [True, False]
    assert emorealm.aggregate_yes_rate(items) == 1.0  # the wrong gold-No answer counts as yes


@pytest.mark.parametrize(
    ("family", "fallback"), [("dfew", "neutral"), ("ravdess", "happiness"), ("mer2023", "surprise")]
)
def test_each_family_loads_its_own_file(tmp_path, monkeypatch, family, fallback):
    _use(monkeypatch, _checkout(tmp_path))
    record = classification.result_record(_cls_doc(family), ["Hmm, grr!"])
    # their label; the status is the reconstruction's (it knows no emotion word here)
    assert (record["pred"], record["status"]) == ("anger", "unparsed")
    assert classification.result_record(_cls_doc(family), ["Anger, grr"])["status"] == "ok"
    assert record["parser"] == "compat-authors@82c1c8d57826"
    assert classification.result_record(_cls_doc(family), ["Happy."])["pred"] == fallback


def test_emotion_compat_drops_what_the_authors_function_raises_on(tmp_path, monkeypatch):
    _use(monkeypatch, _checkout(tmp_path))
    doc = _cls_doc("dfew")
    records = [classification.result_record(doc, [a]) for a in ("", "yay\nsad.", "zzz", "Yuck.")]
    assert [(r["pred"], r["status"]) for r in records] == [
        (None, "dropped"), (None, "dropped"), ("sleepy", "unparsed"), ("disgust", "unparsed"),
    ]  # fmt: skip
    # "unparsed" (no emotion word we know) comes from the reconstruction: theirs always returns
    assert classification.aggregate_dropped_count(records) == 2
    cm = classification.aggregate_confusion_matrix(records)
    assert sum(cm["predicted_outside_labels"]) == 1  # "sleepy" is no DFEW label


def test_mer2023_compat_uses_the_mer_file(tmp_path, monkeypatch):
    _use(monkeypatch, _checkout(tmp_path))
    doc = {**_cls_doc("mer2023", labels=mer2023.LABELS_5, label="surprise")}
    assert mer2023.process_results(doc, ["Nothing."])["weighted_f1"]["pred"] == "surprise"


# --- a broken checkout is one line naming the file and the function ----------------------


def _one_line_error(family: str) -> str:
    with pytest.raises(authors.AuthorsScorerError) as err:
        authors.compat_scorer(family)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_a_missing_file(tmp_path, monkeypatch):
    repo = _checkout(tmp_path)
    (repo / "evaluate/tasks/evaluate_emotion_dfew.py").unlink()
    _use(monkeypatch, repo)
    message = _one_line_error("dfew")
    assert "evaluate/tasks/evaluate_emotion_dfew.py not found" in message
    assert "description2emotion" in message and "AVEM_AVERE_REPO=" in message


def test_a_missing_function(tmp_path, monkeypatch):
    repo = _checkout(tmp_path)
    path = repo / "evaluate/tasks/evaluate_emorealm.py"
    path.write_text(path.read_text().replace("def matches_correct_answer", "def other_name"))
    _use(monkeypatch, repo)
    message = _one_line_error("emorealm")
    assert f"{path} has no function matches_correct_answer" in message


def test_a_file_that_fails_to_import(tmp_path, monkeypatch):
    repo = _checkout(tmp_path)
    path = repo / "evaluate/tasks/evaluate_emotion_ravdess_video.py"
    path.write_text("import avem_no_such_module_15\n" + path.read_text())
    _use(monkeypatch, repo)
    message = _one_line_error("ravdess")
    assert f"cannot load {path} (for description2emotion)" in message
    assert "ModuleNotFoundError" in message


def test_a_file_that_exits_at_import(tmp_path, monkeypatch):
    repo = _checkout(tmp_path)
    path = repo / "evaluate/tasks/evaluate_emotion_dfew.py"
    path.write_text("import sys\nsys.exit(3)\n")
    _use(monkeypatch, repo)
    assert "SystemExit" in _one_line_error("dfew")


def test_a_function_that_fails_on_the_probe(tmp_path, monkeypatch):
    repo = _checkout(tmp_path)
    path = repo / "evaluate/tasks/evaluate_emotion_mer2023_test3.py"
    path.write_text(path.read_text() + "\n\ndef description2emotion(description, return_idx=False):\n"
                    "    raise KeyError(description)\n")  # fmt: skip
    _use(monkeypatch, repo)
    message = _one_line_error("mer2023")
    assert f"{path}:description2emotion failed on a probe input: KeyError" in message


def test_a_path_that_is_not_a_folder(tmp_path, monkeypatch):
    _use(monkeypatch, tmp_path / "nowhere")
    assert "is not a folder" in _one_line_error("emorealm")


def test_the_task_fails_when_it_loads_not_after_generation(tmp_path, monkeypatch):
    from avem_plugins.testing.benchdata import write_dfew_tree, write_emorealm_json

    dfew = write_dfew_tree(tmp_path / "DFEW", {1: "happiness"}, clips=False)
    questions = write_emorealm_json(tmp_path / "q.json", ["part_1/00001.mp4"], per_task=1)
    for var, value in (("EMOREALM_JSON", questions), ("DFEW_ROOT", dfew / "Clip"),
                       ("AVEM_ANSWER_PARSER", "compat"), ("AVEM_AVERE_REPO", tmp_path / "none")):  # fmt: skip
        monkeypatch.setenv(var, str(value))
    monkeypatch.delenv("DFEW_AUDIO_ROOT", raising=False)
    with pytest.raises(authors.AuthorsScorerError, match=r"evaluate_emorealm\.py|not a folder"):
        emorealm.build_docs("reasoning_basic_audio")
    from avem_plugins.tasks.dfew import utils as dfew_utils

    with pytest.raises(authors.AuthorsScorerError):
        dfew_utils.build_docs(1)


def test_the_authors_function_failing_on_an_answer_names_the_item(tmp_path, monkeypatch):
    repo = _checkout(tmp_path)
    path = repo / "evaluate/tasks/evaluate_emorealm.py"
    path.write_text(path.read_text() + "\n\n_real = matches_correct_answer\n\n"
                    "def matches_correct_answer(prediction, correct_answer):\n"
                    "    if prediction == 'boom':\n        raise IndexError('boom')\n"
                    "    return _real(prediction, correct_answer)\n")  # fmt: skip
    _use(monkeypatch, repo)
    want = "evaluate_emorealm.py:matches_correct_answer failed on emorealm reasoning_basic_video "
    with pytest.raises(authors.AuthorsScorerError, match=re.escape(want + "item q1: IndexError")):
        emorealm.score(_emo_doc(), "BOOM")


# --- loading leaves the process as it was --------------------------------------------------


def test_loading_restores_sys_modules(tmp_path, monkeypatch):
    sentinel = object()
    monkeypatch.setitem(sys.modules, "utils", sentinel)  # e.g. another project's utils
    monkeypatch.delitem(sys.modules, "eval_constants", raising=False)
    _use(monkeypatch, _checkout(tmp_path))
    for family in authors.SCORERS:
        authors.compat_scorer(family)
    assert sys.modules["utils"] is sentinel and "eval_constants" not in sys.modules
    assert not [name for name in sys.modules if name.startswith("_avem_authors_")]


def test_a_missing_optional_dependency_is_served_by_a_placeholder(tmp_path, monkeypatch):
    repo = _checkout(tmp_path)
    path = repo / "evaluate/tasks/evaluate_emotion_dfew.py"
    path.write_text("import avem_optional_dep_15.metrics\n" + path.read_text())
    monkeypatch.setattr(
        authors, "_OPTIONAL_DEPS", (*authors._OPTIONAL_DEPS, "avem_optional_dep_15", "avem_optional_dep_15.metrics")
    )  # fmt: skip
    _use(monkeypatch, repo)
    assert authors.compat_scorer("dfew").fn("grr") == "anger"
    assert "avem_optional_dep_15" not in sys.modules
