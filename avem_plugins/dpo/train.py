"""The AVEm-DPO training script: ``trl/scripts/dpo.py``'s ``main`` with our trainer.

``main(script_args, training_args, model_args)`` takes TRL's ``ScriptArguments``, our
:class:`~avem_plugins.dpo.config.AVEmDPOConfig` and TRL's ``ModelConfig``, exactly what
``TrlParser`` builds, so ``avem dpo`` / ``trl dpo --recipe`` (``avem_plugins.launch.launcher``) and
this module's own entry point share it::

    accelerate launch --config_file recipes/accelerate/ddp.yaml -m avem_plugins.dpo.train \\
        --model_name_or_path Qwen/Qwen2.5-Omni-7B --dataset_name prefs.jsonl \\
        --media_root /data/clips --use_peft --output_dir out

``--dataset_name`` may be a local ``.jsonl``/``.json`` preference file (relative media paths
resolve against ``--media_root``, default: the file's folder) or anything
``datasets.load_dataset`` reads (then ``--media_root`` is needed for relative paths).
:func:`train` runs the same from a plain dict (tests, notebooks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Default LoRA targets when ``--use_peft`` names none: the language model's attention and
#: MLP projections only (``...language_model.layers.N...`` in multimodal models,
#: ``model.layers.N...`` in text ones), so the media encoders stay frozen and are encoded
#: once per step.
LANGUAGE_LORA_TARGETS = (
    r"^(?:.*\.)?(?:language_model|model)\.layers\.\d+\."
    r"(?:self_attn\.(?:q|k|v|o)_proj|mlp\.(?:gate|up|down)_proj)$"
)
#: ...and the media encoders excluded explicitly: for MoE models PEFT (>= 0.18, transformers
#: 5) rewrites a regex ``target_modules`` into module-name suffixes, which would also match
#: the audio tower's ``q_proj``/``k_proj``/``v_proj``.
MEDIA_ENCODER_MODULES = (
    r"^(?:.*\.)?(?:visual|vision_tower|vision_model|vision_encoder|audio_tower|audio_encoder|"
    r"audio_model)(?:\..*)?$"
)


def language_lora_config(**kwargs: Any) -> Any:
    """A ``peft.LoraConfig`` on the language model only (media encoders frozen)."""
    from peft import LoraConfig

    kwargs.setdefault("task_type", "CAUSAL_LM")
    return LoraConfig(
        target_modules=LANGUAGE_LORA_TARGETS, exclude_modules=MEDIA_ENCODER_MODULES, **kwargs
    )


def make_parser() -> Any:
    """TRL's parser over ``(ScriptArguments, AVEmDPOConfig, ModelConfig)``."""
    from trl import ModelConfig, ScriptArguments, TrlParser

    from avem_plugins.dpo.config import AVEmDPOConfig

    return TrlParser((ScriptArguments, AVEmDPOConfig, ModelConfig))  # type: ignore[arg-type]


def _local_file(name: str | None) -> Path | None:
    path = Path(name) if name else None
    return (
        path if path is not None and path.is_file() and path.suffix in (".jsonl", ".json") else None
    )


def load_split(script_args: Any, training_args: Any, split: str) -> Any:
    """One split of the preference data, validated.

    ``--dataset_name`` is a local ``.jsonl``/``.json`` preference file (its only split is the
    training split; the evaluation split is then ``--dataset_test_split`` naming another such
    file) or anything ``datasets.load_dataset`` reads.
    """
    from avem_plugins.prefs.schema import load_preference_dataset

    name = script_args.dataset_name
    if not name:
        raise ValueError(
            "--dataset_name is required: a preference .jsonl/.json file or a dataset name"
        )
    if _local_file(name) is not None:
        if split == script_args.dataset_train_split:
            return load_preference_dataset(
                name, training_args.media_root, modality_rule=training_args.modality_rule
            )
        other = _local_file(split)
        if other is None:
            raise ValueError(
                f"--dataset_name {name} is a single preference file (one split); to evaluate, pass "
                f"--dataset_test_split PATH to another .jsonl/.json file (got {split!r})"
            )
        return load_preference_dataset(
            other, training_args.media_root, modality_rule=training_args.modality_rule
        )
    import datasets

    return datasets.load_dataset(name, name=script_args.dataset_config)[split]


def main(script_args: Any, training_args: Any, model_args: Any) -> Any:
    """Train AVEm-DPO and save the result to ``training_args.output_dir``; returns the trainer."""
    from trl import get_peft_config

    from avem_plugins.dpo.trainer import AVEmDPOTrainer, load_model

    path = model_args.model_name_or_path
    if not path:
        raise ValueError("--model_name_or_path is required")
    load_kwargs: dict[str, Any] = {}
    if model_args.model_revision and model_args.model_revision != "main":
        load_kwargs["revision"] = model_args.model_revision
    if model_args.attn_implementation:
        load_kwargs["attn_implementation"] = model_args.attn_implementation
    loaded = load_model(path, training_args, dtype=model_args.dtype or "auto", **load_kwargs)

    peft_config: Any = get_peft_config(model_args)
    if peft_config is not None and not model_args.lora_target_modules:
        peft_config.target_modules = LANGUAGE_LORA_TARGETS
        peft_config.exclude_modules = MEDIA_ENCODER_MODULES

    train_dataset = load_split(script_args, training_args, script_args.dataset_train_split)
    eval_dataset = None
    if training_args.eval_strategy != "no":
        eval_dataset = load_split(script_args, training_args, script_args.dataset_test_split)

    trainer = AVEmDPOTrainer(
        model=loaded.model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=loaded.processor,
        peft_config=peft_config,
        adapter=loaded.adapter,
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    trainer.save_state()  # trainer_state.json: the logged losses and metrics
    trainer.accelerator.print(f"Model saved to {training_args.output_dir}.")
    if hasattr(trainer, "end"):  # transformers >= 5.18: finish trackers, destroy the process group
        trainer.end()
    return trainer


def train(config: Mapping[str, Any]) -> Any:
    """:func:`main` from a flat dict of flags (``{"model_name_or_path": ..., "beta": 0.1, ...}``)."""
    script_args, training_args, model_args = make_parser().parse_dict(dict(config))
    return main(script_args, training_args, model_args)


def cli(argv: Sequence[str] | None = None) -> None:
    """``python -m avem_plugins.dpo.train [--config FILE] [flags]``."""
    import sys

    parser = make_parser()
    script_args, training_args, model_args = parser.parse_args_and_config(
        args=list(sys.argv[1:] if argv is None else argv)
    )
    main(script_args, training_args, model_args)


if __name__ == "__main__":
    cli()
