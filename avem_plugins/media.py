"""Decode video frames and audio for evaluation and training.

One entry point, :func:`decode_clip`, turns a video file (mp4/avi/mkv/webm) and/or a
separate audio file (wav/flac/mp3/m4a) into a :class:`DecodedClip`:

- ``frames``: ``num_frames`` RGB frames ``(T, H, W, 3)`` uint8 sampled uniformly over the
  clip (default 8, as in the AVERE paper). The indices are
  ``floor(np.linspace(0, total - 1, num_frames))`` (:data:`FRAME_RULE`, see
  :func:`sample_indices`), so a clip shorter than ``num_frames`` frames repeats frames
  rather than returning fewer: the output always has exactly ``num_frames`` frames.
- ``audio``: mono float32 in ``[-1, 1]`` at ``sample_rate`` (default 16 kHz), from the
  separate audio file when given, else from the video's own track; a multi-channel
  source keeps its first channel (:data:`AUDIO_CHANNEL_RULE`). Encoder padding beyond the
  stream's declared duration (e.g. AAC's last frame) is trimmed.

Backends: ``"pyav"`` (the default through ``backend="auto"``, :data:`AUTO_BACKEND`),
``"decord"`` and, when installed, ``"torchcodec"`` (:data:`OPTIONAL_BACKENDS`). The default
was chosen by measurement (``bench/media.py``, docs/BENCHMARKS.md §2) and is the only one
that reads a clip in **one pass**: one open container, one demux loop that decodes the
sampled frames and the audio track together, with the container's own stream facts doing
the checks (missing stream, empty or truncated file) that raise the typed errors below.
``"decord"`` and ``"torchcodec"`` open the file with PyAV first for those checks, then once
per stream. decord 0.6 cannot read PCM audio inside mp4 nor keep the first channel of
multi-channel audio; ``backend="decord"`` then raises and says to use PyAV. The backends
give the same number of frames and samples; their RGB conversion differs by a few levels,
and when resampling (e.g. 48 kHz -> 16 kHz) decord's resampler delays the signal by about
1 ms relative to PyAV's.

Errors are typed (:class:`MediaError` and subclasses), carry ``.path`` and say what to
do. A file whose container declares more frames or audio than can be decoded (a
truncated download) raises :class:`CorruptMediaError`; a small shortfall (2 frames or 5%
of video, 0.1 s plus 2% of audio) is tolerated because real containers' declared lengths
are not exact.

Decoded arrays are cached (:class:`MediaCache`, one process-wide :func:`default_cache`)
keyed by the resolved path, file size, modification time and decode parameters, so a clip
shared by several questions or training rows is decoded once per run. Callers always get
their own writable copy of the cached arrays.

torchcodec is optional: its PyPI build loads only where FFmpeg's shared libraries are
installed (e.g. Debian's ``ffmpeg`` package), so it is never required and never chosen by
``"auto"``. ``av``, ``decord`` and ``torchcodec`` are imported inside functions.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "AUDIO_CHANNEL_RULE",
    "AUDIO_MAX_SECONDS",
    "AUDIO_MIN_SECONDS",
    "AUDIO_SUFFIXES",
    "AUTO_BACKEND",
    "BACKENDS",
    "DEFAULT",
    "FRAME_RULE",
    "MISSING_AUDIO",
    "OPTIONAL_BACKENDS",
    "VIDEO_SUFFIXES",
    "CorruptMediaError",
    "DecodedClip",
    "EmptyMediaError",
    "Media",
    "MediaCache",
    "MediaError",
    "MediaNotFoundError",
    "NoAudioStreamError",
    "NoVideoStreamError",
    "decode_clip",
    "default_cache",
    "example_media",
    "fit_audio_length",
    "load_audio",
    "load_frames",
    "media_seconds",
    "resample_audio",
    "sample_frames",
    "sample_indices",
]

#: Decoding backends that are always installed; ``backend="auto"`` means :data:`AUTO_BACKEND`.
BACKENDS: tuple[str, ...] = ("pyav", "decord")
#: Backends used only when their package is installed (torchcodec needs FFmpeg's libraries).
OPTIONAL_BACKENDS: tuple[str, ...] = ("torchcodec",)
#: What ``backend="auto"`` decodes with: the fastest backend measured by ``bench/media.py``
#: on DFEW- and RAVDESS-shaped clips (docs/BENCHMARKS.md §2), and the one-pass reader.
AUTO_BACKEND = "pyav"
#: PyAV's decoder threading for video (``"AUTO"``: frame and slice threads, chosen by FFmpeg;
#: measured in ``bench/media.py``); ``None`` decodes on the calling thread only.
VIDEO_THREAD_TYPE: str | None = "AUTO"
#: What :func:`decode_clip` does when the audio source has no audio stream.
MISSING_AUDIO: tuple[str, ...] = ("error", "silence")

#: Env var: the default cache's memory budget in MiB (default 2048; 0 disables caching).
#: File suffixes read as video and as audio (task data indexing, request parsing, sources).
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".flv")
AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".aac", ".opus")

CACHE_MB_ENV = "AVEM_MEDIA_CACHE_MB"

#: The paper's media conventions (AVERE authors' release), kept by every decoder here and
#: part of ``avem_av``'s answer-journal identity: change one and journaled answers are
#: generated anew.
#: Frame indices: ``floor(linspace(0, n - 1, num_frames))`` (:func:`sample_indices`).
FRAME_RULE = "floor(linspace(0,n-1,num_frames))"
#: Multi-channel audio keeps its first channel (no downmix), as the authors' loader does.
AUDIO_CHANNEL_RULE = "first"
#: Audio shorter than this is zero-padded at the end to it (``fit_audio_length``).
AUDIO_MIN_SECONDS = 1.0
#: Declared audio sample rates decoded (Hz); others are a damaged header, refused before decoding.
SOURCE_RATES: tuple[int, int] = (1000, 768_000)
#: Audio longer than this is cut to it (``fit_audio_length``).
AUDIO_MAX_SECONDS = 30.0

StrPath = str | os.PathLike[str]


class _Default(enum.Enum):
    DEFAULT = "default"


#: Sentinel for ``cache=``: use the process-wide :func:`default_cache`.
DEFAULT = _Default.DEFAULT


# --------------------------------------------------------------------------- errors


class MediaError(Exception):
    """A media file could not be decoded; ``.path`` names it and the message says why."""

    def __init__(self, path: StrPath | None, message: str) -> None:
        self.path = os.fspath(path) if path is not None else None
        self.reason = message
        super().__init__(f"{self.path}: {message}" if self.path else message)

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across DataLoader workers
        return (type(self), (self.path, self.reason))


class MediaNotFoundError(MediaError, FileNotFoundError):
    """The media file does not exist (or is not a file)."""


class CorruptMediaError(MediaError):
    """The file is not a readable media container, or it is truncated."""


class NoVideoStreamError(MediaError):
    """A video was requested from a file that has no video stream."""


class NoAudioStreamError(MediaError):
    """Audio was requested from a file that has no audio stream."""


class EmptyMediaError(MediaError):
    """The file is empty: zero bytes, zero frames or zero audio samples."""


class _BackendFailed(Exception):
    """decord could not open or read a file that PyAV's probe accepted."""


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class Media:
    """Decoded media of one example, as produced by :mod:`avem_plugins.media`.

    ``frames`` is ``(T, H, W, 3)`` uint8; ``audio`` is mono float32 at ``sample_rate``.
    ``audio_in_video`` says the audio is the video's own track (some families, such as
    Qwen-Omni, interleave such audio with the video tokens). ``key`` identifies the media
    (e.g. the resolved path) so shared media can be encoded once. ``frame_rate`` is the
    rate of the *sampled* frames (``len(frames) / clip seconds``) for families that place
    frames in time (Qwen-Omni's TMRoPE); ``None`` lets the adapter derive it from the
    clip's own audio track, or use the processor's default.
    """

    frames: np.ndarray | None = None
    audio: np.ndarray | None = None
    sample_rate: int = 16000
    audio_in_video: bool = False
    key: str | None = None
    frame_rate: float | None = None


