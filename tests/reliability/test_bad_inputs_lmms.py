"""Bad evaluation inputs through the real lmms-eval 0.7.3 (`python -m lmms_eval`, our tasks).

- Media (one CLI run, ``AVEM_ALLOW_MISSING_MEDIA=1``): a missing DFEW clip is left out and
  counted (``missing_media_count``); a truncated mp4, an mp4 without audio, a 0-byte mp4,
  random bytes, a wav with no samples and one with NaN samples are each answered
  ``<avem_av generation error>``,
  logged with task, doc and file, counted in ``unparsed_count`` and summed up at the end;
  44.1 kHz and 8 kHz wavs are resampled to 16 kHz (length and pitch checked on what
  ``avem_av`` received); a silent wav is valid input, a float wav holding NaN is not.
- Question files (lmms-eval's own task loading, in-process): non-UTF-8 or malformed JSON,
  missing fields, an answer letter not among the choices, duplicate ids and clip paths
  leaving ``DFEW_ROOT`` are one ``TaskDataError`` naming file, item and field.

lmms-eval's CLI exits 0 when another plugin's task fails to load (it logs the error); when
one of ours does, our entry point makes it one line and exit status 1
(:mod:`avem_plugins.lmms.failures`). The tests read the output and the results file too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from reliability_data import (
    TONE_HZ,
    lmms_env,
    read_record,
    run_lmms,
    truncated_copy,
    write_empty_wav,
    write_garbage,
    write_nan_wav,
    write_no_audio_clip,
    write_silent_wav,
    write_tone_wav,
)

pytest.importorskip("lmms_eval")

from avem_plugins.testing.benchdata import write_dfew_tree, write_emorealm_json

GENERATION_ERROR = "<avem_av generation error>"
DFEW_LABELS = {1: "happiness", 2: "sadness", 3: "anger", 4: "fear", 5: "neutral", 6: "surprise"}


@pytest.fixture(scope="module")
def bad_media(tmp_path_factory) -> dict[str, Path]:
    """A DFEW tree and a RAVDESS audio folder with one bad file of each kind."""
    root = tmp_path_factory.mktemp("bad-media")
    dfew = write_dfew_tree(root / "DFEW", DFEW_LABELS, clips=True)
    clip = {i: dfew / "Clip" / f"part_{(i - 1) % 2 + 1}" / f"{i:05d}.mp4" for i in DFEW_LABELS}
    truncated_copy(clip[1], root / "whole.mp4", fraction=1.0)
    truncated_copy(root / "whole.mp4", clip[2], fraction=0.5)  # an interrupted download
    write_no_audio_clip(clip[3])
    write_garbage(clip[4])
    clip[5].write_bytes(b"")
    clip[6].unlink()  # listed in the fold CSV, not on disk
    ravdess = root / "RAVDESS" / "Actor_01"
    wav = {
        "44k": write_tone_wav(ravdess / "03-01-03-01-01-01-01.wav", 44100),
        "8k": write_tone_wav(ravdess / "03-01-04-01-01-01-01.wav", 8000),
        "empty": write_empty_wav(ravdess / "03-01-05-01-01-01-01.wav"),
        "silent": write_silent_wav(ravdess / "03-01-06-01-01-01-01.wav", seconds=1.0),
        "garbage": write_garbage(ravdess / "03-01-07-01-01-01-01.wav", seed=1),
        "nan": write_nan_wav(ravdess / "03-01-08-01-01-01-01.wav"),
    }
    return {"root": root, "dfew": dfew, "ravdess": ravdess.parent, **clip, **wav}  # type: ignore[dict-item]


@pytest.fixture(scope="module")
def media_run(bad_media, tiny_qwen2_5_omni_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("lmms-out")
    record = out / "record.jsonl"
    args = [
        "--model", "avem_av",
        "--model_args", f"pretrained={tiny_qwen2_5_omni_dir},device=cpu,video_max_pixels=4096,max_new_tokens=4",
        "--tasks", "dfew,ravdess_audio",
        "--output_path", str(out / "results"),
        "--log_samples",
    ]  # fmt: skip
    env = lmms_env(
        bad_media["root"],
        AVEM_ALLOW_MISSING_MEDIA="1",
        DFEW_ROOT=str(bad_media["dfew"]),
        RAVDESS_ROOT=str(bad_media["ravdess"]),
    )
    proc = run_lmms(record, args, env)
    log = proc.stdout + proc.stderr
    results = sorted((out / "results").rglob("*_results.json"))
    assert proc.returncode == 0 and results, log[-6000:]
    samples = {}
    for path in (out / "results").rglob("*_samples_*.jsonl"):
        task = path.name.split("_samples_")[1].removesuffix(".jsonl")
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            samples[(task, entry["war"]["id"])] = entry
    return {
        "log": log,
        "results": json.loads(results[-1].read_text())["results"],
        "samples": samples,
        "record": read_record(record),
    }


def test_missing_clip_is_left_out_counted_and_named(media_run, bad_media):
    log, results = media_run["log"], media_run["results"]
    missing = str(bad_media["dfew"] / "**" / "6.mp4")
    message = (
        f"dfew fold 1: 1 of 6 items have missing media files under DFEW_ROOT={bad_media['dfew']}: "
        f"{missing}. "
    )
    assert message in log
    assert log.count(missing) == 1  # named once, even though it is both video and audio source
    assert "Evaluating the present subset because AVEM_ALLOW_MISSING_MEDIA=1" in log
    assert results["dfew"]["missing_media_count,none"] == 1
    assert ("dfew", "6") not in media_run["samples"]  # left out, and said so above
    assert len([k for k in media_run["samples"] if k[0] == "dfew"]) == 5


@pytest.mark.parametrize(
    ("key", "task", "error", "reason"),
    [
        (2, "dfew", "CorruptMediaError", "not a readable media file"),
        (3, "dfew", "NoAudioStreamError", "has no audio stream"),
        (4, "dfew", "CorruptMediaError", "not a readable media file"),
        (5, "dfew", "EmptyMediaError", "the file is empty (0 bytes)"),
        ("empty", "ravdess_audio", "EmptyMediaError", "the audio stream has no samples"),
        ("garbage", "ravdess_audio", "CorruptMediaError", "not a readable media file"),
        ("nan", "ravdess_audio", "CorruptMediaError", "100 of 16000 audio samples are NaN"),
    ],
)
def test_undecodable_media_are_logged_with_file_and_scored_as_errors(
    media_run, bad_media, key, task, error, reason
):
    path = bad_media[key]
    pattern = (
        rf"avem_av: {task}/doc \d+ failed: {error}: {re.escape(str(path))}: {re.escape(reason)}"
    )
    assert re.search(pattern, media_run["log"]), pattern
    doc_id = str(key) if task == "dfew" else path.stem
    sample = media_run["samples"][(task, doc_id)]
    assert sample["filtered_resps"] == GENERATION_ERROR  # never a silent empty answer
    assert sample["war"]["status"] == "unparsed"


def test_failures_are_summed_up_and_counted_in_the_results(media_run):
    log, results = media_run["log"], media_run["results"]
    assert "avem_av: 7 of 11 requests failed on rank 0 and were answered " in log
    assert results["dfew"]["unparsed_count,none"] >= 4
    assert results["ravdess_audio"]["unparsed_count,none"] >= 3
    assert "Traceback" not in log  # failures are reported, not crashes


def test_other_sample_rates_are_resampled_and_silence_is_valid(media_run, bad_media):
    media = {e["label"]: e for e in media_run["record"] if e["event"] == "media" and not e["error"]}
    by_file = {}
    for doc in range(5):
        entry = media.get(f"ravdess_audio/doc {doc}")
        if entry is not None:
            by_file[doc] = entry
    # docs follow file names: 03-01-03 (44.1 kHz), -04 (8 kHz), -05 (empty), -06 (silent)
    for doc in (0, 1):
        entry = by_file[doc]
        assert entry["sample_rate"] == 16000
        assert abs(entry["audio_samples"] - 24000) <= 16, entry  # 1.5 s at 16 kHz
        assert abs(entry["audio_peak_hz"] - TONE_HZ) < 5, entry  # same pitch: not misread
    assert 2 not in by_file  # the empty wav failed (see the error test)
    silent = by_file[3]
    assert silent["audio_samples"] == 16000 and silent["audio_max_abs"] == 0.0
    sample = media_run["samples"][("ravdess_audio", bad_media["silent"].stem)]
    assert sample["filtered_resps"] != GENERATION_ERROR  # silence is answered, not an error


# ----------------------------------------------------------------- questions files


@pytest.fixture(scope="module")
def task_manager():
    import lmms_eval.models  # noqa: F401  (runs our entry point, as the CLI does)
    from lmms_eval.tasks import TaskManager

    return TaskManager("WARNING")


@pytest.fixture(scope="module")
def emorealm_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("emorealm")
    dfew = write_dfew_tree(root / "DFEW", {1: "happiness", 2: "sadness"}, clips=False)
    good = write_emorealm_json(root / "good.json", ["part_1/1.mp4", "part_2/2.mp4"])
    return {"root": root, "dfew": dfew, "good": good}


def _items(path: Path) -> list[dict]:
    return json.loads(path.read_text())


def _load_error(task_manager, monkeypatch, env: dict[str, str]) -> Exception:
    """The error lmms-eval's task loading raises for ``emorealm``, unwrapped from its retries."""
    from lmms_eval.api.task import ConfigurableTask
    from lmms_eval.tasks import get_task_dict

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # lmms-eval retries a failing dataset load 5 times, 2 s apart: skip the waits here
    monkeypatch.setattr(ConfigurableTask.download.retry, "sleep", lambda seconds: None)
    with pytest.raises(Exception) as info:
        get_task_dict(["emorealm"], task_manager, task_type="chat")
    chain, err = [], info.value
    while err is not None:
        chain.append(err)
        err = err.__cause__ or err.__context__
    ours = [e for e in chain if type(e).__module__.startswith("avem_plugins")]
    assert ours, chain
    return ours[0]


