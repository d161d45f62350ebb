"""An EmoReAlM-style lmms-eval run of ``avem_av`` for the benchmarks, and its instruments.

Shared by ``bench/media.py`` (decodes per clip) and ``bench/eval.py`` (time split). The data
are generated stand-ins laid out like the real ones (:mod:`avem_plugins.testing.benchdata`):
a DFEW-style tree of H.264 + AAC clips and a questions file in the released
``emorealm_v1.json`` format whose questions share clips, as the real benchmark's do. The run
is lmms-eval's own ``simple_evaluate`` on the shipped ``emorealm`` group, in this process, with
the ``avem_av`` model on a tiny random-weight Qwen2.5-Omni thinker.

Instruments wrap functions for the duration of a ``with`` block and restore them after;
no library code is changed.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EMOREALM_SUBTASKS = (
    "emorealm_reasoning_basic_audio",
    "emorealm_reasoning_basic_video",
    "emorealm_modality_agreement",
    "emorealm_reasoning_stress_audio",
    "emorealm_reasoning_stress_video",
)


@dataclass
class EmoReAlMData:
    """Paths of a generated EmoReAlM-style set-up."""

    dfew_root: Path
    questions: Path
    clips: int
    questions_total: int

    def env(self) -> dict[str, str]:
        """The environment variables the ``emorealm`` tasks read."""
        return {"EMOREALM_JSON": str(self.questions), "DFEW_ROOT": str(self.dfew_root)}


def write_emorealm_data(
    root: Path,
    clips: int,
    per_task: int,
    *,
    seconds: float = 1.0,
    fps: int = 8,
    size: tuple[int, int] = (64, 64),
) -> EmoReAlMData:
    """``clips`` DFEW-style clips and ``5 * per_task`` EmoReAlM questions cycling over them.

    The tree is laid out by :func:`~avem_plugins.testing.benchdata.write_dfew_tree`; its clips
    are then written at ``size`` (width, height), ``fps`` and ``seconds`` with an AAC track.
    """
    import json

    from avem_plugins.testing.benchdata import DFEW_IDS, write_dfew_tree, write_emorealm_json
    from avem_plugins.testing.synth import EMOTION_CUES, write_clip

    emotions = list(DFEW_IDS)
    labels = {i + 1: emotions[i % len(emotions)] for i in range(clips)}
    dfew = write_dfew_tree(root / "DFEW", labels, clips=False)  # layout + fold CSV
    for clip, emotion in labels.items():
        (path,) = dfew.glob(f"Clip/part_*/{clip:05d}.mp4")
        visual, audio = EMOTION_CUES[emotion]
        write_clip(
            path, visual_cue=visual, audio_cue=audio, seed=clip, duration=seconds, fps=fps,
            size=size,
        )  # fmt: skip
    # the released file names clips like part_1/1.mp4 (the task finds them by id)
    videos = [f"part_{n % 2 + 1}/{clip}.mp4" for n, clip in enumerate(sorted(labels))]
    questions = write_emorealm_json(root / "emorealm_v1.json", videos, per_task=per_task)
    total = len(json.loads(questions.read_text()))
    return EmoReAlMData(dfew_root=dfew, questions=questions, clips=clips, questions_total=total)


def write_dfew_data(
    root: Path, specs: list[tuple[float, int]], size: tuple[int, int]
) -> tuple[Path, int]:
    """A DFEW-style tree (fold 1) whose clips are ``size`` (width, height) H.264 + AAC clips,
    one per ``(seconds, fps)`` of ``specs``; each is asked about once (DFEW's protocol).
    Returns ``(root, number of clips)``."""
    from avem_plugins.testing.benchdata import DFEW_IDS, write_dfew_tree
    from avem_plugins.testing.synth import EMOTION_CUES, write_clip

    emotions = list(DFEW_IDS)
    labels = {i + 1: emotions[i % len(emotions)] for i in range(len(specs))}
    tree = write_dfew_tree(root, labels, clips=False)  # layout + fold CSV
    for (clip, emotion), (seconds, fps) in zip(sorted(labels.items()), specs, strict=True):
        (path,) = tree.glob(f"Clip/part_*/{clip:05d}.mp4")
        visual, audio = EMOTION_CUES[emotion]
        write_clip(
            path, visual_cue=visual, audio_cue=audio, seed=clip, duration=seconds, fps=fps,
            size=size,
        )  # fmt: skip
    return tree, len(labels)


def run_task(lm: Any, task: str, env: dict[str, str], *, task_manager: Any = None) -> Any:
    """lmms-eval's ``simple_evaluate`` of one task with ``lm`` under ``env``; its results."""
    from lmms_eval.evaluator import simple_evaluate
    from lmms_eval.tasks import TaskManager

    with environment(env):
        results = simple_evaluate(
            model=lm,
            tasks=[task],
            task_manager=task_manager if task_manager is not None else TaskManager(),
            log_samples=False,
            verbosity="ERROR",
        )
    if not results or task not in results.get("results", {}):
        raise RuntimeError(f"lmms-eval returned no results for {task}")
    return results


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then restore the previous values."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_model(model_dir: Path, **model_args: Any) -> Any:
    """The ``avem_av`` lmms-eval model (chat form) on ``model_dir``."""
    from avem_plugins.lmms.model import AvemAV

    return AvemAV(pretrained=str(model_dir), device="cpu", **model_args)


def run_emorealm(
    lm: Any, data: EmoReAlMData, *, task_manager: Any = None, limit: int | None = None
) -> dict[str, Any]:
    """lmms-eval's ``simple_evaluate`` of the ``emorealm`` group with ``lm``; its results.

    ``task_manager``: a ``TaskManager`` to reuse (indexing lmms-eval's tasks takes seconds);
    a new one by default.
    """
    from lmms_eval.evaluator import simple_evaluate
    from lmms_eval.tasks import TaskManager

    with environment(data.env()):
        results = simple_evaluate(
            model=lm,
            tasks=["emorealm"],
            task_manager=task_manager if task_manager is not None else TaskManager(),
            limit=limit,
            log_samples=False,
            verbosity="ERROR",
        )
    if not results or "results" not in results:
        raise RuntimeError("lmms-eval returned no results for the emorealm group")
    missing = [t for t in EMOREALM_SUBTASKS if t not in results["results"]]
    if missing:
        raise RuntimeError(f"lmms-eval results lack {missing}; is the emorealm task indexed?")
    return results


# --------------------------------------------------------------------------- instruments


@contextmanager
def patched(owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]):
    """Replace ``owner.name`` by ``make(original)`` for the block."""
    original = getattr(owner, name)
    setattr(owner, name, make(original))
    try:
        yield original
    finally:
        setattr(owner, name, original)


