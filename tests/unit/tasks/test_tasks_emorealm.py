"""EmoReAlM task: docs from the released format, prompts (snapshots), scoring, missing media."""

from __future__ import annotations

import json

import pytest
from avem_plugins.tasks.emorealm import utils
from task_yaml import TASKS_DIR, default_kwargs, load

from avem_plugins.scoring import taskdata
from avem_plugins.testing.benchdata import write_dfew_tree, write_emorealm_json

VIDEOS = ["part_1/00001.mp4", "part_2/00002.mp4"]


@pytest.fixture
def emorealm_env(tmp_path, monkeypatch):
    dfew = write_dfew_tree(tmp_path / "DFEW", {1: "happiness", 2: "sadness"}, clips=False)
    questions = write_emorealm_json(tmp_path / "emorealm_v1.json", VIDEOS, per_task=3)
    for var in (
        "DFEW_AUDIO_ROOT",
        "AVEM_ALLOW_MISSING_MEDIA",
        "AVEM_ANSWER_PARSER",
        "LMMS_EVAL_MEDIA_ROOT",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("EMOREALM_JSON", str(questions))
    monkeypatch.setenv("DFEW_ROOT", str(dfew / "Clip"))
    return tmp_path


# One literal item per subtask in the released format, and the exact prompt each must
# give with the YAML's default kwargs: the paper's question + " " + " ".join(choices),
# nothing appended (emorealm_instructed_*: then the short-answer instruction). Questions
# are used verbatim (the trailing space stays); media markers in a question are dropped.
SNAPSHOT_ITEMS = [
    {"id": 1, "video": "part_1/1.mp4", "task": "reasoning_basic_audio",
     "question": "What emotion does the speaker's tone of voice convey?",
     "choices": ["(A) Anger", "(B) Happiness", "(C) Sadness", "(D) Fear"], "answer": "B"},
    {"id": 2, "video": "part_1/1.mp4", "task": "reasoning_basic_video",
     "question": "<video>\nWhich facial cue best explains the emotion?",
     "choices": ["(A) Raised eyebrows", "(B) Furrowed brow", "(C) Smile", "(D) Tears"], "answer": "C"},
    {"id": 3, "video": "part_2/2.mp4", "task": "modality_agreement",
     "question": "Do the audio and the video express the same emotion? ",
     "choices": ["(A) Yes", "(B) No"], "answer": "A"},
    {"id": 4, "video": "part_2/2.mp4", "task": "reasoning_stress_audio",
     "question": "Does the loud laughter contribute to the happiness of the person?",
     "choices": ["(A) Yes", "(B) No"], "answer": "B"},
    {"id": 5, "video": "part_1/1.mp4", "task": "reasoning_stress_video",
     "question": "Does the blue shirt contribute to the sadness of the person?",
     "choices": ["(A) Yes", "(B) No"], "answer": "B"},
]  # fmt: skip
INSTRUCTION = "\nAnswer with the option's letter from the given choices directly."
SNAPSHOTS = {
    "reasoning_basic_audio": "What emotion does the speaker's tone of voice convey? "
    "(A) Anger (B) Happiness (C) Sadness (D) Fear",
    "reasoning_basic_video": "Which facial cue best explains the emotion? "
    "(A) Raised eyebrows (B) Furrowed brow (C) Smile (D) Tears",
    "modality_agreement": "Do the audio and the video express the same emotion?  (A) Yes (B) No",
    "reasoning_stress_audio": "Does the loud laughter contribute to the happiness of the person? "
    "(A) Yes (B) No",
    "reasoning_stress_video": "Does the blue shirt contribute to the sadness of the person? "
    "(A) Yes (B) No",
}


@pytest.mark.parametrize("variant", ["emorealm", "emorealm_instructed"])
@pytest.mark.parametrize("task", utils.TASKS)
def test_prompt_snapshot(emorealm_env, monkeypatch, task, variant):
    questions = emorealm_env / "snapshot.json"
    questions.write_text(json.dumps(SNAPSHOT_ITEMS))
    monkeypatch.setenv("EMOREALM_JSON", str(questions))
    config = load(TASKS_DIR / "emorealm" / f"{variant}_{task}.yaml")
    assert config["process_docs"].endswith(f"process_docs_{task}")
    (doc,) = utils.build_docs(task)
    want = SNAPSHOTS[task] + (INSTRUCTION if variant == "emorealm_instructed" else "")
    assert utils.doc_to_text(doc, default_kwargs(config)) == want


def test_docs_keep_the_released_fields_and_resolve_media(emorealm_env):
    docs = utils.build_docs("modality_agreement")
    assert len(docs) == 3
    doc = docs[0]
    raw = json.loads((emorealm_env / "emorealm_v1.json").read_text())
    item = next(i for i in raw if i["id"] == doc["id"])
    assert (doc["question"], doc["choices"], doc["answer"], doc["video"]) == (
        item["question"], item["choices"], item["answer"], item["video"],
    )  # fmt: skip
    # "part_1/00001.mp4" is not under DFEW_ROOT/part_1 here: found by id in Clip/part_1
    assert doc["video_path"].endswith("part_1/00001.mp4")
    assert doc["audio_path"] == doc["video_path"] and doc["audio_source"] == "video_track"
    assert doc["answer_parser"] == "robust" and doc["missing_media_count"] == 0
    msg = utils.doc_to_messages(doc, {"pre_prompt": "", "post_prompt": ""})
    assert [c["type"] for c in msg[0]["content"]] == ["video", "audio", "text"]
    assert utils.doc_to_visual(doc) == [doc["video_path"]]


def test_clips_found_by_integer_id(tmp_path, monkeypatch, emorealm_env):
    # the released path says part_1/1.mp4; the user's copy is zero-padded elsewhere
    write_emorealm_json(tmp_path / "q.json", ["part_1/1.mp4"], per_task=1)
    monkeypatch.setenv("EMOREALM_JSON", str(tmp_path / "q.json"))
    doc = utils.build_docs("reasoning_basic_audio")[0]
    assert doc["video_path"].endswith("00001.mp4")


def test_separate_audio_tree(emorealm_env, monkeypatch, tmp_path):
    audio = tmp_path / "wav16k"
    for video in VIDEOS:
        (audio / video).with_suffix(".wav").parent.mkdir(parents=True, exist_ok=True)
        (audio / video).with_suffix(".wav").touch()
    monkeypatch.setenv("DFEW_AUDIO_ROOT", str(audio))
    doc = utils.build_docs("reasoning_basic_video")[0]
    assert doc["audio_path"] == str((audio / doc["video"]).with_suffix(".wav"))
    assert doc["audio_source"] == "wav"
    assert utils.doc_to_visual(doc) == [doc["video_path"], doc["audio_path"]]


def test_missing_media_is_one_clear_error_or_an_explicit_subset(emorealm_env, monkeypatch):
    (emorealm_env / "DFEW" / "Clip" / "part_2" / "00002.mp4").unlink()
    with pytest.raises(taskdata.MissingMediaError) as err:
        utils.build_docs("modality_agreement")
    message = str(err.value)
    assert "DFEW_ROOT=" in message and "1 of 3 items" in message
    assert "00002.mp4" in message and "AVEM_ALLOW_MISSING_MEDIA=1" in message
    monkeypatch.setenv("AVEM_ALLOW_MISSING_MEDIA", "1")
    docs = utils.build_docs("modality_agreement")
    assert len(docs) == 2 and all(d["missing_media_count"] == 1 for d in docs)
    records = [utils.process_results(d, ["A"])["missing_media_count"] for d in docs]
    assert utils.aggregate_missing_media_count(records) == 1


def test_unset_questions_file_names_the_variable(emorealm_env, monkeypatch):
    import huggingface_hub

    def offline(*args, **kwargs):
        raise OSError("offline")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    monkeypatch.delenv("EMOREALM_JSON")
    with pytest.raises(taskdata.TaskDataError, match="EMOREALM_JSON is not set"):
        utils.build_docs("modality_agreement")
    monkeypatch.setenv("EMOREALM_JSON", str(emorealm_env / "nope.json"))
    with pytest.raises(taskdata.TaskDataError, match=r"EMOREALM_JSON=.*not an existing file"):
        utils.build_docs("modality_agreement")


def test_malformed_questions_file(emorealm_env, tmp_path, monkeypatch):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": 1, "video": "part_1/1.mp4", "task": "modality_agreement"}]))
    monkeypatch.setenv("EMOREALM_JSON", str(bad))
    with pytest.raises(
        taskdata.TaskDataError,
        match=r"item 0 lacks the field\(s\) \['question', 'choices', 'answer'\]",
    ):
        utils.build_docs("modality_agreement")


def _doc(task="modality_agreement", answer="A", kind=None, parser="robust"):
    choices = (
        ["(A) Yes", "(B) No"]
        if task in utils.YES_NO_TASKS
        else ["(A) Joy", "(B) Sad", "(C) Anger", "(D) Fear"]
    )
    return {
        "id": "x", "task": task, "choices": choices, "answer": answer, "stress_kind": kind,
        "answer_parser": parser, "missing_media_count": 0,
    }  # fmt: skip


def test_robust_and_compat_scoring_on_the_spec_quirks(monkeypatch):
    monkeypatch.delenv("AVEM_AVERE_REPO", raising=False)
    yes_doc = _doc(answer="A")
    assert utils.score(yes_doc, "Yes")["correct"]  # robust reads a bare yes
    assert not utils.score(yes_doc, "Yes", "compat")["correct"]  # the authors' never scores it
    four = _doc("reasoning_basic_video", answer="A")
    assert utils.score(four, "a woman looking sad", "compat")["correct"]  # the article scores as A
    assert not utils.score(four, "a woman looking sad")["correct"]
    assert utils.score(four, "a woman looking sad")["status"] == "ok"  # read as (B) Sad
    assert utils.score(four, "a woman, maybe")["status"] == "unparsed"


def test_a_hedge_counts_as_unparsed_not_as_no():
    items = [utils.process_results(_doc(answer="B"), [a])["unparsed_count"] for a in
             ("no idea", "Nope", "Definitely not")]  # fmt: skip
    assert [(r["correct"], r["status"]) for r in items] == [
        (False, "unparsed"), (True, "ok"), (True, "ok"),
    ]  # fmt: skip
    assert utils.aggregate_unparsed_count(items) == 1


def test_yes_no_aggregations_robust():
    docs_answers = [
        (_doc(answer="A", kind="relevant"), "Yes"),
        (_doc(answer="A", kind="relevant"), "No"),
        (_doc(answer="B", kind="spurious"), "No"),
        (_doc(answer="B", kind="hallucination"), "Yes"),
        (_doc(answer="B", kind="hallucination"), ""),
    ]
    items = [utils.process_results(d, [a])["yes_rate"] for d, a in docs_answers]
    assert utils.aggregate_paper_precision_yes_acc(items) == pytest.approx(1 / 2)
    assert utils.aggregate_paper_recall_no_acc(items) == pytest.approx(1 / 3)
    assert utils.aggregate_paper_f1_yes_no(items) == pytest.approx(
        2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3)
    )
    assert utils.aggregate_yes_rate(items) == pytest.approx(2 / 5)
    assert utils.aggregate_relevant_acc(items) == pytest.approx(1 / 2)
    assert utils.aggregate_spurious_acc(items) == 1.0
    assert utils.aggregate_hallucination_acc(items) == 0.0
    assert utils.aggregate_unparsed_count(items) == 1 and utils.aggregate_empty_count(items) == 1
    assert utils.aggregate_unparsed_rate(items) == pytest.approx(1 / 5)
    assert utils.aggregate_answer_parser(items) == "robust"
    assert utils.aggregate_answer_parser_note(items) == ""


