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

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

R = TypeVar("R")

__all__ = ["MediaPrefetcher", "PrefetchStats"]


@dataclass
class PrefetchStats:
    """Seconds the caller waited for media, seconds spent decoding, requests and batches."""

    wait_s: float = 0.0
    decode_s: float = 0.0
    requests: int = 0
    batches: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **values: float) -> None:
        with self._lock:
            for key, value in values.items():
                setattr(self, key, getattr(self, key) + value)


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
            for batch in batches:
                start = time.perf_counter()
                media = self._load_batch(batch)
                self.stats.add(wait_s=time.perf_counter() - start)
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
                    self.stats.add(wait_s=time.perf_counter() - start)
                    yield batch, media
            finally:
                for future in pending:
                    future.cancel()
