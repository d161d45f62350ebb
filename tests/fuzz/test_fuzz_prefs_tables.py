"""Fuzzed inputs of ``avem prefs build`` and ``avem prefs sources``: the clips table
(``prefs.build.read_clips``, then the rows it plans) and the MAFW / MER2025 label files
(``prefs.sources``: ``single-set.xlsx``, ``descriptive_text.xlsx``, ``track1_train_disdim.csv``,
captions and subtitle CSVs).

Tables are generated valid and mutated as tables, cells (``..``/absolute/symlinked/over-long
paths, odd Unicode, huge numbers) and bytes. Workbooks are mostly given as cell rows (the
readers' logic; ``read_xlsx`` is replaced), one example in twenty as a real ``.xlsx`` written by
openpyxl and then damaged as bytes. The property: the data, or ``PrefsBuildError`` /
``SourceError`` naming the file and the line/row; every row a clip, a counted left-out
(MAFW label 0, clips without media), or an error.
"""

from __future__ import annotations

import datetime
import io
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from fuzz_support import (
    DEFAULT_TIER,
    PATH_INJECTIONS,
    SLOW_TIER,
    csv_bytes,
    csv_cell,
    make_sandbox,
    mutate_bytes,
    mutate_table,
    odd_text,
    outcome,
    scratch_dir,
)
from hypothesis import given
from hypothesis import strategies as st

from avem_plugins.prefs import build, sources
from avem_plugins.prefs.schema import PreferenceDataError, check_row

TABLE_COLUMNS = list(sources.CLIP_TABLE_COLUMNS)
CSV_FILE_LEVEL = (r"missing column", r"not UTF-8", r"no clips", r"empty file", r"not found")
EMOTIONS = ["happiness", "sadness", "anger", "neutral"]


_PATHS = st.sampled_from(["clips/a.mp4", "clips/b.mp4", "./clips/a.mp4"]) | st.sampled_from(
    PATH_INJECTIONS
)
CLIP_ID = csv_cell(st.sampled_from(["clip#", ""]))
PATH = csv_cell(_PATHS)
AUDIO = st.sampled_from(["", "clips/a.wav"]) | _PATHS
EMOTION = csv_cell(st.sampled_from(EMOTIONS))
CAPTION = csv_cell(st.just("a broad smile"))
VIDEO_L = st.sampled_from(["", "clips/b.mp4"]) | _PATHS


# ------------------------------------------------------------------ clips table


@st.composite
def clip_tables(draw: st.DrawFn) -> bytes:
    rows = []
    for i in range(draw(st.integers(0, 5))):
        rows.append(
            [
                draw(CLIP_ID).replace("#", str(i)),
                draw(PATH),
                draw(AUDIO),
                draw(EMOTION),
                draw(CAPTION),
                draw(st.sampled_from(["", "a bright voice"])),
                draw(st.sampled_from(["", "notes"])),
                draw(VIDEO_L),
                draw(st.sampled_from(["", "clips/b.wav"])),
            ]
        )
    header, rows = draw(mutate_table(TABLE_COLUMNS, rows))
    return draw(mutate_bytes(csv_bytes(header, rows)))


def _table_rows(data: bytes) -> int:
    import csv

    cells = [r for r in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")) if r]
    return len(cells) - 1


GENERATED = {"prompt": "Why?", "chosen": "A smile.", "rejected": "Tears.", "rejected_2": "A wall."}


def check_clip_table(data: bytes) -> None:
    with scratch_dir() as tmp:
        base = Path(tmp)
        root = make_sandbox(base)
        path = root / "clips.csv"
        path.write_bytes(data.replace(b"{root}", str(root).encode()))
        data = path.read_bytes()
        read = outcome(
            lambda: build.read_clips(path, root),
            build.PrefsBuildError,
            path,
            file_level=CSV_FILE_LEVEL,
        )
        if not read.ok:
            return
        clips = read.value
        assert len(clips) == _table_rows(data)  # every row is a clip
        real_root = root.resolve()
        for clip in clips:
            for media in (clip.video, clip.audio, clip.video_l, clip.audio_l):
                assert media is None or media.is_relative_to(real_root), media
        for job in build.plan_jobs(clips):  # the rows the build would write load as preferences
            row = build.make_row(job, GENERATED)
            where = f"{path} line {job.clip.line}"
            outcome(
                lambda row=row, where=where: check_row(
                    row, where=where, root=root, default_id="x", check_exists=False
                ).require(),
                PreferenceDataError,
                path,
            )


@given(data=clip_tables())
@DEFAULT_TIER
def test_clips_table_reads_or_names_the_line(data: bytes) -> None:
    check_clip_table(data)


@pytest.mark.slow
@given(data=clip_tables())
@SLOW_TIER
def test_clips_table_reads_or_names_the_line_10k(data: bytes) -> None:
    check_clip_table(data)


# ------------------------------------------------------------------ MAFW / MER2025 label files


#: What a spreadsheet cell may hold.
CELL_VALUE: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.just(datetime.datetime(2020, 1, 2, 3, 4, 5)),
    odd_text(),
    st.sampled_from(["00025.mp4", "25.0", "²", "١٢", " 7 ", "0"]),
)


