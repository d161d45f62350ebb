"""Fuzzed media files through ``avem_plugins.media`` (``decode_clip``, ``load_audio``,
``load_frames``): real encodes from ``avem synth clips`` (H.264 + AAC mp4, an mp4 without
audio, a 16-bit PCM wav) and the RAVDESS WAVs of ``../shared/realdata/ravdess`` (by path;
the RAVDESS test skips with the reason when they are absent), mutated: truncated at a random
byte, bytes flipped in the header and in the stream, a range zeroed, junk inserted, and the
declared sample rate, channel count, bit depth, data size, time scale or picture size
changed.

The property: frames ``(T, H, W, 3)`` uint8 and/or finite mono audio in ``[-1, 1]``, or a
``MediaError`` whose one-line message names the file. Decoding runs in a worker process
(``media_worker.py``) with a time bound and an address-space cap, so a hang, a crash of a
native decoder or a runaway allocation fails the example instead of the test run.

The last test runs mutated clips through ``avem_av`` (the lmms-eval model) with a tiny
model: each bad clip is answered ``<avem_av generation error>`` and counted, never a crash of
the run (``tests/reliability/test_bad_inputs_lmms.py`` shows the same through the CLI for
hand-made bad files).
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from fuzz_support import SLOW_TIER, hard_timeout, scratch_dir, tier
from hypothesis import given
from hypothesis import strategies as st

HERE = Path(__file__).resolve().parent
RAVDESS = HERE.parents[2] / "shared" / "realdata" / "ravdess"
RAVDESS_WAVS = sorted(RAVDESS.glob("03-01-0[1-8]-01-01-01-01.wav"))[:4] if RAVDESS.is_dir() else []
#: Seconds one decode may take in the worker (they take milliseconds).
DECODE_TIMEOUT_S = 60.0
#: The worker's address-space cap: a stream declaring gigabytes fails, the machine lives.
WORKER_MEMORY_CAP = 4 * 2**30


class DecodeWorker:
    """A long-lived ``media_worker.py`` process; restarted after a hang or a crash."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115  (the worker's stderr, for its life)

    def _start(self) -> subprocess.Popen[str]:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "media_worker.py"), str(WORKER_MEMORY_CAP)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        self.proc = proc
        assert self._read(120.0) == {"status": "ready"}
        return proc

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.stop()
            raise AssertionError(f"the decoder hung: no answer within {timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.proc = None
            raise AssertionError(f"the decoder crashed: worker exit status {code}")
        return json.loads(line)

    def request(self, **req: Any) -> dict[str, Any]:
        proc = self.proc if self.proc is not None and self.proc.poll() is None else self._start()
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(req) + "\n")
        proc.stdin.flush()
        return self._read(DECODE_TIMEOUT_S)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def close(self) -> None:
        self.stop()
        self.log.close()


@pytest.fixture(scope="module")
def worker():
    w = DecodeWorker()
    yield w
    w.close()


@pytest.fixture(scope="module")
def encodes(tmp_path_factory) -> dict[str, bytes]:
    """The valid files every example starts from (bytes, by name)."""
    from avem_plugins.testing.synth import write_clip, write_wav

    root = tmp_path_factory.mktemp("fuzz-media")
    clip = write_clip(root / "clip.mp4", visual_cue="red_triangle", audio_cue="high_tone",
                      num_frames=8, fps=8, size=(32, 32))  # fmt: skip
    silent = write_clip(root / "noaudio.mp4", visual_cue="blue_circle", audio_cue="low_tone",
                        num_frames=6, fps=8, size=(32, 32), audio=False)  # fmt: skip
    wav = write_wav(root / "tone.wav", audio_cue="high_tone", seconds=0.5)
    out = {"synth.mp4": clip.read_bytes(), "synth_noaudio.mp4": silent.read_bytes(),
           "synth.wav": wav.read_bytes()}  # fmt: skip
    for path in RAVDESS_WAVS:
        out[f"ravdess/{path.name}"] = path.read_bytes()
    return out


# ------------------------------------------------------------------ mutations


def _box(data: bytes, fourcc: bytes) -> int:
    """The index of an mp4 box type (``-1`` when absent)."""
    return data.find(fourcc)


