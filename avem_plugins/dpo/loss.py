"""The AVEm-DPO objective as pure tensor functions (SPEC §3.2): no model, no trainer.

Notation, per preference sample (all log-probabilities are *summed* over the response
tokens, never length-normalised):

- ``ℓθ(y | a, v, x)`` and ``ℓref(y | a, v, x)``: policy and reference log-probabilities of a
  response ``y`` given audio ``a``, video ``v`` and prompt ``x``;
- ``Δ(y) = ℓθ(y | a_w, v_w, x) − ℓref(y | a_w, v_w, x)``: the implicit reward of DPO, up to β;
- ``t(y) = log π_text(y | x)``: the likelihood of ``y`` from the text prompt alone (media
  placeholders removed), a constant of the loss: no gradient flows through it;
- ``y_w`` chosen, ``y_er`` hallucination negative (``rejected``), ``y_vr`` spurious negative
  (``rejected_2``, optional per sample).

The three terms:

1. **ERP** — response preference over two negatives::

       r_y = Δ(y_w) − w_er·Δ(y_er) − w_vr·Δ(y_vr)

2. **TPD** — text-prior debiasing, an offset on the logit of ERP::

       o = γ_TPD · [t(y_w) − w_er·t(y_er) − w_vr·t(y_vr)]        (no gradient)
       z_y = β·r_y − o,        L_y = −log σ(z_y)

   A pair that the text prompt alone already ranks correctly (``o > 0``) earns less credit, so
   the policy has to win the margin from the audio and video, not from the text prior.

3. **PMP** — prompt-based modality preference on inputs. Only the modality the prompt asks
   about is swapped for the mismatched input ``(a_l, v_l)`` (:func:`avem_plugins.modality.swapped_modalities`)::

       a' = a_l if m ∈ {audio, audiovisual} else a_w
       v' = v_l if m ∈ {visual, audiovisual} else v_w
       z_av = β·[Δ(y_w | a_w, v_w) − Δ(y_w | a', v')],        L_av = −log σ(z_av)

Total, averaged over the batch: ``L = mean(L_y + λ_av·L_av)`` (``L_av = 0`` for a sample
whose prompt asks about a modality the model is not fed: it has nothing to swap).

**Weights of the negatives** (:func:`negative_weights`). With both negatives,
``w_er = β_er`` and ``w_vr = β_vr``. A sample without ``rejected_2`` has one negative, and it
takes the whole negative weight: ``w_er = β_er + β_vr``, ``w_vr = 0``. At the paper's defaults
(``β_er = β_vr = 0.5``) both cases put weight 1 on the negatives, which is what makes the
prompt-only term ``β·log Z(x)`` of the DPO reparameterisation cancel, and what makes a
one-negative sample with ``γ_TPD = 0`` and ``λ_av = 0`` score *exactly* plain DPO's sigmoid loss
``−log σ(β·[Δ(y_w) − Δ(y_l)])`` (a tested parity with TRL's ``DPOTrainer``). The same weights
apply inside the TPD offset, so the offset is the text prior of the very combination ERP
scores.

Paper defaults: ``β = 0.1``, ``β_er = β_vr = 0.5``, ``γ_TPD = 0.2``, ``λ_av = 1.0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def negative_weights(
    has_rejected_2: torch.Tensor, *, beta_er: float, beta_vr: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample weights ``(w_er, w_vr)`` of the two negatives.

    ``has_rejected_2`` is a boolean ``(B,)`` tensor. Samples with both negatives get
    ``(β_er, β_vr)``; samples with one negative get ``(β_er + β_vr, 0)``.
    """
    has = has_rejected_2.bool()
    w_er = torch.where(has, beta_er, beta_er + beta_vr).to(torch.get_default_dtype())
    w_vr = torch.where(has, beta_vr, 0.0).to(torch.get_default_dtype())
    return w_er, w_vr


def weighted_margin(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    rejected_2: torch.Tensor | None,
    has_rejected_2: torch.Tensor | None,
    *,
    beta_er: float,
    beta_vr: float,
) -> torch.Tensor:
    """``x(y_w) − w_er·x(y_er) − w_vr·x(y_vr)`` for per-sample scores ``x`` of shape ``(B,)``.

    ``rejected_2`` may be ``None`` (no sample has a second negative); where
    ``has_rejected_2`` is false its value is ignored (it may hold any placeholder, even NaN).
    """
    if rejected_2 is None or has_rejected_2 is None:
        has_rejected_2 = torch.zeros_like(chosen, dtype=torch.bool)
        rejected_2 = torch.zeros_like(chosen)
    w_er, w_vr = negative_weights(has_rejected_2, beta_er=beta_er, beta_vr=beta_vr)
    w_er, w_vr = w_er.to(chosen), w_vr.to(chosen)
    second = torch.where(has_rejected_2.bool(), w_vr * rejected_2, torch.zeros_like(rejected_2))
    return chosen - w_er * rejected - second


def response_logits(
    delta_chosen: torch.Tensor,
    delta_rejected: torch.Tensor,
    delta_rejected_2: torch.Tensor | None = None,
    has_rejected_2: torch.Tensor | None = None,
    *,
    beta: float,
    beta_er: float,
    beta_vr: float,
) -> torch.Tensor:
    """ERP logit before debiasing: ``β·[Δ(y_w) − w_er·Δ(y_er) − w_vr·Δ(y_vr)]``, shape ``(B,)``."""
    margin = weighted_margin(
        delta_chosen, delta_rejected, delta_rejected_2, has_rejected_2,
        beta_er=beta_er, beta_vr=beta_vr,
    )  # fmt: skip
    return beta * margin


