"""The starting model of a cue world: a tiny random model, warmed up on the world's corpus.

:func:`prepare_world` writes a world's data (:mod:`avem_plugins.testing.demo_data`), builds a
tiny random-weight model (:mod:`avem_plugins.testing.tiny`) and warms it up with a short
supervised pass (:func:`warmup`) on the world's pretraining corpus. The result, the
*starting model*, is what ``avem demo`` and ``avem study`` evaluate and train; its
preconditions (docs/STUDY.md §2) are measured on it before any preference training.

The warm-up uses the same model adapter as evaluation and training, so it sees exactly the
prompt format ``avem_av`` and the trainer use. It is a full fine-tune in fp32 on CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avem_plugins.testing import demo_data

#: Frames per clip for the tiny model, in the warm-up, preference training and evaluation.
NUM_FRAMES = 4
#: The tiny model's video pixel cap (few visual tokens), for the adapter everywhere.
VIDEO_MAX_PIXELS = 4096


@dataclass(frozen=True)
class WarmupConfig:
    """The supervised warm-up that turns a random model into a world's starting model."""

    steps: int = 600
    batch_size: int = 8
    lr: float = 3e-3
    #: Share of each batch drawn from the text-only rows (the text prior).
    text_share: float = 0.25
    seed: int = 0


class _Memo:
    """A processor component that processes each distinct single media input once.

    The warm-up asks every clip many questions; the media part of the processor (Whisper
    features, video patches) is its main cost on CPU, so outputs are kept by the *content*
    of the one array a call carries. Calls with no or several arrays are not cached. Each
    call gets its own shallow copy (the processor renames keys in what it gets back).
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import copy
        import hashlib

        import numpy as np

        digest = hashlib.sha1()
        arrays = 0

        def walk(value: Any) -> None:
            nonlocal arrays
            if hasattr(value, "numpy") and hasattr(value, "shape"):
                value = value.numpy()
            if isinstance(value, np.ndarray):
                arrays += 1
                digest.update(repr((value.shape, str(value.dtype))).encode())
                digest.update(np.ascontiguousarray(value).tobytes())
            elif isinstance(value, list | tuple):
                digest.update(b"[")
                for item in value:
                    walk(item)
                digest.update(b"]")
            elif isinstance(value, dict):
                for key in sorted(value, key=str):
                    digest.update(repr(key).encode())
                    walk(value[key])
            else:
                digest.update(repr(value).encode())

        walk((args, kwargs))
        if arrays != 1:
            return self._inner(*args, **kwargs)
        key = digest.hexdigest()
        if key not in self._cache:
            self._cache[key] = self._inner(*args, **kwargs)
        out = self._cache[key]
        return copy.copy(out)


def warmup(
    model_dir: Path,
    rows: Sequence[dict[str, Any]],
    media_root: Path,
    out_dir: Path,
    *,
    config: WarmupConfig = WarmupConfig(),
    num_frames: int = NUM_FRAMES,
    echo: Callable[[str], None] = print,
) -> Path:
    """Supervised warm-up on ``rows`` (``{video, prompt, response}``; ``video`` None: text only).

    Each step draws ``batch_size`` rows, ``text_share`` of them from the text-only rows, and
    minimises the response tokens' cross-entropy (AdamW, constant ``lr``). Saves the model and
    processor to ``out_dir`` and returns it.
    """
    import torch
    from transformers import AutoConfig

    from avem_plugins.adapters.base import Example
    from avem_plugins.media import example_media
    from avem_plugins.modality import parse_modalities
    from avem_plugins.registry import get_adapter

    torch.manual_seed(config.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model gains nothing from threads; shared CPUs lose
    adapter = get_adapter(
        "auto", AutoConfig.from_pretrained(model_dir), video_max_pixels=VIDEO_MAX_PIXELS
    )
    loaded = adapter.load(str(model_dir), dtype="float32", device="cpu")
    model, processor = loaded.model, loaded.processor
    for attr in ("feature_extractor", "video_processor"):
        if hasattr(processor, attr):
            setattr(processor, attr, _Memo(getattr(processor, attr)))
    model.train()
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    rng = random.Random(config.seed)
    media_rows = [r for r in rows if r.get("video")]
    text_rows = [r for r in rows if not r.get("video")]
    n_text = round(config.batch_size * config.text_share) if text_rows else 0
    av, text_only = parse_modalities("av"), frozenset[str]()
    media_of: dict[str, Any] = {}

    def example(row: dict[str, Any]) -> Example:
        video = row.get("video")
        if not video:
            return Example(prompt=row["prompt"], response=row["response"])
        if video not in media_of:
            media_of[video] = example_media(
                media_root / video, None, want_video=True, want_audio=True, num_frames=num_frames
            )
        return Example(prompt=row["prompt"], media=media_of[video], response=row["response"])

    def token_loss(batch: list[dict[str, Any]], modalities: frozenset[str]) -> tuple[Any, int]:
        enc = adapter.training_rows(processor, [example(r) for r in batch], modalities=modalities)
        logits = model(**adapter.model_inputs(enc)).logits[:, :-1].float()
        target = enc["input_ids"][:, 1:]
        mask = enc["completion_mask"][:, 1:].bool()
        total = torch.nn.functional.cross_entropy(logits[mask], target[mask], reduction="sum")
        return total, int(mask.sum())

    start = time.perf_counter()
    running = 0.0
    for step in range(1, config.steps + 1):
        parts = [(rng.sample(media_rows, config.batch_size - n_text), av)]
        if n_text:
            parts.append((rng.sample(text_rows, min(n_text, len(text_rows))), text_only))
        optim.zero_grad()
        sums, count = [], 0
        for batch, modalities in parts:
            loss_sum, n = token_loss(batch, modalities)
            sums.append(loss_sum)
            count += n
        loss = torch.stack(sums).sum() / max(count, 1)
        loss.backward()
        optim.step()
        value = loss.item()
        running = 0.9 * running + 0.1 * value if step > 1 else value
        if step == 1 or step % 50 == 0 or step == config.steps:
            echo(
                f"    warm-up step {step}/{config.steps}  loss {running:.3f}  "
                f"({time.perf_counter() - start:.0f} s)"
            )
    torch.set_num_threads(threads)
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor_to_save = loaded.processor
    for attr in ("feature_extractor", "video_processor"):
        inner = getattr(processor_to_save, attr, None)
        if isinstance(inner, _Memo):
            setattr(processor_to_save, attr, inner._inner)
    processor_to_save.save_pretrained(out_dir)
    return out_dir


@dataclass
class PreparedWorld:
    """A world's data and its starting model."""

    files: demo_data.WorldFiles
    model: Path
    seconds: dict[str, float]


