"""DFEW task: fold CSVs, clips by integer id, prompt snapshot, parsers, missing media."""

from __future__ import annotations

import pytest
from avem_plugins.tasks import classification
from avem_plugins.tasks.dfew import utils
from task_yaml import TASKS_DIR, default_kwargs, load

from avem_plugins.scoring import taskdata
from avem_plugins.testing.benchdata import write_dfew_tree

LABELS = {1: "happiness", 2: "sadness", 3: 0, 4: "anger", 5: "fear"}


@pytest.fixture
def dfew_env(tmp_path, monkeypatch):
    root = write_dfew_tree(tmp_path / "DFEW", LABELS, clips=False)
    for var in (
        "DFEW_AUDIO_ROOT",
        "DFEW_ANNOTATIONS",
        "AVEM_ALLOW_MISSING_MEDIA",
        "AVEM_ANSWER_PARSER",
        "LMMS_EVAL_MEDIA_ROOT",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DFEW_ROOT", str(root))
    utils.clips_by_id.cache_clear()
    return root


@pytest.mark.parametrize("name", ["dfew", "dfew_fold2", "dfew_fold3", "dfew_fold4", "dfew_fold5"])
def test_prompt_snapshot(dfew_env, name):
    config = load(TASKS_DIR / "dfew" / f"{name}.yaml")
    fold = 1 if name == "dfew" else int(name[-1])
    assert config["process_docs"].endswith(f"process_docs_fold{fold}")
    doc = {"modality": "av", "video_path": "v.mp4", "audio_path": "v.mp4"}
    assert (
        classification.doc_to_text(doc, default_kwargs(config))
        == "Describe the emotion of the person in the video in one word."
    )


def test_fold1_docs(dfew_env):
    docs = utils.build_docs(1)
    assert [d["id"] for d in docs] == ["1", "2", "4", "5"]  # label 0 excluded
    assert [d["label"] for d in docs] == ["happiness", "sadness", "anger", "fear"]
    assert docs[0]["labels"] == [
        "happiness",
        "sadness",
        "neutral",
        "anger",
        "surprise",
        "disgust",
        "fear",
    ]
    # the CSV says 1; the clip is part_1/00001.mp4: ids compare as integers
    assert (
        docs[0]["video_path"].endswith("00001.mp4")
        and docs[0]["audio_path"] == docs[0]["video_path"]
    )
    msgs = classification.doc_to_messages(docs[0], {})
    assert [c["type"] for c in msgs[0]["content"]] == ["video", "audio", "text"]


def test_other_folds_and_annotations_folder(dfew_env, tmp_path, monkeypatch):
    with pytest.raises(
        taskdata.TaskDataError, match=r"no 'test\(single-labeled\)/set_2.csv' under DFEW_ROOT="
    ):
        utils.build_docs(2)
    ann = tmp_path / "ann" / "test(single-labeled)"
    ann.mkdir(parents=True)
    (ann / "set_2.csv").write_text("video_name,label\n00005,7\n2,0\n")
    monkeypatch.setenv("DFEW_ANNOTATIONS", str(tmp_path / "ann"))
    docs = utils.build_docs(2)
    assert [(d["id"], d["label"], d["fold"]) for d in docs] == [("5", "fear", 2)]
    monkeypatch.setenv("DFEW_ANNOTATIONS", str(ann / "set_2.csv"))
    assert len(utils.build_docs(1)) == 1  # a CSV file given directly is used as is


def test_bad_csv_rows_name_the_file_and_line(dfew_env, tmp_path, monkeypatch):
    bad = tmp_path / "set_1.csv"
    bad.write_text("video_name,label\n1,1\nxx,2\n")
    monkeypatch.setenv("DFEW_ANNOTATIONS", str(bad))
    with pytest.raises(
        taskdata.TaskDataError, match=r"set_1.csv, line 3: video_name and label must be integers"
    ):
        utils.build_docs(1)


def test_missing_clip_and_audio_tree(dfew_env, monkeypatch, tmp_path):
    (dfew_env / "Clip" / "part_2" / "00002.mp4").unlink()
    utils.clips_by_id.cache_clear()
    with pytest.raises(
        taskdata.MissingMediaError,
        match=r"1 of 4 items have missing media files under DFEW_ROOT=.*2\.mp4",
    ):
        utils.build_docs(1)
    monkeypatch.setenv("AVEM_ALLOW_MISSING_MEDIA", "1")
    docs = utils.build_docs(1)
    assert len(docs) == 3 and docs[0]["missing_media_count"] == 1
    audio = tmp_path / "wav"
    (audio / "Clip" / "part_1").mkdir(parents=True)
    (audio / "Clip" / "part_1" / "00001.wav").touch()
    monkeypatch.setenv("DFEW_AUDIO_ROOT", str(audio))
    monkeypatch.delenv("AVEM_ALLOW_MISSING_MEDIA")
    with pytest.raises(taskdata.MissingMediaError, match="DFEW_AUDIO_ROOT="):
        utils.build_docs(1)


def test_unset_root_names_the_variable(monkeypatch):
    monkeypatch.delenv("DFEW_ROOT", raising=False)
    monkeypatch.delenv("LMMS_EVAL_MEDIA_ROOT", raising=False)
    with pytest.raises(taskdata.TaskDataError, match="DFEW_ROOT is not set"):
        utils.build_docs(1)


def test_media_root_fallback(dfew_env, monkeypatch):
    monkeypatch.delenv("DFEW_ROOT")
    monkeypatch.setenv("LMMS_EVAL_MEDIA_ROOT", str(dfew_env.parent))
    assert len(utils.build_docs(1)) == 4


def _records(answers, parser):
    labels = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]
    golds = ["sadness", "anger", "fear", "fear", "happiness", "neutral"]
    docs = [
        {
            "id": str(i),
            "label": g,
            "labels": labels,
            "answer_parser": parser,
            "missing_media_count": 0,
        }
        for i, g in enumerate(golds)
    ]
    return [
        classification.process_results(d, [a])["uar"] for d, a in zip(docs, answers, strict=True)
    ]