def text_prior_offset(
    text_chosen: torch.Tensor,
    text_rejected: torch.Tensor,
    text_rejected_2: torch.Tensor | None = None,
    has_rejected_2: torch.Tensor | None = None,
    *,
    gamma_tpd: float,
    beta_er: float,
    beta_vr: float,
) -> torch.Tensor:
    """TPD offset ``γ_TPD·[t(y_w) − w_er·t(y_er) − w_vr·t(y_vr)]``, shape ``(B,)``.

    ``t(·)`` are text-only log-probabilities; they are detached here, so no gradient ever
    flows through this term, whichever network produced them.
    """
    margin = weighted_margin(
        text_chosen.detach(),
        text_rejected.detach(),
        None if text_rejected_2 is None else text_rejected_2.detach(),
        has_rejected_2,
        beta_er=beta_er,
        beta_vr=beta_vr,
    )
    return gamma_tpd * margin


def input_logits(
    delta_matched: torch.Tensor, delta_mismatched: torch.Tensor, *, beta: float
) -> torch.Tensor:
    """PMP logit ``β·[Δ(y_w | a_w, v_w) − Δ(y_w | a', v')]``, shape ``(B,)``."""
    return beta * (delta_matched - delta_mismatched)


@dataclass
class AVEmDPOLossOutput:
    """Everything the trainer logs; per-sample tensors have shape ``(B,)``.

    ``loss`` is the scalar to back-propagate. ``input_logits``/``loss_input`` are ``None``
    when PMP is off (``λ_av = 0`` or no mismatched row); ``tpd_offset`` is zeros when TPD is
    off.
    """

    loss: torch.Tensor
    loss_response: torch.Tensor
    loss_input: torch.Tensor | None
    response_logits: torch.Tensor
    tpd_offset: torch.Tensor
    input_logits: torch.Tensor | None


def avem_dpo_loss(
    *,
    delta_chosen: torch.Tensor,
    delta_rejected: torch.Tensor,
    delta_rejected_2: torch.Tensor | None = None,
    has_rejected_2: torch.Tensor | None = None,
    text_chosen: torch.Tensor | None = None,
    text_rejected: torch.Tensor | None = None,
    text_rejected_2: torch.Tensor | None = None,
    delta_chosen_mismatched: torch.Tensor | None = None,
    input_mask: torch.Tensor | None = None,
    beta: float = 0.1,
    beta_er: float = 0.5,
    beta_vr: float = 0.5,
    gamma_tpd: float = 0.2,
    lambda_av: float = 1.0,
) -> AVEmDPOLossOutput:
    """``L = mean(L_y + λ_av·L_av)`` with ``L_y = −log σ(z_y)``, ``L_av = −log σ(z_av)``.

    ``delta_*`` are ``ℓθ − ℓref`` per sample; ``text_*`` are ``t(·)`` (needed when
    ``gamma_tpd > 0``); ``delta_chosen_mismatched`` is ``Δ(y_w | a', v')`` (needed when
    ``lambda_av > 0``); ``input_mask`` (boolean ``(B,)``) marks the samples that have a PMP
    row (a prompt about a modality the model is not fed has nothing to swap): ``L_av`` is 0
    for the others and their ``delta_chosen_mismatched`` is ignored.
    """
    z_y = response_logits(
        delta_chosen, delta_rejected, delta_rejected_2, has_rejected_2,
        beta=beta, beta_er=beta_er, beta_vr=beta_vr,
    )  # fmt: skip
    if gamma_tpd != 0.0:
        if text_chosen is None or text_rejected is None:
            raise ValueError(
                "gamma_tpd > 0 needs the text-only log-probs text_chosen/text_rejected"
            )
        if has_rejected_2 is not None and bool(has_rejected_2.any()) and text_rejected_2 is None:
            raise ValueError("samples with rejected_2 need text_rejected_2 when gamma_tpd > 0")
        offset = text_prior_offset(
            text_chosen, text_rejected, text_rejected_2, has_rejected_2,
            gamma_tpd=gamma_tpd, beta_er=beta_er, beta_vr=beta_vr,
        )  # fmt: skip
    else:
        offset = torch.zeros_like(z_y).detach()
    z_y = z_y - offset
    loss_response = -F.logsigmoid(z_y)
    loss = loss_response
    z_av = loss_input = None
    if lambda_av != 0.0:
        if delta_chosen_mismatched is None:
            raise ValueError("lambda_av > 0 needs delta_chosen_mismatched (the PMP row)")
        z_av = input_logits(delta_chosen, delta_chosen_mismatched, beta=beta)
        loss_input = -F.logsigmoid(z_av)
        if input_mask is not None:
            loss_input = torch.where(input_mask.bool(), loss_input, torch.zeros_like(loss_input))
        loss = loss + lambda_av * loss_input
    return AVEmDPOLossOutput(
        loss=loss.mean(),
        loss_response=loss_response,
        loss_input=loss_input,
        response_logits=z_y,
        tpd_offset=offset,
        input_logits=z_av,
    )