@dataclass(frozen=True)
class DecodedClip:
    """Decoded media of one clip.

    ``audio_source`` records where the audio came from: ``"video"`` (the video file's own
    track), ``"file"`` (the separate audio file), ``"silence"`` (substituted because the
    source had no audio stream and ``missing_audio="silence"``) or ``None`` (no audio
    requested).
    """

    frames: np.ndarray | None
    audio: np.ndarray | None
    sample_rate: int
    audio_source: str | None
    video_path: str | None
    audio_path: str | None
    #: The video's duration as its container declares it (``None``: not known, or not read
    #: by the decode that made this clip); lets :meth:`to_media` work without opening it.
    video_seconds: float | None = None

    def to_media(self) -> Media:
        """This clip as the adapters' :class:`~avem_plugins.adapters.base.Media`.

        ``frame_rate`` is the rate of the *sampled* frames (``len(frames) / clip seconds``),
        so families that place frames in time (Qwen-Omni's TMRoPE) see the same positions in
        evaluation and training, with or without an audio track.
        """
        frame_rate = None
        if self.frames is not None and self.video_path is not None:
            seconds = self.video_seconds or _seconds_of(*_file_identity(self.video_path))
            if seconds:
                frame_rate = len(self.frames) / seconds
        return Media(
            frames=self.frames,
            audio=self.audio,
            sample_rate=self.sample_rate,
            audio_in_video=self.audio_source == "video",
            key=self.video_path or self.audio_path,
            frame_rate=frame_rate,
        )


# --------------------------------------------------------------------------- cache


class MediaCache:
    """Thread-safe LRU cache of decoded arrays.

    Keys are ``(kind, resolved path, size, mtime_ns, parameters)``: a changed file (new
    size or modification time) is decoded again. Entries are evicted least recently used
    first when more than ``max_items`` entries or ``max_bytes`` bytes are held. Arrays are
    stored read-only and every lookup returns a fresh copy.
    """

    def __init__(self, max_items: int = 512, max_bytes: int = 2048 * 2**20) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._decodes = 0
        self._hits = 0
        self._lock = threading.Lock()

    @property
    def stats(self) -> dict[str, int]:
        """``{"decodes": n, "hits": n}`` since creation or the last :meth:`clear`."""
        with self._lock:
            return {"decodes": self._decodes, "hits": self._hits}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Drop every entry and reset :attr:`stats`."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self._decodes = 0
            self._hits = 0

    def get_or_decode(
        self, kind: str, path: StrPath, params: tuple[Hashable, ...], decode: Callable[[], Any]
    ) -> np.ndarray:
        """The cached array for ``(kind, path, params)``, decoding it with ``decode()`` on a miss."""
        cached = self.lookup(kind, path, params)
        if cached is not None:
            return cached
        array = np.asarray(decode())
        self.put(kind, path, params, array)
        return array

    def lookup(self, kind: str, path: StrPath, params: tuple[Hashable, ...]) -> np.ndarray | None:
        """A private copy of the cached array for ``(kind, path, params)`` (a hit), or ``None``."""
        key = (kind, *_file_identity(path), params)
        with self._lock:
            cached = self._entries.get(key)
            if cached is None:
                return None
            self._entries.move_to_end(key)
            self._hits += 1
        return cached.copy()

    def put(self, kind: str, path: StrPath, params: tuple[Hashable, ...], array: Any) -> None:
        """Store a read-only copy of a freshly decoded ``array`` (counted as one decode)."""
        key = (kind, *_file_identity(path), params)
        stored = np.array(array, copy=True)
        stored.setflags(write=False)
        with self._lock:
            self._decodes += 1
            if stored.nbytes <= self.max_bytes and self.max_items > 0:
                old = self._entries.pop(key, None)
                if old is not None:
                    self._bytes -= old.nbytes
                self._entries[key] = stored
                self._bytes += stored.nbytes
                while len(self._entries) > self.max_items or self._bytes > self.max_bytes:
                    _, evicted = self._entries.popitem(last=False)
                    self._bytes -= evicted.nbytes


