"""Importing the authors' DPO JSON and exporting for `--dataset_name` / `load_from_disk`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avem_plugins.cli.main import app
from avem_plugins.prefs.io import PrefsIOError, export_preferences, import_authors
from avem_plugins.prefs.schema import (
    COLUMNS,
    PreferenceDataError,
    load_preferences,
    normalize_dataset,
)

PROMPTS = [
    "What emotion does the tone of her voice convey?",
    "What does her facial expression say about her emotion?",
    "How does the person feel?",
]


@pytest.fixture
def authors(tmp_path) -> tuple[Path, Path]:
    """An authors'-format JSON list (no ids, no modality) with media under ``root``."""
    root = tmp_path / "root"
    (root / "dfew" / "part_1").mkdir(parents=True)
    (root / "wav").mkdir()
    for i in range(4):
        (root / "dfew" / "part_1" / f"{i}.mp4").write_bytes(b"v")
        (root / "wav" / f"{i}.wav").write_bytes(b"a")
    items = []
    for i in range(3):
        items.append(
            {
                "prompt": "<video>\n<audio>\n" + PROMPTS[i],
                "chosen": f"Happy {i}: a smile.",
                "rejected": f"Happy {i}: laughter.",
                "rejected_2": f"Happy {i}: a red shirt." if i < 2 else "",
                "video": f"dfew/part_1/{i}.mp4",
                "audio": f"wav/{i}.wav",
                "video_l": f"dfew/part_1/{i + 1}.mp4",
                "audio_l": f"wav/{i + 1}.wav",
            }
        )
    path = tmp_path / "authors" / "avem_dpo.json"
    path.parent.mkdir()
    path.write_text(json.dumps(items, indent=2))
    return path, root


def test_import_writes_our_schema(authors, tmp_path):
    src, root = authors
    out = tmp_path / "ours.jsonl"
    samples = import_authors(src, out, root, modality_rule="infer")
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 3
    first = rows[0]
    assert first["prompt"] == PROMPTS[0]  # markers stripped
    assert (
        first["video"] == "dfew/part_1/0.mp4" and first["audio_l"] == "wav/1.wav"
    )  # relative to root
    assert [r["modality"] for r in rows] == [
        "audio",
        "visual",
        "audiovisual",
    ]  # inferred, written out
    assert "rejected_2" not in rows[2]  # empty optional field -> absent
    assert [r["id"] for r in rows] == ["avem_dpo.json:0", "avem_dpo.json:1", "avem_dpo.json:2"]
    assert all(s.modality_inferred for s in samples)
    # the imported file loads back to the same samples (modality now given, not inferred)
    back = load_preferences(out, root)
    strip = lambda s: {k: v for k, v in s.to_row().items() if k != "modality_inferred"}  # noqa: E731
    assert [strip(s) for s in back] == [strip(s) for s in samples]
    assert not any(s.modality_inferred for s in back)


def test_import_refuses_overwrite_and_missing_media(authors, tmp_path):
    src, root = authors
    out = tmp_path / "ours.jsonl"
    out.write_text("keep\n")
    with pytest.raises(PrefsIOError, match="exists; pick another --out or pass --force"):
        import_authors(src, out, root)
    assert out.read_text() == "keep\n"
    (root / "wav" / "2.wav").unlink()
    with pytest.raises(PreferenceDataError, match=r"item 2, field 'audio_l': media file not found"):
        import_authors(src, tmp_path / "new.jsonl", root)
    # the authors do not ship media: import before the clips are in place
    assert len(import_authors(src, tmp_path / "new.jsonl", root, check_exists=False)) == 3
    items = json.loads(src.read_text())
    items[1]["video_l"] = "../../etc/passwd"
    src.write_text(json.dumps(items))
    with pytest.raises(
        PreferenceDataError, match=r"item 2, field 'video_l'.*outside the media root"
    ):
        import_authors(src, tmp_path / "x.jsonl", root, check_exists=False)
    assert not (tmp_path / "x.jsonl").exists()


def test_export_jsonl_is_a_dataset_name_and_disk_loads(authors, tmp_path):
    import datasets

    src, root = authors
    ours = tmp_path / "ours.jsonl"
    import_authors(src, ours, root)
    out = tmp_path / "export"
    written = export_preferences(ours, out, root)
    assert written == {"jsonl": out / "train.jsonl", "disk": out / "dataset"}
    original = load_preferences(ours, root)
    # our launcher with --dataset_name OUT/train.jsonl --media_root ROOT
    assert load_preferences(written["jsonl"], root) == original
    # TRL's dpo script (and our launcher) with --dataset_name OUT: datasets.load_dataset(OUT),
    # unbothered by the saved dataset beside train.jsonl; then the trainer normalises the rows
    raw = datasets.load_dataset(str(out))["train"]
    assert raw.num_rows == 3 and raw[0]["video"] == "dfew/part_1/0.mp4"
    assert normalize_dataset(raw, root).to_list() == [s.to_row() for s in original]
    # (datasets 5.2 does not take a bare file path, which is why the export is a folder)
    with pytest.raises(FileNotFoundError):
        datasets.load_dataset(str(written["jsonl"]))
    # the saved dataset: normalised columns, absolute paths, not a --dataset_name
    disk = datasets.load_from_disk(str(written["disk"]))
    assert tuple(disk.column_names) == COLUMNS and disk["video"][0] == str(
        root / "dfew/part_1/0.mp4"
    )
    assert disk.to_list() == [s.to_row() for s in original]
    with pytest.raises(ValueError, match="load_from_disk"):
        datasets.load_dataset(str(written["disk"]))
    with pytest.raises(PrefsIOError, match="exists"):
        export_preferences(ours, out, root, formats=["jsonl"])
    assert export_preferences(ours, out, root, formats=["jsonl"], force=True) == {
        "jsonl": written["jsonl"]
    }


def test_cli_import_and_export(authors, tmp_path):
    src, root = authors
    runner = CliRunner()
    ours = tmp_path / "ours.jsonl"
    res = runner.invoke(
        app, ["prefs", "import", str(src), "--out", str(ours), "--media-root", str(root)]
    )
    assert res.exit_code == 0, res.output
    assert "imported 3 rows" in res.output and "modality not given for 3" in res.output
    assert "not given, set by --modality_rule audiovisual: audiovisual 3" in res.output
    res = runner.invoke(
        app, ["prefs", "import", str(src), "--out", str(ours), "--media-root", str(root)]
    )
    assert res.exit_code == 1 and "--force" in res.output
    out = tmp_path / "export"
    res = runner.invoke(app, ["prefs", "export", str(ours), "--out", str(out), "--media-root", str(root),
                              "--format", "jsonl"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"--dataset_name {out} --media_root {root}" in res.output
    assert not (out / "dataset").exists()
    res = runner.invoke(
        app, ["prefs", "export", str(ours), "--out", str(out), "--format", "parquet"]
    )
    assert res.exit_code == 1 and "choose from ['jsonl', 'disk']" in res.output