@dataclass
class Timers:
    """Wall seconds and call counts by label (thread-safe)."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` timed under ``label``."""

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                with self._lock:
                    self.seconds[label] += elapsed
                    self.calls[label] += 1

        return timed

    def time(self, owner: Any, name: str, label: str) -> Any:
        """A context manager timing ``owner.name`` under ``label``."""
        return patched(owner, name, lambda original: self.wrap(label, original))


@contextmanager
def decode_counter() -> Iterator[Counter[tuple[str, str]]]:
    """Count real decodes (cache misses of the default media cache) per ``(kind, path)``.

    The default cache is cleared first, so the counts (and its ``stats``) cover the block
    only.
    """
    from avem_plugins import media

    cache = media.default_cache()
    cache.clear()
    counts: Counter[tuple[str, str]] = Counter()

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def put(kind: str, path: Any, params: Any, array: Any) -> Any:
            counts[(kind, str(Path(path).resolve()))] += 1  # every real decode is stored
            return original(kind, path, params, array)

        return put

    with patched(cache, "put", make):
        yield counts


@contextmanager
def eval_timers() -> Iterator[Timers]:
    """Time the phases of an lmms-eval run of ``avem_av`` (see ``bench/eval.py``)."""
    import lmms_eval.evaluator as evaluator
    from lmms_eval.api.task import ConfigurableTask
    from lmms_eval.evaluator_utils import TaskOutput
    from lmms_eval.tasks import TaskManager

    from avem_plugins import media
    from avem_plugins.adapters.chat_template import ChatTemplateAdapter
    from avem_plugins.lmms.model import AvemAV

    timers = Timers()
    with ExitStack() as stack:
        # lmms-eval: tasks, requests, scoring (per-document metrics, then aggregation)
        stack.enter_context(timers.time(TaskManager, "initialize_tasks", "index_tasks"))
        stack.enter_context(timers.time(evaluator, "get_task_dict", "tasks"))
        stack.enter_context(timers.time(ConfigurableTask, "build_all_requests", "requests"))
        stack.enter_context(timers.time(evaluator, "_thread_map_ordered", "score_docs"))
        for name in (
            "calculate_aggregate_metric",
            "calculate_clt_aggregate_metric",
            "calculate_stability_metrics",
        ):
            stack.enter_context(timers.time(TaskOutput, name, "aggregate"))
        stack.enter_context(timers.time(evaluator, "consolidate_results", "aggregate"))
        stack.enter_context(timers.time(evaluator, "consolidate_group_results", "aggregate"))
        # avem_av: the whole answer loop, its media (decode + cache + probe) and model parts
        stack.enter_context(timers.time(AvemAV, "generate_until", "generate_until"))
        stack.enter_context(timers.time(AvemAV, "_media", "media"))
        stack.enter_context(timers.time(AvemAV, "_generate", "model"))
        stack.enter_context(timers.time(ChatTemplateAdapter, "generation_inputs", "processor"))
        stack.enter_context(timers.time(media, "_decode_pass", "decode"))
        yield timers
