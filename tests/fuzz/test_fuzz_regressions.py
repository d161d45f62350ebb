"""The defects the reader fuzzing found, each pinned by the input that found it (shrunk).

docs/RELIABILITY.md ("Fuzzed readers") lists them with the fix in the reader. The property
tests also carry these inputs as ``@example`` cases; the plain tests here say what the
user sees.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from unittest import mock

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


# ------------------------------------------------------------------ preference files


ROW = (
    '{"id": "r1", "prompt": "What emotion?", "chosen": "A smile.", "rejected": "Tears.", '
    '"video": %s}'
)


def _load_error(tmp_path: Path, text: str) -> str:
    from avem_plugins.prefs.schema import PreferenceDataError, load_preferences

    (tmp_path / "clips").mkdir(exist_ok=True)
    (tmp_path / "clips" / "a.mp4").write_bytes(b"x")
    path = tmp_path / "prefs.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PreferenceDataError) as info:
        load_preferences(path, tmp_path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.mark.parametrize(
    ("video", "expected"),
    [
        (
            '"a\\u0000b.mp4"',
            "field 'video': 'a\\x00b.mp4' is not a usable path: it contains a NUL byte",
        ),  # was ValueError
        (
            '"\\ud800.mp4"',
            "is not a usable path: it is not valid Unicode",
        ),  # was UnicodeEncodeError
        ('"' + "x" * 300 + '.mp4"', "is not a usable path: File name too long"),  # was OSError
    ],
)
def test_unusable_media_paths_are_named(tmp_path, video, expected):
    message = _load_error(tmp_path, ROW % video + "\n")
    assert "prefs.jsonl line 1, field 'video'" in message and expected in message


def test_a_lone_surrogate_in_a_text_field_is_refused_before_an_import_writes_it(tmp_path):
    """An import wrote such a row with ``ensure_ascii=False``: ``UnicodeEncodeError``."""
    text = ROW.replace('"A smile."', '"A \\ud800 smile."') % '"clips/a.mp4"'
    message = _load_error(tmp_path, text + "\n")
    assert "line 1, field 'chosen': not valid Unicode text" in message


def test_preference_numbers_past_the_digit_limit_and_deep_nesting_are_named(tmp_path):
    """Were ``ValueError`` / ``RecursionError`` from the json module."""
    huge = ROW.replace('"id": "r1"', '"id": ' + "1" * 5000) % '"clips/a.mp4"'
    assert "line 1: unreadable JSON (a number with more than 4300 digits)" in _load_error(
        tmp_path, huge + "\n"
    )
    deep = "[" * 5000 + "]" * 5000
    assert "unreadable JSON list (lists or objects nested too deeply)" in _load_error(
        tmp_path, deep
    )


# ------------------------------------------------------------------ clips table and sources


def test_clips_table_with_extra_cells_and_a_path_that_is_the_root(tmp_path):
    """Extra cells were ``AttributeError`` (DictReader's list); ``path: .`` was ``ValueError``
    from ``with_suffix`` on an empty name; a NUL path was ``ValueError``."""
    from avem_plugins.prefs import build

    (tmp_path / "a.mp4").write_bytes(b"x")
    table = tmp_path / "clips.csv"
    table.write_text("path,emotion\na.mp4,happiness,extra,cells\n")
    assert [c.id for c in build.read_clips(table)] == ["a"]
    for path, expected in ((".", "is the media root itself"), ("a\0b.mp4", "contains a NUL byte")):
        table.write_text(f"path,emotion\n{path},happiness\n")
        with pytest.raises(
            build.PrefsBuildError, match=r"clips\.csv line 2, column 'path'"
        ) as info:
            build.read_clips(table)
        assert expected in str(info.value)


def test_a_path_naming_a_user_that_does_not_exist_stays_a_relative_path(tmp_path):
    """``~0`` (no user ``0``): ``Path.expanduser`` raised ``RuntimeError: Could not determine
    home directory`` (found by ``AVEM_FUZZ_EXPLORE=1``). Every reader now expands as the
    shell does: a ``~user`` with no such user stays as written, here a name under the root."""
    from avem_plugins.prefs import build
    from avem_plugins.prefs.schema import OutsideMediaRootError, under_root

    table = tmp_path / "clips.csv"
    table.write_text("path,emotion\n~0,happiness\n~0/a.mp4,sadness\n")
    assert [c.video for c in build.read_clips(table)] == [tmp_path / "~0", tmp_path / "~0/a.mp4"]
    assert under_root("~0/b.mp4", tmp_path) == tmp_path.resolve() / "~0/b.mp4"
    with pytest.raises(OutsideMediaRootError):  # a real user's home is still expanded
        under_root("~root/b.mp4", tmp_path)


def test_an_absolute_path_with_a_newline_is_named_on_one_line(tmp_path):
    """``"/\n0"`` (a quoted CSV cell) resolves outside the root; the message printed the
    resolved path as is and broke in two (found by the derandomized slow tier, in a run where
    other fuzz tests had run first)."""
    from avem_plugins.prefs import build

    table = tmp_path / "clips.csv"
    table.write_text('path,emotion\n"/\n0",happiness\n')
    with pytest.raises(build.PrefsBuildError, match=r"line 2, column 'path'") as info:
        build.read_clips(table)
    assert "\n" not in str(info.value) and "resolves to '/\\n0'" in str(info.value)


def test_a_missing_media_file_with_a_newline_is_named_on_one_line(tmp_path):
    """The authors' file with ``"video": "a\nb"`` (a JSON escape): "media file not found"
    printed the path as is and broke in two (found by ``AVEM_FUZZ_EXPLORE=1``)."""
    import json

    from avem_plugins.prefs.schema import PreferenceDataError, load_preferences

    row = {"prompt": "<video>\nWhy?", "chosen": "A smile.", "rejected": "Tears.", "video": "a\nb"}
    path = tmp_path / "authors.json"
    path.write_text(json.dumps([row]))
    with pytest.raises(PreferenceDataError, match=r"item 1, field 'video'") as info:
        load_preferences(path)
    message = str(info.value)
    assert "\n" not in message and "media file not found: '" in message


def test_clips_table_not_utf8_names_the_line(tmp_path):
    from avem_plugins.prefs import build

    table = tmp_path / "clips.csv"
    table.write_bytes(b"path,emotion\na.mp4,happiness\nb.mp4,sad\xe9\n")
    with pytest.raises(build.PrefsBuildError, match=r"clips.csv line 3: not UTF-8 \(byte 0xe9\)"):
        build.read_clips(table)


def test_source_keys_and_labels_with_unicode_digits(tmp_path):
    """``"²".isdigit()`` is true and ``int("²")`` raises: both were ``ValueError``."""
    from avem_plugins.prefs import sources

    assert sources.clip_key("²") == "²" and sources.clip_key("00025.mp4") == "25"
    assert sources.clip_key("1" * 5000) == "1" * 5000  # was past Python's int-string limit
    rows = [["clip", "single_label"], ["00001", "²"], ["00002", "0"]]
    with (
        mock.patch.object(sources, "read_xlsx", lambda p, sheet=None: rows),
        pytest.raises(sources.SourceError, match=r"row 2: single_label '²' is neither 0-11"),
    ):
        sources.read_mafw_labels(tmp_path / "single-set.xlsx")


def test_a_source_clip_name_too_long_for_the_file_system_is_a_missing_clip(tmp_path):
    """``Path.is_file`` raised ``OSError: File name too long`` while locating the clips of a
    MER2025 label file whose name cell was 1,000 digits (CI's slow tier found it)."""
    from avem_plugins.prefs import sources

    (tmp_path / "video").mkdir()
    (tmp_path / "video" / "sample_00000001.mp4").write_bytes(b"x")
    labels = tmp_path / "track1_train_disdim.csv"
    long_name = "1" * 1000
    labels.write_text(f"name,discrete\nsample_00000001,happy\n{long_name},sad\n")
    table = sources.mer2025_clips(tmp_path, labels=labels)
    assert [c.id for c in table.clips] == ["sample_00000001"]
    assert table.missing == [long_name]


def test_a_workbook_whose_sheet_is_damaged_is_a_source_error(tmp_path):
    """A damaged sheet inside a readable zip failed while iterating (outside the guard)."""
    import zipfile

    import openpyxl

    from avem_plugins.prefs import sources

    good = tmp_path / "good.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["clip", "single_label"])
    book.save(good)
    bad = tmp_path / "single-set.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(
                item, data[: len(data) // 2] if "worksheets/sheet" in item.filename else data
            )
    with pytest.raises(
        sources.SourceError, match=r"single-set\.xlsx: not a readable \.xlsx workbook"
    ):
        sources.read_xlsx(bad)


def test_a_workbook_listing_no_worksheet_is_a_source_error(tmp_path):
    """A damaged ``xl/workbook.xml`` listing no sheet loads, and ``book.worksheets[0]`` was
    ``IndexError`` (found by ``AVEM_FUZZ_EXPLORE=1``)."""
    import re
    import zipfile

    import openpyxl

    from avem_plugins.prefs import sources

    good = tmp_path / "good.xlsx"
    openpyxl.Workbook().save(good)
    bad = tmp_path / "single-set.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/workbook.xml":
                data = re.sub(rb"<sheets>.*</sheets>", b"<sheets/>", data)
            dst.writestr(item, data)
    with pytest.raises(sources.SourceError, match=r"single-set\.xlsx: .*lists no worksheet"):
        sources.read_mafw_labels(bad)


# ------------------------------------------------------------------ recipes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"recipe: {description: \xe9}\n", "fuzzed.yaml line 1: not UTF-8"),  # UnicodeDecodeError
        (
            b"recipe: {description: x}\nmax_steps: " + b"1" * 5000 + b"\n",
            "line 2: cannot read recipe: a number with more than 4300 digits",
        ),  # ValueError
        (
            b"recipe: {description: x}\nseed: " + b"[" * 3000 + b"]" * 3000 + b"\n",
            "line 2, column 10",
        ),  # RecursionError / 5 s of parsing
        (
            b"\x00recipe: {description: x}\n",
            "line 1: cannot read recipe: character #x0000 is not allowed",
        ),
        (
            b"recipe: {description: x, base: " + b"x" * 300 + b".yaml}\n",
            "does not exist",
        ),  # OSError
        (
            b"recipe:\n  description: x\n\tseed: 1\n",
            "fuzzed.yaml line 3, column 1: cannot read recipe",
        ),  # YAML's text spans lines
    ],
)
def test_recipe_read_errors_are_one_line_naming_the_file(tmp_path, text, expected):
    from avem_plugins.launch import recipe

    path = tmp_path / "fuzzed.yaml"
    path.write_bytes(text)
    with pytest.raises(recipe.RecipeError) as info:
        recipe.load_recipe(path)
    assert expected in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_a_recipe_alias_bomb_is_shown_short(tmp_path):
    """An error message held ``repr`` of 9**8 shared list items (minutes, gigabytes)."""
    from avem_plugins.launch import recipe

    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefg", "bcdefgh", strict=True)
    )
    path = tmp_path / "bomb.yaml"
    path.write_text("recipe: {description: x}\n" + bomb.replace("h: &h", "seed: &h"))
    loaded = recipe.load_recipe(path)
    loaded = recipe.Recipe(**{**loaded.__dict__, "args": {"seed": loaded.args["seed"]}})
    with pytest.raises(recipe.RecipeError) as info:
        recipe.validate_recipe(loaded)
    assert len(str(info.value)) < 1000 and "seed=[[[" in str(info.value)


