"""Deterministic synthetic media for tests and the demo.

:func:`write_clip` writes an H.264 + AAC mp4 with PyAV (no system ffmpeg needed) whose
picture and sound carry controllable *cues*; :func:`write_wav` writes a 16-bit PCM wav;
:func:`make_clips` writes a folder of clips, one emotion each, plus a ``clips.csv``
manifest that the preference-data tooling reads (see :func:`read_manifest`).

Cue vocabulary (module constants):

- :data:`VISUAL_CUES`: ``"<colour>_<shape>"`` for every colour in :data:`COLOURS` and shape
  in :data:`SHAPES` (a shape of that colour moving over a dark, lightly textured
  background; ``stripes`` scroll), plus ``"brightness_up"``, ``"brightness_down"`` (the
  whole frame ramps from dark to bright or back) and ``"flicker"`` (dark/bright frames
  alternate).
- :data:`AUDIO_CUES`: tones of different pitch (``high_tone``, ``mid_tone``, ``low_tone``),
  sweeps (``rising_tone``, ``falling_tone``), rhythms (``beeps``, ``fast_beeps``),
  ``noise`` and ``silence``.
- :data:`EMOTION_CUES`: the default emotion -> ``(visual_cue, audio_cue)`` mapping of the
  demo; each emotion has its own colour and its own sound.

The same ``seed`` gives the same decoded frames and samples (and, with the pinned PyAV,
the same file bytes: the encoder runs single-threaded and nothing time-dependent is
written). The seed moves the shape's path, the background texture and the tone's phase.
"""

from __future__ import annotations

import csv
import os
import wave
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "AUDIO_CUES",
    "COLOURS",
    "EMOTION_CUES",
    "MANIFEST_COLUMNS",
    "SHAPES",
    "VISUAL_CUES",
    "ClipRecord",
    "make_clips",
    "read_manifest",
    "render_audio",
    "render_frames",
    "write_clip",
    "write_wav",
]

#: Colours of the shape cues, RGB.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 80, 230),
    "yellow": (240, 220, 40),
    "orange": (245, 140, 30),
    "purple": (150, 60, 200),
    "grey": (150, 150, 150),
}
#: Shapes of the shape cues.
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "stripes")
_SHAPE_WORDS = {
    "circle": "a {c} circle moving over a dark background",
    "square": "a {c} square moving over a dark background",
    "triangle": "a {c} triangle moving over a dark background",
    "stripes": "{c} horizontal stripes scrolling over a dark background",
}
#: Visual cue name -> caption.
VISUAL_CUES: dict[str, str] = {
    **{f"{c}_{s}": _SHAPE_WORDS[s].format(c=c) for c in COLOURS for s in SHAPES},
    "brightness_up": "a plain frame that brightens from dark to light",
    "brightness_down": "a plain frame that darkens from light to dark",
    "flicker": "a plain frame flickering between dark and bright",
}
#: Audio cue name -> caption.
AUDIO_CUES: dict[str, str] = {
    "high_tone": "a steady high-pitched tone",
    "mid_tone": "a steady medium-pitched tone",
    "low_tone": "a steady low-pitched tone",
    "rising_tone": "a tone sweeping upwards in pitch",
    "falling_tone": "a tone sweeping downwards in pitch",
    "beeps": "slow regular beeps",
    "fast_beeps": "fast urgent beeps",
    "noise": "a burst of hissing noise",
    "silence": "silence",
}
#: Default emotion -> (visual cue, audio cue) used by :func:`make_clips` and the demo.
EMOTION_CUES: dict[str, tuple[str, str]] = {
    "happiness": ("yellow_circle", "high_tone"),
    "sadness": ("blue_square", "low_tone"),
    "anger": ("red_triangle", "fast_beeps"),
    "neutral": ("grey_square", "mid_tone"),
    "surprise": ("orange_circle", "rising_tone"),
    "fear": ("purple_triangle", "beeps"),
    "disgust": ("green_stripes", "falling_tone"),
}
#: Columns of the ``clips.csv`` manifest written by :func:`make_clips`.
MANIFEST_COLUMNS: tuple[str, ...] = (
    "path",
    "emotion",
    "visual_cue",
    "audio_cue",
    "audio_caption",
    "visual_caption",
)

_AMPLITUDE = 0.3
_FADE_SECONDS = 0.005


@dataclass(frozen=True)
class ClipRecord:
    """One generated clip; ``path`` is absolute (the manifest stores it relative)."""

    path: Path
    emotion: str
    visual_cue: str
    audio_cue: str
    audio_caption: str
    visual_caption: str


def _check_cue(kind: str, cue: str, vocabulary: Mapping[str, str]) -> None:
    if cue not in vocabulary:
        raise ValueError(f"unknown {kind} cue {cue!r}; choose one of: {', '.join(vocabulary)}")


