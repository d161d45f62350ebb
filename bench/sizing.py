"""Sizing plan: GPU memory per process for the model recipes under DDP / ZeRO-2 / ZeRO-3 / FSDP2.

For the recipes avem-qwen2.5-omni-3b, avem-qwen2.5-omni-7b and avem-qwen3-omni-30b-a3b:

1. parameters, counted on the meta device from the published dimensions (no weights): the
   whole thinker, and the LoRA parameters the recipe's ``lora_target_modules`` regex adds
   (rank ``lora_r``: ``r * (in + out)`` per matched Linear);
2. bytes: bf16 weights (2 B/param), LoRA parameters, gradients and Adam state in float32
   (4 + 4 + 8 B/param: PEFT keeps adapters in float32);
3. activation memory per sample of one AVEm-DPO step (4 media rows + 3 text rows, encode-once,
   reference and text prior without gradient), **measured** on the CPU on a model of the real
   width at reduced depth (language model 1 and 2 layers, towers 1 layer, vocabulary 4096)
   with realistic clips (8 frames of 640x360 at the processor's default size, 3 s and 10 s
   of audio), with and without gradient checkpointing, then scaled: the 2-layer minus the
   1-layer peak is one layer's share (times the real depth), the rest stays, and the LM
   head's logits at the real vocabulary are added analytically (:func:`lm_head_bytes`);
4. per GPU at 8 processes and the recipe's per-device batch: DDP replicates weights, LoRA,
   gradients and optimizer state; ZeRO-2 shards gradients and optimizer state; ZeRO-3 and
   FSDP2 shard the weights too (plus one gathered layer at a time).

Everything is a plan until a GPU measures it (docs/BENCHMARKS.md, "Sizing plan for the model recipes").
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common
import train_step as T

RECIPES = ("avem-qwen2.5-omni-3b", "avem-qwen2.5-omni-7b", "avem-qwen3-omni-30b-a3b")
GPUS = 8
#: Qwen3-Omni-30B-A3B-Instruct's thinker, as published in its config.json.
QWEN3_30B: dict[str, Any] = {
    "text": {
        "vocab_size": 152064, "hidden_size": 2048, "intermediate_size": 768,
        "moe_intermediate_size": 768, "num_experts": 128, "num_experts_per_tok": 8,
        "decoder_sparse_step": 1, "num_hidden_layers": 48, "num_attention_heads": 32,
        "num_key_value_heads": 4, "head_dim": 128,
    },
    "vision": {
        "depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16,
        "out_hidden_size": 2048, "patch_size": 16, "spatial_merge_size": 2,
        "temporal_patch_size": 2, "num_position_embeddings": 2304,
        "deepstack_visual_indexes": [8, 16, 24],
    },
    "audio": {
        "d_model": 1280, "encoder_layers": 32, "encoder_attention_heads": 20,
        "encoder_ffn_dim": 5120, "num_mel_bins": 128, "max_source_positions": 1500,
        "downsample_hidden_size": 480, "n_window": 50, "n_window_infer": 400,
        "output_dim": 2048,
    },
}  # fmt: skip
CLIP = {"size": (640, 360), "fps": 25}
#: Where activations are measured (``--device``): the CPU here, a GPU to confirm the plan.
DEVICE = "cpu"
AUDIO_SECONDS = (3.0, 10.0)


def recipe(name: str) -> dict[str, Any]:
    from avem_plugins.launch.recipe import load_recipe

    return load_recipe(name).args


def family(name: str) -> str:
    return "qwen3_omni" if "qwen3" in name else "qwen2_5_omni"


def config_for(name: str, processor: Any, *, layers: int | None = None, vocab: int | None = None,
               tower_depth: int | None = None) -> Any:  # fmt: skip
    """The thinker config of recipe ``name`` (optionally at reduced depth / vocabulary)."""
    if family(name) == "qwen2_5_omni":
        size = "3b" if "3b" in name else "7b"
        dims = copy.deepcopy(T.REALISTIC[size])
        if layers is not None:
            dims["text"]["num_hidden_layers"] = layers
        if vocab is not None:
            dims["text"]["vocab_size"] = vocab
        if tower_depth is not None:
            dims["towers"]["depth"] = tower_depth
            dims["towers"]["full_attention"] = [tower_depth - 1]
        key = f"_sizing_{size}"
        T.REALISTIC[key] = dims
        try:
            return T.realistic_config(key, processor)
        finally:
            del T.REALISTIC[key]
    from transformers import Qwen3OmniMoeThinkerConfig

    from avem_plugins.testing.tiny import build_config

    tiny = build_config("qwen3_omni", processor.tokenizer)
    dims = copy.deepcopy(QWEN3_30B)
    if layers is not None:
        dims["text"]["num_hidden_layers"] = layers
    if vocab is not None:
        dims["text"]["vocab_size"] = vocab
    if tower_depth is not None:
        dims["vision"]["depth"] = tower_depth
        dims["vision"]["deepstack_visual_indexes"] = [0]
        dims["audio"]["encoder_layers"] = tower_depth
    text = {
        **dims["text"],
        "max_position_embeddings": 65536,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {
            "rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [24, 20, 20],
            "interleaved": True,
        },
        "tie_word_embeddings": False,
        "pad_token_id": processor.tokenizer.pad_token_id,
        "eos_token_id": processor.tokenizer.eos_token_id,
    }  # fmt: skip
    ids = {
        k: getattr(tiny, k)
        for k in (
            "audio_token_id", "image_token_id", "video_token_id", "audio_start_token_id",
            "vision_start_token_id", "user_token_id", "position_id_per_seconds",
        )
        if hasattr(tiny, k)
    }  # fmt: skip
    return Qwen3OmniMoeThinkerConfig(
        text_config=text, vision_config=dims["vision"], audio_config=dims["audio"], **ids
    )


def model_class(name: str) -> Any:
    import transformers

    cls = "Qwen3OmniMoeThinkerForConditionalGeneration" if family(name) == "qwen3_omni" else (
        "Qwen2_5OmniThinkerForConditionalGeneration"
    )  # fmt: skip
    return getattr(transformers, cls)


def counts(name: str, processor: Any) -> dict[str, int]:
    """Parameters of the whole thinker, its language model, one LM layer, and LoRA's."""
    import torch

    args = recipe(name)
    pattern = re.compile(args["lora_target_modules"][0])
    with torch.device("meta"):
        model = model_class(name)(config_for(name, processor))
    total = sum(p.numel() for p in model.parameters())
    lm = sum(p.numel() for n, p in model.named_parameters() if ".language_model." in f".{n}")
    layers = model.config.get_text_config().num_hidden_layers
    layer = sum(
        p.numel()
        for n, p in model.named_parameters()
        if re.search(r"language_model\.layers\.0\.", n)
    )
    lora = 0
    for module_name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and pattern.fullmatch(module_name):
            lora += args["lora_r"] * (module.in_features + module.out_features)
    return {"total": total, "lm": lm, "layers": layers, "layer": layer, "lora": lora}