def _put(data: bytes, at: int, value: bytes) -> bytes:
    if at < 0 or at + len(value) > len(data):
        return data
    return data[:at] + value + data[at + len(value) :]


#: Declared-format edits: (name, applies to, how). Offsets follow the WAV header and the mp4
#: boxes (``mp4a``: channel count at +20, sample rate at +28; ``mdhd``: time scale at +16;
#: ``avc1``: width/height at +28/+30; each from the box type).
def _declared(kind: str, data: bytes, value: int) -> bytes:
    if kind == "wav_rate":
        return _put(data, 24, struct.pack("<I", value))
    if kind == "wav_channels":
        return _put(data, 22, struct.pack("<H", value & 0xFFFF))
    if kind == "wav_bits":
        return _put(data, 34, struct.pack("<H", value & 0xFFFF))
    if kind == "wav_data_size":
        return _put(data, 40, struct.pack("<I", value))
    if kind == "riff_size":
        return _put(data, 4, struct.pack("<I", value))
    if kind == "mp4a_channels":
        return (
            _put(data, _box(data, b"mp4a") + 20, struct.pack(">H", value & 0xFFFF))
            if _box(data, b"mp4a") >= 0
            else data
        )
    if kind == "mp4a_rate":
        return (
            _put(data, _box(data, b"mp4a") + 28, struct.pack(">I", (value & 0xFFFF) << 16))
            if _box(data, b"mp4a") >= 0
            else data
        )
    if kind == "mdhd_timescale":
        return (
            _put(data, _box(data, b"mdhd") + 16, struct.pack(">I", value))
            if _box(data, b"mdhd") >= 0
            else data
        )
    if kind == "avc1_size":
        at = _box(data, b"avc1")
        return (
            _put(data, at + 28, struct.pack(">HH", value & 0xFFFF, (value >> 16) & 0xFFFF))
            if at >= 0
            else data
        )
    raise AssertionError(kind)


DECLARED = ("wav_rate", "wav_channels", "wav_bits", "wav_data_size", "riff_size",
            "mp4a_channels", "mp4a_rate", "mdhd_timescale", "avc1_size")  # fmt: skip
MUTATIONS = ("truncate", "flip_header", "flip_stream", "zero_range", "insert_junk", "declared")
ODD_NUMBERS = (0, 1, 2, 3, 7, 255, 8000, 44100, 65535, 2**31 - 1, 2**32 - 1)


Op = tuple[Any, ...]


def apply(data: bytes, ops: list[Op]) -> bytes:
    """``data`` with the mutations ``ops`` (positions past the end are clamped)."""
    for op in ops:
        n = len(data)
        if not n:
            break
        kind, *args = op
        if kind == "truncate":
            data = data[: min(args[0], n - 1)]
        elif kind == "flip":
            at = min(args[0], n - 1)
            data = data[:at] + bytes([data[at] ^ args[1]]) + data[at + 1 :]
        elif kind == "zero":
            at = min(args[0], n - 1)
            end = min(n, at + args[1])
            data = data[:at] + b"\0" * (end - at) + data[end:]
        elif kind == "junk":
            at = min(args[0], n)
            data = data[:at] + args[1] + data[at:]
        else:
            data = _declared(args[0], data, args[1])
    return data


@st.composite
def _ops(draw: st.DrawFn, size: int) -> list[Op]:
    ops: list[Op] = []
    for kind in draw(st.lists(st.sampled_from(MUTATIONS), max_size=3)):
        at = draw(st.integers(0, size - 1))
        if kind == "truncate":
            ops.append(("truncate", at))
        elif kind in ("flip_header", "flip_stream"):
            lo, hi = (0, min(size, 512)) if kind == "flip_header" else (min(size - 1, 512), size)
            for _ in range(draw(st.integers(1, 8))):
                ops.append(
                    ("flip", draw(st.integers(lo, max(lo, hi - 1))), draw(st.integers(1, 255)))
                )
        elif kind == "zero_range":
            ops.append(("zero", at, draw(st.integers(1, 4096))))
        elif kind == "insert_junk":
            ops.append(("junk", at, draw(st.binary(min_size=1, max_size=64))))
        else:
            value = draw(st.sampled_from(ODD_NUMBERS) | st.integers(0, 2**32 - 1))
            ops.append(("declared", draw(st.sampled_from(DECLARED)), value))
    return ops


