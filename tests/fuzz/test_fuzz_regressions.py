"""The defects the reader fuzzing found, each pinned by the input that found it (shrunk).

docs/RELIABILITY.md ("Fuzzed readers") lists them with the fix in the reader. The property
tests also carry these inputs as ``@example`` cases; the plain tests here say what the
user sees.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from avem_plugins.tasks.dfew import utils as dfew
from avem_plugins.tasks.emorealm import utils as emorealm
from avem_plugins.tasks.mer2023 import utils as mer
from avem_plugins.tasks.ravdess import utils as ravdess

from avem_plugins.scoring import taskdata

ITEM = (
    '{"id": "modality_agreement_000", "video": "part_1/1.mp4", "task": "modality_agreement", '
    '"question": "Which emotion?", "choices": ["(A) Yes", "(B) No"], "answer": "A"%s}'
)


def _read_questions(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    with pytest.raises(taskdata.TaskDataError) as info:
        emorealm._read_items.__wrapped__(str(path), 0.0)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


# ------------------------------------------------------------------ shared: index_files


def test_a_folder_linking_to_itself_twice_is_walked_once(tmp_path):
    """Was a hang: ``os.walk(followlinks=True)`` took ``root/a/b/a/b/...`` paths (2^40)."""
    (tmp_path / "part_1").mkdir()
    (tmp_path / "part_1" / "7.mp4").write_bytes(b"x")
    os.symlink(tmp_path, tmp_path / "loop")
    os.symlink(tmp_path, tmp_path / "part_1" / "loop2")
    found = taskdata.index_files(tmp_path, (".mp4",))
    assert found == {"7": tmp_path / "part_1" / "7.mp4"}


def test_a_symlinked_folder_inside_the_root_is_still_followed(tmp_path):
    elsewhere = tmp_path / "disk2" / "part_3"
    elsewhere.mkdir(parents=True)
    (elsewhere / "9.mp4").write_bytes(b"x")
    root = tmp_path / "DFEW"
    root.mkdir()
    os.symlink(elsewhere, root / "part_3")
    assert taskdata.index_files(root, (".mp4",)) == {"9": root / "part_3" / "9.mp4"}


# ------------------------------------------------------------------ EmoReAlM questions file


def test_questions_with_a_5000_digit_number_are_one_error(tmp_path):
    """Was ``ValueError: Exceeds the limit (4300 digits) for integer string conversion``."""
    message = _read_questions(tmp_path / "q.json", "[" + ITEM % (', "id": ' + "1" * 5000) + "]")
    assert "cannot read" in message and "4300 digits" in message


def test_questions_nested_too_deeply_are_one_error(tmp_path):
    """Was ``RecursionError`` from the json module."""
    message = _read_questions(tmp_path / "q.json", "[" * 5000 + "]" * 5000)
    assert "nested too deeply" in message


def test_a_task_that_is_a_list_is_named(tmp_path):
    """Was ``TypeError: unhashable type: 'list'`` (``item["task"] in YES_NO_TASKS``)."""
    message = _read_questions(tmp_path / "q.json", "[" + ITEM % ', "task": []' + "]")
    assert "item 0 (id modality_agreement_000), field 'task': expected one of" in message


def test_an_id_with_a_newline_keeps_the_message_on_one_line(tmp_path):
    message = _read_questions(
        tmp_path / "q.json", "[" + ITEM % ', "id": "a\\nb", "answer": "E"' + "]"
    )
    assert "item 0 (id 'a\\nb'), field 'answer'" in message


# ------------------------------------------------------------------ DFEW fold CSV


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"\xe9video_name,label\n",
            "set_1.csv line 1: not UTF-8 (byte 0xe9)",
        ),  # was UnicodeDecodeError
        (
            b"video_name,label\n1,1e999\n",
            "set_1.csv, line 2: video_name and label must be integers",
        ),  # was OverflowError
        (
            b'video_name,label\n1,"' + b"x" * 140_000 + b'"\n',
            "set_1.csv line 2: not a readable CSV row",
        ),  # was csv.Error
    ],
)
def test_dfew_fold_csv_errors_name_file_and_line(tmp_path, data, expected):
    path = tmp_path / "set_1.csv"
    path.write_bytes(data)
    with pytest.raises(taskdata.TaskDataError, match=None) as info:
        dfew.read_fold(path)
    assert expected in str(info.value)


def test_dfew_label_0_rows_are_counted(tmp_path, caplog):
    """Label-0 rows were left out without a word."""
    path = tmp_path / "set_1.csv"
    path.write_bytes(b"video_name,label\n1,0\n2,3\n")
    with caplog.at_level(logging.INFO, logger=dfew.log.name):
        assert dfew.read_fold(path) == [(2, "neutral")]
    assert "1 rows with label 0 (not single-labelled) left out" in caplog.text


# ------------------------------------------------------------------ RAVDESS names


def test_ravdess_names_with_unicode_digits_are_not_taken_and_odd_names_are_counted(
    tmp_path, caplog
):
    """``"0²".isdigit()`` is true: ``0²-01-...wav`` was a RAVDESS file; other names went unsaid."""
    (tmp_path / "0²-01-01-01-01-01-01.wav").write_bytes(b"x")
    (tmp_path / "01--03-01-02-01-07.wav").write_bytes(b"x")
    (tmp_path / "03-01-05-01-01-01-01.wav").write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger=ravdess.log.name):
        files = ravdess.find_files(tmp_path, "audio")
    assert [p.name for p in files] == ["03-01-05-01-01-01-01.wav"]
    assert "ravdess: 2 .wav files under" in caplog.text and "are left out" in caplog.text


# ------------------------------------------------------------------ MER2023 labels CSV


def test_mer_rows_with_more_cells_than_the_header_are_read(tmp_path):
    """Was ``AttributeError: 'list' object has no attribute 'strip'`` (DictReader's extras)."""
    path = tmp_path / mer.LABEL_FILE
    path.write_bytes(b"name,discrete\nsample_00000001,happy,extra,cells\n")
    assert mer.read_labels(path) == [("sample_00000001", "happiness")]


def test_mer_labels_not_utf8_name_the_line(tmp_path):
    path = tmp_path / mer.LABEL_FILE
    path.write_bytes(b"name,discrete\nsample_1,happy\nsample_\xe92,sad\n")
    with pytest.raises(taskdata.TaskDataError, match=r"test3-label.csv line 3: not UTF-8"):
        mer.read_labels(path)
