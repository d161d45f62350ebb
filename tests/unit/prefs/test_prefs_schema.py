"""The preference-data schema: the authors' file as is, paths kept under the media root."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from avem_plugins.prefs.schema import (
    COLUMNS,
    PreferenceDataError,
    load_preferences,
    normalize_dataset,
    resolve_media,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    media = tmp_path / "media"
    (media / "clips").mkdir(parents=True)
    for name in ("a.mp4", "b.mp4", "a.wav", "b.wav"):
        (media / "clips" / name).write_bytes(b"x")
    return media


def authors_row(**over):
    row = {
        "prompt": "<video>\n<audio>\nWhat emotion does the tone of her voice convey?",
        "chosen": "Anger: her voice is loud and sharp.",
        "rejected": "Anger: she is clenching her fists.",
        "rejected_2": "Anger: the room is dark.",
        "video": "clips/a.mp4",
        "audio": "clips/a.wav",
        "video_l": "clips/b.mp4",
        "audio_l": "clips/b.wav",
    }
    row.update(over)
    return row


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_authors_file_loads_as_is(root, caplog):
    path = write_jsonl(root / "dpo.jsonl", [authors_row(), authors_row(rejected_2=None)])
    with caplog.at_level(logging.INFO, logger="avem_plugins.prefs.schema"):
        samples = load_preferences(path, modality_rule="infer")
    s = samples[0]
    assert s.prompt == "What emotion does the tone of her voice convey?"
    assert s.chosen.startswith("Anger: her voice")
    assert s.rejected_2 == "Anger: the room is dark."
    assert samples[1].rejected_2 is None
    assert s.video == str((root / "clips" / "a.mp4").resolve())
    assert s.audio_l == str((root / "clips" / "b.wav").resolve())
    assert s.id == "dpo.jsonl:0" and samples[1].id == "dpo.jsonl:1"
    # no modality field: inferred from the prompt ("tone", "voice") under the infer rule, logged
    assert s.modality == "audio" and s.modality_inferred
    assert "modality inferred from the prompt for 2 of 2 rows" in caplog.text
    # the default rule: audiovisual (PMP swaps both media), logged too
    with caplog.at_level(logging.INFO, logger="avem_plugins.prefs.schema"):
        default = load_preferences(path)
    assert {x.modality for x in default} == {"audiovisual"} and default[0].modality_inferred
    assert "modality set by --modality_rule audiovisual for 2 of 2 rows" in caplog.text


def test_json_list_and_explicit_fields(root):
    rows = [authors_row(modality="Video", emotion=" Happy ", id=7, audio=None, audio_l=None)]
    path = root / "dpo.json"
    path.write_text(json.dumps(rows))
    (s,) = load_preferences(path)
    assert (s.modality, s.modality_inferred, s.emotion, s.id) == ("visual", False, "happy", "7")
    assert s.audio is None  # taken from the video's track later


def test_normalized_dataset_has_the_schema_columns(root):
    import datasets

    raw = datasets.Dataset.from_list([authors_row(modality="audiovisual")])
    ds = normalize_dataset(raw, media_root=root, source="hub")
    assert tuple(ds.column_names) == COLUMNS
    assert ds[0]["modality"] == "audiovisual" and ds[0]["id"] == "hub:0"
    assert normalize_dataset(ds) is ds  # already normalised: passes through


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"chosen": ""}, r"line 2: field 'chosen' is missing or empty"),
        ({"rejected": None}, r"line 2: field 'rejected' is missing or empty"),
        (
            {"prompt": [{"role": "user"}]},
            r"line 2, field 'prompt': expected a string.*conversational",
        ),
        ({"prompt": "<video>\n<audio>\n"}, r"no text besides media markers"),
        ({"modality": "smell"}, r"line 2, field 'modality': 'smell' is not one of"),
        ({"video": None, "audio": None}, r"needs 'video' or 'audio'"),
        ({"video_l": "clips/missing.mp4"}, r"line 2, field 'video_l': media file not found"),
        ({"audio": 3}, r"field 'audio': expected a path string, got int"),
        (
            {"rejected_2": "Anger: her voice is loud and sharp."},
            r"field 'rejected_2': identical to 'chosen'",
        ),
    ],
)
def test_errors_name_file_row_and_field(root, over, message):
    path = write_jsonl(root / "bad.jsonl", [authors_row(), authors_row(**over)])
    with pytest.raises(PreferenceDataError, match=message) as info:
        load_preferences(path)
    assert "bad.jsonl" in str(info.value)


def test_bad_json_line_is_named(root):
    path = root / "broken.jsonl"
    path.write_text(json.dumps(authors_row()) + "\n{not json\n")
    with pytest.raises(PreferenceDataError, match=r"broken.jsonl line 2: malformed JSON"):
        load_preferences(path)


def test_duplicate_ids_are_errors(root):
    path = write_jsonl(root / "dup.jsonl", [authors_row(id="x"), authors_row(id="x")])
    with pytest.raises(PreferenceDataError, match="duplicate ids"):
        load_preferences(path)


def test_dotdot_escape_is_refused(root):
    outside = root.parent / "secret.mp4"
    outside.write_bytes(b"x")
    with pytest.raises(PreferenceDataError, match="outside the media root"):
        resolve_media("../secret.mp4", root=root, where="f line 1", field="video")


def test_absolute_path_outside_root_is_refused(root):
    outside = root.parent / "secret.mp4"
    outside.write_bytes(b"x")
    with pytest.raises(
        PreferenceDataError, match=r"f line 1, field 'video'.*outside the media root"
    ):
        resolve_media(str(outside), root=root, where="f line 1", field="video")
    # an absolute path inside the root is fine
    inside = root / "clips" / "a.mp4"
    assert resolve_media(str(inside), root=root, where="w", field="video") == str(inside.resolve())


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
def test_symlink_leading_out_is_refused(root):
    outside = root.parent / "elsewhere"
    outside.mkdir()
    (outside / "c.mp4").write_bytes(b"x")
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PreferenceDataError, match="outside the media root"):
        resolve_media("link/c.mp4", root=root, where="w", field="video")


def test_relative_path_without_root_asks_for_media_root():
    with pytest.raises(PreferenceDataError, match="set media_root"):
        resolve_media("clips/a.mp4", root=None, where="hub row 1", field="video")


def test_explicit_media_root_overrides_the_file_folder(root, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    path = write_jsonl(data / "p.jsonl", [authors_row()])
    with pytest.raises(PreferenceDataError, match="media file not found"):
        load_preferences(path)  # default root: the file's folder, which has no clips/
    (s,) = load_preferences(path, media_root=root)
    assert Path(s.video).is_relative_to(root.resolve())
