"""`avem prefs build` planning from a clips table (no LLM involved)."""

from __future__ import annotations

import pytest

from avem_plugins.prefs.build import PrefsBuildError, make_row, plan_jobs, read_clips


def test_build_uses_the_tables_own_mismatch(tmp_path):
    """A clips table with video_l (as the MAFW/MER2025 readers write it) keeps that mismatch."""
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (tmp_path / name).write_bytes(b"")
    table = tmp_path / "clips.csv"
    table.write_text(
        "path,emotion,visual_caption,video_l\n"
        "a.mp4,happiness,smiling,c.mp4\n"
        "b.mp4,sadness,crying,\n"
        "c.mp4,anger,frowning,\n"
    )
    clips = read_clips(table)
    jobs = {job.clip.rel: job for job in plan_jobs(clips, ["visual"], seed=0)}
    fields = {"prompt": "p", "chosen": "c", "rejected": "r", "rejected_2": "r2"}
    assert make_row(jobs["a.mp4"], fields)["video_l"] == "c.mp4"
    drawn = make_row(jobs["b.mp4"], fields)["video_l"]
    assert drawn in {"a.mp4", "c.mp4"}  # no table value: a clip of another emotion is drawn
    (tmp_path / "bad.csv").write_text("path,emotion,video_l\na.mp4,happiness,../x.mp4\n")
    with pytest.raises(PrefsBuildError, match="video_l"):
        read_clips(tmp_path / "bad.csv")
