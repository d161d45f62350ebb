"""Tests for avem_plugins.media on generated clips and the real RAVDESS WAVs."""

from __future__ import annotations

import csv
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avem_plugins.media import (
    AUDIO_CHANNEL_RULE,
    AUDIO_MAX_SECONDS,
    AUDIO_MIN_SECONDS,
    BACKENDS,
    DEFAULT,
    FRAME_RULE,
    CorruptMediaError,
    DecodedClip,
    EmptyMediaError,
    MediaCache,
    MediaError,
    MediaNotFoundError,
    NoAudioStreamError,
    NoVideoStreamError,
    decode_clip,
    default_cache,
    example_media,
    fit_audio_length,
    load_audio,
    load_frames,
    media_seconds,
    resample_audio,
    sample_indices,
)
from avem_plugins.testing.synth import render_audio, render_frames, write_clip, write_wav

RAVDESS = Path(__file__).resolve().parents[3].parent / "shared" / "realdata" / "ravdess"

SEED = 5
FPS = 8
CLIP_FRAMES = 16


def _remux_faststart(src: Path, dst: Path) -> None:
    """Copy an mp4 with its index (moov) first, so a truncated copy still opens."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        mapping = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None:
                continue
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)


def _write_pcm_mp4(path: Path) -> None:
    """An mp4 whose audio is PCM (decord 0.6 cannot read it; PyAV can)."""
    import av

    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=16000)
        audio.layout = "mono"
        for frame in render_frames("flicker", num_frames=8, size=(32, 32)):
            out.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(video.encode(None))
        pcm = np.round(render_audio("low_tone", seconds=1.0) * 32767).astype(np.int16)
        for start in range(0, len(pcm), 1024):
            frame = av.AudioFrame.from_ndarray(
                pcm[None, start : start + 1024], format="s16", layout="mono"
            )
            frame.sample_rate, frame.pts = 16000, start
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generated media shared by the tests of this module (written once)."""
    root = tmp_path_factory.mktemp("media")
    files = {
        "av": write_clip(
            root / "av.mp4",
            visual_cue="brightness_up",
            audio_cue="high_tone",
            seed=SEED,
            num_frames=CLIP_FRAMES,
            fps=FPS,
        ),
        "noaudio": write_clip(
            root / "noaudio.mp4",
            visual_cue="red_circle",
            audio_cue="silence",
            audio=False,
            num_frames=CLIP_FRAMES,
            fps=FPS,
        ),
        "short": write_clip(
            root / "short.mp4",
            visual_cue="brightness_up",
            audio_cue="low_tone",
            num_frames=3,
            fps=FPS,
        ),
        "wav16": write_wav(
            root / "tone16.wav", audio_cue="mid_tone", seed=SEED, seconds=1.0, sample_rate=16000
        ),
        "wav48": write_wav(
            root / "tone48.wav", audio_cue="low_tone", seed=SEED, seconds=1.0, sample_rate=48000
        ),
    }
    data = files["av"].read_bytes()
    files["truncated"] = root / "truncated.mp4"  # index (moov) at the end: cut off
    files["truncated"].write_bytes(data[: len(data) // 2])
    faststart = root / "faststart.mp4"
    _remux_faststart(files["av"], faststart)
    fs_data = faststart.read_bytes()
    files["truncated_faststart"] = root / "truncated_faststart.mp4"  # index intact, data cut
    files["truncated_faststart"].write_bytes(fs_data[: len(fs_data) * 6 // 10])
    files["faststart"] = faststart
    files["empty"] = root / "empty.mp4"
    files["empty"].write_bytes(b"")
    files["garbage"] = root / "garbage.mp4"
    files["garbage"].write_text("this is not a video\n")
    files["zero_wav"] = write_wav(root / "zero.wav", audio_cue="silence", seconds=0.0)
    files["pcm"] = root / "pcm.mp4"
    _write_pcm_mp4(files["pcm"])
    return files


def _dominant_hz(audio: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * sample_rate / len(audio))


# --------------------------------------------------------------------------- sampling


def test_sample_indices_uniform_and_short_clips() -> None:
    # the AVERE authors' rule: floor(linspace(0, n - 1, 8)), not rounded
    assert sample_indices(16, 8).tolist() == [0, 2, 4, 6, 8, 10, 12, 15]
    assert sample_indices(3, 8).tolist() == [0, 0, 0, 0, 1, 1, 1, 2]
    assert sample_indices(61, 8).tolist() == np.linspace(0, 60, 8, dtype=int).tolist()
    assert sample_indices(1, 4).tolist() == [0, 0, 0, 0]
    assert sample_indices(100, 1).tolist() == [0]
    with pytest.raises(ValueError, match="total"):
        sample_indices(0, 8)
    with pytest.raises(ValueError, match="num_frames"):
        sample_indices(10, 0)


def _write_stereo(path: Path, rate: int = 48000, seconds: float = 0.6) -> Path:
    """A 16-bit stereo wav: 440 Hz (0.5) on the left channel, 1000 Hz (0.3) on the right."""
    import wave

    t = np.arange(int(seconds * rate)) / rate
    left, right = 0.5 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 1000 * t)
    pcm = np.round(np.stack([left, right], axis=1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())
    return path


@pytest.mark.parametrize("backend", ["auto", "pyav"])
def test_multichannel_audio_keeps_the_first_channel(tmp_path: Path, backend: str) -> None:
    # the authors' loader takes channel 0 of a multi-channel file; a downmix would hold both tones
    audio = load_audio(_write_stereo(tmp_path / "stereo.wav"), 16000, backend=backend, cache=None)
    spectrum = np.abs(np.fft.rfft(audio.astype(np.float64)))
    freqs = np.fft.rfftfreq(audio.size, 1 / 16000)
    assert audio.shape == (9600,)
    assert freqs[spectrum.argmax()] == pytest.approx(440, abs=5)
    assert spectrum[np.abs(freqs - 1000) < 5].max() < 0.01 * spectrum.max()
    assert np.abs(audio).max() == pytest.approx(0.5, abs=0.01)


def test_decord_alone_refuses_multichannel_audio(tmp_path: Path) -> None:
    # decord 0.6 scrambles the channels: an explicit decord backend says to use PyAV
    with pytest.raises(MediaError, match="use backend='pyav' or 'auto'"):
        load_audio(_write_stereo(tmp_path / "stereo.wav"), 16000, backend="decord", cache=None)


def test_in_memory_audio_keeps_the_first_channel() -> None:
    stereo = np.stack([np.full(100, 0.5), np.full(100, -0.5)], axis=1)
    assert resample_audio(stereo, 16000, 16000).tolist() == [0.5] * 100
    assert resample_audio(stereo.T, 16000, 16000).tolist() == [0.5] * 100


def test_fit_audio_length_pads_to_one_second_and_cuts_at_thirty() -> None:
    assert (FRAME_RULE, AUDIO_CHANNEL_RULE) == ("floor(linspace(0,n-1,num_frames))", "first")
    short = fit_audio_length(np.ones(4000, np.float32), 16000)
    assert short.shape == (16000,) and short[:4000].all() and not short[4000:].any()
    assert short.dtype == np.float32
    assert fit_audio_length(np.ones(16000 * 31, np.float32), 16000).shape == (480000,)
    exact = np.arange(20000, dtype=np.float32)
    assert fit_audio_length(exact, 16000).tolist() == exact.tolist()
    assert fit_audio_length(np.ones(10), 16000, min_seconds=None).shape == (10,)
    assert fit_audio_length(np.ones(100), 10, max_seconds=None).shape == (100,)


def test_example_media_applies_the_length_rule_only_when_asked(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "half.wav", audio_cue="low_tone", seconds=0.5)
    plain = example_media(None, str(wav), want_video=False, want_audio=True)
    assert plain.audio is not None and plain.audio.shape == (8000,)
    fitted = example_media(
        None, str(wav), want_video=False, want_audio=True,
        audio_min_seconds=AUDIO_MIN_SECONDS, audio_max_seconds=AUDIO_MAX_SECONDS,
    )  # fmt: skip
    assert fitted.audio is not None and fitted.audio.shape == (16000,)
    assert np.array_equal(fitted.audio[:8000], plain.audio) and not fitted.audio[8000:].any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_frames_are_the_uniformly_sampled_ones(media: dict[str, Path], backend: str) -> None:
    frames = load_frames(media["av"], 8, backend=backend, cache=None)
    assert frames.shape == (8, 64, 64, 3) and frames.dtype == np.uint8
    reference = render_frames("brightness_up", num_frames=CLIP_FRAMES, seed=SEED).astype(float)
    want = reference[sample_indices(CLIP_FRAMES, 8)]
    # brightness_up steps ~14 grey levels per frame: an off-by-one frame would differ by ~14
    assert np.abs(frames.astype(float) - want).mean(axis=(1, 2, 3)).max() < 4
    shifted = reference[sample_indices(CLIP_FRAMES, 8)[1:] - 1]
    assert np.abs(frames[1:].astype(float) - shifted).mean() > 8


@pytest.mark.parametrize("backend", BACKENDS)
def test_clip_shorter_than_num_frames_repeats_frames(media: dict[str, Path], backend: str) -> None:
    frames = load_frames(media["short"], 8, backend=backend, cache=None)
    assert frames.shape[0] == 8
    levels = frames.astype(float).mean(axis=(1, 2, 3))
    reference = render_frames("brightness_up", num_frames=3).astype(float).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(levels, reference[[0, 0, 0, 0, 1, 1, 1, 2]], atol=4)


def test_backends_agree_on_av_clip(media: dict[str, Path]) -> None:
    clips = {
        b: decode_clip(media["av"], backend=b, cache=None, num_frames=8, sample_rate=16000)
        for b in BACKENDS
    }
    d, p = clips["decord"], clips["pyav"]
    assert (
        d.frames is not None
        and p.frames is not None
        and d.audio is not None
        and p.audio is not None
    )
    assert d.frames.shape == p.frames.shape == (8, 64, 64, 3)
    assert np.abs(d.frames.astype(int) - p.frames.astype(int)).mean() < 3
    for clip in (d, p):
        assert clip.audio.dtype == np.float32 and clip.audio.ndim == 1
        # 16 frames at 8 fps = 2 s; AAC padding beyond the declared duration is trimmed
        assert abs(len(clip.audio) - 32000) <= 3
        assert clip.audio_source == "video" and clip.sample_rate == 16000
        assert abs(_dominant_hz(clip.audio, 16000) - 880) < 5
    assert abs(len(d.audio) - len(p.audio)) <= 3
    n = min(len(d.audio), len(p.audio))
    np.testing.assert_allclose(d.audio[:n], p.audio[:n], atol=1e-3)
    # the decoded AAC track is the tone that was written
    written = render_audio("high_tone", seconds=2.0, seed=SEED + 1)
    assert np.sqrt(np.mean((p.audio[:n] - written[:n]) ** 2)) < 0.01


@pytest.mark.parametrize("backend", BACKENDS)
def test_wav_at_its_own_rate_is_exact(media: dict[str, Path], backend: str) -> None:
    audio = load_audio(media["wav16"], 16000, backend=backend, cache=None)
    written = render_audio("mid_tone", seconds=1.0, sample_rate=16000, seed=SEED)
    assert audio.dtype == np.float32 and audio.shape == written.shape
    np.testing.assert_allclose(audio, written, atol=2 / 32767)


def test_wav_resampled_48k_to_16k_by_both_backends(media: dict[str, Path]) -> None:
    outs = {b: load_audio(media["wav48"], 16000, backend=b, cache=None) for b in BACKENDS}
    for audio in outs.values():
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert abs(len(audio) - 16000) <= 3
        assert abs(_dominant_hz(audio, 16000) - 220) < 3
        assert float(np.abs(audio).max()) <= 1.0
    rms = [float(np.sqrt(np.mean(a**2))) for a in outs.values()]
    assert abs(rms[0] - rms[1]) < 0.05 * max(rms)


# --------------------------------------------------------------------------- sources


def test_separate_audio_file_and_to_media(media: dict[str, Path]) -> None:
    clip = decode_clip(media["noaudio"], media["wav16"], cache=None)
    assert isinstance(clip, DecodedClip)
    assert clip.audio_source == "file"
    assert clip.video_path == str(media["noaudio"].resolve())
    assert clip.audio_path == str(media["wav16"].resolve())
    m = clip.to_media()
    assert m.audio_in_video is False and m.key == clip.video_path and m.sample_rate == 16000
    assert m.frames is clip.frames and m.audio is clip.audio


def test_audio_from_video_marks_audio_in_video(media: dict[str, Path]) -> None:
    m = decode_clip(media["av"], cache=None).to_media()
    assert m.audio_in_video is True and m.key == str(media["av"].resolve())


def test_audio_only_and_wants(media: dict[str, Path]) -> None:
    only_audio = decode_clip(audio=media["wav16"], cache=None)
    assert only_audio.frames is None and only_audio.audio is not None
    assert only_audio.to_media().key == str(media["wav16"].resolve())
    no_audio = decode_clip(media["av"], want_audio=False, cache=None)
    assert no_audio.audio is None and no_audio.audio_source is None and no_audio.frames is not None
    no_video = decode_clip(media["av"], want_video=False, cache=None)
    assert no_video.frames is None and no_video.audio_source == "video"


def test_missing_audio_silence_is_substituted_and_recorded(media: dict[str, Path]) -> None:
    clip = decode_clip(media["noaudio"], missing_audio="silence", cache=None)
    assert clip.audio_source == "silence"
    assert clip.audio is not None and clip.audio.dtype == np.float32
    assert len(clip.audio) == 32000 and not clip.audio.any()  # as long as the 2 s video
    assert clip.to_media().audio_in_video is False
    short = decode_clip(media["noaudio"], missing_audio="silence", silence_seconds=0.5, cache=None)
    assert len(short.audio) == 8000  # type: ignore[arg-type]
    assert media_seconds(media["noaudio"]) == pytest.approx(2.0)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("backend", ["auto", *BACKENDS])
@pytest.mark.parametrize(
    ("name", "call", "error"),
    [
        ("missing", "clip", MediaNotFoundError),
        ("empty", "clip", EmptyMediaError),
        ("zero_wav", "audio", EmptyMediaError),
        ("garbage", "clip", CorruptMediaError),
        ("truncated", "clip", CorruptMediaError),
        ("truncated_faststart", "frames", CorruptMediaError),
        ("truncated_faststart", "audio", CorruptMediaError),
        ("noaudio", "clip", NoAudioStreamError),
        ("wav16", "frames", NoVideoStreamError),
    ],
)
def test_typed_errors_name_the_file(
    media: dict[str, Path],
    tmp_path: Path,
    backend: str,
    name: str,
    call: str,
    error: type[MediaError],
) -> None:
    path = media.get(name, tmp_path / "does_not_exist.mp4")
    with pytest.raises(error) as info:
        if call == "clip":
            decode_clip(path, backend=backend, cache=None)
        elif call == "frames":
            load_frames(path, backend=backend, cache=None)
        else:
            load_audio(path, backend=backend, cache=None)
    assert isinstance(info.value, MediaError)
    assert str(path) in str(info.value) and info.value.path == str(path)


def test_error_details(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):  # MediaNotFoundError is also a FileNotFoundError
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(MediaNotFoundError, match="not a file"):
        load_frames(tmp_path)
    with pytest.raises(NoAudioStreamError, match='missing_audio="silence"'):
        decode_clip(media["noaudio"], cache=None)
    with pytest.raises(CorruptMediaError, match="truncated"):
        load_frames(media["truncated_faststart"], cache=None)
    err = CorruptMediaError("/x/y.mp4", "broken")
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is CorruptMediaError and again.path == "/x/y.mp4" and str(again) == str(err)
    assert isinstance(
        pickle.loads(pickle.dumps(MediaNotFoundError("a.mp4", "gone"))), FileNotFoundError
    )


def test_faststart_copy_decodes_fully(media: dict[str, Path]) -> None:
    # the untruncated remux decodes: the truncation error above is about the cut, not the layout
    assert load_frames(media["faststart"], cache=None).shape == (8, 64, 64, 3)
    assert abs(len(load_audio(media["faststart"], cache=None)) - 32000) <= 3


def test_pcm_in_mp4_auto_falls_back_to_pyav(media: dict[str, Path]) -> None:
    auto = load_audio(media["pcm"], backend="auto", cache=None)
    pyav = load_audio(media["pcm"], backend="pyav", cache=None)
    np.testing.assert_array_equal(auto, pyav)
    assert abs(len(auto) - 16000) <= 3
    with pytest.raises(MediaError, match="backend='pyav'") as info:
        load_audio(media["pcm"], backend="decord", cache=None)
    assert str(media["pcm"]) in str(info.value)


def test_bad_arguments(media: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="backend"):
        decode_clip(media["av"], backend="ffmpeg-cli")
    with pytest.raises(ValueError, match="missing_audio"):
        decode_clip(media["av"], missing_audio="zeros")
    with pytest.raises(ValueError, match="video path, an audio path"):
        decode_clip()
    with pytest.raises(ValueError, match="num_frames"):
        load_frames(media["av"], 0)


# --------------------------------------------------------------------------- cache


def test_cache_decodes_once_and_returns_private_copies(media: dict[str, Path]) -> None:
    cache = MediaCache()
    first = decode_clip(media["av"], cache=cache)
    assert cache.stats == {"decodes": 2, "hits": 0}  # frames + audio
    second = decode_clip(media["av"], cache=cache)
    assert cache.stats == {"decodes": 2, "hits": 2}
    assert first.frames is not None and second.frames is not None
    np.testing.assert_array_equal(first.frames, second.frames)
    np.testing.assert_array_equal(first.audio, second.audio)  # type: ignore[arg-type]
    assert second.frames.flags.writeable
    second.frames[:] = 0  # callers own their arrays, cache hits included
    third = decode_clip(media["av"], cache=cache)
    assert third.frames is not None and third.frames.any()
    decode_clip(media["av"], num_frames=4, cache=cache)  # new parameters: new frames decode
    assert cache.stats == {"decodes": 3, "hits": 5}
    decode_clip(media["av"], backend="pyav", want_audio=False, cache=cache)
    assert cache.stats["decodes"] == 4
    cache.clear()
    assert cache.stats == {"decodes": 0, "hits": 0} and len(cache) == 0


def test_cache_invalidated_when_file_changes(tmp_path: Path) -> None:
    path = write_clip(
        tmp_path / "c.mp4", visual_cue="brightness_up", audio_cue="low_tone", num_frames=8
    )
    cache = MediaCache()
    bright = load_frames(path, 4, cache=cache)
    load_frames(path, 4, cache=cache)
    assert cache.stats == {"decodes": 1, "hits": 1}
    write_clip(path, visual_cue="brightness_down", audio_cue="low_tone", num_frames=8)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a new mtime even on coarse clocks
    dark = load_frames(path, 4, cache=cache)
    assert cache.stats == {"decodes": 2, "hits": 1}
    assert dark[0].mean() > bright[0].mean() + 100  # the new content, not the cached one


def test_cache_eviction_and_no_cache(media: dict[str, Path]) -> None:
    cache = MediaCache(max_items=1)
    load_frames(media["av"], 2, cache=cache)
    load_frames(media["av"], 3, cache=cache)
    assert len(cache) == 1
    load_frames(media["av"], 2, cache=cache)  # evicted: decoded again
    assert cache.stats == {"decodes": 3, "hits": 0}
    tiny = MediaCache(max_bytes=10)  # larger than the budget: returned, not stored
    load_frames(media["av"], 2, cache=tiny)
    assert len(tiny) == 0


def test_default_cache_is_shared(media: dict[str, Path], tmp_path: Path) -> None:
    path = shutil.copy(media["wav16"], tmp_path / "shared.wav")
    cache = default_cache()
    assert default_cache() is cache
    before = cache.stats
    decode_clip(audio=path)
    decode_clip(audio=path, cache=DEFAULT)
    after = cache.stats
    assert after["decodes"] == before["decodes"] + 1 and after["hits"] == before["hits"] + 1


# --------------------------------------------------------------------------- real data


def _ravdess_files() -> list[Path]:
    files = sorted(RAVDESS.glob("03-01-*.wav"))
    if not files:
        pytest.skip(
            f"RAVDESS WAVs not found in {RAVDESS} (the shared realdata folder beside the checkout)"
        )
    return files


def test_ravdess_wavs_decode_at_16k() -> None:
    files = _ravdess_files()
    durations: dict[str, float] = {}
    labels = RAVDESS / "labels.csv"
    if labels.exists():
        with open(labels, newline="") as handle:
            durations = {
                row["filename"]: float(row["duration_s"]) for row in csv.DictReader(handle)
            }
    chosen = files[:: max(1, len(files) // 6)][:6]
    for path in chosen:
        clip = decode_clip(audio=path, sample_rate=16000, cache=None)
        audio = clip.audio
        assert audio is not None and audio.dtype == np.float32 and audio.ndim == 1
        assert clip.frames is None and clip.audio_source == "file"
        seconds = len(audio) / 16000
        assert 3.0 <= seconds <= 5.5, (path, seconds)
        if path.name in durations:
            assert seconds == pytest.approx(durations[path.name], abs=0.01)
        assert float(np.sqrt(np.mean(audio**2))) > 1e-3, f"{path} decoded as silence"
        assert float(np.abs(audio).max()) <= 1.0


def test_ravdess_backends_agree() -> None:
    path = _ravdess_files()[0]
    d, p = (load_audio(path, 16000, backend=b, cache=None) for b in BACKENDS)
    assert abs(len(d) - len(p)) <= 3
    rms_d, rms_p = float(np.sqrt(np.mean(d**2))), float(np.sqrt(np.mean(p**2)))
    assert abs(rms_d - rms_p) < 0.05 * rms_p


# --------------------------------------------------------------------------- imports


def test_media_module_imports_no_decoder_at_import_time() -> None:
    code = (
        "import sys, avem_plugins.media, avem_plugins.testing.synth, avem_plugins.cli.synth\n"
        "print(sorted(m for m in ('av', 'decord', 'torch', 'torchcodec') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_to_media_carries_the_sampled_frame_rate(tmp_path):
    """Frames are placed in time the same way with or without an audio track."""
    from avem_plugins.media import decode_clip
    from avem_plugins.testing.synth import write_clip

    with_audio = write_clip(tmp_path / "a.mp4", visual_cue="red_circle", audio_cue="high_tone",
                            num_frames=16, fps=8)  # fmt: skip
    silent = write_clip(tmp_path / "v.mp4", visual_cue="red_circle", audio_cue="high_tone",
                        num_frames=16, fps=8, audio=False)  # fmt: skip
    for path in (with_audio, silent):
        media = decode_clip(video=path, num_frames=8, want_audio=False, cache=None).to_media()
        assert media.frame_rate == pytest.approx(8 / 2.0, rel=0.05), path  # 8 frames over 2 s
    audio_only = decode_clip(audio=with_audio, want_video=False, cache=None).to_media()
    assert audio_only.frame_rate is None