def render_frames(
    visual_cue: str, *, num_frames: int, size: tuple[int, int] = (64, 64), seed: int = 0
) -> np.ndarray:
    """The frames of a visual cue, ``(num_frames, height, width, 3)`` uint8; ``size`` is ``(width, height)``."""
    _check_cue("visual", visual_cue, VISUAL_CUES)
    width, height = size
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.0, 1.0, num_frames) if num_frames > 1 else np.zeros(1)

    if visual_cue in ("brightness_up", "brightness_down", "flicker"):
        if visual_cue == "brightness_up":
            levels = 20 + 215 * ramp
        elif visual_cue == "brightness_down":
            levels = 235 - 215 * ramp
        else:
            levels = np.where(np.arange(num_frames) % 2 == 0, 40.0, 220.0)
        tint = rng.uniform(0.9, 1.0, size=3)
        frames = levels[:, None, None, None] * tint[None, None, None, :]
        return np.broadcast_to(frames, (num_frames, height, width, 3)).round().astype(np.uint8)

    colour_name, shape = visual_cue.rsplit("_", 1)
    colour = np.array(COLOURS[colour_name], dtype=np.float64)
    background = 30 + rng.integers(-6, 7, size=(height, width, 1))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    radius = min(width, height) / 4
    start = rng.uniform([radius, radius], [width - radius, height - radius])
    end = rng.uniform([radius, radius], [width - radius, height - radius])
    phase = rng.uniform(0, min(width, height))

    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for t in range(num_frames):
        cx, cy = start + (end - start) * ramp[t]
        dx, dy = xx - cx, yy - cy
        if shape == "circle":
            mask = dx**2 + dy**2 <= radius**2
        elif shape == "square":
            mask = (np.abs(dx) <= radius) & (np.abs(dy) <= radius)
        elif shape == "triangle":  # apex up, base at cy + radius
            mask = (dy <= radius) & (np.abs(dx) <= (dy + radius) / 2)
        else:  # stripes: bands of height radius/2 scrolling down one pixel per frame
            mask = ((yy + phase + t) // max(1.0, radius / 2)) % 2 == 0
        frame = np.where(mask[..., None], colour, background)
        frames[t] = np.clip(frame, 0, 255).astype(np.uint8)
    return frames


def render_audio(
    audio_cue: str, *, seconds: float, sample_rate: int = 16000, seed: int = 0
) -> np.ndarray:
    """The samples of an audio cue: mono float32 in ``[-1, 1]``."""
    _check_cue("audio", audio_cue, AUDIO_CUES)
    if seconds < 0 or sample_rate < 1:
        raise ValueError(f"seconds ({seconds}) must be >= 0 and sample_rate ({sample_rate}) >= 1")
    n = round(seconds * sample_rate)
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sample_rate
    amplitude = _AMPLITUDE * rng.uniform(0.9, 1.1)
    phase = rng.uniform(0, 2 * np.pi)

    def tone(freq: float | np.ndarray) -> np.ndarray:
        if np.ndim(freq) == 0:
            return np.sin(2 * np.pi * freq * t + phase)
        return np.sin(2 * np.pi * np.cumsum(freq) / sample_rate + phase)

    def gate(rate_hz: float) -> np.ndarray:
        return ((t * rate_hz) % 1.0 < 0.5).astype(np.float64)

    if audio_cue == "high_tone":
        signal = tone(880.0)
    elif audio_cue == "mid_tone":
        signal = tone(440.0)
    elif audio_cue == "low_tone":
        signal = tone(220.0)
    elif audio_cue == "rising_tone":
        signal = tone(np.linspace(300.0, 1200.0, n))
    elif audio_cue == "falling_tone":
        signal = tone(np.linspace(1200.0, 300.0, n))
    elif audio_cue == "beeps":
        signal = tone(660.0) * gate(4.0)
    elif audio_cue == "fast_beeps":
        signal = tone(1000.0) * gate(10.0)
    elif audio_cue == "noise":
        signal = rng.uniform(-1.0, 1.0, n)
    else:  # silence
        signal = np.zeros(n)
    fade = min(n // 2, round(_FADE_SECONDS * sample_rate))
    if fade > 0:
        envelope = np.ones(n)
        envelope[:fade] = np.linspace(0, 1, fade)
        envelope[n - fade :] = np.linspace(1, 0, fade)
        signal = signal * envelope
    return np.clip(amplitude * signal, -1.0, 1.0).astype(np.float32)


def write_clip(
    path: str | os.PathLike[str],
    *,
    visual_cue: str,
    audio_cue: str,
    seed: int = 0,
    num_frames: int = 16,
    fps: int = 8,
    size: tuple[int, int] = (64, 64),
    duration: float | None = None,
    audio: bool = True,
    sample_rate: int = 16000,
) -> Path:
    """Write an H.264 + AAC mp4 showing ``visual_cue`` and sounding ``audio_cue``.

    :param size: ``(width, height)``, both even (H.264 4:2:0).
    :param duration: seconds; when given it sets ``num_frames = round(duration * fps)``.
        The audio lasts ``num_frames / fps`` seconds.
    :param audio: ``False`` writes a video with no audio stream (``audio_cue`` is still
        validated but not used).
    """
    import av

    _check_cue("audio", audio_cue, AUDIO_CUES)
    width, height = size
    if width % 2 or height % 2 or width < 2 or height < 2:
        raise ValueError(f"size={size}: width and height must be positive and even for H.264")
    if duration is not None:
        num_frames = max(1, round(duration * fps))
    if num_frames < 1 or fps < 1:
        raise ValueError(f"num_frames ({num_frames}) and fps ({fps}) must be >= 1")
    frames = render_frames(visual_cue, num_frames=num_frames, size=size, seed=seed)
    samples = render_audio(
        audio_cue, seconds=num_frames / fps, sample_rate=sample_rate, seed=seed + 1
    )

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(os.fspath(out), "w", format="mp4") as container:
        video_stream = container.add_stream("libx264", rate=fps)
        video_stream.width, video_stream.height = width, height
        video_stream.pix_fmt = "yuv420p"
        video_stream.options = {"crf": "18", "preset": "ultrafast", "threads": "1"}
        audio_stream = None
        if audio:
            audio_stream = container.add_stream("aac", rate=sample_rate)
            audio_stream.layout = "mono"
        for image in frames:
            video_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(video_stream.encode(video_frame))
        container.mux(video_stream.encode(None))
        if audio_stream is not None:
            chunk = audio_stream.codec_context.frame_size or 1024
            for start in range(0, len(samples), chunk):
                piece = samples[start : start + chunk]
                audio_frame = av.AudioFrame.from_ndarray(
                    piece[None, :], format="fltp", layout="mono"
                )
                audio_frame.sample_rate = sample_rate
                audio_frame.pts = start
                container.mux(audio_stream.encode(audio_frame))
            container.mux(audio_stream.encode(None))
    return out


def write_wav(
    path: str | os.PathLike[str],
    *,
    audio_cue: str,
    seed: int = 0,
    seconds: float = 1.0,
    sample_rate: int = 16000,
) -> Path:
    """Write ``audio_cue`` as a mono 16-bit PCM wav."""
    samples = render_audio(audio_cue, seconds=seconds, sample_rate=sample_rate, seed=seed)
    pcm = np.round(samples * 32767).astype("<i2")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(os.fspath(out), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())
    return out


def make_clips(
    out_dir: str | os.PathLike[str],
    n: int,
    *,
    seed: int = 0,
    emotions: Sequence[str] | None = None,
    cues: Mapping[str, tuple[str, str]] | None = None,
    num_frames: int = 16,
    fps: int = 8,
    size: tuple[int, int] = (64, 64),
    audio: bool = True,
    sample_rate: int = 16000,
) -> list[ClipRecord]:
    """Write ``n`` clips cycling through ``emotions`` and a ``clips.csv`` manifest.

    Clip ``i`` is ``clip_{i:04d}_{emotion}.mp4`` with the cues ``cues[emotion]``
    (default :data:`EMOTION_CUES`) and the seed ``seed * 100003 + i``. The manifest has
    the columns :data:`MANIFEST_COLUMNS`; its ``path`` is relative to ``out_dir``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    cue_map = dict(cues if cues is not None else EMOTION_CUES)
    order = list(emotions if emotions is not None else cue_map)
    if not order:
        raise ValueError("emotions is empty; pass at least one emotion")
    missing = [e for e in order if e not in cue_map]
    if missing:
        raise ValueError(f"no cues for emotions {missing}; add them to cues= ({sorted(cue_map)})")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n):
        emotion = order[i % len(order)]
        visual_cue, audio_cue = cue_map[emotion]
        path = write_clip(
            root / f"clip_{i:04d}_{emotion}.mp4",
            visual_cue=visual_cue,
            audio_cue=audio_cue,
            seed=seed * 100003 + i,
            num_frames=num_frames,
            fps=fps,
            size=size,
            audio=audio,
            sample_rate=sample_rate,
        )
        records.append(
            ClipRecord(
                path=path.resolve(),
                emotion=emotion,
                visual_cue=visual_cue,
                audio_cue=audio_cue,
                audio_caption=AUDIO_CUES[audio_cue] if audio else "no audio",
                visual_caption=VISUAL_CUES[visual_cue],
            )
        )
    with open(root / "clips.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(MANIFEST_COLUMNS)
        for rec in records:
            writer.writerow(
                [
                    rec.path.name,
                    rec.emotion,
                    rec.visual_cue,
                    rec.audio_cue,
                    rec.audio_caption,
                    rec.visual_caption,
                ]
            )
    return records


def read_manifest(path: str | os.PathLike[str]) -> list[ClipRecord]:
    """Read a ``clips.csv`` written by :func:`make_clips`; paths resolve against its folder."""
    manifest = Path(path)
    with open(manifest, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = set(MANIFEST_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(
                f"{manifest}: missing columns {sorted(missing)}; expected {MANIFEST_COLUMNS}"
            )
        return [
            ClipRecord(
                path=(manifest.parent / row["path"]).resolve(),
                emotion=row["emotion"],
                visual_cue=row["visual_cue"],
                audio_cue=row["audio_cue"],
                audio_caption=row["audio_caption"],
                visual_caption=row["visual_caption"],
            )
            for row in reader
        ]
