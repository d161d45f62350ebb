"""Bad training inputs through the real entry points: `trl dpo --recipe avem-tiny` and its worker.

The worker (``avem_plugins.launch.launcher.main``, what ``accelerate launch`` runs in each process) is
called in-process for most cases (it parses the same command line and runs the same
``train.main``); one case runs the installed ``trl`` console script to prove what a user
sees: one ``error: Type: message`` line naming file, line and field, then TRL's exit line,
and no traceback. Errors in the data are found when the file loads, before any step; errors
in the media surface when the first batch decodes them and name the preference sample.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")

from reliability_data import (
    TONE_HZ,
    peak_hz,
    pref_row,
    truncated_copy,
    write_empty_wav,
    write_garbage,
    write_jsonl,
    write_nan_wav,
    write_no_audio_clip,
    write_silent_wav,
    write_tone_wav,
)

OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "CUDA_VISIBLE_DEVICES": "",
}


@pytest.fixture(scope="module")
def media(avem_synth_clips, tmp_path_factory) -> dict[str, Path]:
    """``root/clips`` with good clips and every kind of bad media; a file outside the root."""
    base = tmp_path_factory.mktemp("training-media")
    clips = base / "root" / "clips"
    clips.mkdir(parents=True)
    for i, rec in enumerate(avem_synth_clips):
        shutil.copy(rec.path, clips / f"good{i}.mp4")
    truncated_copy(clips / "good0.mp4", clips / "truncated.mp4")
    write_garbage(clips / "garbage.mp4")
    (clips / "zero.mp4").write_bytes(b"")
    write_no_audio_clip(clips / "noaudio.mp4")
    write_empty_wav(clips / "empty.wav")
    write_nan_wav(clips / "nan.wav")
    write_silent_wav(clips / "silent.wav", seconds=2.0)
    write_tone_wav(clips / "tone44k.wav", 44100)
    write_tone_wav(clips / "tone8k.wav", 8000)
    secret = base / "outside" / "secret.mp4"
    secret.parent.mkdir()
    shutil.copy(clips / "good1.mp4", secret)
    os.symlink(secret, clips / "link.mp4")
    return {"root": base / "root", "secret": secret}


def _worker(tiny: Path, prefs: Path, root: Path, out: Path, capsys, *extra: str) -> tuple[int, str]:
    """``avem_plugins.launch.launcher.main`` as `trl dpo --recipe avem-tiny` runs it; (status, stderr)."""
    from avem_plugins.launch.launcher import main

    argv = [
        "--recipe", "avem-tiny", "--model_name_or_path", str(tiny), "--dataset_name", str(prefs),
        "--media_root", str(root), "--output_dir", str(out), "--max_steps", "1", *extra,
    ]  # fmt: skip
    capsys.readouterr()
    try:
        main(argv)
        status = 0
    except SystemExit as exc:
        status = int(exc.code or 0)
    return status, capsys.readouterr().err


#: A good row whose mismatched input comes from its own data (never from a bad row's clip).
GOOD = pref_row(0, "clips/good0.mp4", video_l="clips/good1.mp4")


def _error_line(err: str) -> str:
    """The worker's one ``error: ...`` line (progress bars may follow it on stderr)."""
    lines = [line.split("\r")[-1] for line in err.splitlines()]  # after a cleared bar
    lines = [line for line in lines if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


def _load_time_cases(secret: Path) -> dict[str, tuple[list, list[str]]]:
    """name -> (rows, substrings of the error; ``{f}`` is the preference file)."""
    bad_byte = json.dumps(pref_row(1, "clips/good1.mp4", chosen="CAFE")).encode()
    return {
        "malformed_json": ([GOOD, b'{"prompt": "What emotion?", "chosen": '],
                           ["{f} line 2: malformed JSON"]),
        "non_utf8": ([GOOD, bad_byte.replace(b"CAFE", b"caf\xe9")],
                     ["{f} line 2: not UTF-8 (byte 0xe9 at column"]),
        "missing_field": ([GOOD, pref_row(1, "clips/good1.mp4", rejected=None)],
                          ["{f} line 2: field 'rejected' is missing or empty"]),
        "wrong_type": ([GOOD, pref_row(1, "clips/good1.mp4", chosen=["a", "b"])],
                       ["{f} line 2, field 'chosen': expected a string, got list"]),
        "duplicate_id": ([GOOD, pref_row(0, "clips/good1.mp4", chosen="Other.")],
                         ["{f} line 2, field 'id': duplicate id 'row0' (first at {f} line 1)"]),
        "dotdot_path": ([GOOD, pref_row(1, "../outside/secret.mp4")],
                        ["{f} line 2, field 'video': '../outside/secret.mp4' resolves to",
                         "outside the media root"]),
        "absolute_path": ([GOOD, pref_row(1, str(secret))],
                          ["{f} line 2, field 'video':", "outside the media root"]),
        "symlink_out": ([GOOD, pref_row(1, "clips/link.mp4")],
                        ["{f} line 2, field 'video': 'clips/link.mp4' resolves to " + str(secret),
                         "outside the media root"]),
        "missing_clip": ([GOOD, pref_row(1, "clips/nope.mp4")],
                         ["{f} line 2, field 'video': media file not found"]),
    }  # fmt: skip


LOAD_TIME = list(_load_time_cases(Path("/x")))


@pytest.mark.parametrize("case", LOAD_TIME)
def test_bad_data_stops_before_training_naming_file_line_and_field(
    case, media, tiny_qwen2_5_omni_dir, tmp_path, capsys
):
    rows, expected = _load_time_cases(media["secret"])[case]
    prefs = write_jsonl(media["root"] / f"{case}.jsonl", rows)
    out = tmp_path / "out"
    status, err = _worker(tiny_qwen2_5_omni_dir, prefs, media["root"], out, capsys)
    assert status == 1, err
    line = _error_line(err)
    assert line.startswith("error: PreferenceDataError: "), err
    for part in expected:
        assert part.format(f=prefs) in line, (part, line)
    assert not out.exists() or not any(out.rglob("*.safetensors"))  # nothing was trained


STEP_TIME = {  # name -> (row fields, error type, message parts)
    "truncated_mp4": ({"video": "clips/truncated.mp4"}, "CorruptMediaError",
                      ["clips/truncated.mp4: not a readable media file", "truncated or corrupt"]),
    "garbage_mp4": ({"video": "clips/garbage.mp4"}, "CorruptMediaError",
                    ["clips/garbage.mp4: not a readable media file"]),
    "zero_byte_mp4": ({"video": "clips/zero.mp4"}, "EmptyMediaError",
                      ["clips/zero.mp4: the file is empty (0 bytes)"]),
    "no_audio_track": ({"video": "clips/noaudio.mp4"}, "NoAudioStreamError",
                       ["clips/noaudio.mp4: has no audio stream",
                        "give the row an 'audio' file, or train on video only"]),
    "zero_length_audio": ({"video": "clips/good1.mp4", "audio": "clips/empty.wav"},
                          "EmptyMediaError", ["clips/empty.wav: the audio stream has no samples"]),
    "corrupt_mismatched_input": ({"video": "clips/good1.mp4", "video_l": "clips/truncated.mp4"},
                                 "CorruptMediaError",
                                 ["clips/truncated.mp4: not a readable media file",
                                  "(the mismatched input (data) of preference sample"]),
    "nan_audio": ({"video": "clips/good1.mp4", "audio": "clips/nan.wav"}, "CorruptMediaError",
                  ["clips/nan.wav: 100 of 16000 audio samples are NaN or infinite"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(STEP_TIME))
def test_bad_media_fail_the_first_batch_naming_the_file_and_the_sample(
    case, media, tiny_qwen2_5_omni_dir, tmp_path, capsys
):
    fields, error, parts = STEP_TIME[case]
    fields = dict(fields)
    bad = pref_row(1, fields.pop("video"), id=f"bad-{case}", **fields)
    prefs = write_jsonl(media["root"] / f"{case}.jsonl", [GOOD, bad])  # one batch of 2
    status, err = _worker(tiny_qwen2_5_omni_dir, prefs, media["root"], tmp_path / "out", capsys)
    assert status == 1, err
    line = _error_line(err)
    assert line.startswith(f"error: {error}: {media['root'].resolve()}/"), err
    for part in parts:
        assert part in line, (part, line)
    assert f"preference sample 'bad-{case}'" in line, line


def test_silent_and_resampled_audio_train_and_extra_fields_are_reported(
    media, tiny_qwen2_5_omni_dir, tmp_path, capsys, caplog
):
    rows = [
        pref_row(0, "clips/good0.mp4", audio="clips/silent.wav", rejectd_2="misspelt"),
        pref_row(1, "clips/good1.mp4", audio="clips/tone44k.wav"),
        pref_row(2, "clips/good2.mp4", audio="clips/tone8k.wav"),
        pref_row(3, "clips/good3.mp4"),
    ]
    prefs = write_jsonl(media["root"] / "odd_but_valid.jsonl", rows)
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="avem_plugins.prefs.schema"):
        status, err = _worker(tiny_qwen2_5_omni_dir, prefs, media["root"], out, capsys)
    assert status == 0, err
    warned = [r.getMessage() for r in caplog.records if "ignoring fields" in r.getMessage()]
    assert warned and "{'rejectd_2': 1}" in warned[0] and "misspelt" in warned[0], warned
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    losses = [h["loss"] for h in history if "loss" in h]
    assert len(losses) == 1 and math.isfinite(losses[0])
    assert (out / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("rate", [44100, 8000])
def test_the_collator_resamples_other_rates_to_16k(media, rate):
    """What the trainer's collator feeds the model: 16 kHz, the right length, the same pitch."""
    from avem_plugins.dpo.collator import DataCollatorForAVPreference
    from avem_plugins.registry import get_adapter

    collator = DataCollatorForAVPreference(
        adapter=get_adapter("qwen2_5_omni"), processor=None, num_frames=2, sample_rate=16000
    )
    wav = media["root"] / "clips" / ("tone44k.wav" if rate == 44100 else "tone8k.wav")
    sample = {"id": "x", "video": str(media["root"] / "clips" / "good0.mp4"), "audio": str(wav)}
    audio = collator.true_media(sample).audio
    assert audio is not None
    assert abs(audio.size - 1.5 * 16000) <= 16  # 1.5 s, not 1.5 s * rate / 16000
    assert abs(peak_hz(audio, 16000) - TONE_HZ) < 5  # a misread rate would shift the pitch


def test_trl_dpo_shows_one_error_line_and_no_traceback(media, tiny_qwen2_5_omni_dir, tmp_path):
    """The installed `trl` console script, as a user runs it, on a file with a non-UTF-8 byte."""
    rows, _ = _load_time_cases(media["secret"])["non_utf8"]
    prefs = write_jsonl(tmp_path / "latin1.jsonl", rows)
    env = {k: v for k, v in os.environ.items() if k != "AVEM_TRL_HOOK"} | OFFLINE
    cmd = [
        Path(sys.executable).parent / "trl", "dpo", "--recipe", "avem-tiny",
        "--model_name_or_path", tiny_qwen2_5_omni_dir, "--dataset_name", prefs,
        "--media_root", media["root"], "--output_dir", tmp_path / "out", "--num_processes", "1",
    ]  # fmt: skip
    res = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=600
    )
    # The launcher checks the file before any process starts or model loads: status 2, one line.
    assert res.returncode == 2, res.stderr[-3000:]
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"trl dpo: error: --dataset_name: {prefs} line 2: not UTF-8 (byte 0xe9 at column "
    ), lines
    assert lines[0].endswith("save the file as UTF-8 (`avem prefs validate` lists every such line)")
