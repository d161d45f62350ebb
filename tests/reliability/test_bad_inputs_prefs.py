"""`avem prefs validate` on bad preference files: every problem named by file, line and field.

One file carries one bad row of each kind, so a single validate call (the real typer app,
through CliRunner) proves them all: nothing is dropped silently, the good row passes, and the
exit status is 1. The loader the trainer uses (``avem_plugins.prefs.schema``) refuses the same
problems; tests/reliability/test_bad_inputs_training.py proves that through the launcher.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from reliability_data import pref_row, write_jsonl
from typer.testing import CliRunner

from avem_plugins.cli.main import app


@pytest.fixture
def layout(tmp_path) -> dict[str, Path]:
    """``media/`` (the root) with clips, ``outside/secret.mp4`` and a symlink leading to it."""
    root = tmp_path / "media"
    (root / "clips").mkdir(parents=True)
    for name in ("a.mp4", "b.mp4"):
        (root / "clips" / name).write_bytes(b"validate does not decode media")
    secret = tmp_path / "outside" / "secret.mp4"
    secret.parent.mkdir()
    secret.write_bytes(b"outside the media root")
    os.symlink(secret, root / "clips" / "link.mp4")
    return {"root": root, "secret": secret}


def _issues(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("error:", "warning:"))]


def test_one_validate_call_names_every_bad_row(layout):
    root, secret = layout["root"], layout["secret"]
    rows: list = [
        pref_row(1, "clips/a.mp4"),  # line 1: good
        json.dumps(pref_row(2, "clips/a.mp4", chosen="CAFE")).encode().replace(b"CAFE", b"caf\xe9"),
        b'{"prompt": "What emotion?", "chosen": ',  # line 3: malformed JSON
        pref_row(4, "clips/a.mp4", rejected=None),  # line 4: missing field
        pref_row(5, "clips/b.mp4", rejectd_2="a misspelt optional field"),  # line 5: extra field
        pref_row(1, "clips/b.mp4", chosen="Another text."),  # line 6: duplicate id 'row1'
        pref_row(7, "../outside/secret.mp4"),  # line 7: '..' escape
        pref_row(8, str(secret)),  # line 8: absolute path outside the root
        pref_row(9, "clips/link.mp4"),  # line 9: symlink leading out
        pref_row(10, "clips/nope.mp4"),  # line 10: missing media file
        pref_row(11, "clips/b.mp4", chosen=["a", "message", "list"]),  # line 11: wrong type
        b"[1, 2]",  # line 12: not an object
    ]
    prefs = write_jsonl(root / "prefs.jsonl", rows)

    res = CliRunner().invoke(app, ["prefs", "validate", str(prefs), "--show", "100"])

    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    issues = _issues(res.output)
    where = f"{prefs} line"

    def one(code: str, line: int) -> str:
        found = [i for i in issues if f": {code}: " in i and f"{where} {line}" in i]
        assert len(found) == 1, (code, line, issues)
        return found[0]

    assert "not UTF-8 (byte 0xe9 at column" in one("encoding", 2)
    assert "malformed JSON" in one("json", 3)
    assert "field 'rejected' is missing" in one("missing_field", 4)
    extra = one("unknown_field", 5)
    assert extra.startswith("warning:") and "'rejectd_2'" in extra and "misspelt" in extra
    assert "duplicate id 'row1' (first at " + f"{where} 1)" in one("duplicate_id", 6)
    for line, value in ((7, "'../outside/secret.mp4'"), (8, repr(str(secret))),
                        (9, "'clips/link.mp4'")):  # fmt: skip
        message = one("escapes_root", line)
        assert "field 'video'" in message and value in message
        assert f"outside the media root {root.resolve()}" in message
    assert "field 'video': media file not found" in one("missing_media", 10)
    assert "field 'chosen': expected a string, got list" in one("type", 11)
    assert "expected a JSON object, got list" in one("not_object", 12)
    # every row is accounted for: 1 ok, 1 with a warning only, 10 with errors
    assert "12 rows, 1 ok, 1 with warnings, 10 with errors" in res.output
    assert not any(f"{where} 1:" in i for i in issues)  # the good row has no finding


def test_json_list_errors_name_the_line_and_the_item(layout):
    root = layout["root"]
    broken = root / "broken.json"
    broken.write_text(
        '[\n {"prompt": "What emotion?",\n  "chosen": "happy" "rejected": "sad"}\n]\n'
    )
    items = root / "items.json"
    items.write_text(
        json.dumps([pref_row(1, "clips/a.mp4"), pref_row(2, "clips/a.mp4", prompt="<video>")])
    )
    runner = CliRunner()

    res = runner.invoke(app, ["prefs", "validate", str(broken)])
    assert res.exit_code == 1
    assert f"error: json: {broken} line 3: malformed JSON (Expecting ',' delimiter" in res.output

    res = runner.invoke(app, ["prefs", "validate", str(items)])
    assert res.exit_code == 1
    assert (
        f"error: markers_only: {items} item 2: field 'prompt' has no text besides media markers"
        in res.output
    )


def test_a_clean_file_passes_and_strict_fails_on_the_extra_field(layout):
    root = layout["root"]
    clean = write_jsonl(root / "clean.jsonl", [pref_row(1, "clips/a.mp4"),
                                                pref_row(2, "clips/b.mp4")])  # fmt: skip
    extra = write_jsonl(
        root / "extra.jsonl", [pref_row(1, "clips/a.mp4"), pref_row(2, "clips/b.mp4", note="x")]
    )
    runner = CliRunner()
    assert runner.invoke(app, ["prefs", "validate", str(clean), "--strict"]).exit_code == 0
    res = runner.invoke(app, ["prefs", "validate", str(extra)])
    assert res.exit_code == 0 and "warning: unknown_field:" in res.output  # reported, not fatal
    assert runner.invoke(app, ["prefs", "validate", str(extra), "--strict"]).exit_code == 1