@st.composite
def mafw_sheets(draw: st.DrawFn) -> list[list[Any]]:
    header = ["clip", "single_label"]
    rows: list[list[Any]] = [list(header)] if draw(st.integers(0, 9)) else []
    if draw(st.booleans()):
        rows.insert(0, ["MAFW single-label set"])  # a title row above the header
    for i in range(draw(st.integers(0, 6))):
        clip = draw(st.sampled_from([f"{i + 1:05d}", f"{i + 1:05d}.mp4", float(i + 1), i + 1]))
        label = draw(st.integers(0, 11) | st.sampled_from(sources.MAFW_CLASSES) | st.just(""))
        row = [clip, label]
        if draw(st.integers(0, 3)) == 0:
            row[draw(st.integers(0, 1))] = draw(CELL_VALUE)
        if draw(st.integers(0, 5)) == 0:
            row = row[: draw(st.integers(0, 1))] + draw(st.lists(CELL_VALUE, max_size=2))
        rows.append(row)
    return rows


_WORKBOOKS: dict[str, bytes] = {}


def _xlsx_bytes(rows: list[list[Any]]) -> bytes:
    """The workbook of ``rows``, built once per process: openpyxl stamps the save time into
    it, and Hypothesis needs the same draws to give the same bytes."""
    key = repr(rows)
    if key not in _WORKBOOKS:
        if len(_WORKBOOKS) >= 4096:
            _WORKBOOKS.pop(next(iter(_WORKBOOKS)))
        _WORKBOOKS[key] = _xlsx_build(rows)
    return _WORKBOOKS[key]


def _xlsx_build(rows: list[list[Any]], *, strict: bool = False) -> bytes:
    """``rows`` as a workbook; a value openpyxl cannot write becomes ``"?"``. ``strict``:
    keep only the strings UTF-8 can encode (the second try, after ``save`` refused one)."""
    import openpyxl

    def storable(value: Any) -> Any:
        if not strict:
            return value
        if not isinstance(value, str):
            return "?"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: lxml refuses it only at save time
            return "?"
        return value

    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        try:
            sheet.append([storable(v) for v in row])
        except Exception:  # openpyxl refuses some values (control characters)
            sheet.append(["?" for _ in row])
    buffer = io.BytesIO()
    try:
        book.save(buffer)
    except (ValueError, OverflowError):  # a value a workbook cannot hold (10**20, "\ud800")
        if strict:
            raise
        return _xlsx_build(rows, strict=True)
    return buffer.getvalue()


@st.composite
def mafw_cases(draw: st.DrawFn) -> tuple[str, Any]:
    rows = draw(mafw_sheets())
    if draw(st.integers(0, 19)) == 0:  # a real workbook costs ~50 ms: one in twenty
        return "xlsx", draw(
            mutate_bytes(_xlsx_bytes(rows), kinds=("truncate", "flip", "zero_range"))
        )
    return "rows", rows