_default_cache: MediaCache | None = None
_default_lock = threading.Lock()


def default_cache() -> MediaCache:
    """The process-wide cache (budget from ``AVEM_MEDIA_CACHE_MB``, default 2048 MiB)."""
    global _default_cache
    with _default_lock:
        if _default_cache is None:
            raw = os.environ.get(CACHE_MB_ENV, "2048")
            try:
                mb = int(raw)
            except ValueError:
                raise ValueError(
                    f"{CACHE_MB_ENV}={raw!r} is not an integer number of MiB; "
                    "set it to e.g. 2048, or 0 to disable the media cache"
                ) from None
            _default_cache = MediaCache(max_bytes=mb * 2**20, max_items=512 if mb > 0 else 0)
        return _default_cache


def _file_identity(path: StrPath) -> tuple[str, int, int]:
    resolved = _existing_file(path)
    st = resolved.stat()
    return (str(resolved), st.st_size, st.st_mtime_ns)


# --------------------------------------------------------------------------- probing


@dataclass(frozen=True)
class _Probe:
    has_video: bool
    has_audio: bool
    video_frames: int  # declared by the container; 0 when unknown
    video_seconds: float | None
    audio_seconds: float | None  # the audio stream's declared duration
    container_seconds: float | None
    #: Whether FFmpeg has a decoder for the first video / audio stream (a damaged header,
    #: e.g. a wav declaring 0 bits per sample, leaves none; PyAV crashes decoding it).
    video_decodable: bool = True
    audio_decodable: bool = True
    #: The first audio stream's declared sample rate (0: unknown or undecodable).
    audio_rate: int = 0


def _existing_file(path: StrPath) -> Path:
    p = Path(os.path.expanduser(path))
    if not p.exists():
        raise MediaNotFoundError(
            path, "no such file; check the path (relative paths resolve against the data root)"
        )
    if not p.is_file():
        raise MediaNotFoundError(path, "is not a file (a directory?); pass a media file path")
    resolved = p.resolve()
    if resolved.stat().st_size == 0:
        raise EmptyMediaError(path, "the file is empty (0 bytes); re-create or re-download it")
    return resolved


def _ffmpeg_reason(err: Exception) -> str:
    return str(getattr(err, "strerror", None) or err)