# --------------------------------------------------------------------------- activations


def write_data(work: Path, seconds: float) -> Path:
    """Two preference samples over 8-frame 640x360 clips with ``seconds`` of audio."""
    clip = {"num_frames": round(CLIP["fps"] * seconds), "fps": CLIP["fps"], "size": CLIP["size"]}
    return T.write_preferences(work / f"clips_{seconds:g}s", 2, clip)


def activation_peak(name: str, processor_dir: Path, prefs: Path, *, layers: int, vocab: int,
                    checkpointing: bool) -> int:  # fmt: skip
    """Tensor peak (bytes) of one AVEm-DPO step on one sample, above the resident state."""
    import torch
    from transformers import AutoProcessor

    from avem_plugins.dpo.config import AVEmDPOConfig
    from avem_plugins.dpo.trainer import AVEmDPOTrainer
    from avem_plugins.prefs.schema import load_preference_dataset
    from avem_plugins.registry import get_adapter

    args = recipe(name)
    processor = AutoProcessor.from_pretrained(processor_dir)
    torch.manual_seed(0)
    config = config_for(name, processor, layers=layers, vocab=vocab, tower_depth=1)
    model = model_class(name)._from_config(config, dtype=torch.bfloat16).to(DEVICE).eval()
    from peft import LoraConfig

    trainer = AVEmDPOTrainer(
        model=model,
        args=AVEmDPOConfig(
            output_dir=str(prefs.parent / "out"), per_device_train_batch_size=1,
            use_cpu=DEVICE == "cpu", bf16=False, activation_checkpointing=checkpointing, max_length=None, num_frames=8,
            report_to="none", save_strategy="no", logging_steps=10**6, disable_tqdm=True,
        ),
        train_dataset=load_preference_dataset(prefs),
        processing_class=processor,
        peft_config=LoraConfig(
            r=args["lora_r"], lora_alpha=args["lora_alpha"], task_type="CAUSAL_LM",
            target_modules=args["lora_target_modules"][0],
        ),
        adapter=get_adapter(family(name)),
    )  # fmt: skip
    if checkpointing:  # Trainer.train() would turn it on; the Runner steps without train()
        trainer.model.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    runner = T.Runner(name, trainer, trainer.adapter, DEVICE)
    runner.step()  # warm: the optimizer state exists from here on
    runner.memory_step()
    batch = runner._batch()
    runner.seq = int(batch["media_rows"]["attention_mask"].sum(-1).max())  # type: ignore[attr-defined]
    return runner.transient[-1]


