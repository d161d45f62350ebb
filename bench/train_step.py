"""One optimizer step of AVEm-DPO vs TRL's DPOTrainer on the same model, LoRA and clips.

::

    python bench/train_step.py                       # tiny model on CPU, about a minute
    python bench/train_step.py --quick               # well under a minute: checks it runs
    python bench/train_step.py --size realistic      # GPU only: Qwen2.5-Omni-3B-sized thinker

Contenders, built in one process on identical models (same random weights, same LoRA:
rank 8, alpha 32, language-model projections only, media encoders frozen) and identical
preference rows over the same generated clips, stepped round-robin so machine load hits all
of them alike:

- ``trl``: TRL 1.16's ``DPOTrainer``, unmodified (its ``compute_loss``, fused LM head and
  adapter-disabled reference). TRL's DPO has no audio/video path (its vision collator only
  repeats images per row), so it gets the fairest comparable batch: a collator that, like
  TRL's ``DataCollatorForVisionPreference`` does with images, gives every row its sample's
  media -- the ``[chosen; rejected]`` rows built by the same model adapter
  (``training_rows``: same tokens, same video/audio tensors). Its towers therefore run on
  every row, for the policy and again for the reference.
- ``avem``: ``AVEmDPOTrainer`` on its full row set: chosen, rejected, rejected_2 and the
  mismatched-input row (PMP) on media, plus chosen/rejected/rejected_2 on the text-only
  prompt (TPD); paper defaults (beta 0.1, beta_er = beta_vr = 0.5, gamma_tpd 0.2,
  lambda_av 1); media encoded once per step and shared by all rows and both passes.
- ``avem-no-reuse``: the same with ``encode_media_once=False`` (default mode only): what
  encode-once saves.
- ``policy``: the LoRA policy alone on AVEm-DPO's media rows (forward, backward, optimizer
  step; no reference, no text prior): the memory floor for the "no second model copy" target.

Measured per contender: wall time per step (batch collation + forward/backward + optimizer
step; median over the timed steps after warm-up), media-encoder work (forward calls per step
and clips encoded per sample per step, by an ``EncoderCallCounter`` on the towers), memory
(weights held, optimizer state, and the training step's tensor peak above them, measured on
one extra untimed step: ``max_memory_allocated`` on a GPU, the ``torch.profiler`` allocation
records on CPU; the collator's processor work is outside this window). Decoded media are
cached before the timed steps (both trainers use the same cache); decoding is measured by
``bench/media.py``.

Targets: AVEm-DPO <= 1.3x TRL's step time (issue 18; it was 1.6x in issue 9); <= 2
encodings per sample per step per modality (true media + mismatched media) against TRL's 4;
peak memory within 10% of the LoRA policy alone (no second model copy).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common

CONTENDERS = ("trl", "avem", "avem-no-reuse", "policy")
TARGET_TIME_RATIO = 1.3
TARGET_ENCODINGS = 2.0
TARGET_MEMORY_RATIO = 1.10
LORA = {"r": 8, "lora_alpha": 32}  # the paper's rank 8, "scale 4"

PROMPTS = [
    ("audio", "What emotion does the tone of the speaker's voice convey?"),
    ("visual", "What does the facial expression of the person say about the emotion?"),
    ("audiovisual", "How does the person in the video feel? Explain the cues."),
]

#: The vision and audio towers of both published Qwen2.5-Omni sizes.
TOWERS: dict[str, Any] = {
    "depth": 32, "width": 1280, "vision_ffn": 3420, "audio_ffn": 5120, "heads": 16,
    "audio_heads": 20, "full_attention": [7, 15, 23, 31],
}  # fmt: skip
#: Published dimensions of the Qwen2.5-Omni thinkers; ``mini`` is the same code path at toy
#: width, to check it on CPU.
REALISTIC: dict[str, dict[str, Any]] = {
    "3b": {
        "text": {
            "vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 11008,
            "num_hidden_layers": 36, "num_attention_heads": 16, "num_key_value_heads": 2,
        },
        "towers": TOWERS,
    },
    "7b": {
        "text": {
            "vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944,
            "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
        },
        "towers": TOWERS,
    },
    "mini": {
        "text": {
            "vocab_size": 1024, "hidden_size": 256, "intermediate_size": 512,
            "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        },
        "towers": {
            "depth": 2, "width": 64, "vision_ffn": 128, "audio_ffn": 128, "heads": 4,
            "audio_heads": 4, "full_attention": [1],
        },
    },
}  # fmt: skip


# --------------------------------------------------------------------------- data


def write_preferences(work: Path, n: int, clip: dict[str, Any]) -> Path:
    """``n`` preference rows in the authors' format over ``n`` generated clips.

    Each row: a ``<video>\\n<audio>\\n`` prompt (audio, visual and audiovisual questions in
    turn), chosen / rejected (hallucinated cue) / rejected_2 (spurious cue) responses, its
    clip (audio = the clip's own track), ``video_l`` = the next clip (another emotion) as the
    mismatched input, and the emotion label.
    """
    from avem_plugins.testing.synth import make_clips

    clips = make_clips(work / "clips", max(n, 2), seed=0, **clip)
    rows = []
    for i in range(n):
        rec, other = clips[i % len(clips)], clips[(i + 1) % len(clips)]
        modality, question = PROMPTS[i % len(PROMPTS)]
        e = rec.emotion
        rows.append(
            {
                "id": f"s{i}",
                "prompt": "<video>\n<audio>\n" + question,
                "chosen": f"The person shows {e}: {rec.visual_caption}, and {rec.audio_caption}.",
                "rejected": f"The person shows {e}: she is crying loudly and her hands shake.",
                "rejected_2": f"The person shows {e}: the background is dark and plain.",
                "video": rec.path.name,
                "video_l": other.path.name,
                "modality": modality,
                "emotion": e,
            }
        )
    path = work / "clips" / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def warm_media_cache(prefs: Path, num_frames: int) -> None:
    """Decode every clip once into the default cache (both trainers read the same entries)."""
    from avem_plugins.media import decode_clip

    for line in prefs.read_text().splitlines():
        row = json.loads(line)
        for key in ("video", "video_l"):
            decode_clip(prefs.parent / row[key], num_frames=num_frames)


# --------------------------------------------------------------------------- models


def realistic_config(size: str, processor: Any) -> Any:
    """A Qwen2.5-Omni thinker config with the published ``size`` dims and the kit's token ids."""
    from transformers import Qwen2_5OmniThinkerConfig

    from avem_plugins.testing.tiny import build_config

    tiny = build_config("qwen2_5_omni", processor.tokenizer)  # the kit's special-token ids
    ids = {
        key: getattr(tiny, key)
        for key in (
            "audio_token_id", "image_token_id", "video_token_id", "audio_start_token_id",
            "audio_end_token_id", "vision_start_token_id", "vision_end_token_id",
            "user_token_id", "seconds_per_chunk", "position_id_per_seconds",
        )
    }  # fmt: skip
    dims = REALISTIC[size]
    hidden = dims["text"]["hidden_size"]
    t = dims["towers"]
    text = {
        **dims["text"],
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {  # head_dim 128: sections sum to 64
            "rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [16, 24, 24],
        },
        "tie_word_embeddings": False,
        "pad_token_id": processor.tokenizer.pad_token_id,
        "eos_token_id": processor.tokenizer.eos_token_id,
    }  # fmt: skip
    vision = {
        "depth": t["depth"], "hidden_size": t["width"], "intermediate_size": t["vision_ffn"],
        "num_heads": t["heads"], "out_hidden_size": hidden, "patch_size": 14,
        "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
        "fullatt_block_indexes": t["full_attention"],
    }  # fmt: skip
    audio = {
        "d_model": t["width"], "encoder_layers": t["depth"],
        "encoder_attention_heads": t["audio_heads"], "encoder_ffn_dim": t["audio_ffn"],
        "num_mel_bins": 128, "max_source_positions": 1500, "n_window": 100,
        "output_dim": hidden,
    }  # fmt: skip
    return Qwen2_5OmniThinkerConfig(
        text_config=text, vision_config=vision, audio_config=audio, **ids
    )


def count_parameters(config: Any) -> int:
    """Parameters of the thinker ``config`` describes (built on the meta device: no memory)."""
    import torch
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    with torch.device("meta"):
        model = Qwen2_5OmniThinkerForConditionalGeneration(config)
    return sum(p.numel() for p in model.parameters())


@dataclass
class Setup:
    """What every contender shares."""

    prefs: Path
    processor_dir: Path
    make_model: Callable[[], Any]
    device: str
    batch_size: int
    num_frames: int
    adapter_kwargs: dict[str, Any]
    output_dir: Path


def training_args(setup: Setup, name: str) -> dict[str, Any]:
    cuda = setup.device == "cuda"
    return {
        "output_dir": str(setup.output_dir / name),
        "per_device_train_batch_size": setup.batch_size,
        "learning_rate": 1e-5,
        "beta": 0.1,
        "max_length": None,
        "use_cpu": not cuda,
        "bf16": cuda,
        "gradient_checkpointing": False,
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": 10**6,
        "disable_tqdm": True,
        "seed": 0,
    }


# --------------------------------------------------------------------------- contenders


class PerRowMediaCollator:
    """TRL's batch for audiovisual rows: ``[chosen; rejected]``, every row with its media.

    Like TRL's ``DataCollatorForVisionPreference`` (``images * 2``), each sample's media go
    to both of its rows; the rows are built by the model adapter, so tokens and media
    tensors are exactly those the AVEm-DPO collator builds for the same responses.
    """

    def __init__(self, adapter: Any, processor: Any, root: Path, num_frames: int) -> None:
        self.adapter, self.processor, self.root, self.num_frames = (
            adapter, processor, root, num_frames,
        )  # fmt: skip

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        from avem_plugins.adapters.base import Example
        from avem_plugins.media import decode_clip
        from avem_plugins.modality import strip_media_markers

        media = [
            decode_clip(self.root / f["video"], num_frames=self.num_frames).to_media()
            for f in features
        ]
        examples = [
            Example(strip_media_markers(f["prompt"]), m, f[key])
            for key in ("chosen", "rejected")
            for f, m in zip(features, media, strict=True)
        ]
        rows = self.adapter.training_rows(
            self.processor, examples, modalities=frozenset({"video", "audio"})
        )
        rows.pop("media_keys", None)  # ours only; TRL passes every other key to the model
        return rows


def build_trl(setup: Setup) -> Any:
    from datasets import Dataset
    from transformers import AutoProcessor
    from trl import DPOConfig, DPOTrainer

    from avem_plugins.dpo.train import language_lora_config
    from avem_plugins.registry import get_adapter

    rows = [json.loads(line) for line in setup.prefs.read_text().splitlines()]
    # an "images" column makes TRL treat the data as multimodal: no text pre-tokenisation
    dataset = Dataset.from_list(
        [
            {k: r[k] for k in ("prompt", "chosen", "rejected", "video")} | {"images": []}
            for r in rows
        ]
    )
    processor = AutoProcessor.from_pretrained(setup.processor_dir)
    adapter = get_adapter("qwen2_5_omni", **setup.adapter_kwargs)
    args = DPOConfig(remove_unused_columns=False, **training_args(setup, "trl"))
    trainer = DPOTrainer(
        model=setup.make_model(),
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        peft_config=language_lora_config(**LORA),
        data_collator=PerRowMediaCollator(adapter, processor, setup.prefs.parent, setup.num_frames),
    )
    return trainer, adapter


def build_avem(setup: Setup, name: str) -> Any:
    from transformers import AutoProcessor

    from avem_plugins.dpo.config import AVEmDPOConfig
    from avem_plugins.dpo.train import language_lora_config
    from avem_plugins.dpo.trainer import AVEmDPOTrainer
    from avem_plugins.prefs.schema import load_preference_dataset
    from avem_plugins.registry import get_adapter

    adapter = get_adapter("qwen2_5_omni", **setup.adapter_kwargs)
    cls = AVEmDPOTrainer if name != "policy" else _policy_trainer_class()
    args = AVEmDPOConfig(
        num_frames=setup.num_frames,
        encode_media_once=name != "avem-no-reuse",
        gamma_tpd=0.0 if name == "policy" else 0.2,  # the policy-only floor needs no text rows
        **training_args(setup, name),
    )
    trainer = cls(
        model=setup.make_model(),
        args=args,
        train_dataset=load_preference_dataset(setup.prefs),
        processing_class=AutoProcessor.from_pretrained(setup.processor_dir),
        peft_config=language_lora_config(**LORA),
        adapter=adapter,
    )
    return trainer, adapter


def _policy_trainer_class() -> Any:
    from avem_plugins.dpo.trainer import AVEmDPOTrainer

    class PolicyOnly(AVEmDPOTrainer):
        """The LoRA policy alone on AVEm-DPO's media rows: no reference pass, no text prior."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # type: ignore[no-untyped-def]
            import torch

            rows = inputs["media_rows"]
            features = None
            if self._encoders_frozen:
                with torch.no_grad():
                    features = model(avem_encode=rows)  # install_row_forward's protocol
            per_token = model(avem_rows=rows, avem_features=features)
            mask = rows["completion_mask"].to(per_token.device, per_token.dtype)
            return -(per_token * mask).sum(-1).mean()

    return PolicyOnly


@dataclass
class Runner:
    """Steps one trainer by hand: collate, ``training_step``, clip, optimizer step."""

    name: str
    trainer: Any
    adapter: Any
    device: str
    collate_s: list[float] = field(default_factory=list)
    compute_s: list[float] = field(default_factory=list)
    transient: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    _next: int = 0

    def __post_init__(self) -> None:
        from avem_plugins.adapters.encoding import EncoderCallCounter

        t = self.trainer
        t._engine_reported = True  # the trainer's "AVEm-DPO engine: ..." line: not a table row
        t.create_optimizer_and_scheduler(num_training_steps=10**4)
        t.current_gradient_accumulation_steps = 1
        t.model.train()
        self.counter = EncoderCallCounter(modules=self.adapter.encoder_modules(t.model)).start()

    def _batch(self) -> dict[str, Any]:
        data, b = self.trainer.train_dataset, self.trainer.args.per_device_train_batch_size
        idx = [(self._next + k) % len(data) for k in range(b)]
        self._next = (self._next + b) % len(data)
        return self.trainer.data_collator([data[i] for i in idx])

    def _train(self, batch: dict[str, Any]) -> float:
        import torch

        t = self.trainer
        loss = t.training_step(t.model, batch, None)
        if t.args.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(t.model.parameters(), t.args.max_grad_norm)
        t.optimizer.step()
        t.lr_scheduler.step()
        t.model.zero_grad(set_to_none=True)
        return float(loss)

    def step(self) -> None:
        """One timed step: collate a batch, then forward, backward and optimizer step."""
        import torch

        sync = torch.cuda.synchronize if self.device == "cuda" else (lambda: None)
        start = time.perf_counter()
        batch = self._batch()
        sync()
        collated = time.perf_counter()
        self.losses.append(self._train(batch))
        sync()
        done = time.perf_counter()
        self.collate_s.append(collated - start)
        self.compute_s.append(done - collated)
        if not self.rows:
            self.rows = _row_counts(batch)

    def memory_step(self) -> None:
        """One untimed step whose tensor peak above the resident state is recorded."""
        batch = self._batch()
        self.transient.append(
            _common.tensor_peak(lambda: self.losses.append(self._train(batch)), self.device)
        )

    def reset(self) -> None:
        """Forget the warm-up steps."""
        self.collate_s.clear()
        self.compute_s.clear()
        self.transient.clear()
        self.counter.reset()


def _row_counts(batch: dict[str, Any]) -> dict[str, int]:
    if "media_rows" in batch:  # ours
        return {
            "media": int(batch["media_rows"]["input_ids"].shape[0]),
            "text": int(batch["text_rows"]["input_ids"].shape[0]) if "text_rows" in batch else 0,
            "samples": len(batch["sample_ids"]),
        }
    n = int(batch["input_ids"].shape[0])
    return {"media": n, "text": 0, "samples": n // 2}


def memory_bytes(trainer: Any) -> dict[str, int]:
    """Bytes of the weights every network of ``trainer`` holds, and of the optimizer state."""
    seen: set[int] = set()
    weights = 0
    for net in (trainer.model, getattr(trainer, "ref_model", None)):
        if net is None:
            continue
        for tensor in [*net.parameters(), *net.buffers()]:
            ptr = tensor.untyped_storage().data_ptr()
            if ptr not in seen:
                seen.add(ptr)
                weights += tensor.untyped_storage().nbytes()
    optim = 0
    for state in trainer.optimizer.state.values():
        for value in state.values():
            if hasattr(value, "untyped_storage"):
                optim += value.untyped_storage().nbytes()
    return {"weights": weights, "optimizer": optim}


# --------------------------------------------------------------------------- run


def prepare(args: Any, work: Path) -> Setup:
    """Clips, preference rows, processor and the model factory for ``args.size``."""
    import torch

    from avem_plugins.testing.tiny import build_processor, build_tiny_model

    if args.size == "tiny":
        model_dir = build_tiny_model(work / "tiny-qwen2_5_omni")

        def make_model() -> Any:
            from transformers import Qwen2_5OmniThinkerForConditionalGeneration

            return Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(model_dir)

        device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
        clip = {"num_frames": 16, "fps": 8, "size": (64, 64)}
        processor_dir = model_dir
        adapter_kwargs = {"video_max_pixels": args.video_max_pixels or 4096}
    else:
        processor_dir = work / "processor"
        processor = build_processor("qwen2_5_omni")
        processor.save_pretrained(processor_dir)
        config = realistic_config(args.model_size, processor)
        device = "cpu" if args.cpu else "cuda"

        def make_model() -> Any:
            from transformers import Qwen2_5OmniThinkerForConditionalGeneration

            torch.manual_seed(0)  # identical random weights for every contender
            with torch.device(device):
                model = Qwen2_5OmniThinkerForConditionalGeneration._from_config(
                    config, dtype=torch.bfloat16 if device == "cuda" else torch.float32
                )
            return model.eval()

        clip = {"num_frames": 75, "fps": 25, "size": (320, 240)}  # 3 s clips
        adapter_kwargs = (
            {"video_max_pixels": args.video_max_pixels} if args.video_max_pixels else {}
        )
    prefs = write_preferences(work, args.samples, clip)
    return Setup(
        prefs=prefs,
        processor_dir=processor_dir,
        make_model=make_model,
        device=device,
        batch_size=args.batch_size,
        num_frames=args.num_frames,
        adapter_kwargs=adapter_kwargs,
        output_dir=work / "out",
    )


def run(args: Any, work: Path, names: list[str]) -> dict[str, Runner]:
    setup = prepare(args, work)
    warm_media_cache(setup.prefs, setup.num_frames)
    runners: dict[str, Runner] = {}
    for name in names:
        with contextlib.redirect_stdout(io.StringIO()):  # the trainers' set-up lines
            trainer, adapter = build_trl(setup) if name == "trl" else build_avem(setup, name)
        runners[name] = Runner(name, trainer, adapter, setup.device)
    _common.interleaved({n: r.step for n, r in runners.items()}, rounds=args.warmup, warmup=0)
    for r in runners.values():
        r.reset()
    _common.interleaved({n: r.step for n, r in runners.items()}, rounds=args.steps, warmup=0)
    for r in runners.values():
        r.counter.stop()  # counts cover the timed steps only
        r.memory_step()
    return runners


def report(runners: dict[str, Runner], args: Any) -> dict[str, Any]:
    import math

    out: dict[str, Any] = {}
    for name, r in runners.items():
        steps = len(r.compute_s)
        samples = r.rows["samples"]
        mem = memory_bytes(r.trainer)
        out[name] = {
            "rows_per_sample": {k: r.rows[k] / samples for k in ("media", "text")},
            "step_s": _common.median(
                [a + b for a, b in zip(r.collate_s, r.compute_s, strict=True)]
            ),
            "collate_s": _common.median(r.collate_s),
            "compute_s": _common.median(r.compute_s),
            "tower_calls_per_step": {m: c / steps for m, c in r.counter.calls.items()},
            "encodings_per_sample": {m: c / (steps * samples) for m, c in r.counter.items.items()},
            "weights_bytes": mem["weights"],
            "optimizer_bytes": mem["optimizer"],
            "transient_peak_bytes": max(r.transient) if r.transient else None,
            "finite_loss": all(math.isfinite(x) for x in r.losses),
            "raw": {"collate_s": r.collate_s, "compute_s": r.compute_s, "losses": r.losses},
        }
        o = out[name]
        o["peak_bytes"] = (
            o["weights_bytes"] + o["optimizer_bytes"] + (o["transient_peak_bytes"] or 0)
        )
    return out


def print_report(out: dict[str, Any], args: Any, device: str) -> None:
    base = out.get("trl")
    floor = out.get("policy")
    print(
        f"\nper step: batch {args.batch_size} samples; median of {args.steps} interleaved "
        f"steps after {args.warmup} warm-up; device {device}"
    )
    rows = []
    for name, o in out.items():
        rows.append(
            [
                name,
                f"{o['rows_per_sample']['media']:g} + {o['rows_per_sample']['text']:g}",
                o["step_s"],
                f"{o['step_s'] / base['step_s']:.2f}" if base else None,
                o["collate_s"],
                o["compute_s"],
                "/".join(f"{o['tower_calls_per_step'].get(m, 0):.3g}" for m in ("video", "audio")),
                "/".join(f"{o['encodings_per_sample'].get(m, 0):.3g}" for m in ("video", "audio")),
                _common.mib(o["weights_bytes"]),
                _common.mib(o["optimizer_bytes"]),
                _common.mib(o["transient_peak_bytes"]),
                _common.mib(o["peak_bytes"]),
                f"{o['peak_bytes'] / floor['peak_bytes']:.2f}" if floor else None,
            ]
        )
    print(
        _common.table(
            [
                "contender",
                "rows/sample media+text",
                "step s",
                "x trl",
                "collate s",
                "fwd+bwd+opt s",
                "tower calls/step v/a",
                "encodings/sample v/a",
                "weights MiB",
                "optim MiB",
                "step tensor peak MiB",
                "peak MiB",
                "x policy",
            ],
            rows,
        )
    )
    print("\ntargets")
    checks = []
    avem = out.get("avem")
    if avem and base:
        ratio = avem["step_s"] / base["step_s"]
        checks.append(
            ["step time avem / trl", f"{ratio:.2f}", f"<= {TARGET_TIME_RATIO}",
             _common.verdict(ratio <= TARGET_TIME_RATIO)]
        )  # fmt: skip
    if avem:
        worst = max(avem["encodings_per_sample"].values())
        trl_enc = (
            "/".join(f"{v:.3g}" for v in base["encodings_per_sample"].values()) if base else "-"
        )
        checks.append(
            [f"encodings per sample per step, worst modality (trl v/a: {trl_enc})", f"{worst:.3g}",
             f"<= {TARGET_ENCODINGS:g}", _common.verdict(worst <= TARGET_ENCODINGS)]
        )  # fmt: skip
    if avem and floor:
        ratio = avem["peak_bytes"] / floor["peak_bytes"]
        w_ratio = avem["weights_bytes"] / floor["weights_bytes"]
        checks.append(
            ["weights held avem / policy alone (no second copy)", f"{w_ratio:.2f}",
             f"<= {TARGET_MEMORY_RATIO}", _common.verdict(w_ratio <= TARGET_MEMORY_RATIO)]
        )  # fmt: skip
        checks.append(
            ["peak memory avem / policy alone", f"{ratio:.2f}", f"<= {TARGET_MEMORY_RATIO}",
             _common.verdict(ratio <= TARGET_MEMORY_RATIO)]
        )  # fmt: skip
    bad = [n for n, o in out.items() if not o["finite_loss"]]
    if bad:
        checks.append(["finite losses", ",".join(bad), "all finite", _common.MISSED])
    print(_common.table(["target", "measured", "target", "status"], checks))


def main(argv: list[str] | None = None) -> int:
    parser = _common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("tiny", "realistic"), default="tiny")
    parser.add_argument(
        "--model-size", choices=sorted(REALISTIC), default="3b", help="with --size realistic"
    )
    parser.add_argument("--steps", type=int, default=None, help="timed steps per contender")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=2, help="samples per step")
    parser.add_argument("--samples", type=int, default=None, help="preference rows")
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--video-max-pixels", type=int, default=None)
    parser.add_argument(
        "--contenders", default=None, help=f"comma-separated subset of {','.join(CONTENDERS)}"
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="stay on CPU even with a GPU (with --size realistic: only sensible for --model-size mini)",
    )
    parser.add_argument(
        "--params-only",
        action="store_true",
        help="with --size realistic: print the model's parameter count (meta device) and exit",
    )
    args = parser.parse_args(argv)
    args.steps = args.steps or (3 if args.quick else 20)
    args.warmup = args.warmup or (1 if args.quick else 2)
    args.samples = args.samples or (4 if args.quick else 8)
    default = ("trl", "avem", "policy") if args.quick or args.size == "realistic" else CONTENDERS
    names = args.contenders.split(",") if args.contenders else list(default)
    unknown = set(names) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}; choose from {CONTENDERS}")

    _common.offline_env()
    _common.quiet_native()
    _common.quiet()
    import torch

    if args.size == "realistic" and args.params_only:
        from avem_plugins.testing.tiny import build_processor

        config = realistic_config(args.model_size, build_processor("qwen2_5_omni"))
        n = count_parameters(config)
        print(f"Qwen2.5-Omni thinker, size {args.model_size}: {n / 1e9:.2f} B ({n:,}) parameters")
        return 0
    if args.size == "realistic" and not torch.cuda.is_available() and not args.cpu:
        print(
            "bench/train_step.py --size realistic needs a CUDA GPU (a random-weight "
            f"Qwen2.5-Omni-{args.model_size.upper()}-sized thinker in bf16); none is available. "
            "Run the tiny size on CPU, or this command on a GPU machine."
        )
        return 0

    _common.set_threads(args.threads)
    info = _common.machine_info()
    _common.print_header(
        f"bench/train_step.py: AVEm-DPO vs TRL DPOTrainer, one optimizer step ({args.size})",
        info,
        _common.versions("trl", "transformers", "peft", "accelerate"),
    )
    with _common.workdir(args.workdir) as work:
        runners = run(args, work, names)
        device = next(iter(runners.values())).device
        out = report(runners, args)
        print_report(out, args, device)
        _common.write_json(
            args.json, {"machine": info, "command": _common.command_line(), "results": out}
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
