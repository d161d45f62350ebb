"""PMP's modality for rows without one: a documented rule (default audiovisual), counted and shown.

The authors' DPO file has no ``modality`` field. Guessing it from the prompt's words
(``infer``) reads "...the person in the video..." as a *visual* question, so PMP would swap
only the video of a general emotion question. The default rule, ``audiovisual``, swaps both
media of such a row; ``refuse`` makes it an error; ``avem prefs import`` / ``validate`` and the
trainer say how many rows got each modality, and how.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from test_collator import TRACK_VALUE, VIDEO_VALUE, RecordingAdapter, fake_decode
from typer.testing import CliRunner

from avem_plugins.cli.main import app
from avem_plugins.dpo.collator import CHOSEN_MISMATCHED, DataCollatorForAVPreference
from avem_plugins.prefs.schema import PreferenceDataError, load_preference_dataset

GENERAL = "How does the person in the video feel?"  # no modality cue: a general question


def write(tmp_path, rows):
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def row(i, **over):
    base = {
        "prompt": "<video>\n<audio>\n" + GENERAL,
        "chosen": "happy",
        "rejected": "sad",
        "video": f"v{i}.mp4",
        "video_l": "x.mp4",
    }
    return {**base, **over}


class AnyWords(RecordingAdapter):
    """The recording adapter with every prompt read as its four known words."""

    def training_rows(self, processor, examples, *, modalities, max_length=None):
        examples = [replace(ex, prompt="How does she feel?") for ex in examples]
        return super().training_rows(processor, examples, modalities=modalities)


def collator():
    return DataCollatorForAVPreference(
        adapter=AnyWords(), processor=None, decode=fake_decode, num_frames=2
    )


def swapped_media(path, **kw):
    """(video value, audio value) of the mismatched row the real collator builds for row 0."""
    data = load_preference_dataset(path, "/m", check_exists=False, **kw)
    out = collator()([data[0]])
    r = out["media_row_kind"].tolist().index(CHOSEN_MISMATCHED)
    return data[0]["modality"], (
        int(out["media_rows"]["video_value"][r]),
        float(out["media_rows"]["audio_value"][r]),
    )


def test_a_general_question_without_modality_swaps_both_media(tmp_path):
    path = write(tmp_path, [row(0)])
    modality, (video, audio) = swapped_media(path)
    assert modality == "audiovisual"
    assert video == VIDEO_VALUE["/m/x.mp4"]
    assert audio == pytest.approx(TRACK_VALUE["/m/x.mp4"])  # the audio is swapped too
    # the word guess, still available, reads "video" and keeps the true audio
    modality, (video, audio) = swapped_media(path, modality_rule="infer")
    assert modality == "visual" and audio == pytest.approx(TRACK_VALUE["/m/v0.mp4"])


def test_a_given_modality_is_kept_and_refuse_names_the_row(tmp_path):
    path = write(tmp_path, [row(0, modality="audio"), row(1)])
    with pytest.raises(
        PreferenceDataError, match=r"line 2: no 'modality' and --modality_rule refuse"
    ):
        load_preference_dataset(path, "/m", check_exists=False, modality_rule="refuse")
    given = load_preference_dataset(path, "/m", check_exists=False)
    assert given["modality"] == ["audio", "audiovisual"]
    assert given["modality_inferred"] == [False, True]


def test_import_and_validate_print_each_modality_and_how(tmp_path):
    media = tmp_path / "m"
    media.mkdir()
    for name in ("v0.mp4", "v1.mp4", "v2.mp4", "x.mp4"):
        (media / name).write_bytes(b"")
    rows = [row(0, modality="visual"), row(1), row(2, prompt="What does her voice say?")]
    path = write(media, rows)
    runner = CliRunner()
    res = runner.invoke(app, ["prefs", "validate", str(path), "--no-check-media"])
    assert res.exit_code == 0, res.output
    assert (
        "modality given: visual: 1; not given, set by --modality_rule audiovisual: audiovisual: 2"
        in res.output
    )
    out = tmp_path / "ours.jsonl"
    res = runner.invoke(
        app, ["prefs", "import", str(path), "--out", str(out), "--modality-rule", "infer"]
    )
    assert res.exit_code == 0, res.output
    assert (
        "modality given: visual 1; not given, inferred from the prompt: audio 1, visual 1"
        in res.output
    )
    res = runner.invoke(app, ["prefs", "validate", str(path), "--modality-rule", "guess"])
    assert res.exit_code == 2 and "use one of audiovisual, infer, refuse" in res.output