#: The LM head's share at the real vocabulary, not measured (at vocabulary 4096 and 8192 the
#: step's peak lies elsewhere, so the two runs measured the same peak): the 4 media rows
#: scored with gradient (chosen, rejected, rejected_2, chosen on the swapped input) times
#: RESPONSE_TOKENS response tokens, each with a ``(vocab,)`` row in bf16 (2 B), its float32
#: copy kept for backward (4 B) and the float32 gradient of the log-softmax (4 B).
RESPONSE_TOKENS = 150
LM_HEAD_BYTES = 2 + 4 + 4


def lm_head_bytes(vocab: int) -> int:
    """Bytes of the LM head's logits per sample at the real vocabulary (see above)."""
    return 4 * RESPONSE_TOKENS * vocab * LM_HEAD_BYTES


def scaled_activations(name: str, c: dict[str, int], work: Path, seconds: float,
                       checkpointing: bool) -> dict[str, float]:  # fmt: skip
    from avem_plugins.testing.tiny import build_processor

    processor_dir = work / f"processor_{family(name)}"
    if not processor_dir.exists():
        build_processor(family(name)).save_pretrained(processor_dir)
    prefs = write_data(work, seconds)
    p11 = activation_peak(
        name, processor_dir, prefs, layers=1, vocab=4096, checkpointing=checkpointing
    )
    p21 = activation_peak(
        name, processor_dir, prefs, layers=2, vocab=4096, checkpointing=checkpointing
    )
    return scale(name, c, p11, p21, _processor(processor_dir))


def scale(name: str, c: dict[str, int], p11: float, p21: float, processor: Any) -> dict[str, float]:
    """One layer's share (2 layers minus 1) times the real depth, plus the rest, plus the LM head."""
    per_layer = max(p21 - p11, 0)
    rest = p11 - per_layer
    head = lm_head_bytes(config_for(name, processor).get_text_config().vocab_size)
    total = rest + per_layer * c["layers"] + head
    return {"p11": p11, "p21": p21, "per_layer": per_layer, "rest": rest, "lm_head": head,
            "total": total}  # fmt: skip


def _processor(path: Path) -> Any:
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(path)


# --------------------------------------------------------------------------- plan


def per_gpu(c: dict[str, int], act: float, batch: int, engine: str) -> dict[str, float]:
    """Bytes per GPU: weights, LoRA params + grads, Adam state, activations, gathered layer."""
    n = GPUS
    weights = 2 * c["total"]
    lora, grads, adam = 4 * c["lora"], 4 * c["lora"], 8 * c["lora"]
    gathered = 0.0
    if engine == "ZeRO-2":
        grads, adam = grads / n, adam / n
    elif engine in ("ZeRO-3", "FSDP2"):
        weights, lora, grads, adam = weights / n, lora / n, grads / n, adam / n
        gathered = 2 * c["layer"]  # one layer's full weights while it runs
    activations = act * batch
    return {"weights": weights, "lora": lora, "grads": grads, "adam": adam,
            "gathered": gathered, "activations": activations,
            "total": weights + lora + grads + adam + gathered + activations}  # fmt: skip


