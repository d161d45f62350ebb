"""MAFW / MER2025 readers -> the clips table `avem prefs build` reads, on generated files in
the official layouts (MAFW's ``Labels/single-set.xlsx`` and ``descriptive_text.xlsx``,
MER2025's ``track1_train_disdim.csv``, ``subtitle_chieng.csv`` and ``video/<name>.mp4``)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avem_plugins.cli.main import app
from avem_plugins.prefs import sources
from avem_plugins.prefs.build import Clip

openpyxl = pytest.importorskip("openpyxl")

# MAFW: clip -> single_label id (0 = not single-labelled)
MAFW_ROWS = {
    "00001.mp4": 1,  # anger
    "00002.mp4": 4,  # happiness
    "00003.mp4": 0,  # not single-labelled
    "00004.mp4": 6,  # sadness
    "00005.mp4": 11,  # disappointment
    "00006.mp4": 4,
    "00007.mp4": 5,  # neutral (no description in MAFW)
}
MER_ROWS = [
    ("sample_00000001", "happy", "0.8"),
    ("sample_00000002", "angry", "-0.9"),
    ("sample_00000003", "worried", ""),
    ("sample_00000004", "Sad", "-0.5"),
    ("sample_00000005", "neutral", "0"),
    ("sample_00000006", "surprise", "0.2"),
]


def _xlsx(path: Path, rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def write_mafw(root: Path, rows=MAFW_ROWS, *, title_row: bool = False) -> Path:
    """MAFW's layout: clips, ``Labels/single-set.xlsx`` (clip, 11 vote columns,
    single_label) and ``Labels/descriptive_text.xlsx`` (no header: clip, zh, en)."""
    header = ["clip", *sources.MAFW_CLASSES, "single_label"]
    table: list[list[object]] = [["MAFW single-label set"]] if title_row else []
    table.append(header)
    for clip, label in rows.items():
        votes = [0.0] * 11
        if label:
            votes[label - 1] = 1.0
        table.append([clip, *votes, label])
    _xlsx(root / "Labels" / "single-set.xlsx", table)
    described = [
        [clip, "中文描述", f"The person in {clip} frowns and looks away."]
        for clip, label in rows.items()
        if label not in (0, 5)  # MAFW has no descriptions for neutral clips
    ]
    _xlsx(root / "Labels" / "descriptive_text.xlsx", described)
    for i, clip in enumerate(rows):
        sub = "clips" if i % 2 == 0 else "clips/nested"  # any depth
        (root / sub).mkdir(parents=True, exist_ok=True)
        (root / sub / clip).touch()
    return root


def write_mer2025(root: Path, rows=MER_ROWS, *, audio: bool = False) -> Path:
    """MER2025's layout: ``video/<name>.mp4``, ``audio/<name>.wav``,
    ``track1_train_disdim.csv`` (name,discrete,valence), ``subtitle_chieng.csv``."""
    (root / "video").mkdir(parents=True)
    (root / "audio").mkdir()
    with open(root / "track1_train_disdim.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "discrete", "valence"])
        writer.writerows(rows)
    with open(root / "subtitle_chieng.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "chinese", "english"])
        for name, _, _ in rows[:3]:
            writer.writerow([name, "你好", f"Hello from {name}."])
    for name, _, _ in rows:
        (root / "video" / f"{name}.mp4").touch()
        if audio:
            (root / "audio" / f"{name}.wav").touch()
    return root


# --- MAFW ------------------------------------------------------------------------------


@pytest.mark.parametrize("title_row", [False, True])
def test_read_mafw_labels_maps_ids_and_counts_unlabelled(tmp_path, title_row):
    root = write_mafw(tmp_path / "MAFW", title_row=title_row)
    rows, unlabelled = sources.read_mafw_labels(root / "Labels" / "single-set.xlsx")
    assert rows == [
        ("1", "anger"),
        ("2", "happiness"),
        ("4", "sadness"),
        ("5", "disappointment"),
        ("6", "happiness"),
        ("7", "neutral"),
    ]
    assert unlabelled == 1


def test_read_mafw_labels_accepts_names_and_numbers_and_reports_bad_rows(tmp_path):
    path = _xlsx(
        tmp_path / "a.xlsx",
        [["Clip", "single_label"], [25, "Contempt"], ["00026.mp4", 9.0], [None, None]],
    )
    assert sources.read_mafw_labels(path) == ([("25", "contempt"), ("26", "anxiety")], 0)
    bad = _xlsx(tmp_path / "b.xlsx", [["clip", "single_label"], ["1.mp4", 3], ["2.mp4", 12]])
    with pytest.raises(sources.SourceError, match=r"b.xlsx, row 3: single_label '12' is neither"):
        sources.read_mafw_labels(bad)
    dup = _xlsx(tmp_path / "c.xlsx", [["clip", "single_label"], ["7.mp4", 3], ["007", 2]])
    with pytest.raises(sources.SourceError, match=r"row 3: clip '7' is listed again \(row 2\)"):
        sources.read_mafw_labels(dup)
    headless = _xlsx(tmp_path / "d.xlsx", [["1.mp4", 3]])
    with pytest.raises(sources.SourceError, match="no header row with 'clip' and 'single_label'"):
        sources.read_mafw_labels(headless)
    (tmp_path / "e.xlsx").write_text("not a workbook")
    with pytest.raises(sources.SourceError, match=r"e.xlsx: not a readable .xlsx workbook"):
        sources.read_mafw_labels(tmp_path / "e.xlsx")


def test_read_mafw_descriptions_by_position(tmp_path):
    root = write_mafw(tmp_path / "MAFW")
    texts = sources.read_mafw_descriptions(root / "Labels" / "descriptive_text.xlsx")
    assert sorted(texts) == ["1", "2", "4", "5", "6"]
    assert texts["2"] == "The person in 00002.mp4 frowns and looks away."
    short = _xlsx(tmp_path / "s.xlsx", [["1.mp4", "only Chinese"]])
    with pytest.raises(sources.SourceError, match=r"row 1: expected 3 columns"):
        sources.read_mafw_descriptions(short)


def test_mafw_clips_finds_clips_at_any_depth_with_captions(tmp_path):
    root = write_mafw(tmp_path / "MAFW")
    table = sources.mafw_clips(root, descriptions=root / "Labels" / "descriptive_text.xlsx")
    assert table.label_file == root / "Labels" / "single-set.xlsx"  # found under the root
    assert [(c.id, c.emotion) for c in table.clips] == [
        ("00001", "anger"),
        ("00002", "happiness"),
        ("00004", "sadness"),
        ("00005", "disappointment"),
        ("00006", "happiness"),
        ("00007", "neutral"),
    ]
    assert table.clips[1].video == root / "clips" / "nested" / "00002.mp4"
    assert table.clips[0].visual_caption.startswith("The person in 00001.mp4")
    assert table.uncaptioned == 1 and not table.clips[-1].described  # the neutral clip
    assert table.unlabelled == 1 and table.missing == []
    assert table.counts()["happiness"] == 2


# --- MER2025 ---------------------------------------------------------------------------


def test_mer2025_clips_labels_subtitles_audio(tmp_path):
    root = write_mer2025(tmp_path / "MER2025", audio=True)
    table = sources.mer2025_clips(
        root, subtitles=root / "subtitle_chieng.csv", audio_root=root / "audio"
    )
    assert [c.emotion for c in table.clips] == [
        "happiness",
        "anger",
        "worried",
        "sadness",
        "neutral",
        "surprise",
    ]
    first = table.clips[0]
    assert first.video == root / "video" / "sample_00000001.mp4"
    assert first.audio == root / "audio" / "sample_00000001.wav"
    assert first.notes == 'Speech: "Hello from sample_00000001."'
    assert table.uncaptioned == 3


def test_mer2025_missing_media_and_bad_labels(tmp_path):
    root = write_mer2025(tmp_path / "MER2025")
    (root / "video" / "sample_00000002.mp4").unlink()
    table = sources.mer2025_clips(root)
    assert table.missing == ["sample_00000002"] and len(table.clips) == 5
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(sources.SourceError, match=r"no track1_train_disdim.csv under .*--labels"):
        sources.mer2025_clips(elsewhere)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,discrete\nx,happy\ny,joy\n")
    with pytest.raises(sources.SourceError, match=r"bad.csv, line 3: discrete label 'joy'"):
        sources.read_mer_labels(bad)
    bad.write_text("name,emotion\nx,happy\n")
    with pytest.raises(sources.SourceError, match=r"missing column\(s\) \['discrete'\]"):
        sources.read_mer_labels(bad)


def test_captions_csv_fills_and_overrides(tmp_path):
    root = write_mer2025(tmp_path / "MER2025")
    captions = tmp_path / "captions.csv"
    captions.write_text(
        "name,visual_caption,audio_caption\n"
        "sample_00000004,tears on her cheeks,a trembling voice\n"
        "sample_00000001,,a bright laugh\n"
    )
    table = sources.mer2025_clips(root, subtitles=root / "subtitle_chieng.csv", captions=captions)
    by_id = {c.id: c for c in table.clips}
    assert by_id["sample_00000004"].visual_caption == "tears on her cheeks"
    assert by_id["sample_00000004"].audio_caption == "a trembling voice"
    assert by_id["sample_00000001"].audio_caption == "a bright laugh"
    assert by_id["sample_00000001"].notes.startswith("Speech:")  # kept from the subtitles


# --- the clips table -------------------------------------------------------------------


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_write_clip_table_draws_mismatches_by_label_and_loads_in_prefs_build(tmp_path):
    root = write_mer2025(tmp_path / "MER2025", audio=True)
    table = sources.mer2025_clips(
        root, subtitles=root / "subtitle_chieng.csv", audio_root=root / "audio"
    )
    out = sources.write_clip_table(table.clips, tmp_path / "clips.csv", media_root=root, seed=3)
    rows = _read(out)
    assert list(rows[0]) == list(sources.CLIP_TABLE_COLUMNS)
    assert rows[0]["path"] == "video/sample_00000001.mp4"
    assert rows[0]["audio"] == "audio/sample_00000001.wav"
    emotion_of = {r["path"]: r["emotion"] for r in rows}
    for row in rows:
        assert row["video_l"] in emotion_of and emotion_of[row["video_l"]] != row["emotion"]
        assert row["audio_l"] == row["video_l"].replace("video/", "audio/").replace(".mp4", ".wav")
    # seeded: the same seed gives the same table, another seed other draws
    again = sources.write_clip_table(table.clips, tmp_path / "b.csv", media_root=root, seed=3)
    assert _read(again) == rows
    other = sources.write_clip_table(table.clips, tmp_path / "c.csv", media_root=root, seed=4)
    assert [r["video_l"] for r in _read(other)] != [r["video_l"] for r in rows]
    with pytest.raises(sources.SourceError, match="exists; pass --force"):
        sources.write_clip_table(table.clips, out, media_root=root)
    with pytest.raises(sources.SourceError, match="outside the media root"):
        sources.write_clip_table(table.clips, tmp_path / "d.csv", media_root=root / "video")
    # the table is what `avem prefs build` reads
    prefs_build = pytest.importorskip("avem_plugins.prefs.build")
    clips = prefs_build.read_clips(out, media_root=root)
    assert [c.id for c in clips] == [c.id for c in table.clips]
    assert clips[0].video == root / "video" / "sample_00000001.mp4"
    assert clips[0].notes.startswith("Speech:") and clips[0].audio_rel == rows[0]["audio"]


def test_mismatch_labels_are_drawn_uniformly_not_by_frequency():
    def clips(label, n):
        return [Clip(f"{label}{i}", Path(f"{label}{i}.mp4"), label) for i in range(n)]

    pool = clips("common", 30) + clips("medium", 10) + clips("rare", 1)
    drawn = sources.assign_mismatches(pool, pool, seed=0)
    partners = [drawn[c.id].emotion for c in pool if c.emotion == "common"]
    # by frequency the rare clip would be drawn for ~1 in 11 common clips; by label ~half
    assert 8 <= partners.count("rare") <= 22 and partners.count("medium") >= 8
    assert drawn["rare0"].emotion in {"common", "medium"}
    assert all(drawn[c.id].emotion != c.emotion for c in pool)
    assert sources.assign_mismatches(pool[:3], pool[:3], seed=0) == {}  # one label: none


def test_per_label_sample_keeps_the_whole_pool():
    pool = [Clip(f"c{i}", Path(f"c{i}.mp4"), "ab"[i % 2]) for i in range(20)]
    chosen = sources.sample_per_label(pool, 3, seed=1)
    assert sorted(c.emotion for c in chosen) == ["a"] * 3 + ["b"] * 3
    assert chosen == [c for c in pool if c in chosen]  # input order kept
    assert sources.sample_per_label(pool, 3, seed=1) == chosen


# --- CLI -------------------------------------------------------------------------------


def test_cli_mafw_writes_the_table_and_says_what_next(tmp_path):
    root = write_mafw(tmp_path / "MAFW")
    out = tmp_path / "clips.csv"
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["sources", "mafw", str(root), "--out", str(out),
         "--descriptions", str(root / "Labels" / "descriptive_text.xlsx")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "mafw: 6 labelled clips" in result.output and "left out 1 rows" in result.output
    assert f"avem prefs build {out} --media-root {root}" in result.output
    assert "1 clips have no caption" in result.output
    rows = _read(out)
    assert [r["id"] for r in rows] == ["00001", "00002", "00004", "00005", "00006", "00007"]
    assert rows[1]["path"] == "clips/nested/00002.mp4"


def test_cli_mer2025_missing_clips_fail_unless_allowed(tmp_path):
    root = write_mer2025(tmp_path / "MER2025")
    (root / "video" / "sample_00000002.mp4").unlink()
    out = tmp_path / "clips.csv"
    runner = CliRunner()
    failed = runner.invoke(app, ["sources", "mer2025", str(root), "-o", str(out)])
    assert failed.exit_code == 1 and "1 labelled clips have no media file" in failed.output
    assert not out.exists()
    ok = runner.invoke(
        app,
        ["sources", "mer2025", str(root), "-o", str(out), "--allow-missing", "--per-label", "1"],
    )
    assert ok.exit_code == 0, ok.output
    assert len(_read(out)) == 5  # one per label, the missing angry clip left out
    again = runner.invoke(app, ["sources", "mer2025", str(root), "-o", str(out), "--allow-missing"])
    assert again.exit_code == 1 and "pass --force" in again.output
