"""Tests for avem_plugins.testing.synth and the ``avem synth`` commands."""

from __future__ import annotations

import csv
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from avem_plugins.cli.main import app
from avem_plugins.media import load_audio, load_frames
from avem_plugins.testing import synth
from avem_plugins.testing.synth import (
    AUDIO_CUES,
    COLOURS,
    EMOTION_CUES,
    MANIFEST_COLUMNS,
    VISUAL_CUES,
    make_clips,
    read_manifest,
    render_audio,
    render_frames,
    write_clip,
    write_wav,
)


def _dominant_hz(audio: np.ndarray, sample_rate: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * sample_rate / len(audio))


def _streams(path: Path) -> dict[str, tuple[str, int]]:
    import av

    with av.open(str(path)) as container:
        return {s.type: (s.codec_context.name, s.frames) for s in container.streams}


# --------------------------------------------------------------------------- cues


def test_cue_vocabulary_and_emotion_mapping() -> None:
    assert {"red_circle", "blue_square", "brightness_up", "flicker"} <= set(VISUAL_CUES)
    assert {"high_tone", "low_tone", "beeps", "silence"} <= set(AUDIO_CUES)
    assert {"happiness", "sadness", "anger", "neutral", "surprise", "fear", "disgust"} <= set(
        EMOTION_CUES
    )
    visual = [v for v, _ in EMOTION_CUES.values()]
    audio = [a for _, a in EMOTION_CUES.values()]
    assert set(visual) <= set(VISUAL_CUES) and set(audio) <= set(AUDIO_CUES)
    # each emotion is recognisable from either modality alone
    assert len(set(visual)) == len(visual) and len(set(audio)) == len(audio)
    assert len({v.split("_")[0] for v in visual}) == len(visual)  # distinct colours


def test_unknown_cues_list_the_vocabulary(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown visual cue 'pink_blob'.*red_circle"):
        render_frames("pink_blob", num_frames=2)
    with pytest.raises(ValueError, match=r"unknown audio cue 'whistle'.*high_tone"):
        render_audio("whistle", seconds=0.1)
    with pytest.raises(ValueError, match="unknown audio cue"):
        write_clip(tmp_path / "x.mp4", visual_cue="red_circle", audio_cue="whistle")
    with pytest.raises(ValueError, match="even"):
        write_clip(tmp_path / "x.mp4", visual_cue="red_circle", audio_cue="beeps", size=(63, 64))


@pytest.mark.parametrize("cue", [c for c in VISUAL_CUES if c.split("_")[0] in COLOURS])
def test_shape_cues_show_their_colour(cue: str) -> None:
    frames = render_frames(cue, num_frames=4, size=(64, 48), seed=1)
    assert frames.shape == (4, 48, 64, 3) and frames.dtype == np.uint8
    colour = np.array(COLOURS[cue.split("_")[0]])
    is_shape = (np.abs(frames.astype(int) - colour) <= 1).all(axis=-1)
    share = is_shape.mean(axis=(1, 2))
    assert (share > 0.05).all() and (share < 0.7).all()  # a shape, not an empty or full frame


def test_shapes_move_and_brightness_cues_ramp() -> None:
    frames = render_frames("red_circle", num_frames=8, seed=3)
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).sum() > 0
    up = render_frames("brightness_up", num_frames=8).mean(axis=(1, 2, 3))
    down = render_frames("brightness_down", num_frames=8).mean(axis=(1, 2, 3))
    flicker = render_frames("flicker", num_frames=6).mean(axis=(1, 2, 3))
    assert (np.diff(up) > 0).all() and (np.diff(down) < 0).all()
    assert flicker[1] - flicker[0] > 100 and flicker[2] - flicker[1] < -100