def _bad_questions(good: Path, case: str, target: Path) -> Path:
    items = _items(good)
    basic, yes_no = items[0], items[4]  # a 4-choice item and a modality-agreement item
    if case == "non_utf8":
        target.write_bytes(good.read_bytes().replace(b"Which emotion", b"Which \xe9motion", 1))
        return target
    if case == "malformed_json":
        target.write_text(good.read_text()[:-3])
        return target
    if case == "missing_field":
        del items[1]["answer"]
    elif case == "answer_not_a_choice":
        basic["answer"] = "E"
    elif case == "yes_no_gold_not_yes_or_no":
        yes_no["choices"] = ["(A) Maybe", "(B) No"]
    elif case == "choice_without_letter":
        basic["choices"] = ["Happiness", "Sadness"]
    elif case == "duplicate_id":
        items[3]["id"] = items[1]["id"]
    elif case == "dotdot_path":
        basic["video"] = "../../etc/1.mp4"
    elif case == "absolute_path":
        basic["video"] = "/etc/1.mp4"
    target.write_text(json.dumps(items))
    return target


QUESTION_CASES = {  # case -> substrings of the error ({f}: the file)
    "non_utf8": ["EMOREALM_JSON: {f} line ", ": not UTF-8 (byte 0xe9)"],
    "malformed_json": ["EMOREALM_JSON: cannot read {f}: Expecting"],
    "missing_field": ["{f}: item 1 lacks the field(s) ['answer']"],
    "answer_not_a_choice": [
        "{f}: item 0 (id reasoning_basic_audio_000), field 'answer': 'E' is not among the "
        "choices' letters ['A', 'B', 'C', 'D']"
    ],
    "yes_no_gold_not_yes_or_no": ["item 4 (id modality_agreement_000), field 'answer':",
                                  "is 'Maybe', neither Yes nor No"],
    "choice_without_letter": ["item 0 (id reasoning_basic_audio_000), field 'choices':",
                              "does not start with an option letter"],
    "duplicate_id": ["{f}: item 3, field 'id': duplicate id 'reasoning_basic_audio_001' "
                     "(first at item 1)"],
    "dotdot_path": ["item 0 (id reasoning_basic_audio_000), field 'video': '../../etc/1.mp4' "
                    "leaves DFEW_ROOT"],
    "absolute_path": ["field 'video': '/etc/1.mp4' leaves DFEW_ROOT"],
}  # fmt: skip


