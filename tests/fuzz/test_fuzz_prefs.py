"""Fuzzed preference files, ours (JSONL or a JSON list) and the AVERE authors' (a JSON list with
``<video>\\n<audio>\\n`` prompts and ``video_l``/``audio_l``): ``prefs.schema.load_preferences``
and the import ``prefs.io.import_authors``.

Valid rows are mutated as records (a field dropped, repeated in one object, of another type,
huge or deeply nested numbers, odd Unicode; ``..``, absolute, symlinked and over-long media
paths; rows repeated, dropped or not objects) and as bytes. The property: every row becomes a
sample whose media are inside the media root, or a ``PreferenceDataError`` names the file and
the line/item; ``avem prefs validate`` agrees (no error exactly when the file loads, and the
loader's message among its findings); an import writes a file that loads back to the same
samples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fuzz_support import (
    DEFAULT_TIER,
    SLOW_TIER,
    hard_timeout,
    make_sandbox,
    mutate_bytes,
    mutate_records,
    outcome,
    scratch_dir,
    to_json,
)
from hypothesis import given
from hypothesis import strategies as st

from avem_plugins.prefs import io as prefs_io
from avem_plugins.prefs.schema import MEDIA_FIELDS, PreferenceDataError, load_preferences
from avem_plugins.prefs.validate import validate_file

FIELDS = ["id", "prompt", "chosen", "rejected", "rejected_2", "modality", "emotion", *MEDIA_FIELDS]
FILE_LEVEL = (r"no preference rows", r"preference file not found", r"unreadable JSON list")


@st.composite
def pref_rows(draw: st.DrawFn, authors: bool) -> list[dict[str, Any]]:
    rows = []
    for i in range(draw(st.integers(0, 5))):
        row: dict[str, Any] = {
            "prompt": ("<video>\n<audio>\n" if authors else "")
            + draw(
                st.sampled_from(["What emotion is shown?", "How does the voice sound?", "Why?"])
            ),
            "chosen": f"The person is happy ({i}).",
            "rejected": f"The person laughs loudly ({i}).",
            "rejected_2": f"The wall is white ({i}).",
            "video": draw(st.sampled_from(["clips/a.mp4", "clips/b.mp4"])),
        }
        if authors:
            row.update(
                audio=row["video"].replace(".mp4", ".wav"),
                video_l="clips/b.mp4",
                audio_l="clips/b.wav",
            )
        else:
            row["id"] = f"row{i}"
            if draw(st.booleans()):
                row["modality"] = draw(st.sampled_from(["audio", "visual", "audiovisual", "AV"]))
            if draw(st.booleans()):
                row["emotion"] = draw(st.sampled_from(["happiness", "sadness"]))
        rows.append(row)
    return rows


@st.composite
def pref_files(draw: st.DrawFn) -> tuple[bytes, bool, str]:
    authors = draw(st.booleans())
    rows = draw(pref_rows(authors))
    mutated = draw(
        mutate_records(rows, fields=FIELDS, path_fields=list(MEDIA_FIELDS), root=Path("{root}"))
    )
    as_list = authors or draw(st.booleans())
    text = to_json(mutated) if as_list else "".join(to_json(r) + "\n" for r in mutated)
    data = draw(mutate_bytes(text.encode("utf-8", "surrogatepass")))
    return data, draw(st.booleans()), "authors.json" if authors else "prefs.jsonl"


def _row_count(data: bytes) -> int | None:
    """Rows as the schema defines them: JSON-list items, else non-blank JSONL lines."""
    if data.lstrip().startswith(b"["):
        try:
            return len(json.loads(data.decode("utf-8")))
        except (ValueError, RecursionError):
            return None
    return sum(1 for line in data.split(b"\n") if line.strip())


def _fields(sample: Any) -> tuple[Any, ...]:
    return (sample.id, sample.prompt, sample.chosen, sample.rejected, sample.rejected_2,
            sample.modality, sample.emotion, sample.video, sample.audio, sample.video_l, sample.audio_l)  # fmt: skip


def check_prefs(case: tuple[bytes, bool, str]) -> None:
    data, check_exists, name = case
    with scratch_dir() as tmp:
        base = Path(tmp)
        root = make_sandbox(base)
        path = base / name
        path.write_bytes(data.replace(b"{root}", str(root).encode()))
        data = path.read_bytes()
        loaded = outcome(
            lambda: load_preferences(path, root, check_exists=check_exists),
            PreferenceDataError,
            path,
            file_level=FILE_LEVEL,
        )
        if loaded.ok:
            samples = loaded.value
            assert len(samples) == _row_count(data)  # every row is a sample
            for sample in samples:
                for field in MEDIA_FIELDS:
                    value = getattr(sample, field)
                    assert value is None or Path(value).is_relative_to(root.resolve()), (
                        field,
                        value,
                    )
        # `avem prefs validate` reads the same file: no exception, and it agrees with the loader
        with hard_timeout():
            report = validate_file(path, root, check_exists=check_exists)
        assert report.ok == loaded.ok, (report.summary(), loaded.error)
        if not loaded.ok:  # the loader's message is one of validate's
            messages = [i.message for r in report.rows for i in r.issues]
            assert str(loaded.error) in messages, (str(loaded.error), messages)
        out = base / "out" / "imported.jsonl"
        imported = outcome(
            lambda: prefs_io.import_authors(path, out, root, check_exists=check_exists),
            (PreferenceDataError, prefs_io.PrefsIOError),
            path,
            file_level=FILE_LEVEL,
        )
        assert imported.ok == loaded.ok, (loaded, imported)
        if imported.ok:
            again = outcome(
                lambda: load_preferences(out, root, check_exists=check_exists),
                PreferenceDataError,
                out,
            )
            assert again.ok, again.error
            assert [_fields(s) for s in again.value] == [_fields(s) for s in imported.value]


@given(case=pref_files())
@DEFAULT_TIER
def test_preference_file_loads_or_names_the_row(case: tuple[bytes, bool, str]) -> None:
    check_prefs(case)


@pytest.mark.slow
@given(case=pref_files())
@SLOW_TIER
def test_preference_file_loads_or_names_the_row_10k(case: tuple[bytes, bool, str]) -> None:
    check_prefs(case)
