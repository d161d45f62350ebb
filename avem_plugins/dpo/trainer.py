"""``AVEmDPOTrainer``: TRL's ``DPOTrainer`` with the AVEm-DPO objective (SPEC §3.2).

A thin subclass. It changes what TRL's DPO cannot do for audiovisual models and nothing
else:

- ``_prepare_dataset``: validates the preference rows (:mod:`avem_plugins.prefs.schema`) instead of
  tokenising text: the collator (:class:`~avem_plugins.dpo.collator.DataCollatorForAVPreference`)
  owns media and tokenisation, through the model adapter;
- ``_set_signature_columns_if_needed``: keeps the schema's columns;
- ``compute_loss``: scores the collator's rows with the policy and the reference and
  returns :func:`avem_plugins.dpo.loss.avem_dpo_loss`, logging TRL's metrics plus ours.

The reference is the policy with its LoRA adapter disabled (``trl.trainer.utils.use_adapter``,
no second copy), or an explicit ``ref_model`` for full fine-tuning. Media are encoded once per
step when the encoders are frozen: all rows of a sample and the policy and reference passes
share one encoding (``ModelAdapter.encode_media``/``forward_logps``); adapters without that API
run plain forwards. ``media/encoder_calls_per_sample`` counts encoder forward calls.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import textwrap
import types
from collections.abc import Iterator
from typing import Any, cast

import torch
from accelerate.utils import is_peft_model
from trl import DPOTrainer
from trl.models.utils import disable_gradient_checkpointing
from trl.trainer.utils import use_adapter

from avem_plugins.adapters.base import Loaded, ModelAdapter
from avem_plugins.adapters.encoding import EncoderCallCounter
from avem_plugins.dpo.collator import (
    CHOSEN,
    CHOSEN_MISMATCHED,
    REJECTED,
    REJECTED_2,
    DataCollatorForAVPreference,
)
from avem_plugins.dpo.config import AVEmDPOConfig
from avem_plugins.dpo.engines import check_engine, describe_engine
from avem_plugins.dpo.lengths import check_dataset
from avem_plugins.dpo.loss import avem_dpo_loss
from avem_plugins.dpo.mismatch import SOURCES, MismatchSelector
from avem_plugins.modality import DEFAULT_MODALITY_RULE, parse_modalities
from avem_plugins.prefs.schema import COLUMNS, modality_summary, normalize_dataset
from avem_plugins.registry import get_adapter


class NonFiniteLossError(FloatingPointError):
    """The loss or a log-probability is NaN/inf; the message names the samples."""


def install_row_forward(model: Any, adapter: ModelAdapter) -> None:
    """Route ``model(avem_rows=..., avem_features=...)`` and ``model(avem_encode=...)`` to the adapter.

    The adapter's :meth:`~ModelAdapter.forward_logps` and :meth:`~ModelAdapter.encode_media`
    call the model's submodules directly. Called through the model's own ``forward`` instead,
    they run inside whatever wraps the model (DDP, FSDP, a DeepSpeed engine, PEFT), so DDP
    prepares the gradient all-reduce and FSDP/ZeRO-3 gather the parameters, exactly as for a
    plain forward. Like TRL's fused LM head, this patches the instance's ``forward``; calls
    without these keywords are unchanged.
    """
    base = model.get_base_model() if is_peft_model(model) else model
    base._avem_adapter = adapter  # read at call time: a later trainer may bring another adapter
    if getattr(base, "_avem_row_forward", False):
        return

    @functools.wraps(type(base).forward)
    def forward(self: Any, *args: Any, avem_rows: Any = None, avem_features: Any = None,
                avem_encode: Any = None, **kwargs: Any) -> Any:  # fmt: skip
        if avem_encode is not None:
            return self._avem_adapter.encode_media(self, avem_encode)
        if avem_rows is not None:
            return self._avem_adapter.forward_logps(self, avem_rows, avem_features)
        return type(self).forward(self, *args, **kwargs)  # survives copy.deepcopy

    base.forward = types.MethodType(forward, base)
    base._avem_row_forward = True


class AVEmDPOTrainer(DPOTrainer):
    """Trainer for AVEm-DPO (AVERE, ICLR 2026): TRL's ``DPOTrainer`` on audiovisual rows.

    Args are those of :class:`trl.DPOTrainer`, with ``args`` an :class:`AVEmDPOConfig`, plus
    ``adapter``: a :class:`~avem_plugins.adapters.base.ModelAdapter` or its name (default: the
    config's ``adapter``, ``auto`` = chosen from the model's config). ``model`` may be a path
    or hub id, loaded through the adapter. ``train_dataset`` holds preference rows in the
    schema of :mod:`avem_plugins.prefs.schema` (raw rows are validated here).
    """

    _tag_names = ["trl", "dpo", "avem-dpo"]  # noqa: RUF012 (TRL's attribute)
    _name = "AVEm-DPO"
    # Authors, venue and arXiv id as in SPEC §1; "AVERE" is the short name the paper goes by.
    _paper = {  # noqa: RUF012 (TRL's attribute)
        "title": "AVERE (AVEm-DPO, EmoReAlM)",
        "id": "2602.07054",
        # docstyle-ignore
        "citation": textwrap.dedent("""\
            @inproceedings{chaubey2026avere,
                title         = {{AVERE}},
                author        = {Ashutosh Chaubey and Jiacheng Pang and Maksim Siniukov and Mohammad Soleymani},
                booktitle     = {International Conference on Learning Representations},
                year          = 2026,
                eprint        = {2602.07054},
                archivePrefix = {arXiv},
            }"""),
    }

    def __init__(
        self,
        model: Any,
        ref_model: Any = None,
        args: AVEmDPOConfig | None = None,
        data_collator: Any = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        compute_metrics: Any = None,
        callbacks: Any = None,
        optimizers: tuple[Any, Any] = (None, None),
        peft_config: Any = None,
        adapter: ModelAdapter | str | None = None,
    ) -> None:
        if args is None:
            args = AVEmDPOConfig("AVEm-DPO")
        if not isinstance(args, AVEmDPOConfig):
            raise TypeError(
                f"AVEmDPOTrainer needs an AVEmDPOConfig, got {type(args).__name__}; "
                "build one with avem_plugins.dpo.config.AVEmDPOConfig(...)"
            )
        if train_dataset is None:
            raise ValueError("`train_dataset` is required")
        if isinstance(model, str):
            loaded = load_model(model, args, adapter=adapter)
            adapter, model = loaded.adapter, loaded.model
            processing_class = processing_class or loaded.processor
        elif not isinstance(adapter, ModelAdapter):
            adapter = resolve_adapter(model.config, args, adapter)
        self.adapter = adapter
        if processing_class is None:
            from transformers import AutoProcessor

            processing_class = AutoProcessor.from_pretrained(
                model.config._name_or_path, trust_remote_code=args.trust_remote_code
            )
        # A frozen copy of the initial policy for full fine-tuning (TRL would reload it from
        # the hub id, which for audiovisual families may be another class than the adapter's).
        if ref_model is None and peft_config is None and not is_peft_model(model):
            ref_model = copy.deepcopy(model).eval().requires_grad_(False)
        install_row_forward(model, adapter)
        if ref_model is not None:
            install_row_forward(ref_model, adapter)

        train_dataset = self._prepare_dataset(train_dataset, processing_class, args, "train")
        if data_collator is None:
            data_collator = self.make_collator(adapter, processing_class, args, train_dataset)
        super().__init__(
            model=model,
            ref_model=ref_model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            compute_metrics=compute_metrics,
            callbacks=callbacks,
            optimizers=optimizers,
            peft_config=peft_config,
        )
        check_engine(self.accelerator)  # FSDP/ZeRO asked for but not set up: stop, never fall back
        self.accelerator.print(f"AVEm-DPO training rows: {self.modality_line(self.train_dataset)}")
        self._engine_reported = False
        if isinstance(self.data_collator, DataCollatorForAVPreference):
            # every sample measured once, before step 1 (one line naming the longest if too long)
            for split, dataset in (("train", self.train_dataset), ("eval", self.eval_dataset)):
                if not isinstance(dataset, dict):
                    check_dataset(self.data_collator, dataset, self.data_collator.max_length,
                                  split=split)  # fmt: skip
        self._encoders_frozen = not any(
            p.requires_grad
            for m in adapter.encoder_modules(self.model).values()
            for p in m.parameters()
        )
        modules = dict(adapter.encoder_modules(self.model))
        if self.ref_model is not None:
            modules |= {f"ref_{k}": v for k, v in adapter.encoder_modules(self.ref_model).items()}
        self.encoder_counter = EncoderCallCounter(modules=modules).start()

    # -- set-up --------------------------------------------------------------------------

    @staticmethod
    def make_collator(
        adapter: ModelAdapter, processor: Any, args: AVEmDPOConfig, train_dataset: Any
    ) -> DataCollatorForAVPreference:
        """The default collator: rows for the terms that are on, mismatches from the train set."""
        pool = train_dataset.select_columns(["id", "video", "audio", "emotion"]).to_list()
        return DataCollatorForAVPreference(
            adapter=adapter,
            processor=processor,
            modalities=parse_modalities(args.modalities),
            max_length=args.max_length,
            num_frames=args.num_frames,
            sample_rate=args.sample_rate,
            text_rows=args.gamma_tpd > 0,
            swap_rows=args.lambda_av > 0,
            rejected_2_rows=args.beta_vr > 0,
            mismatch=MismatchSelector(
                pool,
                source=args.mismatch_source,
                seed=args.seed,
                modalities=args.mismatch_modalities,
            ),
            seed=args.seed,
        )

    def _prepare_dataset(
        self, dataset: Any, processing_class: Any, args: Any, dataset_name: str
    ) -> Any:
        # No text tokenisation: the collator builds every row (media + text) per batch.
        return normalize_dataset(
            dataset, getattr(args, "media_root", None), source=dataset_name,
            modality_rule=getattr(args, "modality_rule", DEFAULT_MODALITY_RULE),
        )  # fmt: skip

    def _set_signature_columns_if_needed(self) -> None:
        if self._signature_columns is None:
            self._signature_columns = list(COLUMNS)  # type: ignore[assignment]

    def modality_line(self, dataset: Any) -> str:
        """How many rows got each modality (PMP swaps it), given or by ``modality_rule``."""
        from types import SimpleNamespace

        rows = dataset.select_columns(["modality", "modality_inferred"]).to_list()
        return f"{len(rows)} rows; " + modality_summary(
            [SimpleNamespace(**r) for r in rows], self.config.modality_rule
        )

    # -- scoring -------------------------------------------------------------------------

    @property
    def config(self) -> AVEmDPOConfig:
        """``self.args``, typed."""
        return cast(AVEmDPOConfig, self.args)

    def _no_grad(self) -> contextlib.ExitStack:
        """No gradient, and no gradient checkpointing (whose no-grad forwards only warn)."""
        stack = contextlib.ExitStack()
        stack.enter_context(torch.no_grad())
        kwargs = cast("dict[Any, Any] | None", self.args.gradient_checkpointing_kwargs)
        stack.enter_context(disable_gradient_checkpointing(cast(Any, self.model), kwargs))
        return stack

    def _row_logps(self, model: Any, rows: dict[str, Any], features: Any) -> torch.Tensor:
        """Summed response log-probabilities, one per row."""
        per_token = model(avem_rows=rows, avem_features=features)
        mask = rows["completion_mask"].to(per_token.device, per_token.dtype)
        return (per_token * mask).sum(-1)

    @contextlib.contextmanager
    def _reference(self) -> Iterator[Any]:
        """The reference network: ``ref_model``, or the policy with its adapter disabled."""
        with self._no_grad():
            if self.ref_model is not None:
                yield self.ref_model
                return
            unwrapped = self.accelerator.unwrap_model(self.model)
            name = "ref" if "ref" in getattr(unwrapped, "peft_config", {}) else None
            with use_adapter(unwrapped, adapter_name=name):
                yield self.model

    @contextlib.contextmanager
    def _text_prior(self, model: Any) -> Iterator[Any]:
        """π_text: the reference (default) or the policy, never back-propagated."""
        if self.config.text_prior_model == "reference":
            with self._reference() as ref:
                yield ref
        else:
            with self._no_grad():
                yield model

    def _encode(self, model: Any, rows: dict[str, Any], *, frozen: bool) -> Any:
        """Encodings of the rows' unique media, or ``None`` (the row passes encode themselves)."""
        if not (self.config.encode_media_once and frozen):
            return None
        with torch.no_grad():
            return model(avem_encode=rows)

    @staticmethod
    def _table(
        values: torch.Tensor, sample: torch.Tensor, kind: torch.Tensor, n: int
    ) -> torch.Tensor:
        """Rows' values scattered into a ``(n_samples, 4)`` table (absent cells are 0)."""
        table = values.new_zeros(n, 4)
        return table.index_put((sample.to(values.device), kind.to(values.device)), values)

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        mode = "train" if cast(Any, self.model).training else "eval"
        args = self.config
        if not self._engine_reported:  # the wrapped model exists from the first step on
            self._engine_reported = True
            self.accelerator.print(describe_engine(self.accelerator, model))
        ids: list[str] = list(inputs["sample_ids"])
        n = len(ids)
        rows = inputs["media_rows"]
        sample, kind = inputs["media_row_sample"], inputs["media_row_kind"]
        calls_before = sum(self.encoder_counter.calls.values())

        features = self._encode(model, rows, frozen=self._encoders_frozen)
        # The no-gradient passes (reference, text prior) run before the policy's forward, so
        # their transient tensors are freed before the policy's autograd graph is built: the
        # step's peak memory stays close to the policy alone (docs/BENCHMARKS.md).
        with self._reference() as ref:
            # the adapter-disabled policy shares the policy's encodings (frozen towers carry no
            # LoRA); an explicit reference model has its own, always frozen, towers
            ref_features = features if ref is self.model else self._encode(ref, rows, frozen=True)
            reference = self._table(self._row_logps(ref, rows, ref_features), sample, kind, n)

        text = None
        if "text_rows" in inputs:
            with self._text_prior(model) as prior:
                text_logps = self._row_logps(prior, inputs["text_rows"], None)
            text = self._table(text_logps, inputs["text_row_sample"], inputs["text_row_kind"], n)

        policy = self._table(self._row_logps(model, rows, features), sample, kind, n)
        delta = policy - reference

        has2 = inputs["has_rejected_2"].to(delta.device)
        has_mis = inputs["has_mismatched"].to(delta.device)
        use_pmp = args.lambda_av > 0 and bool(has_mis.any())
        out = avem_dpo_loss(
            delta_chosen=delta[:, CHOSEN],
            delta_rejected=delta[:, REJECTED],
            delta_rejected_2=delta[:, REJECTED_2],
            has_rejected_2=has2,
            text_chosen=None if text is None else text[:, CHOSEN],
            text_rejected=None if text is None else text[:, REJECTED],
            text_rejected_2=None if text is None else text[:, REJECTED_2],
            delta_chosen_mismatched=delta[:, CHOSEN_MISMATCHED] if use_pmp else None,
            input_mask=has_mis,
            beta=args.beta,
            beta_er=args.beta_er,
            beta_vr=args.beta_vr,
            gamma_tpd=args.gamma_tpd if text is not None else 0.0,
            lambda_av=args.lambda_av if use_pmp else 0.0,
        )
        self._check_finite(ids, out.loss, policy, reference, text)
        calls = sum(self.encoder_counter.calls.values()) - calls_before
        self._log_metrics(mode, inputs, out, policy, delta, has2, has_mis, calls)
        if return_outputs:
            return out.loss, {"loss_output": out}
        return out.loss

    # -- checks and metrics ------------------------------------------------------------

    def _check_finite(
        self, ids: list[str], loss: torch.Tensor, *tables: torch.Tensor | None
    ) -> None:
        bad_rows = torch.zeros(len(ids), dtype=torch.bool, device=loss.device)
        for table in tables:
            if table is not None:
                bad_rows |= ~torch.isfinite(table.detach()).all(dim=1)
        local_bad = bool(bad_rows.any()) or not bool(torch.isfinite(loss.detach()))
        flag = torch.tensor([float(local_bad)], device=loss.device)
        if not bool(self.accelerator.gather(flag).any()):  # every process raises together
            return
        names = [i for i, bad in zip(ids, bad_rows.tolist(), strict=True) if bad]
        where = f"samples {names}" if names else "another process's samples (see its error)"
        raise NonFiniteLossError(
            f"non-finite AVEm-DPO loss or log-probabilities at step {self.state.global_step}: {where}. "
            "Check those samples' media (silent/empty clips), lower the learning rate, or train in "
            "float32 (bf16=False) to locate it"
        )

    def _mean(self, values: torch.Tensor, mask: torch.Tensor | None = None) -> float | None:
        """Mean over every process's samples (of the masked ones), ``None`` if there are none."""
        values = values.detach().float()
        mask = torch.ones_like(values) if mask is None else mask.to(values.device).float()
        total = self.accelerator.gather((values * mask).sum().reshape(1)).sum()
        count = self.accelerator.gather(mask.sum().reshape(1)).sum()
        return (total / count).item() if count > 0 else None

    def _log_metrics(
        self,
        mode: str,
        inputs: dict[str, Any],
        out: Any,
        policy: torch.Tensor,
        delta: torch.Tensor,
        has2: torch.Tensor,
        has_mis: torch.Tensor,
        encoder_calls: int,
    ) -> None:
        beta = self.config.beta
        rewards = beta * delta.detach()
        margins = out.response_logits.detach() + out.tpd_offset  # β·[Δ_w − w_er·Δ_er − w_vr·Δ_vr]
        metrics: dict[str, float | None] = {
            "rewards/chosen": self._mean(rewards[:, CHOSEN]),
            "rewards/rejected": self._mean(rewards[:, REJECTED]),
            "rewards/rejected_2": self._mean(rewards[:, REJECTED_2], has2),
            "rewards/margins": self._mean(margins),
            "rewards/accuracies": self._mean((margins > 0).float()),
            "logps/chosen": self._mean(policy[:, CHOSEN]),
            "logps/rejected": self._mean(policy[:, REJECTED]),
            "logps/rejected_2": self._mean(policy[:, REJECTED_2], has2),
            "logps/chosen_mismatched": self._mean(policy[:, CHOSEN_MISMATCHED], has_mis),
            "loss/response": self._mean(out.loss_response),
            "tpd/offset": self._mean(out.tpd_offset),
            "media/encoder_calls_per_sample": self._mean(
                torch.tensor(
                    [encoder_calls / max(len(inputs["sample_ids"]), 1)], device=delta.device
                )
            ),
        }
        if out.input_logits is not None:
            metrics["rewards/input_margins"] = self._mean(out.input_logits, has_mis)
            metrics["rewards/input_accuracies"] = self._mean(
                (out.input_logits > 0).float(), has_mis
            )
            metrics["loss/input"] = self._mean(out.loss_input, has_mis)
        sources = inputs.get("mismatch_source", [])
        for src in SOURCES:
            frac = sum(s == src for s in sources) / max(len(sources), 1)
            metrics[f"mismatch/{src}"] = self._mean(torch.tensor([frac], device=delta.device))
        if mode == "train":
            tokens = inputs["media_rows"]["attention_mask"].sum()
            self._total_train_tokens += int(self.accelerator.gather(tokens.reshape(1)).sum().item())
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        for key, value in metrics.items():
            if value is not None:
                self._metrics[mode][key].append(value)


def resolve_adapter(config: Any, args: AVEmDPOConfig, adapter: str | None = None) -> ModelAdapter:
    """The adapter for a model ``config``: ``adapter`` or ``args.adapter`` (``auto``: by config)."""
    options = cast(dict[str, Any], args.adapter_kwargs or {})
    return get_adapter(adapter or args.adapter, config, **options)


def load_model(
    path: str, args: AVEmDPOConfig, *, adapter: ModelAdapter | str | None = None, **kwargs: Any
) -> Loaded:
    """Load model + processor for training through the adapter: the one model-loading path.

    ``kwargs`` go to :meth:`ModelAdapter.load` (``dtype``, ``revision``,
    ``attn_implementation``); ``dtype`` defaults to ``args.model_init_kwargs["dtype"]`` or
    ``auto``.
    """
    if not isinstance(adapter, ModelAdapter):
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(path, trust_remote_code=args.trust_remote_code)
        adapter = resolve_adapter(config, args, adapter)
    init = args.model_init_kwargs if isinstance(args.model_init_kwargs, dict) else {}
    kwargs.setdefault("dtype", str(init.get("dtype", "auto")))
    return adapter.load(path, trust_remote_code=args.trust_remote_code, **kwargs)
