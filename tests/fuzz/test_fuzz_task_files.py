"""Fuzzed annotation files of the classification tasks: DFEW fold CSVs, RAVDESS file names,
MER2023 label CSVs (``tasks/dfew|ravdess|mer2023/utils.py``), read and built into docs.

CSVs are generated valid, then mutated as tables (a column dropped, renamed, repeated; rows
with too many or too few cells, repeated or dropped), as cells (odd Unicode, huge numbers,
``nan``/``inf``, quotes) and as bytes (truncation, BOM, CRLF, invalid UTF-8, NUL, flips).
RAVDESS folders get valid names, near misses (Unicode digits, six or eight fields, unknown
codes, other suffixes), a symlink loop and symlinks leading out. The property: the docs, or a
``TaskDataError`` naming the file and line; every row is a doc, a counted left-out (DFEW label
0, MER labels outside the task, missing media), never silently gone.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import pytest
from avem_plugins.tasks.dfew import utils as dfew
from avem_plugins.tasks.mer2023 import utils as mer
from avem_plugins.tasks.ravdess import utils as ravdess
from fuzz_support import (
    DEFAULT_TIER,
    SLOW_TIER,
    capture_logs,
    csv_bytes,
    csv_cell,
    env,
    make_sandbox,
    mutate_bytes,
    mutate_table,
    outcome,
    scratch_dir,
)
from hypothesis import given
from hypothesis import strategies as st

from avem_plugins.scoring import taskdata

CSV_FILE_LEVEL = (r"expected columns", r"not UTF-8", r"cannot read")
TASK_ENV = {
    "AVEM_ANSWER_PARSER": None,
    "LMMS_EVAL_MEDIA_ROOT": None,
    "AVEM_ALLOW_MISSING_MEDIA": "1",
}


def _dict_rows(data: bytes) -> list[dict[str, str]] | None:
    """The rows as Python's csv module reads them (None when it cannot)."""
    try:
        cells = [r for r in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")) if r]
    except (UnicodeDecodeError, csv.Error):
        return None
    header = [c.strip() for c in cells[0]] if cells else []
    rows = []
    for values in cells[1:]:
        row: dict[str, str] = {}
        for name, value in zip(
            header, [v.strip() for v in values] + [""] * len(header), strict=False
        ):
            row.setdefault(name, value)  # a repeated column: the first counts
        rows.append(row)
    return rows


# ------------------------------------------------------------------ DFEW


CLIP_ID = csv_cell(st.integers(1, 16000).map(str))
DFEW_LABEL = csv_cell(st.integers(0, 7).map(str) | st.sampled_from(["3.0", " 2 "]))


@st.composite
def dfew_csvs(draw: st.DrawFn) -> bytes:
    n = draw(st.integers(0, 8))
    rows = [
        [
            draw(CLIP_ID),
            draw(DFEW_LABEL),
        ]
        for _ in range(n)
    ]
    header, rows = draw(mutate_table(["video_name", "label"], rows))
    return draw(mutate_bytes(csv_bytes(header, rows)))


def check_dfew(data: bytes) -> None:
    with scratch_dir() as tmp:
        base = Path(tmp)
        root = make_sandbox(base)
        for clip in (1, 2, 3):
            (root / f"part_{clip}").mkdir()
            (root / f"part_{clip}" / f"{clip:05d}.mp4").write_bytes(b"x")
        for odd in ("²³.mp4", "٣.mp4", "9" * 200 + ".mp4"):  # isdigit, but no DFEW id
            (root / "part_2" / odd).write_bytes(b"x")
        path = base / "test(single-labeled)" / "set_1.csv"
        path.parent.mkdir()
        path.write_bytes(data)
        with capture_logs("avem_plugins.tasks.dfew.utils") as logs:
            read = outcome(
                lambda: dfew.read_fold(path),
                taskdata.TaskDataError,
                path,
                file_level=CSV_FILE_LEVEL,
            )
        if not read.ok:
            return
        rows = _dict_rows(data)
        assert rows is not None
        zero = sum(1 for r in rows if int(float(r["label"].strip())) == 0)
        assert len(read.value) + zero == len(rows)  # every row: a doc or a counted label 0
        if zero:
            assert any(f"{zero} rows with label 0" in m for m in logs.messages()), logs.messages()
        with env(DFEW_ROOT=str(root), DFEW_ANNOTATIONS=str(path), DFEW_AUDIO_ROOT=None, **TASK_ENV):
            dfew.clips_by_id.cache_clear()
            built = outcome(
                lambda: dfew.build_docs(1),
                taskdata.TaskDataError,
                "DFEW_ROOT",
                file_level=(r"no item has its media",),
            )
        if built.ok and built.value:
            docs = built.value
            assert len(docs) + docs[0]["missing_media_count"] == len(read.value)


@given(data=dfew_csvs())
@DEFAULT_TIER
def test_dfew_fold_csv(data: bytes) -> None:
    check_dfew(data)


@pytest.mark.slow
@given(data=dfew_csvs())
@SLOW_TIER
def test_dfew_fold_csv_10k(data: bytes) -> None:
    check_dfew(data)


# ------------------------------------------------------------------ RAVDESS

#: A RAVDESS speech file name as the dataset writes them (ASCII digits, seven fields).
RAVDESS_NAME = re.compile(r"^(\d\d)-(\d\d)-(0[1-8])-\d\d-\d\d-\d\d-\d\d$", re.ASCII)


@st.composite
def ravdess_names(draw: st.DrawFn) -> str:
    fields = [
        draw(st.sampled_from(["01", "02", "03"])),
        "01",
        draw(st.sampled_from(["01", "02", "03", "04", "05", "06", "07", "08"])),
        draw(st.sampled_from(["01", "02"])),
        draw(st.sampled_from(["01", "02"])),
        draw(st.sampled_from(["01", "02"])),
        f"{draw(st.integers(1, 24)):02d}",
    ]
    suffix = draw(st.sampled_from([".wav", ".mp4", ".WAV", ".Mp4", ".txt", ""]))
    kind = draw(
        st.sampled_from(["valid"] * 4 + ["unicode_digit", "six", "eight", "code", "odd", "space"])
    )
    i = draw(st.integers(0, 6))
    if kind == "unicode_digit":
        fields[i] = draw(st.sampled_from(["0²", "٠١", "０１", "1Ⅻ"]))
    elif kind == "six":
        del fields[i]
    elif kind == "eight":
        fields.insert(i, "01")
    elif kind == "code":
        fields[2] = draw(st.sampled_from(["00", "09", "99"]))
    elif kind == "odd":
        fields[i] = draw(st.sampled_from(["", "1", "001", "ab", "\ufeff01", "0\u0301"]))
    elif kind == "space":
        fields[i] = f" {fields[i]}"
    return "-".join(fields) + suffix


@st.composite
def ravdess_trees(draw: st.DrawFn) -> tuple[list[tuple[str, str]], str, int]:
    entries = draw(
        st.lists(
            st.tuples(st.sampled_from(["Actor_01", "Actor_02", "", "deep/er"]), ravdess_names()),
            max_size=8,
            unique_by=lambda e: e[1],
        )
    )
    return entries, draw(st.sampled_from(sorted(ravdess.SOURCES))), draw(st.sampled_from([7, 8]))


def _ravdess_file(name: str, modality: str) -> bool:
    prefix, suffix = ravdess.SOURCES[modality]
    stem, ext = os.path.splitext(name)
    return (
        ext.lower() == suffix and stem.startswith(prefix + "-") and bool(RAVDESS_NAME.match(stem))
    )


def check_ravdess(tree: tuple[list[tuple[str, str]], str, int]) -> None:
    entries, modality, classes = tree
    with scratch_dir() as tmp:
        base = Path(tmp)
        root = base / "root"
        (root / "Actor_01").mkdir(parents=True)
        os.symlink(root, root / "loop")  # a folder containing itself, twice
        os.symlink(root, root / "Actor_01" / "loop2")
        for folder, name in entries:
            (root / folder).mkdir(parents=True, exist_ok=True)
            (root / folder / name).write_bytes(b"x")
        with capture_logs("avem_plugins.tasks.ravdess.utils") as logs:
            found = outcome(
                lambda: ravdess.find_files(root, modality), taskdata.TaskDataError, root
            )
        expected = {name for _, name in entries if _ravdess_file(name, modality)}
        assert {p.name for p in found.value} == expected, (modality, entries)
        _, suffix = ravdess.SOURCES[modality]
        others = sum(
            1
            for _, name in entries
            if os.path.splitext(name)[1].lower() == suffix and not ravdess.parse_name(name)
        )
        if others:  # files of the right kind with names that are not RAVDESS's: counted
            assert any(f"{others} {suffix} files" in m for m in logs.messages()), logs.messages()
        with env(RAVDESS_ROOT=str(root), **TASK_ENV):
            built = outcome(
                lambda: ravdess.build_docs(modality, classes),
                taskdata.TaskDataError,
                "RAVDESS_ROOT",
                file_level=(r"no .* files under",),
            )
        labels = ravdess.LABELS_7 if classes == 7 else ravdess.LABELS_8
        kept = [n for n in expected if ravdess.parse_name(n)["emotion"] in labels]  # type: ignore[index]
        if built.ok:
            assert sorted(d["id"] for d in built.value) == sorted(
                os.path.splitext(n)[0] for n in kept
            )
        else:
            assert not expected, built.error


@given(tree=ravdess_trees())
@DEFAULT_TIER
def test_ravdess_file_names(tree: tuple[list[tuple[str, str]], str, int]) -> None:
    check_ravdess(tree)


@pytest.mark.slow
@given(tree=ravdess_trees())
@SLOW_TIER
def test_ravdess_file_names_10k(tree: tuple[list[tuple[str, str]], str, int]) -> None:
    check_ravdess(tree)


# ------------------------------------------------------------------ MER2023


MER_NAME = csv_cell(st.sampled_from(["sample_#", "sample_#.mp4"]))
MER_LABEL = csv_cell(st.sampled_from([*mer.CLASSES, "Happy", " sad "]))
VALENCE = csv_cell(st.floats(-5, 5).map(lambda v: f"{v:.2f}"))


@st.composite
def mer_csvs(draw: st.DrawFn) -> bytes:
    n = draw(st.integers(0, 8))
    names = draw(st.lists(st.integers(1, 10**8), min_size=n, max_size=n, unique=True))
    rows = [
        [
            draw(MER_NAME).replace("#", f"{name:08d}"),
            draw(MER_LABEL),
            draw(VALENCE),
        ]
        for name in names
    ]
    header, rows = draw(mutate_table(["name", "discrete", "valence"], rows))
    return draw(mutate_bytes(csv_bytes(header, rows)))


def check_mer(data: bytes) -> None:
    with scratch_dir() as tmp:
        base = Path(tmp)
        root = make_sandbox(base)
        (root / "sample_00000001.mp4").write_bytes(b"x")
        path = base / mer.LABEL_FILE
        path.write_bytes(data)
        read = outcome(
            lambda: mer.read_labels(path), taskdata.TaskDataError, path, file_level=CSV_FILE_LEVEL
        )
        if not read.ok:
            return
        rows = _dict_rows(data)
        assert rows is not None and len(read.value) == len(rows)  # all kept (labels checked)
        with env(
            MER2023_ROOT=str(root), MER2023_LABELS=str(path), MER2023_AUDIO_ROOT=None, **TASK_ENV
        ):
            mer.clips_by_name.cache_clear()
            for labels in (mer.LABELS_5, mer.LABELS_6):
                with capture_logs(mer.log.name) as logs:
                    built = outcome(
                        lambda labels=labels: mer.build_docs(labels),
                        taskdata.TaskDataError,
                        "MER2023_ROOT",
                        file_level=(r"no item has its media",),
                    )
                excluded = sum(1 for _, label in read.value if label not in labels)
                if excluded:
                    assert any(f"{excluded} rows with labels outside" in m for m in logs.messages())
                if built.ok and built.value:
                    docs = built.value
                    n = len(read.value) - excluded
                    assert len(docs) + docs[0]["missing_media_count"] == n


@given(data=mer_csvs())
@DEFAULT_TIER
def test_mer2023_label_csv(data: bytes) -> None:
    check_mer(data)


@pytest.mark.slow
@given(data=mer_csvs())
@SLOW_TIER
def test_mer2023_label_csv_10k(data: bytes) -> None:
    check_mer(data)