def _stream_seconds(stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    return None


def _unreadable(path: StrPath, err: Exception) -> CorruptMediaError:
    return CorruptMediaError(
        path,
        f"not a readable media file ({_ffmpeg_reason(err)}); it may be truncated or corrupt: "
        "re-download it or re-encode it with ffmpeg",
    )


def _open(path: StrPath) -> Any:
    """A PyAV input container of ``path`` (typed errors for a missing, empty or unreadable file)."""
    import av

    _existing_file(path)
    try:  # metadata are never used: undecodable tags (not UTF-8) must not stop the decode
        return av.open(os.fspath(path), metadata_errors="replace")
    except av.error.FFmpegError as err:
        raise _unreadable(path, err) from err


def _inspect(container: Any) -> _Probe:
    """What an open container declares about its first video and audio streams."""
    videos = list(container.streams.video)
    audios = list(container.streams.audio)
    video_seconds = _stream_seconds(videos[0]) if videos else None
    if videos and video_seconds is None and videos[0].frames and videos[0].average_rate:
        video_seconds = float(videos[0].frames / videos[0].average_rate)
    return _Probe(
        has_video=bool(videos),
        has_audio=bool(audios),
        video_frames=int(videos[0].frames or 0) if videos else 0,
        video_seconds=video_seconds,
        audio_seconds=_stream_seconds(audios[0]) if audios else None,
        container_seconds=(
            container.duration / 1e6 if container.duration and container.duration > 0 else None
        ),
        video_decodable=bool(videos) and videos[0].codec_context is not None,
        audio_decodable=bool(audios) and audios[0].codec_context is not None,
        audio_rate=int(audios[0].rate or 0) if audios and audios[0].codec_context else 0,
    )


def _probe(path: StrPath) -> _Probe:
    import av

    with _open(path) as container:
        try:
            probe = _inspect(container)
        except av.error.FFmpegError as err:
            raise _unreadable(path, err) from err
    _remember_seconds(path, probe)
    return probe


#: Clip durations by file identity ``(resolved path, size, mtime_ns)``, filled by every open
#: (probe or decode pass) so :meth:`DecodedClip.to_media` never opens a file again for it.
_SECONDS: OrderedDict[tuple[str, int, int], float | None] = OrderedDict()
_SECONDS_LOCK = threading.Lock()
_SECONDS_MAX = 4096


def _probe_seconds(probe: _Probe) -> float | None:
    return probe.video_seconds or probe.audio_seconds or probe.container_seconds


def _remember_seconds(path: StrPath, probe: _Probe) -> None:
    key = _file_identity(path)
    with _SECONDS_LOCK:
        _SECONDS[key] = _probe_seconds(probe)
        _SECONDS.move_to_end(key)
        while len(_SECONDS) > _SECONDS_MAX:
            _SECONDS.popitem(last=False)


def _remembered_seconds(path: StrPath | None) -> float | None:
    """The duration an earlier open of ``path`` in this process learnt (``None``: none did)."""
    if path is None:
        return None
    key = _file_identity(path)
    with _SECONDS_LOCK:
        return _SECONDS.get(key)


def _seconds_of(path: str, size: int, mtime_ns: int) -> float | None:
    """:func:`media_seconds` memoised by file identity (a changed file is probed again)."""
    with _SECONDS_LOCK:
        if (path, size, mtime_ns) in _SECONDS:
            return _SECONDS[(path, size, mtime_ns)]
    return media_seconds(path)  # fills the memo


def media_seconds(path: StrPath) -> float | None:
    """The duration of a media file in seconds (video stream first), or ``None`` if unknown."""
    return _probe_seconds(_probe(path))


# --------------------------------------------------------------------------- frames


def sample_indices(total: int, num_frames: int) -> np.ndarray:
    """``num_frames`` frame indices spread uniformly over ``total`` frames (:data:`FRAME_RULE`).

    ``floor(np.linspace(0, total - 1, num_frames))``, the AVERE authors' sampler (an integer
    ``linspace``): the first and last frames are always included, and when
    ``total < num_frames`` indices repeat.
    """
    if total < 1:
        raise ValueError(f"total must be >= 1, got {total}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return np.floor(np.linspace(0, total - 1, num_frames)).astype(np.int64)


def _frame_tolerance(declared: int) -> int:
    return max(2, math.ceil(0.05 * declared))


def _decord_frames(path: StrPath, num_frames: int) -> np.ndarray:
    try:
        import decord

        reader = decord.VideoReader(os.fspath(path), ctx=decord.cpu(0))
        total = len(reader)
        if total < 1:
            raise _BackendFailed("decord found no frames")
        batch = reader.get_batch(sample_indices(total, num_frames).tolist())
        frames = batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch)
    except _BackendFailed:
        raise
    except Exception as err:  # decord raises DECORDError/RuntimeError for anything it cannot read
        raise _BackendFailed(f"{type(err).__name__}: {str(err).strip()[:300]}") from err
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] != num_frames:
        raise _BackendFailed(f"decord returned frames of shape {frames.shape}")
    return np.ascontiguousarray(frames, dtype=np.uint8)


# --------------------------------------------------------------------------- audio


def _sample_tolerance(declared: int, sample_rate: int) -> int:
    return int(0.1 * sample_rate + 0.02 * declared)


def _decord_audio(path: StrPath, sample_rate: int) -> np.ndarray:
    try:
        import decord

        reader = decord.AudioReader(
            os.fspath(path), ctx=decord.cpu(0), sample_rate=sample_rate, mono=False
        )
        data = reader[:]
        audio = data.asnumpy() if hasattr(data, "asnumpy") else np.asarray(data)
    except Exception as err:  # decord raises DECORDError/RuntimeError for anything it cannot read
        raise _BackendFailed(f"{type(err).__name__}: {str(err).strip()[:300]}") from err
    if audio.ndim == 2 and audio.shape[0] > 1:  # AUDIO_CHANNEL_RULE needs the first channel
        raise _BackendFailed("decord 0.6 mixes up the channels of multi-channel audio")
    return _first_channel(audio)


def _first_channel(audio: np.ndarray) -> np.ndarray:
    """The first channel of ``(channels, samples)`` audio (:data:`AUDIO_CHANNEL_RULE`)."""
    audio = np.asarray(audio)
    return audio[0] if audio.ndim == 2 else audio.reshape(-1)


def _finish_audio(path: StrPath, audio: np.ndarray, probe: _Probe, sample_rate: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size == 0:
        raise EmptyMediaError(path, "the audio stream has no samples")
    if probe.audio_seconds is not None:
        declared = round(probe.audio_seconds * sample_rate)
        tolerance = _sample_tolerance(declared, sample_rate)
        if audio.size < declared - tolerance:
            raise CorruptMediaError(
                path,
                f"truncated: the audio stream declares {probe.audio_seconds:.2f} s but only "
                f"{audio.size / sample_rate:.2f} s decode; re-download the file or re-encode it",
            )
        if declared < audio.size <= declared + tolerance:  # encoder padding (e.g. AAC)
            audio = audio[:declared]
    finite = np.isfinite(audio)
    if not finite.all():  # float wavs can hold NaN/inf: they would turn every score into NaN
        raise CorruptMediaError(
            path,
            f"{int((~finite).sum())} of {audio.size} audio samples are NaN or infinite; "
            "re-export the file (e.g. as 16-bit PCM)",
        )
    return np.clip(audio, -1.0, 1.0)


def _no_audio_error(path: StrPath) -> NoAudioStreamError:
    return NoAudioStreamError(
        path,
        "has no audio stream; pass a separate audio file, request video only "
        '(want_audio=False), or substitute silence with missing_audio="silence"',
    )


# --------------------------------------------------------------------------- one pass


def _check_backend(backend: str) -> None:
    known = (*BACKENDS, *OPTIONAL_BACKENDS)
    if backend != "auto" and backend not in known:
        raise ValueError(f"backend={backend!r} is not one of 'auto', {', '.join(map(repr, known))}")


@dataclass(frozen=True)
class _Pass:
    """What one decode of a file gave: its stream facts and the frames / audio asked for."""

    probe: _Probe
    frames: np.ndarray | None = None
    audio: np.ndarray | None = None  # None: not asked for, or absent and allowed to be


class _AudioSink:
    """Decoded audio frames -> their first channel (:data:`AUDIO_CHANNEL_RULE`), float32."""

    def __init__(self, sample_rate: int) -> None:
        import av

        self.sample_rate = sample_rate
        # Packed float in the source's own layout, channels interleaved. Not planar: PyAV
        # 15's AudioFrame.to_ndarray of a planar frame with 8 or more channels reads past
        # its planes and crashes the process (a valid 8-channel WAV did; docs/RELIABILITY.md).
        self._resampler = av.AudioResampler(format="flt", layout=None, rate=sample_rate)
        self._chunks: list[np.ndarray] = []

    def add(self, frame: Any) -> None:
        """Resample one decoded frame; ``None`` flushes the resampler."""
        for out in self._resampler.resample(frame):
            channels = max(1, len(out.layout.channels))
            interleaved = out.to_ndarray().reshape(-1, channels)  # (samples, channels)
            self._chunks.append(np.ascontiguousarray(interleaved[:, 0]))  # AUDIO_CHANNEL_RULE

    @property
    def seconds(self) -> float:
        return sum(len(c) for c in self._chunks) / self.sample_rate

    def array(self) -> np.ndarray:
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)


