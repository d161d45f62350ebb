"""MediaPrefetcher: batches in order, errors in place, a bounded queue, real overlap."""

from __future__ import annotations

import threading
import time

import pytest

from avem_plugins.lmms.prefetch import MediaPrefetcher, PrefetchStats


def _batches(n: int, size: int = 2) -> list[list[int]]:
    return [list(range(i * size, (i + 1) * size)) for i in range(n)]


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_batches_come_back_in_order_with_their_media(depth: int) -> None:
    batches = _batches(6)
    out = list(MediaPrefetcher(lambda r: r * 10, depth=depth).batches(batches))
    assert [b for b, _ in out] == batches
    assert [m for _, m in out] == [[r * 10 for r in b] for b in batches]


@pytest.mark.parametrize("depth", [0, 2])
def test_a_failing_load_is_returned_in_place_of_its_media(depth: int) -> None:
    def load(r: int) -> int:
        if r == 3:
            raise FileNotFoundError(f"clip {r} is gone")
        return r

    out = dict((tuple(b), m) for b, m in MediaPrefetcher(load, depth=depth).batches(_batches(3)))
    err = out[(2, 3)][1]
    assert out[(2, 3)][0] == 2 and isinstance(err, FileNotFoundError)
    assert str(err) == "clip 3 is gone" and out[(4, 5)] == [4, 5]


def test_decoding_runs_in_a_background_thread_only_when_asked() -> None:
    main = threading.current_thread().name
    seen: dict[int, set[str]] = {0: set(), 2: set()}
    for depth in seen:

        def load(r: int, depth: int = depth) -> int:
            seen[depth].add(threading.current_thread().name)
            return r

        list(MediaPrefetcher(load, depth=depth).batches(_batches(3)))
    assert seen[0] == {main}
    assert len(seen[2]) == 1 and main not in seen[2]


@pytest.mark.parametrize("depth", [1, 2])
def test_the_queue_is_bounded_by_depth(depth: int) -> None:
    decoded: list[int] = []
    ahead: list[int] = []
    batches = _batches(8, size=1)
    prefetch = MediaPrefetcher(lambda r: decoded.append(r) or r, depth=depth)
    for consumed, (batch, _) in enumerate(prefetch.batches(batches)):
        time.sleep(0.02)  # the model's turn: the worker may run ahead, but only so far
        ahead.append(len(decoded) - 1 - consumed)
        assert batch == [consumed]
    assert max(ahead) <= depth
    assert max(ahead) == depth  # and it does run ahead


def test_decoding_overlaps_the_consumer_and_the_wait_is_measured() -> None:
    stats = PrefetchStats()
    per_batch = 0.05
    start = time.perf_counter()
    for _ in MediaPrefetcher(lambda r: time.sleep(per_batch), depth=2, stats=stats).batches(
        _batches(6, size=1)
    ):
        time.sleep(per_batch)  # generation of this batch
    elapsed = time.perf_counter() - start
    assert elapsed < 6 * 2 * per_batch * 0.8  # serial would be 0.6 s
    assert stats.batches == 6 and stats.requests == 6
    assert stats.decode_s >= 6 * per_batch * 0.9
    assert stats.wait_s < stats.decode_s / 2  # only the first batch is waited for in full

    serial = PrefetchStats()
    list(MediaPrefetcher(lambda r: time.sleep(per_batch), depth=0, stats=serial).batches(
        _batches(3, size=1)
    ))  # fmt: skip
    assert serial.wait_s == pytest.approx(serial.decode_s, rel=0.2)


def test_stopping_early_cancels_the_batches_not_started() -> None:
    started: list[int] = []

    def load(r: int) -> int:
        started.append(r)
        time.sleep(0.01)
        return r

    gen = MediaPrefetcher(load, depth=2).batches(_batches(20, size=1))
    next(gen)
    gen.close()  # e.g. fail_fast raised in the caller
    time.sleep(0.05)
    assert len(started) <= 4  # batch 0, and at most the ones already submitted


def test_negative_depth_is_refused() -> None:
    with pytest.raises(ValueError, match="depth"):
        MediaPrefetcher(lambda r: r, depth=-1)


# --------------------------------------------------------------------------- child process


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from avem_plugins.testing.synth import write_clip

    return write_clip(
        tmp_path_factory.mktemp("decode-process") / "c.mp4",
        visual_cue="red_circle",
        audio_cue="high_tone",
        num_frames=12,
        fps=8,
    )


needs_fork = pytest.mark.skipif(
    not __import__("avem_plugins.lmms.prefetch", fromlist=["x"]).DecodeProcess.available(),
    reason="no fork start method here: decoding stays in the calling thread",
)


@needs_fork
def test_the_child_process_decodes_what_this_process_would(clip):
    import os

    import numpy as np

    from avem_plugins.lmms.prefetch import DecodeProcess
    from avem_plugins.media import decode_clip

    decoder = DecodeProcess().start()
    try:
        child_pid = decoder._executor().submit(os.getpid).result()
        assert child_pid != os.getpid()
        there = decoder(video=str(clip), num_frames=4, cache=None)
        here = decode_clip(str(clip), num_frames=4, cache=None)
        np.testing.assert_array_equal(there.frames, here.frames)
        np.testing.assert_array_equal(there.audio, here.audio)
        assert there.video_seconds == pytest.approx(1.5)  # to_media needs no open here
        assert there.to_media().frame_rate == pytest.approx(here.to_media().frame_rate)
    finally:
        decoder.close()


@needs_fork
def test_errors_come_back_typed_and_a_dead_child_is_replaced(clip, tmp_path):
    import os

    from avem_plugins.lmms.prefetch import DecodeProcess
    from avem_plugins.media import MediaError, MediaNotFoundError

    decoder = DecodeProcess().start()
    try:
        missing = tmp_path / "gone.mp4"
        with pytest.raises(MediaNotFoundError) as info:
            decoder(video=str(missing), cache=None)
        assert info.value.path == str(missing) and "no such file" in str(info.value)
        with pytest.raises(Exception):  # noqa: B017  (the child ends: the pool breaks)
            decoder._executor().submit(os._exit, 1).result()
        with pytest.raises(MediaError, match="decoder process died") as died:
            decoder(video=str(clip), cache=None)
        assert died.value.path == str(clip)
        assert decoder(video=str(clip), num_frames=2, cache=None).frames.shape[0] == 2
    finally:
        decoder.close()
