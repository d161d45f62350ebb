"""The AVEm-DPO collator's processor work, and the collator in DataLoader workers.

1. A mismatched input that is another sample's own clip in the batch is taken as decoded for
   that sample and processed once (the Qwen-Omni adapter runs its video processor / feature
   extractor once per frames / audio array within a batch), and the text-only (TPD) rows are
   tokenised by the tokenizer alone. The batches are *identical*, tensor for tensor and key
   for key, to those built with all of this switched off; the processor does less work.
2. The collator in 2 DataLoader workers gives the same batches as in the main process, and
   ``AVEmDPOTrainer`` trains with ``dataloader_num_workers=2`` to the same losses.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch

from avem_plugins.dpo.collator import DataCollatorForAVPreference
from avem_plugins.dpo.mismatch import MismatchSelector
from avem_plugins.prefs.schema import load_preference_dataset
from avem_plugins.registry import get_adapter

ADAPTER_KWARGS = {"video_max_pixels": 4096}
QUESTIONS = [
    ("audio", "What emotion does the tone of her voice convey?"),
    ("visual", "What does her facial expression say about her emotion?"),
    ("audiovisual", "How does the person feel?"),
]


def _prefs(clips, folder: Path, *, separate_audio: bool, n: int = 8) -> Path:
    from avem_plugins.testing.synth import write_wav

    rows = []
    for i in range(n):
        clip, other = clips[i % len(clips)], clips[(i + 1) % len(clips)]
        modality, question = QUESTIONS[i % len(QUESTIONS)]
        row = {
            "id": f"s{i}",
            "prompt": "<video>\n<audio>\n" + question,
            "chosen": f"The person shows {clip.emotion}: the voice is clear.",
            "rejected": f"The person shows {clip.emotion}: she is crying loudly.",
            "video": clip.path.name,
            "video_l": other.path.name,
            "modality": modality,
            "emotion": clip.emotion,
        }
        if i % 4 != 3:
            row["rejected_2"] = f"The person shows {clip.emotion}: the background is dark."
        if separate_audio:
            for c in (clip, other):
                wav = folder / f"{c.path.stem}.wav"
                if not wav.exists():
                    write_wav(wav, audio_cue=c.audio_cue, seconds=2.0)
            row |= {"audio": f"{clip.path.stem}.wav", "audio_l": f"{other.path.stem}.wav"}
        rows.append(row)
    name = "with_wavs" if separate_audio else "tracks"
    path = folder / f"reuse_{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module", params=[False, True], ids=["track", "separate-audio"])
def dataset(request, avem_synth_clips):
    folder = avem_synth_clips[0].path.parent
    return load_preference_dataset(_prefs(avem_synth_clips, folder, separate_audio=request.param))


def _collator(model_dir: Path, dataset: Any, *, reuse: bool) -> DataCollatorForAVPreference:
    from transformers import AutoConfig, AutoProcessor

    adapter = get_adapter("auto", AutoConfig.from_pretrained(model_dir), **ADAPTER_KWARGS)
    adapter.reuse_media_work = reuse
    adapter.text_rows_by_tokenizer = reuse
    pool = dataset.select_columns(["id", "video", "audio", "emotion"]).to_list()
    collator = DataCollatorForAVPreference(
        adapter=adapter,
        processor=AutoProcessor.from_pretrained(model_dir),
        num_frames=4,
        mismatch=MismatchSelector(pool, source="data", fed=adapter.effective_modalities(
            frozenset({"video", "audio"}))),
    )  # fmt: skip
    if not reuse:
        collator._batch_stream = lambda kind, path: None  # type: ignore[method-assign]
    return collator


def _assert_same(a: Any, b: Any, where: str = "batch") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, where
        assert a.shape == b.shape and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), (where, sorted(a), sorted(b))
        for key in a:
            _assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.fixture(params=["tiny_qwen2_5_omni_dir", "tiny_qwen3_omni_dir"])
def model_dir(request) -> Path:
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("batch_size", [2, 3])
def test_reused_processor_work_gives_identical_batches(model_dir, dataset, batch_size):
    fast, plain = (_collator(model_dir, dataset, reuse=r) for r in (True, False))
    rows = [dataset[i] for i in range(len(dataset))]
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        _assert_same(fast(batch), plain(batch))


def _count_work(collator: DataCollatorForAVPreference, batch: list[dict], monkeypatch) -> Counter:
    """Calls of the processor's media sub-processors and of the processor itself."""
    counts: Counter[str] = Counter()
    processor = collator.processor
    for attr in ("video_processor", "feature_extractor"):
        inner = getattr(processor, attr)
        cls = type(inner)
        real = cls.__call__

        def counted(self, *args, _real=real, _attr=attr, **kwargs):
            counts[_attr] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__call__", counted)
    real_call = type(processor).__call__

    def processor_call(self, *args, **kwargs):
        kind = "with media" if kwargs.get("videos") or kwargs.get("audio") else "text only"
        counts[f"processor {kind}"] += 1
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(type(processor), "__call__", processor_call)
    collator(batch)
    monkeypatch.undo()
    return counts