@pytest.mark.parametrize("case", list(QUESTION_CASES))
def test_bad_questions_file_is_one_error_naming_file_item_and_field(
    case, task_manager, emorealm_data, tmp_path, monkeypatch
):
    from avem_plugins.scoring.taskdata import TaskDataError

    bad = _bad_questions(emorealm_data["good"], case, tmp_path / f"{case}.json")
    env = {"EMOREALM_JSON": str(bad), "DFEW_ROOT": str(emorealm_data["dfew"])}
    err = _load_error(task_manager, monkeypatch, env)
    assert isinstance(err, TaskDataError), err
    for part in QUESTION_CASES[case]:
        assert part.format(f=bad) in str(err), (part, str(err))


def test_missing_clips_without_permission_is_one_error(
    task_manager, emorealm_data, tmp_path, monkeypatch
):
    from avem_plugins.scoring.taskdata import MissingMediaError

    items = _items(emorealm_data["good"])
    items[0]["video"] = "part_9/99.mp4"
    bad = tmp_path / "q.json"
    bad.write_text(json.dumps(items))
    monkeypatch.delenv("AVEM_ALLOW_MISSING_MEDIA", raising=False)
    env = {"EMOREALM_JSON": str(bad), "DFEW_ROOT": str(emorealm_data["dfew"])}
    err = _load_error(task_manager, monkeypatch, env)
    assert isinstance(err, MissingMediaError)
    assert "emorealm_reasoning_basic_audio: 1 of 2 items have missing media files" in str(err)
    assert f"{emorealm_data['dfew']}/part_9/99.mp4" in str(err)
    assert "AVEM_ALLOW_MISSING_MEDIA=1" in str(err)