def _check_streams(
    path: StrPath, probe: _Probe, *, frames: bool, audio: bool, missing_audio_ok: bool
) -> bool:
    """Raise the typed error of a missing or undecodable stream; return whether to decode audio."""
    if frames and not probe.has_video:
        raise NoVideoStreamError(
            path, "has no video stream; pass it as the audio file, or use want_video=False"
        )
    if audio and not probe.has_audio:
        if not missing_audio_ok:
            raise _no_audio_error(path)
        audio = False  # (the video's checks below still apply)
    for kind, wanted, decodable in (
        ("video", frames, probe.video_decodable),
        ("audio", audio, probe.audio_decodable),
    ):
        if wanted and not decodable:
            raise CorruptMediaError(
                path,
                f"its {kind} stream cannot be decoded (no decoder for its codec parameters: the "
                "header is damaged or the codec unknown); re-encode the file with ffmpeg",
            )
    low, high = SOURCE_RATES
    if audio and probe.audio_rate and not low <= probe.audio_rate <= high:
        # e.g. a wav header saying 1 Hz: its samples would resample to gigabytes
        raise CorruptMediaError(
            path,
            f"its audio stream declares {probe.audio_rate} samples per second, outside "
            f"{low}-{high} (a damaged header); re-encode the file with ffmpeg",
        )
    return audio


def _check_frame_count(path: StrPath, declared: int, total: int) -> None:
    if total == 0:
        raise EmptyMediaError(path, "the video stream has no decodable frames")
    if declared > 0 and total < declared - _frame_tolerance(declared):
        raise CorruptMediaError(
            path,
            f"truncated: the container declares {declared} frames but only {total} decode; "
            "re-download the file or re-encode it with ffmpeg",
        )


def _expected_frames(stream: Any, probe: _Probe) -> int:
    """The declared frame count, else duration x frame rate (0 when neither is known)."""
    if probe.video_frames > 0:
        return probe.video_frames
    seconds = probe.video_seconds or probe.container_seconds
    rate = stream.average_rate or stream.guessed_rate
    return round(seconds * float(rate)) if seconds and rate else 0


def _pyav_pass(
    path: StrPath,
    num_frames: int | None,
    sample_rate: int | None,
    *,
    missing_audio_ok: bool = False,
) -> _Pass:
    """One open container, one demux loop: the sampled frames and/or the audio track.

    Frames are sampled from the declared frame count (else duration x rate) while decoding,
    and only the sampled ones are converted to RGB. When the count that really decodes
    differs and the sample moves, the video is read again from the same open container.
    """
    import av

    with _open(path) as container:
        try:
            probe = _inspect(container)
        except av.error.FFmpegError as err:
            raise _unreadable(path, err) from err
        _remember_seconds(path, probe)
        with_audio = _check_streams(
            path, probe, frames=num_frames is not None, audio=sample_rate is not None,
            missing_audio_ok=missing_audio_ok,
        )  # fmt: skip
        video = container.streams.video[0] if num_frames is not None else None
        sink = _AudioSink(sample_rate) if with_audio and sample_rate is not None else None
        audio = container.streams.audio[0] if sink is not None else None
        wanted: set[int] = set()
        if video is not None:
            assert num_frames is not None
            if VIDEO_THREAD_TYPE:
                video.thread_type = VIDEO_THREAD_TYPE
            expected = _expected_frames(video, probe)
            if expected > 0:
                wanted = set(sample_indices(expected, num_frames).tolist())
        got: dict[int, np.ndarray] = {}
        count = 0
        try:
            for packet in container.demux([s for s in (video, audio) if s is not None]):
                if video is not None and packet.stream.index == video.index:
                    for frame in packet.decode():
                        if count in wanted:
                            got[count] = frame.to_ndarray(format="rgb24")
                        count += 1
                elif sink is not None:
                    for frame in packet.decode():
                        sink.add(frame)
            if sink is not None:
                sink.add(None)
        except av.error.FFmpegError as err:
            done = [f"{count} frames"] if video is not None else []
            done += [f"{sink.seconds:.2f} s of audio"] if sink is not None else []
            raise CorruptMediaError(
                path,
                f"decoding failed after {' and '.join(done)} ({_ffmpeg_reason(err)}); the file is "
                "corrupt or truncated: re-download it or re-encode it with ffmpeg",
            ) from err
        frames = None
        if video is not None:
            assert num_frames is not None
            _check_frame_count(path, probe.video_frames, count)
            indices = sample_indices(count, num_frames).tolist()
            missing = set(indices) - got.keys()
            if missing:  # the frame count was not known exactly: read the video again
                got.update(_pyav_frames_again(path, container, missing))
            frames = np.stack([got[i] for i in indices]).astype(np.uint8, copy=False)
    audio_array = None
    if sink is not None:
        assert sample_rate is not None
        audio_array = _finish_audio(path, sink.array(), probe, sample_rate)
    return _Pass(probe, frames, audio_array)