def gib(x: float) -> str:
    return f"{x / 2**30:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = _common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument(
        "--params-only", action="store_true", help="counts and bytes, no activations"
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="measure activations here (cuda: torch.cuda.max_memory_allocated, to confirm the plan)",
    )
    parser.add_argument(
        "--checkpointing",
        choices=("both", "on", "off"),
        default="both",
        help="measure with gradient checkpointing on, off or both",
    )
    parser.add_argument(
        "--audio-seconds",
        default=None,
        help="comma-separated clip lengths (default 3,10; --quick: 3)",
    )
    args = parser.parse_args(argv)
    global DEVICE
    DEVICE = args.device
    _common.offline_env()
    _common.quiet_native()
    _common.quiet()
    _common.set_threads(args.threads)
    from avem_plugins.testing.tiny import build_processor

    info = _common.machine_info()
    _common.print_header(
        "bench/sizing.py: GPU memory per process for the model recipes (planned, not yet measured on a GPU)",
        info, _common.versions("torch", "transformers", "peft", "deepspeed"),
    )  # fmt: skip
    names = args.recipes.split(",")
    seconds = AUDIO_SECONDS[:1] if args.quick else AUDIO_SECONDS
    if args.audio_seconds:
        seconds = tuple(float(x) for x in args.audio_seconds.split(","))
    results: dict[str, Any] = {}
    rows = []
    with _common.workdir(args.workdir) as work:
        for name in names:
            processor = build_processor(family(name))
            c = counts(name, processor)
            results[name] = {"counts": c, "activations": {}}
            rows.append([name, f"{c['total'] / 1e9:.2f} B", f"{c['lm'] / 1e9:.2f} B",
                         c["layers"], f"{c['lora'] / 1e6:.2f} M", gib(2 * c["total"]),
                         gib(16 * c["lora"])])  # fmt: skip
        print("parameters (meta device) and bytes")
        print(_common.table(
            ["recipe", "params", "language model", "LM layers", "LoRA params", "bf16 weights GiB",
             "LoRA+grads+Adam GiB"], rows))  # fmt: skip
        if args.params_only:
            _common.write_json(args.json, {"machine": info, "command": _common.command_line(),
                                           "results": results})  # fmt: skip
            return 0
        act_rows, plan_rows = [], []
        for name in names:
            c = results[name]["counts"]
            batch = int(recipe(name).get("per_device_train_batch_size", 2))
            for secs in seconds:
                for gc in {"both": (False, True), "on": (True,), "off": (False,)}[
                    args.checkpointing
                ]:
                    a = scaled_activations(name, c, work, secs, gc)
                    results[name]["activations"][f"{secs:g}s/gc={gc}"] = a
                    act_rows.append([name, f"{secs:g} s", "on" if gc else "off",
                                     f"{a['p11'] / 2**20:.0f}", f"{a['p21'] / 2**20:.0f}",
                                     f"{a['per_layer'] / 2**20:.1f}", f"{a['lm_head'] / 2**20:.0f}",
                                     gib(a["total"])])  # fmt: skip
                    print("measured:", " | ".join(str(x) for x in act_rows[-1]), flush=True)
                    for engine in ("DDP", "ZeRO-2", "ZeRO-3", "FSDP2"):
                        g = per_gpu(c, a["total"], batch, engine)
                        plan_rows.append([name, f"{secs:g} s", "on" if gc else "off", engine,
                                          batch, gib(g["weights"]), gib(g["lora"] + g["grads"] + g["adam"]),
                                          gib(g["gathered"]), gib(g["activations"]), gib(g["total"])])  # fmt: skip
        print(
            "\nactivation peak of one AVEm-DPO step per sample, measured at reduced depth (MiB) and scaled (GiB)"
        )
        print(_common.table(
            ["recipe", "audio", "grad ckpt", "1 layer MiB", "2 layers MiB", "per layer MiB",
             "LM head MiB (analytic)", "scaled GiB/sample"], act_rows))  # fmt: skip
        print(f"\nplan per GPU at {GPUS} GPUs (GiB), the recipe's per-device batch")
        print(_common.table(
            ["recipe", "audio", "grad ckpt", "engine", "batch", "weights", "LoRA+grads+Adam",
             "gathered layer", "activations", "total"], plan_rows))  # fmt: skip
        _common.write_json(args.json, {"machine": info, "command": _common.command_line(),
                                       "results": results})  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
