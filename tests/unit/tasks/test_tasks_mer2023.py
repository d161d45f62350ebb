"""MER2023 task: test3 labels, clips by name, 5/6 classes, weighted F1, parsers, errors."""

from __future__ import annotations

import pytest
from avem_plugins.tasks import classification
from avem_plugins.tasks.mer2023 import utils
from task_yaml import TASKS_DIR, default_kwargs, load

from avem_plugins.scoring import emotions, metrics, taskdata
from avem_plugins.testing.benchdata import write_mer2023_tree

LABELS = {
    "sample_00000001": "happy",
    "sample_00000002": "worried",
    "sample_00000003": "angry",
    "sample_00000004": "Sad",  # case is not significant
    "sample_00000005": "neutral",
    "sample_00000006": "surprise",
}


@pytest.fixture
def mer_env(tmp_path, monkeypatch):
    root = write_mer2023_tree(tmp_path / "MER2023", LABELS, clips=False)
    for var in (
        "MER2023_LABELS",
        "MER2023_AUDIO_ROOT",
        "AVEM_ALLOW_MISSING_MEDIA",
        "AVEM_ANSWER_PARSER",
        "LMMS_EVAL_MEDIA_ROOT",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MER2023_ROOT", str(root))
    utils.clips_by_name.cache_clear()
    utils.audio_by_name.cache_clear()
    return root


@pytest.mark.parametrize(
    ("name", "fn"), [("mer2023", "process_docs_5class"), ("mer2023_6class", "process_docs_6class")]
)
def test_prompt_snapshot(name, fn):
    config = load(TASKS_DIR / "mer2023" / f"{name}.yaml")
    assert config["process_docs"].endswith(fn)
    assert [m["metric"] for m in config["metric_list"]][:3] == ["weighted_f1", "uar", "war"]
    doc = {"modality": "av", "video_path": "v.mp4", "audio_path": "v.mp4"}
    assert (
        classification.doc_to_text(doc, default_kwargs(config))
        == "Describe the emotion of the person in the video in one word."
    )


def test_five_class_docs_exclude_worried(mer_env):
    docs = utils.build_docs(utils.LABELS_5)
    assert [(d["id"], d["label"]) for d in docs] == [
        ("sample_00000001", "happiness"),
        ("sample_00000003", "anger"),
        ("sample_00000004", "sadness"),
        ("sample_00000005", "neutral"),
        ("sample_00000006", "surprise"),
    ]
    assert docs[0]["labels"] == ["neutral", "anger", "happiness", "sadness", "surprise"]
    assert docs[0]["video_path"] == str(mer_env / "test3" / "sample_00000001.mp4")
    assert docs[0]["audio_path"] == docs[0]["video_path"]
    msgs = classification.doc_to_messages(docs[0], {})
    assert [c["type"] for c in msgs[0]["content"]] == ["video", "audio", "text"]


def test_six_class_docs_keep_worried(mer_env):
    docs = utils.build_docs(utils.LABELS_6)
    assert len(docs) == 6 and docs[1]["label"] == "worried"
    assert docs[0]["labels"] == ["neutral", "anger", "happiness", "sadness", "worried", "surprise"]


def test_labels_file_by_variable_and_in_a_subfolder(mer_env, tmp_path, monkeypatch):
    moved = mer_env / "test-labels" / "test3-label.csv"
    moved.parent.mkdir()
    (mer_env / "test3-label.csv").rename(moved)
    assert len(utils.build_docs()) == 5  # found anywhere under the root
    other = tmp_path / "labels.csv"
    other.write_text("name,discrete,valence\nsample_00000003.mp4,angry,\n")
    monkeypatch.setenv("MER2023_LABELS", str(other))
    docs = utils.build_docs()
    assert [(d["id"], d["label"]) for d in docs] == [("sample_00000003", "anger")]
    monkeypatch.setenv("MER2023_LABELS", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(taskdata.TaskDataError, match=r"no test3-label.csv under MER2023_LABELS="):
        utils.build_docs()


def test_missing_labels_file_names_the_variables(mer_env):
    (mer_env / "test3-label.csv").unlink()
    with pytest.raises(
        taskdata.TaskDataError, match=r"no test3-label.csv under MER2023_ROOT=.*set MER2023_LABELS"
    ):
        utils.build_docs()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,label\nx,happy\n", r"expected columns name,discrete"),
        ("name,discrete\nx,happy\ny,joyful\n", r"line 3: discrete label 'joyful' is not one of"),
        (
            "name,discrete\nx,happy\nx.mp4,sad\n",
            r"line 3: clip 'x' is listed again \(first on line 2\)",
        ),
        ("name,discrete\n,happy\n", r"line 2: empty 'name'"),
    ],
)
def test_bad_label_rows_name_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "test3-label.csv"
    path.write_text(content)
    with pytest.raises(taskdata.TaskDataError, match=message):
        utils.read_labels(path)


def test_missing_clip_and_audio_tree(mer_env, monkeypatch, tmp_path):
    (mer_env / "test3" / "sample_00000003.mp4").unlink()
    utils.clips_by_name.cache_clear()
    with pytest.raises(
        taskdata.MissingMediaError,
        match=r"1 of 5 items have missing media files under MER2023_ROOT=.*sample_00000003\.mp4",
    ):
        utils.build_docs()
    monkeypatch.setenv("AVEM_ALLOW_MISSING_MEDIA", "1")
    docs = utils.build_docs()
    assert len(docs) == 4 and docs[0]["missing_media_count"] == 1
    audio = tmp_path / "wav"
    (audio / "x").mkdir(parents=True)
    for name in LABELS:
        (audio / "x" / f"{name}.wav").touch()
    monkeypatch.setenv("MER2023_AUDIO_ROOT", str(audio))
    docs = utils.build_docs()
    assert docs[0]["audio_path"] == str(audio / "x" / "sample_00000001.wav")
    assert docs[0]["audio_source"] == "wav"
    (audio / "x" / "sample_00000001.wav").unlink()
    utils.audio_by_name.cache_clear()
    monkeypatch.delenv("AVEM_ALLOW_MISSING_MEDIA")
    with pytest.raises(taskdata.MissingMediaError, match="MER2023_AUDIO_ROOT="):
        utils.build_docs()