def test_kind_metrics_are_null_without_kinds():
    items = [utils.process_results(_doc(answer="B"), ["No"])["spurious_acc"]]
    assert utils.aggregate_spurious_acc(items) is None
    assert utils.aggregate_hallucination_acc(items) is None


def test_compat_yes_rate_follows_the_authors_formula(monkeypatch):
    monkeypatch.delenv("AVEM_AVERE_REPO", raising=False)  # our reconstruction
    # the authors count "correct on gold-Yes" plus "wrong on gold-No" as yes answers
    docs_answers = [
        (_doc(answer="A", parser="compat"), "A"),  # right, gold yes -> yes
        (
            _doc(answer="A", parser="compat"),
            "yes",
        ),  # "yes" never scores: wrong, gold yes -> not yes
        (_doc(answer="B", parser="compat"), "(B)"),  # right, gold no -> not yes
        (_doc(answer="B", parser="compat"), "No idea"),  # wrong, gold no -> counted as yes
    ]
    items = [utils.process_results(d, [a])["yes_rate"] for d, a in docs_answers]
    assert utils.aggregate_yes_rate(items) == pytest.approx(2 / 4)
    assert utils.aggregate_paper_precision_yes_acc(items) == pytest.approx(1 / 2)
    assert utils.aggregate_paper_recall_no_acc(items) == pytest.approx(1 / 2)
    assert utils.aggregate_answer_parser(items) == "compat-reconstruction"
    assert utils.aggregate_answer_parser_note(items) == (
        "compat: reconstruction, known to differ from the authors' scorer on rare words; "
        "set AVEM_AVERE_REPO for the exact scorer"
    )
    assert utils.aggregate_unparsed_count(items) == 2  # "yes" and "No idea" hold no option letter


def test_parser_choice_is_validated(emorealm_env, monkeypatch):
    monkeypatch.delenv("AVEM_AVERE_REPO", raising=False)
    monkeypatch.setenv("AVEM_ANSWER_PARSER", "compat")
    assert utils.build_docs("reasoning_basic_audio")[0]["answer_parser"] == "compat"
    monkeypatch.setenv("AVEM_ANSWER_PARSER", "lenient")
    with pytest.raises(taskdata.TaskDataError, match="AVEM_ANSWER_PARSER='lenient'"):
        utils.build_docs("reasoning_basic_audio")