def media_cases(encodes: dict[str, bytes], names: list[str]) -> st.SearchStrategy[Any]:
    """``(file, mutations, op, backend)``: small to print, replayed by :func:`apply`."""

    @st.composite
    def cases(draw: st.DrawFn) -> tuple[str, list[Op], str, str]:
        name = draw(st.sampled_from(names))
        ops = draw(_ops(len(encodes[name])))
        op = draw(st.sampled_from(["clip", "frames"] if name.endswith(".mp4") else ["audio"]))
        backend = draw(st.sampled_from(["auto", "auto", "auto", "pyav", "decord"]))
        return name, ops, op, backend

    return cases()


def check_media(
    worker: DecodeWorker, encodes: dict[str, bytes], case: tuple[str, list[Op], str, str]
) -> None:
    name, ops, op, backend = case
    with scratch_dir() as tmp:
        path = Path(tmp) / name.replace("/", "_")
        path.write_bytes(apply(encodes[name], ops))
        missing_audio = "silence" if "noaudio" in name and op == "clip" else "error"
        got = worker.request(
            op=op, path=str(path), backend=backend, num_frames=4, missing_audio=missing_audio
        )
    where = f"{name} after {ops} ({op}, backend={backend})"
    if got["status"] == "other":
        raise AssertionError(f"{where}: {got['type']}: {got['message']}\n{got['traceback']}")
    if got["status"] == "typed":
        message = got["message"]
        assert str(path) in message and "\n" not in message, (where, message)
        return
    if got["frames"] is not None:  # frames as promised
        shape = got["frames"]
        assert shape[0] == 4 and shape[3] == 3 and got["frames_dtype"] == "uint8", (where, got)
    if got["audio"] is not None:  # mono float32, finite, in [-1, 1], not empty
        assert len(got["audio"]) == 1 and got["audio"][0] > 0, (where, got)
        assert got["audio_dtype"] == "float32", (where, got)
        assert got["audio_finite"] and got["audio_max_abs"] <= 1.0, (where, got)
    assert got["frames"] is not None or got["audio"] is not None, (where, got)


#: What the fuzzing found (docs/RELIABILITY.md, "Fuzzed readers").
FOUND: list[tuple[str, list[Op], str, str]] = [
    ("synth.wav", [("declared", "wav_bits", 0)], "audio", "auto"),  # was a segfault in PyAV
    ("synth.mp4", [("flip", 10791, 128)], "clip", "auto"),  # tags not UTF-8: UnicodeDecodeError
    ("synth.wav", [("declared", "wav_rate", 1)], "audio", "pyav"),  # 1 Hz: gigabytes, MemoryError
    ("synth.wav", [("declared", "wav_rate", 1), ("flip", 512, 7)], "audio", "decord"),  # abort
    # a time scale of 2^31-1: the clip lasts nanoseconds, its substituted silence was empty
    ("synth_noaudio.mp4", [("declared", "mdhd_timescale", 2_147_483_647)], "clip", "auto"),
    # truncated in the header: a video stream without decoder, and no audio (silence asked)
    ("synth_noaudio.mp4", [("truncate", 2818)], "clip", "auto"),  # was a segfault in PyAV
    # a RAVDESS WAV's channel count flipped to 32: PyAV's planar to_ndarray crashed (SIGSEGV)
    ("synth.wav", [("declared", "wav_channels", 32)], "audio", "auto"),
]


SYNTH = ["synth.mp4", "synth_noaudio.mp4", "synth.wav"]


def test_media_decoders_return_data_or_a_typed_error(worker, encodes):
    @given(case=media_cases(encodes, SYNTH))
    @tier("default", max_examples=10)
    def run(case: Any) -> None:
        check_media(worker, encodes, case)

    for case in FOUND:
        check_media(worker, encodes, case)

    run()


def test_ravdess_wavs_mutated_decode_or_fail_typed(worker, encodes):
    if not RAVDESS_WAVS:
        pytest.skip(
            f"RAVDESS WAVs not found in {RAVDESS} (the shared realdata folder beside the checkout)"
        )

    @given(case=media_cases(encodes, [f"ravdess/{p.name}" for p in RAVDESS_WAVS]))
    @tier("default", max_examples=6)
    def run(case: Any) -> None:
        check_media(worker, encodes, case)

    run()


