"""Locating user data: env vars, the media-root fallback, the missing-media policy."""

from __future__ import annotations

import pytest

from avem_plugins.scoring import taskdata


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    for var in (
        "MY_ROOT",
        "MY_AUDIO_ROOT",
        "LMMS_EVAL_MEDIA_ROOT",
        "AVEM_ALLOW_MISSING_MEDIA",
        "AVEM_ANSWER_PARSER",
    ):
        monkeypatch.delenv(var, raising=False)


def test_env_path_and_fallback(tmp_path, monkeypatch):
    with pytest.raises(
        taskdata.TaskDataError,
        match=r"MY_ROOT is not set: set MY_ROOT to the data \(or provide \$LMMS_EVAL_MEDIA_ROOT/Data\)",
    ):
        taskdata.env_path("MY_ROOT", media_root_names=("Data",), purpose="the data")
    (tmp_path / "Data").mkdir()
    monkeypatch.setenv("LMMS_EVAL_MEDIA_ROOT", str(tmp_path))
    assert (
        taskdata.env_path("MY_ROOT", media_root_names=("Data",), purpose="x") == tmp_path / "Data"
    )
    monkeypatch.setenv("MY_ROOT", str(tmp_path / "nope"))
    with pytest.raises(taskdata.TaskDataError, match=r"MY_ROOT=.*nope is not an existing folder"):
        taskdata.env_path("MY_ROOT", media_root_names=("Data",), purpose="x")


def test_keep_present_lists_count_and_first_paths(tmp_path, monkeypatch):
    rows = [{"video_path": str(tmp_path / f"{i}.mp4"), "audio_path": ""} for i in range(8)]
    (tmp_path / "0.mp4").touch()
    monkeypatch.setenv("MY_ROOT", str(tmp_path))
    with pytest.raises(taskdata.MissingMediaError) as err:
        taskdata.keep_present([dict(r) for r in rows], task="t", env_vars=("MY_ROOT",))
    text = str(err.value)
    assert text.startswith(f"t: 7 of 8 items have missing media files under MY_ROOT={tmp_path}: ")
    assert "1.mp4" in text and "5.mp4" in text and "6.mp4" not in text and "(and 2 more)" in text
    monkeypatch.setenv("AVEM_ALLOW_MISSING_MEDIA", "1")
    kept = taskdata.keep_present([dict(r) for r in rows], task="t", env_vars=("MY_ROOT",))
    assert kept == [{**rows[0], "missing_media_count": 7}]


def test_nothing_present_is_an_error_even_when_allowed(tmp_path, monkeypatch):
    monkeypatch.setenv("AVEM_ALLOW_MISSING_MEDIA", "1")
    with pytest.raises(taskdata.MissingMediaError, match="no item has its media"):
        taskdata.keep_present(
            [{"video_path": str(tmp_path / "x.mp4")}], task="t", env_vars=("MY_ROOT",)
        )


def test_index_files_first_duplicate_wins(tmp_path):
    for rel in ("b/1.mp4", "a/1.mp4", "a/2.MP4", "a/3.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).touch()
    found = taskdata.index_files(tmp_path, (".mp4",))
    assert found == {"1": tmp_path / "a/1.mp4", "2": tmp_path / "a/2.MP4"}


def test_media_items():
    doc = {"video_path": "v.mp4", "audio_path": "v.mp4"}
    assert taskdata.media_visuals(doc) == ["v.mp4"]
    assert taskdata.media_visuals({"video_path": "v.mp4", "audio_path": "a.wav"}) == [
        "v.mp4",
        "a.wav",
    ]
    assert taskdata.media_messages(doc, "q") == [
        {
            "role": "user",
            "content": [
                {"type": "video", "url": "v.mp4"},
                {"type": "audio", "url": "v.mp4"},
                {"type": "text", "text": "q"},
            ],
        }
    ]


def test_empty_task_is_an_error():
    with pytest.raises(taskdata.TaskDataError, match="no items"):
        taskdata.to_dataset([], task="t")


def test_model_modalities_records_what_reached_the_model():
    """The `model_modalities` metric: effective media, and what was asked when they differ."""
    from avem_plugins import runinfo

    runinfo.clear()
    try:
        assert taskdata.aggregate_model_modalities([]) == "not recorded (the model is not avem_av)"
        info = {"modalities": ["audio", "video"], "requested_modalities": ["audio", "video"]}
        runinfo.record(info)
        assert taskdata.aggregate_model_modalities([{}]) == "audio,video"
        runinfo.record({**info, "modalities": ["video"]})  # a video-only family asked for both
        assert taskdata.model_modalities() == "video (requested audio,video)"
        runinfo.record({"modalities": [], "requested_modalities": []})
        assert taskdata.model_modalities() == "text"
        runinfo.clear()
        assert taskdata.model_modalities().startswith("not recorded")
    finally:
        runinfo.clear()


CLIPS = taskdata.ClipRoots(
    root_env="MY_ROOT", audio_env="MY_AUDIO_ROOT", media_root_names=("Data",), purpose="the data"
)


def test_clip_roots_find_the_root_the_audio_tree_and_the_variables_that_named_them(
    tmp_path, monkeypatch
):
    with pytest.raises(taskdata.TaskDataError, match=r"set MY_ROOT to the data"):
        CLIPS.find("robust")
    (tmp_path / "Data").mkdir()
    monkeypatch.setenv("LMMS_EVAL_MEDIA_ROOT", str(tmp_path))
    found = CLIPS.find("robust")
    assert (found.parser, found.root, found.audio_root) == ("robust", tmp_path / "Data", None)
    assert found.env_vars == ("MY_ROOT",)  # no audio tree: only the root is named

    monkeypatch.setenv("MY_AUDIO_ROOT", str(tmp_path / "nope"))
    with pytest.raises(taskdata.TaskDataError, match=r"MY_AUDIO_ROOT=.*nope"):
        CLIPS.find("robust")
    (tmp_path / "wavs").mkdir()
    monkeypatch.setenv("MY_AUDIO_ROOT", str(tmp_path / "wavs"))
    found = CLIPS.find("compat")
    assert (found.parser, found.audio_root) == ("compat", tmp_path / "wavs")
    assert found.env_vars == ("MY_ROOT", "MY_AUDIO_ROOT")
    # a task variant without an audio tree (RAVDESS audio-only) ignores the variable
    assert CLIPS.find("robust", audio=False).env_vars == ("MY_ROOT",)


def test_one_line_quotes_only_what_would_break_the_line():
    assert taskdata.one_line("clips/a b.mp4") == "clips/a b.mp4"
    assert taskdata.one_line("a\nb") == "'a\\nb'"
    assert taskdata.one_line(7) == "7"