def _pyav_frames_again(path: StrPath, container: Any, wanted: set[int]) -> dict[int, np.ndarray]:
    """The frames ``wanted`` (by decode order), read again from the start of ``container``."""
    import av

    got: dict[int, np.ndarray] = {}
    count = 0
    last = max(wanted)
    try:
        container.seek(0)
        for frame in container.decode(container.streams.video[0]):
            if count in wanted:
                got[count] = frame.to_ndarray(format="rgb24")
            count += 1
            if count > last:
                break
    except av.error.FFmpegError as err:
        raise CorruptMediaError(
            path,
            f"decoding failed after {count} frames ({_ffmpeg_reason(err)}); the file is corrupt or "
            "truncated: re-download it or re-encode it with ffmpeg",
        ) from err
    if not wanted <= got.keys():
        raise CorruptMediaError(
            path, "frames that decoded once did not decode again; re-encode the file with ffmpeg"
        )
    return got


def _decord_pass(
    path: StrPath, num_frames: int | None, sample_rate: int | None, probe: _Probe
) -> _Pass:
    """Decord once per stream (``sample_rate`` ``None``: no audio wanted or none there)."""
    frames = audio = None
    if num_frames is not None:
        try:
            frames = _decord_frames(path, num_frames)
        except _BackendFailed as err:
            _pyav_pass(path, num_frames, None)  # raises the typed error, if any
            raise MediaError(
                path,
                f"decord cannot read its video ({err}) but PyAV can: use backend='pyav' or 'auto'",
            ) from err
    if sample_rate is not None:
        try:
            audio = _finish_audio(path, _decord_audio(path, sample_rate), probe, sample_rate)
        except _BackendFailed as err:
            _pyav_pass(path, None, sample_rate)  # raises the typed error, if any
            raise MediaError(
                path,
                f"decord cannot read its audio ({err}) but PyAV can (decord 0.6 cannot read "
                "PCM audio inside mp4, for example): use backend='pyav' or 'auto'",
            ) from err
    return _Pass(probe, frames, audio)


def _torchcodec_pass(
    path: StrPath, num_frames: int | None, sample_rate: int | None, probe: _Probe
) -> _Pass:
    """Torchcodec once per stream (``sample_rate`` as for :func:`_decord_pass`)."""
    try:
        from torchcodec.decoders import AudioDecoder, VideoDecoder
    except Exception as err:  # not installed, or FFmpeg's shared libraries are missing
        raise MediaError(
            path,
            f"backend='torchcodec' is not usable here ({type(err).__name__}: "
            f"{str(err).strip()[:200]}); install torchcodec and FFmpeg's shared libraries "
            "(e.g. apt-get install ffmpeg), or use backend='pyav' or 'auto'",
        ) from err

    def failed(what: str, err: Exception) -> CorruptMediaError:
        return CorruptMediaError(
            path,
            f"torchcodec could not decode the {what} ({type(err).__name__}: "
            f"{str(err).strip()[:300]}); the file is corrupt or truncated: re-download it or "
            "re-encode it with ffmpeg",
        )

    frames = audio = None
    if num_frames is not None:
        try:
            decoder = VideoDecoder(os.fspath(path), seek_mode="exact", dimension_order="NHWC")
            total = int(decoder.metadata.num_frames or 0)  # "exact": counted from the packets
        except Exception as err:
            raise failed("video", err) from err
        _check_frame_count(path, probe.video_frames, total)
        try:
            batch = decoder.get_frames_at(sample_indices(total, num_frames).tolist())
        except Exception as err:
            raise failed("video", err) from err
        frames = np.ascontiguousarray(batch.data.numpy(), dtype=np.uint8)
    if sample_rate is not None:
        try:
            samples = AudioDecoder(os.fspath(path), sample_rate=sample_rate).get_all_samples()
        except Exception as err:
            raise failed("audio", err) from err
        audio = _finish_audio(path, _first_channel(samples.data.numpy()), probe, sample_rate)
    return _Pass(probe, frames, audio)


def _decode_pass(
    path: StrPath,
    num_frames: int | None,
    sample_rate: int | None,
    backend: str,
    *,
    missing_audio_ok: bool = False,
) -> _Pass:
    """Decode ``path``'s sampled frames (``num_frames``) and/or audio (``sample_rate``)."""
    name = AUTO_BACKEND if backend == "auto" else backend
    if name == "pyav":
        return _pyav_pass(path, num_frames, sample_rate, missing_audio_ok=missing_audio_ok)
    # Another backend: PyAV's probe first, for the typed errors, then that backend.
    probe = _probe(path)
    with_audio = _check_streams(
        path, probe, frames=num_frames is not None, audio=sample_rate is not None,
        missing_audio_ok=missing_audio_ok,
    )  # fmt: skip
    run = {"decord": _decord_pass, "torchcodec": _torchcodec_pass}[name]
    return run(path, num_frames, sample_rate if with_audio else None, probe)


