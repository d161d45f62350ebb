"""RAVDESS tasks: files found recursively, labels from names, class sets, prompt snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest
from avem_plugins.tasks import classification
from avem_plugins.tasks.ravdess import utils
from task_yaml import TASKS_DIR, default_kwargs, load

from avem_plugins.scoring import taskdata

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "realdata" / "ravdess"
VIDEO_PROMPT = "Describe the emotion of the person in the video in one word."
AUDIO_PROMPT = "Describe the emotion of the speaker in the audio in one word."


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("AVEM_ALLOW_MISSING_MEDIA", "AVEM_ANSWER_PARSER", "LMMS_EVAL_MEDIA_ROOT",
                "RAVDESS_AUDIO_ROOT"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("name", "fn", "prompt"),
    [
        ("ravdess", "process_docs_av_7class", VIDEO_PROMPT),
        ("ravdess_8class", "process_docs_av_8class", VIDEO_PROMPT),
        ("ravdess_audio", "process_docs_audio_7class", AUDIO_PROMPT),
        ("ravdess_audio_8class", "process_docs_audio_8class", AUDIO_PROMPT),
    ],
)
def test_prompt_snapshot(name, fn, prompt):
    config = load(TASKS_DIR / "ravdess" / f"{name}.yaml")
    assert config["process_docs"].endswith(fn)
    modality = "audio" if "audio" in name else "av"
    assert classification.doc_to_text({"modality": modality}, default_kwargs(config)) == prompt


@pytest.mark.skipif(not REAL.is_dir(), reason=f"real RAVDESS wavs not found at {REAL}")
def test_real_audio_files(clean_env):
    clean_env.setenv("RAVDESS_ROOT", str(REAL))
    seven = utils.build_docs("audio", 7)
    eight = utils.build_docs("audio", 8)
    assert len(eight) == 48 and len(seven) == 42  # 6 calm clips dropped
    assert "calm" not in seven[0]["labels"] and len(seven[0]["labels"]) == 7
    assert {d["label"] for d in eight} == set(utils.LABELS_8)
    doc = next(d for d in seven if d["id"] == "03-01-05-02-02-01-12")
    assert (
        doc["label"] == "anger" and doc["video_path"] == "" and doc["audio_path"].endswith(".wav")
    )
    assert classification.doc_to_visual(doc) == [doc["audio_path"]]
    assert [c["type"] for c in classification.doc_to_messages(doc, {})[0]["content"]] == [
        "audio",
        "text",
    ]
    with pytest.raises(taskdata.TaskDataError, match=r"no 01-01-\*\.mp4 files under RAVDESS_ROOT="):
        utils.build_docs("av", 7)  # this folder has audio only


def test_av_files_in_actor_folders_or_flat(clean_env, tmp_path):
    for name in ("Actor_01/01-01-02-01-01-01-01.mp4", "Actor_01/01-01-05-02-01-01-01.mp4", "02-01-05-02-01-01-03.mp4",
                 "01-01-08-01-01-01-03.mp4", "notes.mp4"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    clean_env.setenv("RAVDESS_ROOT", str(tmp_path))
    docs = utils.build_docs("av", 7)
    assert [(d["id"], d["label"]) for d in docs] == [
        ("01-01-05-02-01-01-01", "anger"),
        ("01-01-08-01-01-01-03", "surprise"),
    ]
    assert docs[0]["audio_path"] == docs[0]["video_path"]  # the mp4's own track
    assert len(utils.build_docs("av", 8)) == 3  # calm kept; video-only 02-* never used


def test_a_separate_16khz_wav_tree_for_the_av_clips(clean_env, tmp_path):
    # the authors read each clip's audio from a 16 kHz wav tree beside the mp4s
    clips, wavs = tmp_path / "clips", tmp_path / "wav16k"
    for name in ("Actor_01/01-01-05-02-01-01-01.mp4", "Actor_02/01-01-03-01-01-01-02.mp4"):
        for root, suffix in ((clips, ".mp4"), (wavs, ".wav")):
            path = (root / name).with_suffix(suffix)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    clean_env.setenv("RAVDESS_ROOT", str(clips))
    clean_env.setenv("RAVDESS_AUDIO_ROOT", str(wavs))
    docs = utils.build_docs("av", 7)
    assert [d["audio_path"] for d in docs] == [
        str(wavs / "Actor_02/01-01-03-01-01-01-02.wav"),
        str(wavs / "Actor_01/01-01-05-02-01-01-01.wav"),
    ]
    assert {d["audio_source"] for d in docs} == {"wav"}
    assert classification.doc_to_visual(docs[0]) == [docs[0]["video_path"], docs[0]["audio_path"]]
    (wavs / "Actor_01/01-01-05-02-01-01-01.wav").unlink()
    with pytest.raises(taskdata.MissingMediaError, match="RAVDESS_AUDIO_ROOT="):
        utils.build_docs("av", 7)


def test_parse_name():
    assert utils.parse_name("03-01-02-01-01-01-01.wav")["emotion"] == "calm"
    assert utils.parse_name("03-01-09-01-01-01-01.wav") is None
    assert utils.parse_name("readme.wav") is None


def test_unset_root(clean_env):
    clean_env.delenv("RAVDESS_ROOT", raising=False)
    with pytest.raises(taskdata.TaskDataError, match="RAVDESS_ROOT is not set"):
        utils.build_docs("audio", 7)