def test_the_processor_does_less_work(tiny_qwen2_5_omni_dir, dataset, monkeypatch):
    rows = [dataset[i] for i in range(4)]  # s0..s3: s0's and s1's mismatched clips are in it
    fast = _count_work(_collator(tiny_qwen2_5_omni_dir, dataset, reuse=True), rows, monkeypatch)
    plain = _count_work(_collator(tiny_qwen2_5_omni_dir, dataset, reuse=False), rows, monkeypatch)
    # 11 text-only rows, 3 distinct prompts: processed once per prompt, and never by the
    # multimodal processor when the tokenizer does it
    assert plain["processor text only"] == 3 and fast["processor text only"] == 0
    # 4 own + 4 mismatched media processings, each a video and an audio sub-call before
    assert plain["video_processor"] == plain["feature_extractor"] == 8
    assert fast["processor with media"] == plain["processor with media"] == 8
    # own clips once each (4 + 4), mismatched inputs only where not already processed
    assert fast["video_processor"] + fast["feature_extractor"] <= 8 + 3
    assert fast["video_processor"] < 8 and fast["feature_extractor"] < 8


# --------------------------------------------------------------------------- workers


def test_two_dataloader_workers_give_the_main_process_batches(tiny_qwen2_5_omni_dir, dataset):
    from torch.utils.data import DataLoader

    collator = _collator(tiny_qwen2_5_omni_dir, dataset, reuse=True)
    main = list(DataLoader(dataset, batch_size=2, collate_fn=collator, num_workers=0))
    workers = list(
        DataLoader(dataset, batch_size=2, collate_fn=collator, num_workers=2, prefetch_factor=2)
    )
    assert len(main) == len(workers) == math.ceil(len(dataset) / 2)
    for i, (a, b) in enumerate(zip(main, workers, strict=True)):
        _assert_same(a, b, f"batch {i}")


@pytest.fixture(scope="module")
def track_dataset(avem_synth_clips):
    folder = avem_synth_clips[0].path.parent
    return load_preference_dataset(_prefs(avem_synth_clips, folder, separate_audio=False))


def test_trainer_trains_with_dataloader_workers(tiny_qwen2_5_omni_dir, track_dataset, tmp_path):
    from avem_plugins.dpo.config import AVEmDPOConfig
    from avem_plugins.dpo.train import language_lora_config
    from avem_plugins.dpo.trainer import AVEmDPOTrainer

    losses = {}
    for workers in (0, 2):
        args = AVEmDPOConfig(
            output_dir=str(tmp_path / f"w{workers}"), max_steps=3, per_device_train_batch_size=2,
            logging_steps=1, use_cpu=True, bf16=False, report_to="none", save_strategy="no",
            num_frames=4, learning_rate=1e-2, seed=0, dataloader_num_workers=workers,
        )  # fmt: skip
        trainer = AVEmDPOTrainer(
            model=str(tiny_qwen2_5_omni_dir),
            args=args,
            train_dataset=track_dataset,
            peft_config=language_lora_config(r=4, lora_alpha=8),
            adapter=get_adapter("qwen2_5_omni", **ADAPTER_KWARGS),
        )
        loader = trainer.get_train_dataloader()
        assert loader.num_workers == workers
        trainer.train()
        losses[workers] = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses[2]) == 3 and all(math.isfinite(x) for x in losses[2])
    assert losses[2] == pytest.approx(losses[0], abs=1e-6)