def _decode_frames(path: StrPath, num_frames: int, backend: str) -> np.ndarray:
    frames = _decode_pass(path, num_frames, None, backend).frames
    assert frames is not None
    return frames


def _decode_audio(path: StrPath, sample_rate: int, backend: str) -> np.ndarray:
    audio = _decode_pass(path, None, sample_rate, backend).audio
    assert audio is not None
    return audio


# --------------------------------------------------------------------------- public API


def _resolve_cache(cache: MediaCache | _Default | None) -> MediaCache | None:
    return default_cache() if cache is DEFAULT else cache  # type: ignore[return-value]


def _lookup(
    cache: MediaCache | None, kind: str, path: StrPath | None, params: tuple[Hashable, ...]
) -> np.ndarray | None:
    if cache is None or path is None:
        return None
    return cache.lookup(kind, path, params)


def _store(
    cache: MediaCache | None,
    kind: str,
    path: StrPath,
    params: tuple[Hashable, ...],
    array: np.ndarray | None,
) -> np.ndarray:
    assert array is not None
    if cache is not None:
        cache.put(kind, path, params, array)
    return array


def _load(
    kind: str,
    path: StrPath,
    count: tuple[str, int],
    backend: str,
    cache: MediaCache | _Default | None,
    decode: Callable[[StrPath, int, str], np.ndarray],
) -> np.ndarray:
    """One decode of ``kind`` through the cache; ``count`` is the (name, value) of the
    frame count or sample rate, checked first."""
    _check_backend(backend)
    name, value = count
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    store = _resolve_cache(cache)
    if store is None:
        return decode(path, value, backend)
    return store.get_or_decode(kind, path, (value, backend), lambda: decode(path, value, backend))


def load_frames(
    path: StrPath,
    num_frames: int = 8,
    *,
    backend: str = "auto",
    cache: MediaCache | _Default | None = DEFAULT,
) -> np.ndarray:
    """``num_frames`` uniformly sampled RGB frames ``(T, H, W, 3)`` uint8 of a video file."""
    return _load("frames", path, ("num_frames", num_frames), backend, cache, _decode_frames)


def load_audio(
    path: StrPath,
    sample_rate: int = 16000,
    *,
    backend: str = "auto",
    cache: MediaCache | _Default | None = DEFAULT,
) -> np.ndarray:
    """Mono float32 audio ``(N,)`` in ``[-1, 1]`` at ``sample_rate`` from an audio or video file."""
    return _load("audio", path, ("sample_rate", sample_rate), backend, cache, _decode_audio)


def decode_clip(
    video: StrPath | None = None,
    audio: StrPath | None = None,
    *,
    num_frames: int = 8,
    sample_rate: int = 16000,
    want_video: bool = True,
    want_audio: bool = True,
    backend: str = "auto",
    missing_audio: str = "error",
    silence_seconds: float | None = None,
    cache: MediaCache | _Default | None = DEFAULT,
) -> DecodedClip:
    """Decode a clip's frames and audio.

    :param video: a video file; gives the frames, and the audio when ``audio`` is ``None``.
    :param audio: a separate audio file (or a video whose audio track to use).
    :param num_frames: frames sampled uniformly over the clip (repeated for short clips).
    :param sample_rate: the audio's output rate; audio is always mono float32.
    :param want_video: decode frames (needs ``video``); ``frames`` is ``None`` otherwise.
    :param want_audio: decode audio; ``audio`` and ``audio_source`` are ``None`` otherwise.
    :param backend: ``"auto"`` (:data:`AUTO_BACKEND`: PyAV, one pass for frames and audio),
        ``"pyav"``, ``"decord"`` or ``"torchcodec"`` (when installed).
    :param missing_audio: ``"error"`` raises :class:`NoAudioStreamError` when the audio
        source has no audio stream; ``"silence"`` substitutes zeros as long as the clip
        (or ``silence_seconds``) and records ``audio_source="silence"``.
    :param silence_seconds: the length of substituted silence, overriding the clip's.
    :param cache: a :class:`MediaCache`, ``None`` for no caching, or the default cache.
    """
    _check_backend(backend)
    if missing_audio not in MISSING_AUDIO:
        raise ValueError(f"missing_audio={missing_audio!r} is not one of {MISSING_AUDIO}")
    if video is None and audio is None:
        raise ValueError("decode_clip needs a video path, an audio path, or both")
    store = _resolve_cache(cache)
    frame_params, audio_params = (num_frames, backend), (sample_rate, backend)
    use_frames = want_video and video is not None
    track = want_audio and audio is None  # the audio is the video file's own track
    frames = _lookup(store, "frames", video, frame_params) if use_frames else None
    audio_array = None
    if want_audio:
        audio_array = _lookup(store, "audio", audio if audio is not None else video, audio_params)
    audio_source = None if audio_array is None else ("video" if track else "file")
    allow_missing = missing_audio == "silence"
    silent = False

    # One pass over the video file: the frames it still lacks and, when the audio is its
    # own track, that track too (one open container, one demux loop).
    need_frames, need_track = use_frames and frames is None, track and audio_array is None
    if need_frames or need_track:
        assert video is not None
        done = _decode_pass(
            video, num_frames if need_frames else None, sample_rate if need_track else None,
            backend, missing_audio_ok=allow_missing,
        )  # fmt: skip
        if done.frames is not None:
            frames = _store(store, "frames", video, frame_params, done.frames)
        if need_track and done.audio is None:
            silent = True
        elif need_track:
            audio_array = _store(store, "audio", video, audio_params, done.audio)
            audio_source = "video"
    if want_audio and audio is not None and audio_array is None:
        done = _decode_pass(audio, None, sample_rate, backend, missing_audio_ok=allow_missing)
        if done.audio is None:
            silent = True
        else:
            audio_array = _store(store, "audio", audio, audio_params, done.audio)
            audio_source = "file"
    if silent:
        source_path = audio if audio is not None else video
        assert source_path is not None
        seconds = silence_seconds
        if seconds is None:
            seconds = _seconds_of(*_file_identity(video if video is not None else source_path))
        if seconds is None or not math.isfinite(seconds) or seconds <= 0:
            raise NoAudioStreamError(
                source_path,
                "has no audio stream and its duration is unknown; pass silence_seconds=",
            )
        # at least one sample: a damaged time scale can declare a clip of nanoseconds
        audio_array = np.zeros(max(1, round(seconds * sample_rate)), dtype=np.float32)
        audio_source = "silence"

    return DecodedClip(
        frames=frames,
        audio=audio_array,
        sample_rate=sample_rate,
        audio_source=audio_source,
        video_path=str(Path(os.path.expanduser(video)).resolve()) if video is not None else None,
        audio_path=str(Path(os.path.expanduser(audio)).resolve()) if audio is not None else None,
        video_seconds=_remembered_seconds(video) if frames is not None else None,
    )