def test_audio_cues() -> None:
    cues = {c: render_audio(c, seconds=1.0, seed=2) for c in AUDIO_CUES}
    for name, audio in cues.items():
        assert audio.dtype == np.float32 and audio.shape == (16000,), name
        assert float(np.abs(audio).max()) <= 1.0
        assert (float(np.abs(audio).max()) > 0.1) == (name != "silence"), name
    pitch = {c: _dominant_hz(cues[c]) for c in ("high_tone", "mid_tone", "low_tone")}
    assert pitch["high_tone"] > pitch["mid_tone"] > pitch["low_tone"]
    assert abs(pitch["high_tone"] - 880) < 3
    rising, falling = cues["rising_tone"], cues["falling_tone"]
    assert _dominant_hz(rising[:8000]) < _dominant_hz(rising[8000:])
    assert _dominant_hz(falling[:8000]) > _dominant_hz(falling[8000:])
    # beeps: on/off rhythm (4 Hz slow, 10 Hz fast) -> some 10 ms windows are silent
    for name, rate in (("beeps", 4), ("fast_beeps", 10)):
        energy = np.abs(cues[name][: 16000 // rate * rate].reshape(-1, 160)).max(axis=1)
        assert (energy < 1e-3).mean() > 0.3 and (energy > 0.1).mean() > 0.3, name
    assert render_audio("beeps", seconds=0.0).shape == (0,)


def test_same_seed_same_arrays_other_seed_differs() -> None:
    np.testing.assert_array_equal(
        render_frames("blue_square", num_frames=4, seed=7),
        render_frames("blue_square", num_frames=4, seed=7),
    )
    assert not np.array_equal(
        render_frames("blue_square", num_frames=4, seed=7),
        render_frames("blue_square", num_frames=4, seed=8),
    )
    np.testing.assert_array_equal(
        render_audio("noise", seconds=0.1, seed=1), render_audio("noise", seconds=0.1, seed=1)
    )
    assert not np.array_equal(
        render_audio("noise", seconds=0.1, seed=1), render_audio("noise", seconds=0.1, seed=2)
    )


# --------------------------------------------------------------------------- files


def test_write_clip_is_h264_aac_mp4(tmp_path: Path) -> None:
    path = write_clip(
        tmp_path / "sub" / "c.mp4",
        visual_cue="green_triangle",
        audio_cue="low_tone",
        num_frames=10,
        fps=5,
    )
    assert path == tmp_path / "sub" / "c.mp4" and path.stat().st_size > 0
    streams = _streams(path)
    assert streams["video"] == ("h264", 10)
    assert streams["audio"][0] == "aac"
    audio = load_audio(path, cache=None)
    assert abs(len(audio) - 2 * 16000) <= 3 and abs(_dominant_hz(audio) - 220) < 3


def test_write_clip_without_audio_and_with_duration(tmp_path: Path) -> None:
    silent = write_clip(tmp_path / "v.mp4", visual_cue="flicker", audio_cue="beeps", audio=False)
    assert set(_streams(silent)) == {"video"}
    timed = write_clip(
        tmp_path / "d.mp4", visual_cue="flicker", audio_cue="beeps", fps=10, duration=1.5
    )
    assert _streams(timed)["video"][1] == 15


def test_write_clip_is_deterministic(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {
        "visual_cue": "purple_triangle",
        "audio_cue": "rising_tone",
        "num_frames": 8,
    }
    a = write_clip(tmp_path / "a.mp4", seed=11, **kwargs)
    b = write_clip(tmp_path / "b.mp4", seed=11, **kwargs)
    c = write_clip(tmp_path / "c.mp4", seed=12, **kwargs)
    np.testing.assert_array_equal(load_frames(a, 8, cache=None), load_frames(b, 8, cache=None))
    np.testing.assert_array_equal(load_audio(a, cache=None), load_audio(b, cache=None))
    assert a.read_bytes() == b.read_bytes()
    assert not np.array_equal(load_frames(a, 8, cache=None), load_frames(c, 8, cache=None))


def test_write_wav_is_16bit_pcm_of_the_cue(tmp_path: Path) -> None:
    path = write_wav(
        tmp_path / "t.wav", audio_cue="high_tone", seed=4, seconds=0.5, sample_rate=22050
    )
    with wave.open(str(path)) as handle:
        assert (handle.getnchannels(), handle.getsampwidth(), handle.getframerate()) == (
            1,
            2,
            22050,
        )
        assert handle.getnframes() == round(0.5 * 22050)
        pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
    expected = render_audio("high_tone", seconds=0.5, sample_rate=22050, seed=4)
    np.testing.assert_allclose(pcm / 32767, expected, atol=1 / 32767)
    assert (
        path.read_bytes()
        == write_wav(
            tmp_path / "u.wav", audio_cue="high_tone", seed=4, seconds=0.5, sample_rate=22050
        ).read_bytes()
    )


def test_make_clips_cycles_emotions_and_writes_manifest(tmp_path: Path) -> None:
    n = len(EMOTION_CUES) + 2
    records = make_clips(tmp_path / "clips", n, seed=3, num_frames=4)
    emotions = list(EMOTION_CUES)
    assert [r.emotion for r in records] == [emotions[i % len(emotions)] for i in range(n)]
    for rec in records:
        assert rec.path.is_file() and rec.path.is_absolute()
        assert (rec.visual_cue, rec.audio_cue) == EMOTION_CUES[rec.emotion]
        assert rec.audio_caption == AUDIO_CUES[rec.audio_cue]
        assert rec.visual_caption == VISUAL_CUES[rec.visual_cue]
    manifest = tmp_path / "clips" / "clips.csv"
    with open(manifest, newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == MANIFEST_COLUMNS == (
        "path", "emotion", "visual_cue", "audio_cue", "audio_caption", "visual_caption"
    )  # fmt: skip
    assert len(rows) == n + 1 and rows[1][0] == records[0].path.name
    assert read_manifest(manifest) == records
    # clips of the same emotion differ (their seeds differ) but share the cue
    first, again = records[0].path, records[len(emotions)].path
    assert not np.array_equal(load_frames(first, 4, cache=None), load_frames(again, 4, cache=None))


def test_make_clips_same_seed_same_media(tmp_path: Path) -> None:
    a = make_clips(tmp_path / "a", 2, seed=9, num_frames=4)
    b = make_clips(tmp_path / "b", 2, seed=9, num_frames=4)
    for ra, rb in zip(a, b, strict=True):
        np.testing.assert_array_equal(
            load_frames(ra.path, 4, cache=None), load_frames(rb.path, 4, cache=None)
        )
        np.testing.assert_array_equal(
            load_audio(ra.path, cache=None), load_audio(rb.path, cache=None)
        )


def test_make_clips_rejects_unknown_emotions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no cues for emotions \\['joy'\\]"):
        make_clips(tmp_path, 1, emotions=["joy"])
    with pytest.raises(ValueError, match="n must be"):
        make_clips(tmp_path, -1)


def test_read_manifest_names_missing_columns(tmp_path: Path) -> None:
    bad = tmp_path / "clips.csv"
    bad.write_text("path,emotion\nx.mp4,anger\n")
    with pytest.raises(ValueError, match=r"clips.csv: missing columns \['audio_caption'"):
        read_manifest(bad)


# --------------------------------------------------------------------------- CLI


runner = CliRunner()


def test_cli_synth_clips_passes_its_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def fake_make_clips(out_dir: Any, n: int, **kwargs: Any) -> list[Any]:
        seen.update(out_dir=out_dir, n=n, **kwargs)
        return []

    monkeypatch.setattr(synth, "make_clips", fake_make_clips)
    result = runner.invoke(
        app,
        ["synth", "clips", str(tmp_path), "--n", "5", "--seed", "4", "--frames", "6", "--no-audio"],
    )
    assert result.exit_code == 0, result.output
    assert seen == {
        "out_dir": tmp_path,
        "n": 5,
        "seed": 4,
        "num_frames": 6,
        "fps": 8,
        "size": (64, 64),
        "audio": False,
    }


def test_cli_synth_clips_writes_clips(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["synth", "clips", str(tmp_path / "out"), "--n", "2", "--seed", "1", "--frames", "4"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 2 clips" in result.output
    records = read_manifest(tmp_path / "out" / "clips.csv")
    assert [r.emotion for r in records] == list(EMOTION_CUES)[:2]
    assert all(r.path.is_file() for r in records)


def test_cli_synth_wav(tmp_path: Path) -> None:
    out = tmp_path / "b.wav"
    result = runner.invoke(app, ["synth", "wav", str(out), "--cue", "beeps", "--seconds", "0.25"])
    assert result.exit_code == 0, result.output
    with wave.open(str(out)) as handle:
        assert handle.getnframes() == 4000
    bad = runner.invoke(app, ["synth", "wav", str(tmp_path / "c.wav"), "--cue", "whistle"])
    assert bad.exit_code == 2 and "whistle" in bad.output
    assert not (tmp_path / "c.wav").exists()
