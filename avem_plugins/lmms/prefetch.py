"""Decode the media of the next batches in a background thread while the model generates.

``avem_av`` answers its requests batch by batch; each batch needs its clips decoded before
the processor and the model can run. :class:`MediaPrefetcher` hands the batches back in
their original order, each with its media already decoded: one worker thread decodes up to
``depth`` batches ahead (a bounded queue: at most ``depth + 1`` decoded batches are held),
so the decoding of batch ``i + 1`` overlaps the generation of batch ``i``. PyAV releases
Python's GIL while FFmpeg decodes, so the overlap is real on two or more cores.

Nothing about the answers changes: the batches, their order, and what goes wrong are the
same as with ``depth=0`` (decode in the caller's thread, the behaviour before prefetching).
A request whose media cannot be decoded gets its exception object back in place of its
media, and the caller handles it exactly as if its own call had raised it (``avem_av``
counts it for that request, or re-raises it with ``fail_fast``). Interrupting the
iteration (an exception in the caller, a closed generator) cancels the batches not yet
started and waits for the one being decoded.

:class:`PrefetchStats` measures what the caller waited for media (``wait_s``) next to the
decode time itself (``decode_s``), so the overlap can be checked in a real run
(``bench/eval.py``).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

R = TypeVar("R")

__all__ = ["DecodeProcess", "MediaPrefetcher", "PrefetchStats"]


@dataclass
class PrefetchStats:
    """Seconds the caller waited for media, seconds spent decoding, requests and batches.

    ``first_wait_s`` is the part of ``wait_s`` spent on the first batch of each
    :meth:`MediaPrefetcher.batches` call, which nothing can decode ahead of.
    """

    wait_s: float = 0.0
    first_wait_s: float = 0.0
    decode_s: float = 0.0
    requests: int = 0
    batches: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **values: float) -> None:
        with self._lock:
            for key, value in values.items():
                setattr(self, key, getattr(self, key) + value)


def _decode_clip(kwargs: dict[str, Any]) -> Any:
    from avem_plugins.media import decode_clip

    return decode_clip(**kwargs)


def _ready() -> bool:
    return True


def _die_with_parent(parent: int) -> None:
    """In the child: end when the parent ends, even by SIGKILL (Linux ``PR_SET_PDEATHSIG``)."""
    import os
    import signal

    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the pool's own shutdown ends the child
        pass
    if os.getppid() != parent:  # the parent died before the line above ran
        os._exit(0)


class DecodeProcess:
    """:func:`~avem_plugins.media.decode_clip` run in one child process.

    A decoding *thread* shares Python's GIL with the model's generation loop: PyAV gives
    the GIL up inside FFmpeg, but takes it back a few hundred times per clip (every packet),
    and each time waits for the model's Python to let go, so on a Python-bound model (a
    small one, on a CPU) a clip decodes several times slower in the background than alone,
    and slows the model too. A child process has its own GIL. It is forked once, as early as
    :meth:`start` is called (before the model and tokenizer start threads of their own), keeps
    its own media cache, and sends each decoded clip back as arrays; exceptions come back
    with their type and message (media errors keep their path). A child that dies (FFmpeg
    crashing on a broken file) fails that request with a :class:`~avem_plugins.media.MediaError`
    and is replaced. Where ``fork`` is not available, decoding stays in the calling thread.
    """

    def __init__(self) -> None:
        self._pool: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def available() -> bool:
        import multiprocessing

        return "fork" in multiprocessing.get_all_start_methods()

    def start(self) -> DecodeProcess:
        """Fork the child now (idempotent)."""
        if self.available():
            self._executor().submit(_ready).result()
        return self

    def _executor(self) -> Any:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("fork")
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=context,
                    initializer=_die_with_parent,
                    initargs=(os.getpid(),),
                )
            return self._pool

    def __call__(self, **kwargs: Any) -> Any:
        """``decode_clip(**kwargs)`` in the child (in this thread where fork is unavailable)."""
        if not self.available():
            return _decode_clip(kwargs)
        from concurrent.futures.process import BrokenProcessPool

        pool = self._executor()
        try:
            return pool.submit(_decode_clip, kwargs).result()
        except BrokenProcessPool as err:
            with self._lock:
                if self._pool is pool:
                    self._pool = None  # a new child for the next request
            from avem_plugins.media import MediaError

            path = kwargs.get("video") or kwargs.get("audio")
            raise MediaError(
                path,
                f"the decoder process died while decoding it ({err}); the file may be corrupt: "
                "re-encode it with ffmpeg",
            ) from err

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


class MediaPrefetcher(Generic[R]):
    """Yield ``(batch, media)`` in order; ``media[i]`` is ``load(batch[i])`` or what it raised.

    ``depth`` batches are decoded ahead in one background thread (``0``: in the caller's
    thread, when the batch is reached).
    """

    def __init__(
        self, load: Callable[[R], Any], depth: int = 2, stats: PrefetchStats | None = None
    ) -> None:
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        self.load = load
        self.depth = int(depth)
        self.stats = stats if stats is not None else PrefetchStats()

    def _load_batch(self, batch: Sequence[R]) -> list[Any]:
        out: list[Any] = []
        start = time.perf_counter()
        for req in batch:
            try:
                out.append(self.load(req))
            except Exception as err:  # handed to the caller, attributed to this request
                out.append(err)
        self.stats.add(decode_s=time.perf_counter() - start, requests=len(batch), batches=1)
        return out

    def batches(self, batches: Sequence[list[R]]) -> Iterator[tuple[list[R], list[Any]]]:
        """The batches in order, each with its decoded media (or exceptions)."""
        if self.depth == 0:
            for i, batch in enumerate(batches):
                start = time.perf_counter()
                media = self._load_batch(batch)
                waited = time.perf_counter() - start
                self.stats.add(wait_s=waited, first_wait_s=waited if i == 0 else 0.0)
                yield batch, media
            return
        pending: deque[Future[list[Any]]] = deque()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="avem-media") as pool:
            try:
                submitted = 0
                for i, batch in enumerate(batches):
                    while submitted < len(batches) and submitted <= i + self.depth:
                        pending.append(pool.submit(self._load_batch, batches[submitted]))
                        submitted += 1
                    start = time.perf_counter()
                    media = pending.popleft().result()
                    waited = time.perf_counter() - start
                    self.stats.add(wait_s=waited, first_wait_s=waited if i == 0 else 0.0)
                    yield batch, media
            finally:
                for future in pending:
                    future.cancel()
