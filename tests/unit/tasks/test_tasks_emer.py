"""EMER task: annotations, prompt snapshot, judge-free overlap, judge 'not computed'."""

from __future__ import annotations

import pytest
from avem_plugins.tasks.emer import utils
from task_yaml import TASKS_DIR, default_kwargs, load

from avem_plugins.scoring import judge, taskdata
from avem_plugins.testing.benchdata import write_emer_folder


@pytest.fixture
def emer_env(tmp_path, monkeypatch):
    root = write_emer_folder(tmp_path / "EMER", 3, clips=False)
    for var in (
        "EMER_CSV",
        "EMER_DESCRIPTION_COLUMN",
        "MER2023_ROOT",
        "AVEM_ALLOW_MISSING_MEDIA",
        "AVEM_JUDGE_MODEL",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("EMER_ROOT", str(root))
    utils._clips.cache_clear()
    judge.reset()
    return root


def test_prompt_snapshot():
    config = load(TASKS_DIR / "emer" / "emer.yaml")
    assert config["process_docs"].endswith("emer.utils.process_docs")
    assert (
        utils.doc_to_text({}, default_kwargs(config))
        == "Describe the emotion of the person in the video in detail."
    )


def test_docs(emer_env):
    docs = utils.build_docs()
    assert [d["id"] for d in docs] == ["sample_00000", "sample_00001", "sample_00002"]
    assert docs[0]["reference"].startswith("She smiles broadly")
    assert (
        docs[0]["video_path"].endswith("sample_00000.mp4")
        and docs[0]["audio_path"] == docs[0]["video_path"]
    )


def test_csv_choice_and_columns(emer_env, monkeypatch):
    (emer_env / "other.csv").write_text("name,reason\nx,happy\n")
    with pytest.raises(taskdata.TaskDataError, match=r"several CSVs .* set EMER_CSV"):
        utils.build_docs()
    monkeypatch.setenv("EMER_CSV", str(emer_env / "annotations.csv"))
    assert len(utils.build_docs()) == 3
    monkeypatch.setenv("EMER_DESCRIPTION_COLUMN", "gt")
    with pytest.raises(taskdata.TaskDataError, match="no reference-description column"):
        utils.build_docs()


def test_missing_clip(emer_env, monkeypatch):
    (emer_env / "sample_00001.mp4").unlink()
    with pytest.raises(taskdata.MissingMediaError, match=r"emer: 1 of 3 items .* EMER_ROOT="):
        utils.build_docs()


def test_without_a_judge_metrics_are_not_computed_and_overlap_still_is(emer_env):
    docs = utils.build_docs()
    answers = ["She is happy and smiling.", "He seems angry, not sad.", ""]
    items = [
        utils.process_results(d, [a])["cue_overlap"] for d, a in zip(docs, answers, strict=True)
    ]
    for fn in (utils.aggregate_cue_overlap, utils.aggregate_emotion_consistency, utils.aggregate_emotion_cue_association,
               utils.aggregate_hallucinated_cues, utils.aggregate_judge_average):  # fmt: skip
        assert fn(items) is None  # not computed, never 0
    assert utils.aggregate_judge_status(items).startswith(
        "not computed: no judge configured (set AVEM_JUDGE_MODEL"
    )
    assert utils.aggregate_judge_unparsed_count(items) == 0
    # references: {joy}, {sadness (sad, tired)}, {anger (angry, frustrated)}
    # answers: {joy} -> 1/1/1; {anger} ("not sad" negated) vs {sadness} -> 0; "" -> 0
    assert utils.aggregate_emotion_overlap_precision(items) == pytest.approx(1 / 3)
    assert utils.aggregate_emotion_overlap_recall(items) == pytest.approx(1 / 3)
    assert utils.aggregate_emotion_overlap_f1(items) == pytest.approx(1 / 3)
    assert utils.aggregate_empty_count(items) == 1
    assert utils.aggregate_emotion_overlap_unscorable_count(items) == 0


def test_parse_judge_scores():
    reply = '```json\n{"cue_overlap": 7, "emotion_consistency": "8", "emotion_cue_association": 6.0, "hallucinated_cues": 9}\n```'
    assert judge.parse_scores(reply) == {
        "cue_overlap": 7, "emotion_consistency": 8, "emotion_cue_association": 6, "hallucinated_cues": 9,
    }  # fmt: skip
    assert judge.parse_scores('{"cue_overlap": 7}') is None
    assert (
        judge.parse_scores(
            '{"cue_overlap": 11, "emotion_consistency": 8, "emotion_cue_association": 6, "hallucinated_cues": 9}'
        )
        is None
    )
    assert judge.parse_scores("dummy") is None
    assert judge.parse_scores(None) is None


def test_judge_status_counts():
    def rec(status, scores=None):
        return {"judge_status": status, "judge_scores": scores, "judge_model": "m", "empty": False, "overlap": None,
                "missing_media_count": 0}  # fmt: skip

    ok = dict.fromkeys(judge.CRITERIA, 8)
    items = [rec("ok", ok), rec("unparsed"), rec("error"), rec("ok", {**ok, "cue_overlap": 4})]
    assert utils.aggregate_cue_overlap(items) == 6.0
    assert utils.aggregate_judge_average(items) == pytest.approx((6 + 8 + 8 + 8) / 4)
    assert (
        utils.aggregate_judge_unparsed_count(items) == 1
        and utils.aggregate_judge_error_count(items) == 1
    )
    assert utils.aggregate_judge_status(items) == "judged 2 of 4 answers with m"