def check_mafw(case: tuple[str, Any]) -> None:
    kind, value = case
    with scratch_dir() as tmp:
        path = Path(tmp) / "single-set.xlsx"
        path.write_bytes(value if kind == "xlsx" else b"")
        patch = (
            mock.patch.object(sources, "read_xlsx", lambda p, sheet=None: [list(r) for r in value])
            if kind == "rows"
            else mock.patch.object(sources, "read_xlsx", sources.read_xlsx)
        )
        with patch:
            rows = sources.read_xlsx(path) if kind == "rows" else None
            read = outcome(
                lambda: sources.read_mafw_labels(path),
                sources.SourceError,
                path,
                file_level=(r"no header row", r"not a readable .xlsx", r"no such file"),
            )
            described = outcome(
                lambda: sources.read_mafw_descriptions(path),
                sources.SourceError,
                path,
                file_level=(r"not a readable .xlsx",),
            )
        del described  # the property (typed error or data) is all it must meet
        if read.ok and rows is not None:
            labelled, unlabelled = read.value
            header_at = next(
                i
                for i, r in enumerate(rows[: sources._HEADER_SCAN_ROWS])
                if {"clip", "single_label"} <= {sources._cell(v).lower() for v in r}
            )
            body = rows[header_at + 1 :]
            blank = sum(1 for r in body if not any(sources._cell(v) for v in r[:2]))
            assert len(labelled) + unlabelled + blank == len(body)  # nothing silently gone


@given(case=mafw_cases())
@DEFAULT_TIER
def test_mafw_label_files_read_or_name_the_row(case: tuple[str, Any]) -> None:
    check_mafw(case)


@pytest.mark.slow
@given(case=mafw_cases())
@SLOW_TIER
def test_mafw_label_files_read_or_name_the_row_10k(case: tuple[str, Any]) -> None:
    check_mafw(case)


MER_NAME = csv_cell(st.sampled_from(["sample_#", "sample_#.mp4", "#"]))
MER_LABEL = csv_cell(st.sampled_from(list(sources.MER_CLASSES)))


@st.composite
def mer2025_files(draw: st.DrawFn) -> tuple[bytes, bytes]:
    rows = [
        [
            draw(MER_NAME).replace("#", f"{i:08d}"),
            draw(MER_LABEL),
            "0.5",
        ]
        for i in range(draw(st.integers(0, 6)))
    ]
    header, rows = draw(mutate_table(["name", "discrete", "valence"], rows))
    labels = draw(mutate_bytes(csv_bytes(header, rows)))
    captions = [[r[0] if r else "", draw(CAPTION)] for r in rows]
    cap_header, captions = draw(
        mutate_table(["name", draw(st.sampled_from(["visual_caption", "notes"]))], captions)
    )
    return labels, draw(mutate_bytes(csv_bytes(cap_header, captions)))


def check_mer2025(files: tuple[bytes, bytes]) -> None:
    labels_data, captions_data = files
    with scratch_dir() as tmp:
        base = Path(tmp)
        root = make_sandbox(base)
        (root / "video").mkdir()
        for name in ("sample_00000001", "sample_00000002"):
            (root / "video" / f"{name}.mp4").write_bytes(b"x")
        labels = base / "track1_train_disdim.csv"
        labels.write_bytes(labels_data)
        captions = base / "captions.csv"
        captions.write_bytes(captions_data)
        read = outcome(
            lambda: sources.read_mer_labels(labels),
            sources.SourceError,
            labels,
            file_level=CSV_FILE_LEVEL,
        )
        outcome(
            lambda: sources.read_captions(captions),
            sources.SourceError,
            captions,
            file_level=(*CSV_FILE_LEVEL, r"needs a 'name' column"),
        )
        if not read.ok:
            return
        table = outcome(
            lambda: sources.mer2025_clips(root, labels=labels),
            sources.SourceError,
            labels,
            file_level=CSV_FILE_LEVEL,
        )
        assert table.ok
        assert len(table.value.clips) + len(table.value.missing) == len(read.value)  # counted


@given(files=mer2025_files())
@DEFAULT_TIER
def test_mer2025_label_files_read_or_name_the_line(files: tuple[bytes, bytes]) -> None:
    check_mer2025(files)


@pytest.mark.slow
@given(files=mer2025_files())
@SLOW_TIER
def test_mer2025_label_files_read_or_name_the_line_10k(files: tuple[bytes, bytes]) -> None:
    check_mer2025(files)