@pytest.mark.slow
def test_cli_prints_our_error_for_a_bad_questions_file(
    emorealm_data, tiny_qwen2_5_omni_dir, tmp_path
):
    """What a user sees from `lmms-eval`: our error in one line, at once, and exit status 1."""
    bad = _bad_questions(emorealm_data["good"], "answer_not_a_choice", tmp_path / "q.json")
    args = [
        "--model", "avem_av", "--model_args", f"pretrained={tiny_qwen2_5_omni_dir},device=cpu",
        "--tasks", "emorealm_reasoning_basic_audio", "--output_path", str(tmp_path / "out"),
    ]  # fmt: skip
    env = lmms_env(tmp_path, EMOREALM_JSON=str(bad), DFEW_ROOT=str(emorealm_data["dfew"]))
    proc = run_lmms(tmp_path / "record.jsonl", args, env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 1, log[-5000:]
    assert proc.stderr.splitlines()[-1] == (
        f"avem: TaskDataError: {bad}: item 0 (id reasoning_basic_audio_000), "
        "field 'answer': 'E' is not among the choices' letters ['A', 'B', 'C', 'D']"
    ), log[-5000:]
    assert "Traceback" not in log and "RetryError" not in log
    assert not list((tmp_path / "out").rglob("*_results.json"))  # no results were written
    assert read_record(tmp_path / "record.jsonl") == []  # nothing was generated