def test_unset_root_names_the_variable(monkeypatch):
    monkeypatch.delenv("MER2023_ROOT", raising=False)
    monkeypatch.delenv("LMMS_EVAL_MEDIA_ROOT", raising=False)
    with pytest.raises(taskdata.TaskDataError, match="MER2023_ROOT is not set"):
        utils.build_docs()


# --- weighted F1 -----------------------------------------------------------------------

HAND_LABELS = ["neutral", "anger", "happiness", "sadness", "surprise"]
HAND_GOLDS = ["neutral"] * 3 + ["anger"] * 2 + ["happiness"] * 2 + ["sadness"]
HAND_PREDS = [
    *["neutral", "neutral", "anger"],
    *["anger", None],  # an unparsed answer
    *["happiness", "neutral"],
    "surprise",  # a class with no gold example: weight 0
]


def test_weighted_f1_on_a_hand_made_case():
    # F1: neutral 2/3 (P 2/3, R 2/3), anger 1/2, happiness 2/3 (P 1, R 1/2), sadness 0;
    # weighted by gold support 3, 2, 2, 1 over 8 items: (2 + 1 + 4/3 + 0) / 8 = 13/24
    assert metrics.weighted_f1(HAND_GOLDS, HAND_PREDS, HAND_LABELS) == pytest.approx(13 / 24)
    assert metrics.macro_f1(HAND_GOLDS, HAND_PREDS, HAND_LABELS) == pytest.approx(11 / 24)
    assert metrics.weighted_f1([], [], HAND_LABELS) == 0.0


def test_weighted_f1_matches_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    mapped = [p if p is not None else "<unparsed>" for p in HAND_PREDS]
    expected = sk.f1_score(HAND_GOLDS, mapped, average="weighted", zero_division=0)
    assert expected == pytest.approx(13 / 24)
    assert metrics.weighted_f1(HAND_GOLDS, HAND_PREDS, HAND_LABELS) == pytest.approx(
        expected, abs=1e-12
    )


# --- parsing and aggregation -----------------------------------------------------------


def _records(answers, golds, labels, parser):
    docs = [
        {"id": str(i), "label": g, "labels": labels, "answer_parser": parser}
        for i, g in enumerate(golds)
    ]
    return [utils.process_results(d, [a]) for d, a in zip(docs, answers, strict=True)]


def test_process_results_feeds_every_metric_of_the_template():
    config = load(TASKS_DIR / "mer2023" / "mer2023.yaml")
    (out,) = _records(["happy"], ["happiness"], utils.LABELS_5, "robust")
    assert set(out) == {m["metric"] for m in config["metric_list"]}
    assert out["weighted_f1"]["pred"] == "happiness"


def test_robust_parser_maps_worry_words_to_worried_only_in_six_classes():
    answers = ["worried", "Anxious.", "not happy, rather sad", "", "disgusted"]
    golds6 = ["worried", "worried", "sadness", "happiness", "anger"]
    six = [r["uar"] for r in _records(answers, golds6, utils.LABELS_6, "robust")]
    assert [r["pred"] for r in six] == ["worried", "worried", "sadness", None, None]
    assert [r["status"] for r in six] == ["ok", "ok", "ok", "empty", "unparsed"]
    assert classification.aggregate_war(six) == pytest.approx(3 / 5)
    assert utils.aggregate_weighted_f1(six) == pytest.approx(
        metrics.weighted_f1(golds6, [r["pred"] for r in six], utils.LABELS_6)
    )
    five = [r["uar"] for r in _records(answers[2:], golds6[2:], utils.LABELS_5, "robust")]
    assert utils.parse_answer("worried", utils.LABELS_5).status == "unparsed"
    assert (
        classification.aggregate_unparsed_count(five) == 1
        and classification.aggregate_empty_count(five) == 1
    )
    assert classification.aggregate_answer_parser(five) == "robust"


def test_compat_searches_only_the_task_classes_like_the_authors_mer_scorer():
    # DFEW's compat knows "fear"; the authors' MER2023 scorer searches only its 5 classes
    assert emotions.parse_emotion_compat("Fear.").label == "fear"
    five = utils.parse_answer("Fear.", utils.LABELS_5, "compat")
    assert (five.label, five.status) == ("happiness", "unparsed")
    # the first sentence has no MER word: the most frequent one in the rest decides
    mixed = utils.parse_answer("Fear. He looks cheerful, then angry.", utils.LABELS_5, "compat")
    assert (mixed.label, mixed.status) == ("happiness", "ok")
    assert utils.parse_answer("worry", utils.LABELS_6, "compat").label == "worried"
    assert utils.parse_answer("worried", utils.LABELS_6, "compat").label == "happiness"
    items = [
        r["weighted_f1"]
        for r in _records(["", "sad", "happy"], ["sadness"] * 3, utils.LABELS_5, "compat")
    ]
    assert [r["status"] for r in items] == ["dropped", "unparsed", "ok"]
    assert classification.aggregate_dropped_count(items) == 1
    # scored over the two kept answers, both predicted happiness, gold sadness: F1 0
    assert utils.aggregate_weighted_f1(items) == 0.0
    assert classification.aggregate_war(items) == 0.0
