"""Bad inputs for the reliability tests, written on the fly (nothing is stored in the repo).

Media: a truncated copy of a good mp4, an mp4 without an audio track, bytes that are no
container at all, a 0-byte file, a wav with a header and no samples, a silent wav, and tone
wavs at sample rates other than 16 kHz. Preference rows: :func:`pref_row`.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import wave
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

#: Runs the real lmms-eval CLI and records what ``avem_av`` did (see the file).
DRIVER = Path(__file__).with_name("lmms_driver.py")
#: The frequency of synth's ``high_tone`` (what a correctly resampled wav still peaks at).
TONE_HZ = 880.0
PROMPT = "<video>\n<audio>\nWhat emotion does the person show, and why?"


def truncated_copy(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of ``src``'s bytes (an interrupted download)."""
    data = Path(src).read_bytes()
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def write_no_audio_clip(path: Path) -> Path:
    """A valid H.264 mp4 with no audio stream."""
    from avem_plugins.testing.synth import write_clip

    return write_clip(
        path, visual_cue="red_triangle", audio_cue="low_tone", audio=False, num_frames=8, fps=8
    )


def write_garbage(path: Path, n: int = 4096, seed: int = 0) -> Path:
    """Random bytes under a media name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes())
    return path


def write_pcm_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """A mono 16-bit PCM wav (``samples`` in ``[-1, 1]``; may be empty)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.round(np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(os.fspath(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())
    return path


def write_float_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    """A mono 32-bit IEEE-float wav (the only wav kind that can hold NaN or inf)."""
    data = np.asarray(samples, "<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)  # format 3: IEEE float
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def write_nan_wav(path: Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    """A float wav of a tone with a run of NaN samples (a corrupt export)."""
    t = np.arange(round(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
    samples[rate // 10 : rate // 10 + 100] = np.nan
    return write_float_wav(path, samples, rate)


def write_empty_wav(path: Path, rate: int = 16000) -> Path:
    """A wav with a valid header and zero samples."""
    return write_pcm_wav(path, np.zeros(0, np.float32), rate)


def write_silent_wav(path: Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    """A wav of digital silence (valid input: it must decode, not fail)."""
    return write_pcm_wav(path, np.zeros(round(seconds * rate), np.float32), rate)


def write_tone_wav(path: Path, rate: int, seconds: float = 1.5) -> Path:
    """synth's ``high_tone`` (880 Hz) at ``rate``."""
    from avem_plugins.testing.synth import write_wav

    return write_wav(path, audio_cue="high_tone", sample_rate=rate, seconds=seconds)


def peak_hz(audio: np.ndarray, rate: int) -> float:
    """The frequency of the strongest spectral peak of ``audio``."""
    spectrum = np.abs(np.fft.rfft(np.asarray(audio, np.float64)))
    return float(np.fft.rfftfreq(len(audio), 1.0 / rate)[int(spectrum.argmax())])


def pref_row(i: int, video: str | None, **fields: Any) -> dict[str, Any]:
    """A valid preference row for clip ``video``; ``fields`` override (``None`` removes)."""
    row: dict[str, Any] = {
        "id": f"row{i}",
        "prompt": PROMPT,
        "chosen": f"The person is happy ({i}): a broad smile.",
        "rejected": f"The person is happy ({i}): she is laughing loudly.",
        "rejected_2": f"The person is happy ({i}): the wall is white.",
        "video": video,
        "emotion": "happiness" if i % 2 else "sadness",
    }
    row.update(fields)
    return {k: v for k, v in row.items() if v is not None}


def write_jsonl(path: Path, rows: Iterable[dict[str, Any] | bytes]) -> Path:
    """JSONL from rows; ``bytes`` items are written verbatim as one line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, bytes) else json.dumps(r).encode() for r in rows]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def read_record(path: Path) -> list[dict[str, Any]]:
    """The entries ``lmms_driver.py`` wrote (an empty list when it wrote none)."""
    if not Path(path).is_file():
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def lmms_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment of an lmms-eval run: offline, our variables only as given."""
    ours = ("AVEM_", "DFEW_", "EMOREALM_", "RAVDESS_", "EMER_", "MER2023_", "LMMS_EVAL_MEDIA")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_DATASETS_CACHE=str(root / "hf-datasets"),
        TOKENIZERS_PARALLELISM="false",
        CUDA_VISIBLE_DEVICES="",
    )
    env.update(extra)
    return env


def run_lmms(record: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """``lmms-eval ARGS`` through ``lmms_driver.py`` (which records what avem_av did)."""
    return subprocess.run(
        [sys.executable, str(DRIVER), str(record), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
