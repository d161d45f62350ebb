"""`avem prefs validate`: per-row findings, the summary, the report files and exit codes.

Every error case is also checked against the loader (:func:`avem_plugins.prefs.schema.load_preferences`):
what validate calls an error, the loader refuses; a file validate passes, the loader loads.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avem_plugins.cli.main import app
from avem_plugins.prefs.schema import PreferenceDataError, check_row, load_preferences
from avem_plugins.prefs.validate import validate_file, write_report


def good_row(i: int, **kw) -> dict:
    row = {
        "id": f"r{i}",
        "prompt": "<video>\n<audio>\nWhat does her voice tell about her emotion?",
        "chosen": f"She is sad {i}: her voice is low.",
        "rejected": f"She is sad {i}: she is crying.",
        "rejected_2": f"She is sad {i}: the wall is white.",
        "video": f"clips/c{i}.mp4",
        "emotion": "sadness" if i % 2 else "happiness",
        "modality": "audio",
    }
    row.update(kw)
    return {k: v for k, v in row.items() if v is not None}


@pytest.fixture
def media(tmp_path) -> Path:
    root = tmp_path / "media"
    (root / "clips").mkdir(parents=True)
    for i in range(6):
        (root / "clips" / f"c{i}.mp4").write_bytes(b"not decoded by validate")
    return root


def write_jsonl(path: Path, rows: list, *, raw_lines: dict[int, bytes] | None = None) -> Path:
    lines = [json.dumps(r).encode() for r in rows]
    for n, raw in (raw_lines or {}).items():
        lines.insert(n - 1, raw)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def codes(report, level: str = "error") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in report.rows:
        for i in r.issues:
            if i.level == level:
                out.setdefault(i.code, []).append(r.where)
    return out


def test_good_file_is_ok_and_loads(media, tmp_path):
    path = write_jsonl(
        tmp_path / "p.jsonl", [good_row(0, modality=None), *(good_row(i) for i in range(1, 4))]
    )
    report = validate_file(path, media, modality_rule="infer")
    assert report.ok and report.errors == 0 and report.warnings == 0
    assert [r.status for r in report.rows] == ["ok"] * 4
    # modality inference is reported for the row where it happened, and only there
    assert [r.modality_inferred for r in report.rows] == [True, False, False, False]
    assert codes(report, "info") == {"modality_inferred": [f"{path} line 1"]}
    assert report.rows[0].modality == "audio"
    s = report.summary()
    assert s["modality_inferred"] == {"audio": 1} and s["modality_given"] == {"audio": 3}
    assert s["mismatch"] == {"label": 4} and s["negatives"] == {"two": 4}
    assert len(load_preferences(path, media)) == 4


@pytest.mark.parametrize(
    ("change", "code", "text", "loader_refuses"),
    [
        ({"video": "clips/missing.mp4"}, "missing_media", "media file not found", True),
        ({"video": "../outside.mp4"}, "escapes_root", "outside the media root", True),
        ({"video": "/etc/hostname"}, "escapes_root", "outside the media root", True),
        ({"chosen": None}, "missing_field", "field 'chosen' is missing", True),
        ({"rejected": "  "}, "empty_field", "field 'rejected' is missing or empty", True),
        ({"prompt": "<video>\n<audio>\n"}, "markers_only", "no text besides media markers", True),
        (
            {"modality": "smell"},
            "bad_modality",
            "not one of 'audio', 'visual', 'audiovisual'",
            True,
        ),
        ({"video": None}, "no_media", "needs 'video' or 'audio'", True),
        ({"chosen": ["a", "b"]}, "type", "field 'chosen': expected a string", True),
        # the same text up to case and spacing: nothing can be learnt, so the loader refuses it
        (
            {"rejected": "SHE IS SAD 2:  her voice is low."},
            "negative_equals_chosen",
            "field 'rejected': identical to 'chosen'",
            True,
        ),
    ],
)
def test_row_errors_name_line_field_and_agree_with_the_loader(
    media, tmp_path, change, code, text, loader_refuses
):
    path = write_jsonl(tmp_path / "p.jsonl", [good_row(0), good_row(2, **change), good_row(1)])
    (tmp_path / "outside.mp4").write_bytes(b"x")
    report = validate_file(path, media)
    assert not report.ok and report.errors == 1
    bad = report.rows[1]
    assert bad.status == "error" and bad.line == 2
    (issue,) = [i for i in bad.issues if i.level == "error"]
    assert issue.code == code and text in issue.message and f"{path} line 2" in issue.message
    assert [r.status for r in (report.rows[0], report.rows[2])] == ["ok", "ok"]
    if loader_refuses:
        with pytest.raises(PreferenceDataError, match="line 2"):
            load_preferences(path, media)
    else:
        assert len(load_preferences(path, media)) == 3


#: Rows with several problems -> the code of the first error: what the loader must raise.
SEVERAL_ERRORS = [
    ({"chosen": None, "video": "../outside.mp4", "modality": "smell"}, "missing_field"),
    ({"prompt": "<video>\n<audio>\n", "rejected": "she is SAD 1: her voice is low.",
      "video": "clips/missing.mp4"}, "markers_only"),
    ({"video": 3, "modality": "smell"}, "type"),
    ({"rejected": ["a", "list"], "audio": "clips/none.wav", "video": None}, "type"),
    ({"video": None, "modality": "smell"}, "no_media"),
    # warnings come first here (unknown field, empty rejected_2); the first *error* is raised
    ({"rejectd_2": "x", "rejected_2": " ", "video": "clips/nope.mp4", "modality": "?"},
     "missing_media"),
]  # fmt: skip


def test_the_loader_raises_the_first_error_validate_reports(media, tmp_path):
    (tmp_path / "outside.mp4").write_bytes(b"x")
    rows = [good_row(i, **change) for i, (change, _) in enumerate(SEVERAL_ERRORS)]
    report = validate_file(write_jsonl(tmp_path / "all.jsonl", rows), media)
    for i, (row, r, (_, code)) in enumerate(zip(rows, report.rows, SEVERAL_ERRORS, strict=True)):
        errors = [issue for issue in r.issues if issue.level == "error"]
        assert len(errors) >= 2 and errors[0].code == code, (i, r.issues)
        with pytest.raises(PreferenceDataError) as info:
            check_row(row, where=r.where, root=media, default_id="x").require()
        assert str(info.value) == errors[0].message
        # the same through the files: the loader's error is validate's first error
        single = write_jsonl(tmp_path / f"row{i}.jsonl", [row])
        first = next(x for x in validate_file(single, media).rows[0].issues if x.level == "error")
        with pytest.raises(PreferenceDataError) as info:
            load_preferences(single, media)
        assert str(info.value) == first.message and first.code == code


def test_symlink_leading_out_of_the_root_is_an_error(media, tmp_path):
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"x")
    os.symlink(secret, media / "clips" / "link.mp4")
    os.symlink(media / "clips" / "c1.mp4", media / "clips" / "inside.mp4")
    rows = [good_row(0, video="clips/link.mp4"), good_row(1, video="clips/inside.mp4"), good_row(2)]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    report = validate_file(path, media)
    assert codes(report) == {"escapes_root": [f"{path} line 1"]}
    assert report.rows[1].status == "ok"  # a link that stays inside is fine


def test_duplicate_ids_and_rows(media, tmp_path):
    rows = [good_row(0), good_row(1), good_row(2, id="r0"), {**good_row(1), "id": "copy"}]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    report = validate_file(path, media)
    assert codes(report) == {"duplicate_id": [f"{path} line 3"]}
    assert (
        "first at" in report.rows[2].issues[0].message
        and "line 1" in report.rows[2].issues[0].message
    )
    assert codes(report, "warning") == {"duplicate_row": [f"{path} line 4"]}
    with pytest.raises(PreferenceDataError, match="duplicate ids"):
        load_preferences(path, media)


def test_malformed_and_non_utf8_lines_are_named(media, tmp_path):
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [good_row(0), good_row(1)],
        raw_lines={2: b'{"id": "x", "prompt": ', 4: '{"id": "\u00e9"}'.encode("latin-1")},
    )
    report = validate_file(path, media)
    assert [r.line for r in report.rows] == [1, 2, 3, 4]
    assert codes(report) == {"json": [f"{path} line 2"], "encoding": [f"{path} line 4"]}
    assert "malformed JSON" in report.rows[1].issues[0].message
    assert "not UTF-8 (byte 0xe9 at column 9)" in report.rows[3].issues[0].message
    assert [report.rows[0].status, report.rows[2].status] == [
        "ok",
        "ok",
    ]  # the rest is still checked


def test_json_list_errors_give_the_line(media, tmp_path):
    path = tmp_path / "p.json"
    path.write_text('[\n  {"prompt": "a"},\n  {"prompt": "b",}\n]')
    report = validate_file(path, media)
    (row,) = report.rows
    assert (
        row.line == 3 and row.issues[0].code == "json" and f"{path} line 3" in row.issues[0].message
    )
    path.write_text(json.dumps([good_row(0), good_row(1, chosen="")]))
    report = validate_file(path, media)
    assert [r.where for r in report.rows] == [f"{path} item 1", f"{path} item 2"]
    assert codes(report) == {"empty_field": [f"{path} item 2"]}


def test_bom_and_empty_files(media, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(good_row(0)).encode())
    assert codes(validate_file(path, media)) == {"bom": [f"{path} line 1"]}
    path.write_text("\n\n")
    assert "empty" in codes(validate_file(path, media))


def test_mismatch_coverage(media, tmp_path):
    rows = [
        good_row(0, video_l="clips/c5.mp4", emotion=None),  # data
        good_row(1),  # sadness: a happiness clip exists -> label
        good_row(2, emotion=None),  # nothing -> fallback
        good_row(4, video_l="clips/c4.mp4"),  # its own video: falls back to its label
    ]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    report = validate_file(path, media)
    assert [r.mismatch for r in report.rows] == ["data", "label", "fallback", "label"]
    assert codes(report, "warning") == {
        "mismatch_fallback": [f"{path} line 3"],
        "mismatch_own_media": [f"{path} line 4"],
    }
    assert report.ok  # warnings only
    only_sad = write_jsonl(tmp_path / "q.jsonl", [good_row(1), good_row(3)])
    report = validate_file(only_sad, media)
    assert [r.mismatch for r in report.rows] == ["fallback", "fallback"]
    assert "only one in the file" in report.rows[0].issues[-1].message


def test_negatives_equal_and_empty_optional_are_warnings(media, tmp_path):
    rows = [good_row(0, rejected_2="She is sad 0: she is crying."), good_row(1, rejected_2="")]
    report = validate_file(write_jsonl(tmp_path / "p.jsonl", rows), media)
    assert report.ok
    assert set(codes(report, "warning")) == {"negatives_equal", "empty_field"}
    assert report.summary()["negatives"] == {"two": 1, "one": 1}


def test_reports_are_written_per_row(media, tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [good_row(0), good_row(1, video="clips/nope.mp4")])
    report = validate_file(path, media)
    jsonl = [
        json.loads(x) for x in write_report(report, tmp_path / "r.jsonl").read_text().splitlines()
    ]
    assert [(r["id"], r["status"]) for r in jsonl] == [("r0", "ok"), ("r1", "error")]
    assert (
        jsonl[1]["issues"][0]["code"] == "missing_media"
        and jsonl[1]["issues"][0]["field"] == "video"
    )
    with open(write_report(report, tmp_path / "r.csv"), newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["status"] for r in table] == ["ok", "error"] and "missing_media" in table[1]["issues"]


def test_cli_exit_codes_and_output(media, tmp_path):
    runner = CliRunner()
    good = write_jsonl(tmp_path / "good.jsonl", [good_row(0), good_row(1)])
    res = runner.invoke(app, ["prefs", "validate", str(good), "--media-root", str(media)])
    assert res.exit_code == 0, res.output
    assert "2 rows, 2 ok, 0 with warnings, 0 with errors" in res.output

    bad = write_jsonl(tmp_path / "bad.jsonl", [good_row(0), good_row(0), good_row(1, video="../x.mp4")],
                      raw_lines={4: b"\xff\xfe"})  # fmt: skip
    report = tmp_path / "report.csv"
    res = runner.invoke(
        app, ["prefs", "validate", str(bad), "--media-root", str(media), "--report", str(report)]
    )
    assert res.exit_code == 1
    assert "error: duplicate_id" in res.output and "error: escapes_root" in res.output
    assert "error: encoding" in res.output and f"{bad} line 4" in res.output
    assert "warning: mismatch_fallback" in res.output  # the only sad row is broken
    assert "4 rows, 0 ok, 1 with warnings, 3 with errors" in res.output
    assert report.is_file() and len(list(csv.DictReader(report.open()))) == 4

    warn = write_jsonl(tmp_path / "warn.jsonl", [good_row(1), good_row(3)])
    args = ["prefs", "validate", str(warn), "--media-root", str(media)]
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, [*args, "--strict"]).exit_code == 1
    # media not present yet: --no-check-media still checks paths stay under the root
    missing = write_jsonl(tmp_path / "m.jsonl", [good_row(0, video="clips/later.mp4"), good_row(1)])
    assert (
        runner.invoke(
            app, ["prefs", "validate", str(missing), "--media-root", str(media)]
        ).exit_code
        == 1
    )
    assert (
        runner.invoke(
            app, ["prefs", "validate", str(missing), "--media-root", str(media), "--no-check-media"]
        ).exit_code
        == 0
    )