@pytest.mark.slow
def test_media_decoders_return_data_or_a_typed_error_10k(worker, encodes):
    names = SYNTH + [f"ravdess/{p.name}" for p in RAVDESS_WAVS]

    @given(case=media_cases(encodes, names))
    @SLOW_TIER
    def run(case: Any) -> None:
        check_media(worker, encodes, case)

    run()


# ------------------------------------------------------------------ inside an lmms-eval run


def _doc_to_messages(doc: dict[str, Any]) -> list[dict[str, Any]]:
    content = [{"type": "video", "url": doc["video"]}] if doc["video"].endswith(".mp4") else []
    content.append({"type": "audio", "url": doc["video"]})
    content.append({"type": "text", "text": "Which emotion does the person show?"})
    return [{"role": "user", "content": content}]


def check_avem_av_run(
    lm: Any, encodes: dict[str, bytes], cases: list[tuple[str, list[Op]]]
) -> None:
    """One ``generate_until`` call over mutated clips: one answer per request, every failure a
    counted ``<avem_av generation error>`` naming a typed media error, no exception."""
    from lmms_eval.api.instance import Instance

    from avem_plugins import media
    from avem_plugins.lmms.model import GENERATION_ERROR

    typed = tuple(
        name for name in dir(media) if isinstance(getattr(media, name), type)
        and issubclass(getattr(media, name), media.MediaError)
    )  # fmt: skip
    with scratch_dir() as tmp:
        docs = []
        for i, (name, ops) in enumerate(cases):
            path = Path(tmp) / f"{i}-{name.replace('/', '_')}"
            path.write_bytes(apply(encodes[name], ops))
            docs.append({"video": str(path)})
        lm.task_dict = {"t": {"test": docs}}
        lm.errors, lm.error_count = [], 0
        requests = [
            Instance(
                request_type="generate_until",
                arguments=("", _doc_to_messages, {"max_new_tokens": 2}, i, "t", "test"),
                idx=0,
                metadata={"task": "t", "doc_id": i, "repeats": 1},
            )
            for i in range(len(docs))
        ]
        with hard_timeout(300):
            answers = lm.generate_until(requests)
    assert len(answers) == len(cases)  # every request answered
    failed = [i for i, a in enumerate(answers) if a == GENERATION_ERROR]
    assert lm.error_count == len(failed) == len(lm.errors)  # every failure counted
    assert sorted(e["doc_id"] for e in lm.errors) == failed
    for error in lm.errors:  # and named: a typed media error with the file
        kind = error["error"].split(":", 1)[0]
        assert kind in typed, (cases, error)
        assert docs[error["doc_id"]]["video"] in error["error"], error


@pytest.fixture(scope="module")
def avem_av(tiny_qwen2_5_omni_dir):
    pytest.importorskip("lmms_eval")
    from avem_plugins.lmms.model import AvemAV

    return AvemAV(pretrained=str(tiny_qwen2_5_omni_dir), video_max_pixels=4096, batch_size=2)


def _batches(encodes: dict[str, bytes]) -> st.SearchStrategy[list[tuple[str, list[Op]]]]:
    names = SYNTH + [f"ravdess/{p.name}" for p in RAVDESS_WAVS]
    case = st.sampled_from(names).flatmap(lambda n: st.tuples(st.just(n), _ops(len(encodes[n]))))
    return st.lists(case, min_size=1, max_size=4)


def test_bad_clips_in_an_avem_av_run_are_counted_errors(avem_av, encodes):
    @given(cases=_batches(encodes))
    @tier("default", fixed=True, max_examples=3)
    def run(cases: list[tuple[str, list[Op]]]) -> None:
        check_avem_av_run(avem_av, encodes, cases)

    run()


@pytest.mark.slow
def test_bad_clips_in_an_avem_av_run_are_counted_errors_slow(avem_av, encodes):
    @given(cases=_batches(encodes))
    @tier("slow", fixed=True, max_examples=40)
    def run(cases: list[tuple[str, list[Op]]]) -> None:
        check_avem_av_run(avem_av, encodes, cases)

    run()