def sample_frames(video: Any, num_frames: int) -> np.ndarray:
    """``num_frames`` frames of an in-memory ``(T, H, W, 3)`` array, by :func:`sample_indices`."""
    array = np.asarray(video)
    return array[sample_indices(len(array), num_frames)]


def resample_audio(audio: Any, rate: int, target: int) -> np.ndarray:
    """Mono float32 at ``target`` Hz from an in-memory array (first channel kept)."""
    array = np.asarray(audio, dtype=np.float32)
    if array.ndim > 1:  # AUDIO_CHANNEL_RULE; (samples, channels) or (channels, samples)
        array = array[:, 0] if array.shape[-1] <= 8 else array[0]
    if int(rate) == int(target):
        return array
    from scipy.signal import resample_poly

    g = math.gcd(int(rate), int(target))
    return resample_poly(array, int(target) // g, int(rate) // g).astype(np.float32)


def fit_audio_length(
    audio: np.ndarray,
    sample_rate: int,
    *,
    min_seconds: float | None = AUDIO_MIN_SECONDS,
    max_seconds: float | None = AUDIO_MAX_SECONDS,
) -> np.ndarray:
    """Zero-pad ``audio`` at the end to ``min_seconds`` and cut it at ``max_seconds``.

    The AVERE authors' audio rule (pad to at least 1 s, keep at most 30 s); ``None``
    leaves that side alone. Sample counts are ``int(seconds * sample_rate)``.
    """
    array = np.asarray(audio)
    if min_seconds is not None:
        short = int(min_seconds * sample_rate) - array.shape[0]
        if short > 0:
            array = np.concatenate([array, np.zeros(short, dtype=array.dtype)])
    if max_seconds is not None:
        array = array[: int(max_seconds * sample_rate)]
    return array


def example_media(
    video: StrPath | np.ndarray | None,
    audio: StrPath | dict[str, Any] | None,
    *,
    want_video: bool,
    want_audio: bool,
    num_frames: int = 8,
    sample_rate: int = 16000,
    backend: str = "auto",
    missing_audio: str = "error",
    decode: Callable[..., DecodedClip] | None = None,
    audio_min_seconds: float | None = None,
    audio_max_seconds: float | None = None,
) -> Media:
    """The :class:`Media` of one example: the one place evaluation and training assemble it.

    ``video`` is a file or an in-memory ``(T, H, W, 3)`` array; ``audio`` a file, lmms-eval's
    ``{"array", "sampling_rate"}`` dict, or ``None`` (then the video's own track is used when
    ``want_audio``). Files go through :func:`decode_clip` (or ``decode``, same signature),
    arrays are sampled / resampled here (in-memory frames carry no ``frame_rate``: the
    adapter uses the processor's default). ``audio_min_seconds`` / ``audio_max_seconds``
    apply :func:`fit_audio_length` to the audio (``avem_av`` passes the paper's 1 s / 30 s:
    :data:`AUDIO_MIN_SECONDS`, :data:`AUDIO_MAX_SECONDS`); ``None`` leaves it as decoded.
    """
    if not (want_video or want_audio):
        return Media(sample_rate=sample_rate)
    decode = decode or decode_clip
    video_path = None if video is None or isinstance(video, np.ndarray) else video
    frames = (
        sample_frames(video, num_frames)
        if want_video and video_path is None and video is not None
        else None
    )
    audio_array = None
    if isinstance(audio, dict):
        audio_array = resample_audio(audio["array"], audio["sampling_rate"], sample_rate)
    audio_path = None if isinstance(audio, dict) else audio
    media = Media(sample_rate=sample_rate)
    file_video = want_video and video_path is not None
    file_audio = want_audio and audio_array is None
    if file_video or file_audio:
        media = decode(
            video=video_path,
            audio=audio_path,
            num_frames=num_frames,
            sample_rate=sample_rate,
            want_video=file_video,
            want_audio=file_audio,
            backend=backend,
            missing_audio=missing_audio,
        ).to_media()
    if frames is not None:
        media = dataclasses.replace(media, frames=frames)
    if audio_array is not None:
        media = dataclasses.replace(media, audio=audio_array, audio_in_video=False)
    if media.audio is not None and (audio_min_seconds is not None or audio_max_seconds is not None):
        fitted = fit_audio_length(
            media.audio,
            media.sample_rate,
            min_seconds=audio_min_seconds,
            max_seconds=audio_max_seconds,
        )
        media = dataclasses.replace(media, audio=fitted)
    return media