SPEC_ANSWERS = ["sad", "angry", "fearful", "worried", "", "I know it is normal to look like this."]


def test_robust_scoring_of_the_spec_cases():
    items = _records(SPEC_ANSWERS, "robust")
    assert [r["pred"] for r in items] == ["sadness", "anger", "fear", "fear", None, "neutral"]
    assert classification.aggregate_war(items) == pytest.approx(5 / 6)
    assert (
        classification.aggregate_empty_count(items) == 1
        and classification.aggregate_dropped_count(items) == 0
    )
    assert classification.aggregate_unparsed_rate(items) == pytest.approx(1 / 6)
    cm = classification.aggregate_confusion_matrix(items)
    assert cm["predicted_outside_labels"][0] == 1  # the empty answer stays in happiness's row
    assert classification.aggregate_answer_parser(items) == "robust"


def test_compat_scoring_of_the_spec_cases_counts_what_it_drops(monkeypatch):
    monkeypatch.delenv("AVEM_AVERE_REPO", raising=False)  # our reconstruction
    items = _records(SPEC_ANSWERS, "compat")
    # the authors' scorer: unknown forms -> happiness; the blank answer dropped; the
    # last sentence is thrown away ("know"/"normal" contain "no"), then kept as a whole
    # because nothing else is left, and "normal" is in their neutral list
    assert [r["pred"] for r in items] == ["happiness"] * 4 + [None, "neutral"]
    assert classification.aggregate_dropped_count(items) == 1  # reported, though not scored
    assert classification.aggregate_empty_count(items) == 1
    assert classification.aggregate_unparsed_count(items) == 4  # the happiness fallbacks
    assert classification.aggregate_war(items) == pytest.approx(1 / 5)  # scored over the 5 kept
    assert classification.aggregate_answer_parser(items) == "compat-reconstruction"
    assert "set AVEM_AVERE_REPO for the exact scorer" in (
        classification.aggregate_answer_parser_note(items)
    )