#: Bump when the world's data or the warm-up change, so cached starting models are not reused.
WORLD_VERSION = 2
#: Environment variable naming the cache of prepared worlds ("off" disables it).
CACHE_ENV = "AVEM_WORLD_CACHE"


def default_cache() -> Path | None:
    """``$AVEM_WORLD_CACHE`` (``off``: no cache), else ``~/.cache/avem-plugins/worlds``."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() in ("off", "0", "no", "none"):
        return None
    return Path(value) if value else Path.home() / ".cache" / "avem-plugins" / "worlds"


def world_key(
    spec: demo_data.WorldSpec, warmup_config: WarmupConfig, family: str
) -> dict[str, Any]:
    """What identifies a prepared world (its data and its starting model)."""
    return {"world": spec.describe(), "warmup": vars(warmup_config), "family": family,
            "version": WORLD_VERSION}  # fmt: skip


def _loaded(out: Path, spec: demo_data.WorldSpec, seconds: dict[str, float]) -> PreparedWorld:
    data_root = out / "data"
    files = demo_data.WorldFiles(
        root=data_root, spec=spec, bench_root=data_root / "bench",
        questions=data_root / "emorealm_world.json", pref_root=data_root / "prefs",
        prefs=data_root / "prefs.jsonl", pretrain_root=data_root / "pretrain", pretrain_rows=[],
    )  # fmt: skip
    return PreparedWorld(files, out / "models" / "start", seconds)


def prepare_world(
    spec: demo_data.WorldSpec,
    out: Path,
    *,
    family: str = "qwen2_5_omni",
    warmup_config: WarmupConfig = WarmupConfig(),
    echo: Callable[[str], None] = print,
    cache: Path | bool | None = True,
) -> PreparedWorld:
    """Write ``spec``'s data under ``out/data`` and its starting model to ``out/models/start``.

    Idempotent: a finished preparation (``out/world_ready.json``) is reused as is. With a
    cache (``cache=True``: :func:`default_cache`), a world prepared before with the same
    :func:`world_key` is copied from it instead of being built and warmed up again.
    """
    from avem_plugins.testing.tiny import build_tiny_model

    key = world_key(spec, warmup_config, family)
    ready = out / "world_ready.json"
    if ready.exists():
        info = json.loads(ready.read_text(encoding="utf-8"))
        legacy = {"world": info.get("world"), "warmup": info.get("warmup")}  # before the key
        if info.get("key") == key or legacy == {"world": key["world"], "warmup": key["warmup"]}:
            return _loaded(out, spec, info.get("seconds", {}))
    cache_dir = default_cache() if cache is True else (cache or None)
    entry = None
    if cache_dir is not None:
        digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        entry = Path(cache_dir) / f"{spec.name}-{digest}"
        if (entry / "world_ready.json").exists():
            echo(f"    world {spec.name}: reusing the prepared world and starting model in {entry}")
            shutil.copytree(entry, out, dirs_exist_ok=True)
            info = json.loads(ready.read_text(encoding="utf-8"))
            return _loaded(out, spec, info.get("seconds", {}))
    seconds: dict[str, float] = {}
    data_root = out / "data"
    start_dir = out / "models" / "start"
    t = time.perf_counter()
    echo(
        f"    world {spec.name}: {spec.eval_clips} eval, {spec.pref_clips} preference, "
        f"{spec.pretrain_clips} pretraining clips"
    )
    files = demo_data.write_world(spec, data_root)
    seconds["world data"] = time.perf_counter() - t
    t = time.perf_counter()
    random_dir = build_tiny_model(out / "models" / "random", family=family, seed=spec.seed)
    seconds["build model"] = time.perf_counter() - t
    t = time.perf_counter()
    echo(
        f"    warm-up: {warmup_config.steps} steps of {warmup_config.batch_size} rows "
        f"({len(files.pretrain_rows)} rows in the corpus)"
    )
    warmup(random_dir, files.pretrain_rows, files.pretrain_root, start_dir,
           config=warmup_config, echo=echo)  # fmt: skip
    seconds["warm-up"] = time.perf_counter() - t
    ready.write_text(json.dumps({"key": key, "seconds": seconds}, indent=1), encoding="utf-8")
    if entry is not None:
        try:  # copy, then rename: a half-written entry is never taken for a finished one
            partial = entry.with_name(entry.name + f".partial-{os.getpid()}")
            shutil.copytree(out, partial, dirs_exist_ok=True)
            partial.rename(entry)
        except OSError as exc:
            echo(f"    (could not cache the world in {entry}: {exc})")
    return PreparedWorld(files, start_dir, seconds)