def test_a_list_for_an_enum_field_is_a_recipe_error(tmp_path):
    """``value in {enum values}`` raised ``TypeError: unhashable type: 'list'``."""
    from avem_plugins.launch import recipe

    path = tmp_path / "r.yaml"
    path.write_text("recipe: {description: x}\nsave_strategy: [1]\n")
    with pytest.raises(recipe.RecipeError, match=r"r.yaml: save_strategy=\[1\] is not a"):
        recipe.validate_recipe(recipe.load_recipe(path))


# ------------------------------------------------------------------ media


def test_a_wav_declaring_0_bits_is_a_typed_error_not_a_segfault(tmp_path):
    """PyAV crashed the process (SIGSEGV) decoding a stream without a decoder."""
    import subprocess
    import sys

    from avem_plugins.testing.synth import write_wav

    wav = write_wav(tmp_path / "a.wav", audio_cue="high_tone", seconds=0.5)
    data = bytearray(wav.read_bytes())
    data[34:36] = (0).to_bytes(2, "little")  # bits per sample
    wav.write_bytes(bytes(data))
    code = (
        "import sys\nfrom avem_plugins import media\n"
        "try:\n    media.load_audio(sys.argv[1], cache=None)\n"
        "except media.CorruptMediaError as e:\n    print(e)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(wav)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "its audio stream cannot be decoded" in proc.stdout


def test_a_wav_declaring_1_hz_is_refused_before_decoding(tmp_path):
    """1 Hz made 0.5 s of samples 8000 s of audio: gigabytes, then MemoryError (or an abort)."""
    from avem_plugins import media
    from avem_plugins.testing.synth import write_wav

    wav = write_wav(tmp_path / "a.wav", audio_cue="high_tone", seconds=0.5)
    data = bytearray(wav.read_bytes())
    data[24:28] = (1).to_bytes(4, "little")  # sample rate
    wav.write_bytes(bytes(data))
    for backend in ("auto", "decord"):
        with pytest.raises(media.CorruptMediaError, match="declares 1 samples per second"):
            media.load_audio(wav, backend=backend, cache=None)


def test_audio_with_8_or_more_channels_decodes_its_first_channel(tmp_path):
    """A RAVDESS WAV whose channel count was flipped to 32 crashed the decode worker
    (``SIGSEGV``, found by ``AVEM_FUZZ_EXPLORE=1``); so did a valid 8-channel WAV, a few times
    in a hundred: PyAV's ``to_ndarray`` of a planar frame with 8+ channels reads past its
    planes. Decoded here a hundred times in a child process, where a crash shows."""
    import subprocess
    import sys
    import wave

    import numpy as np

    rng = np.random.default_rng(0)
    expected = {}
    for channels in (8, 9, 32):
        samples = (rng.standard_normal((4800, channels)) * 3000).astype("<i2")
        with wave.open(str(tmp_path / f"{channels}.wav"), "wb") as out:
            out.setnchannels(channels)
            out.setsampwidth(2)
            out.setframerate(48000)
            out.writeframes(samples.tobytes())
        expected[channels] = samples[:, 0] / 32768
    code = (
        "import sys, numpy as np\nfrom avem_plugins import media\n"
        "for n in (8, 9, 32):\n"
        "    for _ in range(100):\n"
        "        a = media.load_audio(f'{sys.argv[1]}/{n}.wav', 48000, cache=None)\n"
        "    np.save(f'{sys.argv[1]}/{n}.npy', a)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    for channels, first in expected.items():  # the first channel, exactly
        np.testing.assert_array_equal(np.load(tmp_path / f"{channels}.npy"), first)


def test_tags_that_are_not_utf8_do_not_stop_the_decode(tmp_path):
    """``av.open`` raised ``UnicodeDecodeError`` decoding the container's tags."""
    from avem_plugins import media
    from avem_plugins.testing.synth import write_wav

    wav = write_wav(tmp_path / "a.wav", audio_cue="high_tone", seconds=0.5)
    data = wav.read_bytes()
    info = b"INFO" + b"INAM" + (4).to_bytes(4, "little") + b"\xcc\xcc\xcc\x00"
    chunk = b"LIST" + len(info).to_bytes(4, "little") + info
    body = data[12:] + chunk
    wav.write_bytes(b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WAVE" + body)
    assert media.load_audio(wav, cache=None).size == 8000


# ------------------------------------------------------------------ DFEW clip ids


def test_clip_names_with_unicode_digits_are_no_dfew_ids(tmp_path):
    """``int("²")`` raised ``ValueError`` indexing a DFEW folder holding ``²³.mp4``; ``٣.mp4``
    was taken for clip 3."""
    for name in ("²³.mp4", "٣.mp4", "9" * 200 + ".mp4", "00003.mp4"):
        (tmp_path / name).write_bytes(b"x")
    dfew.clips_by_id.cache_clear()
    assert dfew.clips_by_id(str(tmp_path)) == {3: tmp_path / "00003.mp4"}


def test_a_questions_file_clip_name_too_long_for_the_file_system_is_missing_media(tmp_path):
    """``Path.is_file`` raised ``OSError: File name too long`` while building the docs."""
    root = tmp_path / "DFEW"
    root.mkdir()
    assert emorealm._video_path(root, "x" * 300 + ".mp4") == root / ("x" * 300 + ".mp4")


def test_a_missing_clip_named_with_a_newline_keeps_the_message_on_one_line(tmp_path, monkeypatch):
    """``keep_present`` listed the missing path as is: a clip name holding a newline split the
    error in two (a quoted CSV cell ``"a\nb"`` in the MER2023 labels)."""
    monkeypatch.setenv("AVEM_ALLOW_MISSING_MEDIA", "0")
    rows = [{"video_path": str(tmp_path / "a\nb.mp4")}]
    with pytest.raises(taskdata.MissingMediaError) as info:
        taskdata.keep_present(rows, task="mer2023", env_vars=("MER2023_ROOT",))
    assert "\n" not in str(info.value) and "a\\nb.mp4'" in str(info.value)


def test_a_clip_without_audio_truncated_in_its_header_is_a_typed_error(tmp_path):
    """With ``missing_audio="silence"`` the no-decoder check was skipped for the video: PyAV
    crashed the process (SIGSEGV)."""
    import subprocess
    import sys

    from avem_plugins.testing.synth import write_clip

    clip = write_clip(tmp_path / "c.mp4", visual_cue="blue_circle", audio_cue="low_tone",
                      num_frames=6, fps=8, size=(32, 32), audio=False)  # fmt: skip
    clip.write_bytes(clip.read_bytes()[:2818])
    code = (
        "import sys\nfrom avem_plugins import media\n"
        "try:\n    media.decode_clip(sys.argv[1], missing_audio='silence', cache=None)\n"
        "except media.MediaError as e:\n    print(e)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(clip)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "c.mp4: " in proc.stdout
