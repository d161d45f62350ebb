"""One pass per clip: frames and audio from one open container, errors typed as before.

The default backend (``auto`` = PyAV) reads a clip's sampled frames and its audio track in
one demux loop over one open container; these tests count the container opens (and prove
decord and torchcodec are not touched), check the one-pass output equals the per-stream
decodes, and cover the containers that do not declare their frame count (the video is then
read twice from the same open container, never reopened). torchcodec, optional, is tested
where it is installed with FFmpeg's libraries.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avem_plugins import media as media_mod
from avem_plugins.media import (
    AUTO_BACKEND,
    BACKENDS,
    OPTIONAL_BACKENDS,
    CorruptMediaError,
    EmptyMediaError,
    MediaCache,
    MediaError,
    NoAudioStreamError,
    NoVideoStreamError,
    decode_clip,
    example_media,
    load_audio,
    load_frames,
)
from avem_plugins.testing.synth import write_clip, write_wav

FPS = 8


def _remux(src: Path, dst: Path, fmt: str) -> Path:
    """Copy ``src``'s packets into another container (mkv keeps no frame count)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", format=fmt) as out:
        mapping = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None:
                continue
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)
    return dst


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("onepass")
    av_clip = write_clip(
        root / "av.mp4", visual_cue="brightness_up", audio_cue="high_tone", seed=3,
        num_frames=21, fps=FPS,
    )  # fmt: skip
    data = av_clip.read_bytes()
    truncated = root / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    empty = root / "empty.mp4"
    empty.write_bytes(b"")
    return {
        "av": av_clip,
        "mkv": _remux(av_clip, root / "av.mkv", "matroska"),
        "noaudio": write_clip(
            root / "noaudio.mp4",
            visual_cue="red_circle",
            audio_cue="silence",
            audio=False,
            num_frames=16,
            fps=FPS,
        ),
        "wav": write_wav(root / "tone.wav", audio_cue="mid_tone", seconds=1.0),
        "truncated": truncated,
        "empty": empty,
    }


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts of container opens by any reader: PyAV ``av.open``, decord's readers."""
    import av
    import decord

    counts: Counter[str] = Counter()

    def counting(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(av, "open", counting("av", av.open))
    for name in ("VideoReader", "AudioReader", "AVReader"):
        monkeypatch.setattr(decord, name, counting(f"decord.{name}", getattr(decord, name)))
    return counts


def test_auto_is_the_one_pass_pyav_reader() -> None:
    assert AUTO_BACKEND == "pyav" and AUTO_BACKEND in BACKENDS
    assert set(OPTIONAL_BACKENDS).isdisjoint(BACKENDS)


def test_frames_and_audio_come_from_one_open(clips: dict[str, Path], opens: Counter[str]) -> None:
    clip = decode_clip(clips["av"], num_frames=8, cache=None)
    assert clip.frames is not None and clip.frames.shape == (8, 64, 64, 3)
    assert clip.audio is not None and abs(clip.audio.size - 21 / FPS * 16000) <= 3
    media = clip.to_media()  # the clip's duration was learnt by the same open
    assert media.frame_rate == pytest.approx(8 / (21 / FPS), rel=0.05)
    assert opens == Counter({"av": 1})


def test_example_media_and_a_cache_miss_open_once(
    clips: dict[str, Path], opens: Counter[str]
) -> None:
    cache = MediaCache()
    got = example_media(
        str(clips["av"]), None, want_video=True, want_audio=True, decode=lambda **kw: decode_clip(
            **kw, cache=cache
        ),
    )  # fmt: skip
    assert got.frames is not None and got.audio is not None and got.audio_in_video
    assert opens == Counter({"av": 1}) and cache.stats == {"decodes": 2, "hits": 0}
    again = example_media(
        str(clips["av"]), None, want_video=True, want_audio=True, decode=lambda **kw: decode_clip(
            **kw, cache=cache
        ),
    )  # fmt: skip
    assert opens == Counter({"av": 1}) and cache.stats == {"decodes": 2, "hits": 2}
    np.testing.assert_array_equal(again.frames, got.frames)  # type: ignore[arg-type]
    # a new frame count decodes the frames only, in one more open
    decode_clip(clips["av"], num_frames=4, cache=cache)
    assert opens == Counter({"av": 2}) and cache.stats == {"decodes": 3, "hits": 3}


def test_one_pass_equals_the_per_stream_decodes(clips: dict[str, Path]) -> None:
    clip = decode_clip(clips["av"], num_frames=8, cache=None)
    frames = load_frames(clips["av"], 8, cache=None)
    audio = load_audio(clips["av"], 16000, cache=None)
    np.testing.assert_array_equal(clip.frames, frames)  # type: ignore[arg-type]
    np.testing.assert_array_equal(clip.audio, audio)  # type: ignore[arg-type]


def test_separate_audio_file_is_its_own_single_open(
    clips: dict[str, Path], opens: Counter[str]
) -> None:
    clip = decode_clip(clips["noaudio"], clips["wav"], cache=None)
    assert clip.audio_source == "file" and clip.frames is not None
    clip.to_media()
    assert opens == Counter({"av": 2})  # the video file once, the wav once


def test_missing_track_with_silence_needs_no_second_open(
    clips: dict[str, Path], opens: Counter[str]
) -> None:
    clip = decode_clip(clips["noaudio"], missing_audio="silence", cache=None)
    assert clip.audio_source == "silence" and clip.audio is not None
    assert clip.audio.size == 32000 and not clip.audio.any()  # 16 frames at 8 fps: 2 s
    assert opens == Counter({"av": 1})


def test_undeclared_frame_count_reads_the_same_frames_without_reopening(
    clips: dict[str, Path], opens: Counter[str]
) -> None:
    import av

    with av.open(str(clips["mkv"])) as container:
        assert container.streams.video[0].frames == 0  # matroska declares no frame count
    opens.clear()
    mkv = decode_clip(clips["mkv"], num_frames=8, cache=None)
    assert opens == Counter({"av": 1})
    mp4 = decode_clip(clips["av"], num_frames=8, cache=None)
    np.testing.assert_array_equal(mkv.frames, mp4.frames)  # type: ignore[arg-type]
    assert mkv.audio is not None and mp4.audio is not None
    # the remux drops mp4's edit list: matroska keeps AAC's priming and padding (2 x 1024)
    assert 0 <= mkv.audio.size - mp4.audio.size <= 2 * 1024 + 16
    for n in (1, 5, 21, 30):  # sample sets that a wrong estimate would move
        again = load_frames(clips["mkv"], n, cache=None)
        np.testing.assert_array_equal(again, load_frames(clips["av"], n, cache=None))


def test_frames_moved_by_the_real_count_are_read_again(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch, opens: Counter[str]
) -> None:
    # a container that declares one frame more than decodes (within the tolerance)
    real = media_mod._inspect

    def off_by_one(container: Any) -> Any:
        probe = real(container)
        return media_mod.dataclasses.replace(probe, video_frames=probe.video_frames + 1)

    monkeypatch.setattr(media_mod, "_inspect", off_by_one)
    frames = load_frames(clips["av"], 8, cache=None)
    assert opens == Counter({"av": 1})
    monkeypatch.setattr(media_mod, "_inspect", real)
    np.testing.assert_array_equal(frames, load_frames(clips["av"], 8, cache=None))


@pytest.mark.parametrize(
    ("name", "kwargs", "error"),
    [
        ("noaudio", {}, NoAudioStreamError),
        ("wav", {"want_audio": False}, NoVideoStreamError),
        ("truncated", {}, CorruptMediaError),
        ("empty", {}, EmptyMediaError),
    ],
)
def test_one_pass_keeps_the_typed_errors(
    clips: dict[str, Path], opens: Counter[str], name: str, kwargs: dict, error: type
) -> None:
    path = clips[name]
    with pytest.raises(error) as info:
        decode_clip(path, cache=None, **kwargs)
    assert info.value.path == str(path) and str(path) in str(info.value)
    assert opens["av"] <= 1 and not any(k.startswith("decord") for k in opens)


# --------------------------------------------------------------------------- torchcodec


def _torchcodec_usable() -> bool:
    if importlib.util.find_spec("torchcodec") is None:
        return False
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401  (loads FFmpeg's libraries)
    except Exception:
        return False
    return True


needs_torchcodec = pytest.mark.skipif(
    not _torchcodec_usable(), reason="torchcodec (with FFmpeg's shared libraries) not installed"
)


@needs_torchcodec
def test_torchcodec_agrees_with_pyav(clips: dict[str, Path]) -> None:
    tc = decode_clip(clips["av"], backend="torchcodec", cache=None)
    py = decode_clip(clips["av"], backend="pyav", cache=None)
    assert tc.frames is not None and py.frames is not None and tc.frames.shape == py.frames.shape
    assert np.abs(tc.frames.astype(int) - py.frames.astype(int)).mean() < 3
    assert tc.audio is not None and py.audio is not None
    assert abs(tc.audio.size - py.audio.size) <= 3
    n = min(tc.audio.size, py.audio.size)
    assert np.sqrt(np.mean((tc.audio[:n] - py.audio[:n]) ** 2)) < 0.01


@needs_torchcodec
@pytest.mark.parametrize(
    ("name", "error"), [("noaudio", NoAudioStreamError), ("truncated", CorruptMediaError)]
)
def test_torchcodec_typed_errors(clips: dict[str, Path], name: str, error: type) -> None:
    with pytest.raises(error):
        decode_clip(clips[name], backend="torchcodec", cache=None)


def test_torchcodec_missing_says_what_to_do(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "torchcodec.decoders", None)  # import fails
    with pytest.raises(MediaError, match=r"apt-get install ffmpeg.*backend='pyav'"):
        decode_clip(clips["av"], backend="torchcodec", cache=None)
