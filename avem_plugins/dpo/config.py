"""``AVEmDPOConfig``: TRL's ``DPOConfig`` plus the AVEm-DPO knobs (SPEC §3.2).

Only the fields of the method are added; TRL's own defaults are left as they are (the
recipes in ``recipes/`` set the learning rate, epochs and batch sizes of the paper).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from trl import DPOConfig

from avem_plugins.dpo.mismatch import SOURCES
from avem_plugins.modality import DEFAULT_MODALITY_RULE, MODALITY_RULES, SWAP_MODES

logger = logging.getLogger(__name__)

#: Networks that may provide the text prior ``π_text``.
TEXT_PRIOR_MODELS: tuple[str, ...] = ("reference", "policy")


@dataclass
class AVEmDPOConfig(DPOConfig):
    r"""
    Configuration class for [`~avem_plugins.dpo.trainer.AVEmDPOTrainer`].

    Adds to [`~trl.DPOConfig`] the parameters of AVEm-DPO (AVERE, ICLR 2026); the objective is
    documented term by term in `avem_plugins.dpo.loss`. Defaults are the paper's.

    Parameters:
        > Parameters of the objective

        beta_er (`float`, *optional*, defaults to `0.5`):
            Weight β_er of the hallucination negative `rejected` (y_er) in the response preference. A sample
            without `rejected_2` gives its single negative the weight `beta_er + beta_vr`.
        beta_vr (`float`, *optional*, defaults to `0.5`):
            Weight β_vr of the spurious-cue negative `rejected_2` (y_vr). Keep `beta_er + beta_vr = 1` so the
            prompt-only term of the DPO reparameterisation cancels (a warning says so otherwise).
        gamma_tpd (`float`, *optional*, defaults to `0.2`):
            Weight γ_TPD of the text-prior debiasing offset (computed from the text-only prompt, without
            gradient). `0` turns TPD off and skips the text-only forward passes (the "w/o TPD" ablation).
        lambda_av (`float`, *optional*, defaults to `1.0`):
            Weight λ_av of the prompt-based modality preference on inputs (PMP). `0` turns PMP off and skips the
            mismatched-input rows (the "w/o PMP" ablation).
        text_prior_model (`str`, *optional*, defaults to `"reference"`):
            Network that scores the text-only prompt for TPD: `"reference"` (the adapter-disabled base model, or
            the explicit `ref_model`) or `"policy"` (the model being trained). Never back-propagated.

        > Parameters of the data

        mismatch_source (`str`, *optional*, defaults to `"auto"`):
            Where the mismatched input (a_l, v_l) of PMP comes from. `"auto"` tries, per sample, `"data"`
            (`video_l`/`audio_l` fields), then `"label"` (a training clip whose `emotion` differs), then
            `"batch"` (another sample of the same per-device batch, different label and media), then `"noise"`;
            every fallback is logged and counted in the `mismatch/*` metrics. Naming one source uses only that
            one and raises when a sample cannot get it.
        mismatch_modalities (`str`, *optional*, defaults to `"prompt"`):
            Which media the mismatched-input row swaps. `"prompt"` (AVEm-DPO's PMP): the modality the prompt asks
            about (`audio`, `visual` or both). `"video"`, `"audio"` or `"av"`: always that media, whatever the
            prompt asks; `"video"` is Vista-DPO's video-level term, which replaces the whole visual input (the
            `vista-dpo` recipe). Only media the model is fed and the sample has are swapped.
        modality_rule (`str`, *optional*, defaults to `"audiovisual"`):
            Modality of preference rows without a `modality` field: `"audiovisual"` (PMP swaps both media),
            `"infer"` (guessed from the prompt's words) or `"refuse"` (an error). The trainer logs how many rows
            got each modality, given or by this rule.
        media_root (`str`, *optional*):
            Folder that relative media paths resolve against; no path may escape it. Defaults to the folder of
            the preference file.
        num_frames (`int`, *optional*, defaults to `8`):
            Video frames sampled uniformly per clip.
        sample_rate (`int`, *optional*, defaults to `16000`):
            Audio sample rate in Hz.
        adapter (`str`, *optional*, defaults to `"auto"`):
            Model adapter (`avem plugins` lists them); `"auto"` picks it from the model's `config.model_type`.
        adapter_kwargs (`dict[str, Any]`, *optional*):
            Options for the adapter's constructor, e.g. `{"video_max_pixels": 50176}` for the Qwen-Omni adapters.
            A JSON string on the command line.
        modalities (`str`, *optional*, defaults to `"av"`):
            Media fed to the model: `"av"`, `"audio"`, `"video"` or `"text"`.
        encode_media_once (`bool`, *optional*, defaults to `True`):
            Encode each clip once per step and share the features between all rows of a sample and between the
            policy and reference passes, when the adapter supports it and the media encoders are frozen.
        max_length (`int` or `None`, *optional*, defaults to `1024`):
            TRL's flag, with one meaning for every row: a row's **text** tokens (the text-only prompt as the
            chat template renders it, plus the response). Media placeholders are never cut and not counted.
            Before step 1 the trainer measures every sample and stops, naming the longest one and the value
            that fits, when one does not fit (`avem_plugins.dpo.lengths`). `None`: no limit.

    > [!NOTE]
    > These parameters have default values different from [`~trl.DPOConfig`]:
    > - `prediction_loss_only`: Defaults to `True` (and must stay so): the trainer computes log-probabilities,
    >   not logits.
    > `precompute_ref_log_probs=True` and the DPO loss variants (`loss_type` other than `["sigmoid"]`,
    > `ld_alpha`, `f_divergence_type`, `use_weighting`, `label_smoothing`) are rejected with a clear message.
    """

    _VALID_DICT_FIELDS = [*DPOConfig._VALID_DICT_FIELDS, "adapter_kwargs"]  # noqa: RUF012

    # Overridden from DPOConfig: the same default, one meaning on media and text-only rows.
    max_length: int | None = field(
        default=1024,
        metadata={
            "help": "Text tokens of a row: the text-only prompt (chat template included) + the response. "
            "Media placeholders are never cut and not counted. Every sample is checked before step 1; "
            "one that does not fit stops training with its token counts and the value that fits."
        },
    )
    # Overridden from TrainingArguments: the trainer computes log-probabilities, never logits.
    prediction_loss_only: bool = field(
        default=True,
        metadata={
            "help": "Evaluation returns the loss only. AVEmDPOTrainer computes per-token log-probabilities, "
            "not logits, so it must stay True."
        },
    )

    # Overridden from TRL's base config: transformers (>= 5.23) renamed `gradient_checkpointing` to
    # `activation_checkpointing` and warns on every use of the old name. Same default as TRL (on).
    activation_checkpointing: bool | None = field(
        default=True,
        metadata={
            "help": "Recompute activations in the backward pass to trade compute for memory (TRL's "
            "`gradient_checkpointing`, on by default; transformers' current name)."
        },
    )
    gradient_checkpointing: bool | None = field(  # type: ignore[assignment]
        default=None,
        metadata={"help": "Deprecated alias of `activation_checkpointing` (transformers >= 5.23)."},
    )

    # Objective
    beta_er: float = field(
        default=0.5,
        metadata={
            "help": "Weight β_er of the hallucination negative `rejected` (y_er). A sample without `rejected_2` "
            "gives its single negative the weight `beta_er + beta_vr`."
        },
    )
    beta_vr: float = field(
        default=0.5,
        metadata={
            "help": "Weight β_vr of the spurious-cue negative `rejected_2` (y_vr). Keep `beta_er + beta_vr = 1` so "
            "the prompt-only term of the DPO reparameterisation cancels."
        },
    )
    gamma_tpd: float = field(
        default=0.2,
        metadata={
            "help": "Weight γ_TPD of the text-prior debiasing offset (text-only prompt, no gradient). 0 turns TPD "
            "off and skips the text-only forward passes."
        },
    )
    lambda_av: float = field(
        default=1.0,
        metadata={
            "help": "Weight λ_av of the prompt-based modality preference on inputs (PMP). 0 turns PMP off and "
            "skips the mismatched-input rows."
        },
    )
    text_prior_model: str = field(
        default="reference",
        metadata={
            "help": "Network scoring the text-only prompt for TPD: 'reference' (adapter-disabled base or "
            "`ref_model`) or 'policy'. Never back-propagated.",
            "choices": list(TEXT_PRIOR_MODELS),
        },
    )
    # Data
    mismatch_source: str = field(
        default="auto",
        metadata={
            "help": "Source of PMP's mismatched input: 'auto' (data, then label, then batch, then noise; each "
            "fallback logged and counted) or one of 'data', 'label', 'batch', 'noise' (only that one; raises when "
            "a sample cannot get it).",
            "choices": ["auto", *SOURCES],
        },
    )
    mismatch_modalities: str = field(
        default="prompt",
        metadata={
            "help": "Media the mismatched-input row swaps: 'prompt' (the modality the prompt asks about: "
            "AVEm-DPO's PMP) or always 'video', 'audio' or 'av' whatever the prompt asks ('video' is "
            "Vista-DPO's video-level term).",
            "choices": list(SWAP_MODES),
        },
    )
    modality_rule: str = field(
        default=DEFAULT_MODALITY_RULE,
        metadata={
            "help": "Modality of preference rows without a 'modality' field: 'audiovisual' (PMP swaps "
            "both media; the default, recipes/README.md says why), 'infer' (guessed from the prompt's "
            "words) or 'refuse' (such a row is an error).",
            "choices": list(MODALITY_RULES),
        },
    )
    media_root: str | None = field(
        default=None,
        metadata={
            "help": "Folder that relative media paths resolve against; no path may escape it. Defaults to the "
            "folder of the preference file."
        },
    )
    num_frames: int = field(
        default=8,
        metadata={"help": "Video frames sampled uniformly per clip."},
    )
    sample_rate: int = field(
        default=16000,
        metadata={"help": "Audio sample rate in Hz."},
    )
    adapter: str = field(
        default="auto",
        metadata={
            "help": "Model adapter name (see `avem plugins`); 'auto' picks it from the model's config.model_type."
        },
    )
    adapter_kwargs: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "Options for the adapter's constructor, e.g. '{\"video_max_pixels\": 50176}' for the "
            "Qwen-Omni adapters (a JSON string on the command line)."
        },
    )
    modalities: str = field(
        default="av",
        metadata={"help": "Media fed to the model: 'av', 'audio', 'video' or 'text'."},
    )
    encode_media_once: bool = field(
        default=True,
        metadata={
            "help": "Encode each clip once per step, shared by all rows of a sample and by the policy and "
            "reference passes, when the adapter supports it and the media encoders are frozen."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_config(self)


def _check_config(cfg: AVEmDPOConfig) -> None:
    """Validate the AVEm-DPO fields and the TRL options the trainer does not support."""
    from avem_plugins.modality import parse_modalities

    for name in ("beta_er", "beta_vr", "gamma_tpd", "lambda_av"):
        value = getattr(cfg, name)
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise ValueError(f"AVEmDPOConfig.{name} must be a finite number >= 0, got {value!r}")
    if not (math.isfinite(cfg.beta) and cfg.beta > 0):
        raise ValueError(f"AVEmDPOConfig.beta must be > 0, got {cfg.beta!r}")
    if abs(cfg.beta_er + cfg.beta_vr - 1.0) > 1e-9:
        logger.warning(
            "beta_er + beta_vr = %s, not 1: the negatives' weights do not sum to the chosen's, so the "
            "prompt-only term of the DPO reparameterisation does not cancel (the paper uses 0.5 + 0.5)",
            cfg.beta_er + cfg.beta_vr,
        )
    if cfg.text_prior_model not in TEXT_PRIOR_MODELS:
        raise ValueError(
            f"AVEmDPOConfig.text_prior_model must be one of {list(TEXT_PRIOR_MODELS)}, "
            f"got {cfg.text_prior_model!r}"
        )
    if cfg.mismatch_source not in ("auto", *SOURCES):
        raise ValueError(
            f"AVEmDPOConfig.mismatch_source must be 'auto' or one of {list(SOURCES)}, "
            f"got {cfg.mismatch_source!r}"
        )
    if cfg.modality_rule not in MODALITY_RULES:
        raise ValueError(
            f"AVEmDPOConfig.modality_rule must be one of {list(MODALITY_RULES)}, "
            f"got {cfg.modality_rule!r}"
        )
    if cfg.mismatch_modalities not in SWAP_MODES:
        raise ValueError(
            f"AVEmDPOConfig.mismatch_modalities must be one of {list(SWAP_MODES)}, "
            f"got {cfg.mismatch_modalities!r}"
        )
    if not (isinstance(cfg.num_frames, int) and cfg.num_frames >= 1):
        raise ValueError(
            f"AVEmDPOConfig.num_frames must be an integer >= 1, got {cfg.num_frames!r}"
        )
    if not (isinstance(cfg.sample_rate, int) and cfg.sample_rate > 0):
        raise ValueError(
            f"AVEmDPOConfig.sample_rate must be an integer > 0, got {cfg.sample_rate!r}"
        )
    if cfg.adapter_kwargs is not None and not isinstance(cfg.adapter_kwargs, dict):
        raise ValueError(
            f"AVEmDPOConfig.adapter_kwargs must be a mapping (a JSON object on the command line), "
            f"got {cfg.adapter_kwargs!r}"
        )
    modalities = parse_modalities(cfg.modalities)  # raises a clear ModalityError (a ValueError)
    if not modalities and cfg.lambda_av > 0:
        raise ValueError(
            "modalities='text' feeds no media, so PMP (which swaps media) cannot run: set lambda_av=0"
        )
    # TRL options whose code path AVEmDPOTrainer replaces.
    if list(cfg.loss_type) != ["sigmoid"]:
        raise ValueError(
            f"AVEmDPOConfig.loss_type must be ['sigmoid'] (AVEm-DPO extends the sigmoid loss), "
            f"got {cfg.loss_type!r}; use trl.DPOTrainer for other DPO losses"
        )
    unsupported = {
        "ld_alpha": (cfg.ld_alpha, None),
        "f_divergence_type": (cfg.f_divergence_type, "reverse_kl"),
        "use_weighting": (cfg.use_weighting, False),
        "label_smoothing": (cfg.label_smoothing, 0.0),
        "padding_free": (cfg.padding_free, False),
    }
    for name, (value, default) in unsupported.items():
        if value != default:
            raise ValueError(
                f"AVEmDPOConfig.{name}={value!r} is not supported by AVEm-DPO; leave it at {default!r}"
            )
    if not cfg.prediction_loss_only:
        raise ValueError(
            "AVEmDPOConfig.prediction_loss_only must be True: AVEmDPOTrainer computes log-probabilities, "
            "not logits, so evaluation reports losses and metrics only"
        )
    if cfg.precompute_ref_log_probs:
        raise ValueError(
            "precompute_ref_log_probs=True is not supported by AVEmDPOTrainer: the reference log-probs of "
            "the mismatched-input rows depend on media drawn at collate time (label/batch/noise sources), so "
            "they cannot be cached per dataset row. With LoRA the reference costs no extra memory (the "
            "adapter is disabled); set precompute_ref_log_probs=False"
        )
