"""AVEm-DPO's terms against hand computations on literal tensors (SPEC §3.2)."""

from __future__ import annotations

import math

import pytest
import torch

from avem_plugins.dpo.loss import (
    avem_dpo_loss,
    input_logits,
    negative_weights,
    response_logits,
    text_prior_offset,
)
from avem_plugins.modality import swapped_modalities


def softplus(x: float) -> float:
    """−log σ(−x) = log(1 + e^x), written out by hand."""
    return math.log1p(math.exp(x))


# Two samples: the first has both negatives, the second only `rejected` (its rejected_2 slot
# holds a NaN placeholder that must be ignored).
D_W = torch.tensor([1.0, 2.0])
D_ER = torch.tensor([0.5, -1.0])
D_VR = torch.tensor([3.0, float("nan")])
HAS = torch.tensor([True, False])
T_W = torch.tensor([-3.0, -2.0])
T_ER = torch.tensor([-4.0, -1.0])
T_VR = torch.tensor([-5.0, float("nan")])
BETA, BETA_ER, BETA_VR, GAMMA = 0.1, 0.5, 0.5, 0.2

# By hand: z_y(0) = 0.1·(1 − 0.5·0.5 − 0.5·3) = −0.075;  z_y(1) = 0.1·(2 − 1·(−1)) = 0.3
ERP = [-0.075, 0.3]
# TPD(0) = 0.2·(−3 − 0.5·(−4) − 0.5·(−5)) = 0.3;  TPD(1) = 0.2·(−2 − 1·(−1)) = −0.2
TPD = [0.3, -0.2]


def test_negative_weights_split_or_merge():
    w_er, w_vr = negative_weights(HAS, beta_er=0.3, beta_vr=0.6)
    assert w_er.tolist() == pytest.approx([0.3, 0.9])
    assert w_vr.tolist() == pytest.approx([0.6, 0.0])


def test_response_logits_by_hand():
    z = response_logits(D_W, D_ER, D_VR, HAS, beta=BETA, beta_er=BETA_ER, beta_vr=BETA_VR)
    assert z.tolist() == pytest.approx(ERP, abs=1e-7)


def test_response_logits_unequal_weights():
    z = response_logits(D_W, D_ER, D_VR, HAS, beta=0.2, beta_er=0.25, beta_vr=0.75)
    # 0.2·(1 − 0.25·0.5 − 0.75·3) = −0.275;  0.2·(2 − 1·(−1)) = 0.6
    assert z.tolist() == pytest.approx([-0.275, 0.6], abs=1e-7)


def test_response_logits_without_any_second_negative():
    z = response_logits(D_W, D_ER, beta=BETA, beta_er=BETA_ER, beta_vr=BETA_VR)
    # one negative everywhere: weight β_er + β_vr = 1
    assert z.tolist() == pytest.approx([0.1 * (1 - 0.5), 0.1 * (2 + 1)], abs=1e-7)


def test_text_prior_offset_by_hand():
    o = text_prior_offset(T_W, T_ER, T_VR, HAS, gamma_tpd=GAMMA, beta_er=BETA_ER, beta_vr=BETA_VR)
    assert o.tolist() == pytest.approx(TPD, abs=1e-7)


@pytest.mark.parametrize(
    ("modality", "expected"),
    [("audio", (True, False)), ("visual", (False, True)), ("audiovisual", (True, True))],
)
def test_pmp_swaps_only_the_modality_the_prompt_asks_about(modality, expected):
    assert swapped_modalities(modality) == expected


def test_pmp_rejects_unknown_modality():
    with pytest.raises(ValueError, match="modality must be one of"):
        swapped_modalities("video")


def test_input_logits_by_hand():
    z = input_logits(torch.tensor([1.0, -0.5]), torch.tensor([3.0, -2.5]), beta=0.1)
    assert z.tolist() == pytest.approx([-0.2, 0.2], abs=1e-7)


def test_total_loss_by_hand():
    d_mis = torch.tensor([3.0, -2.5])  # Δ(y_w | a', v')
    out = avem_dpo_loss(
        delta_chosen=D_W, delta_rejected=D_ER, delta_rejected_2=D_VR, has_rejected_2=HAS,
        text_chosen=T_W, text_rejected=T_ER, text_rejected_2=T_VR,
        delta_chosen_mismatched=d_mis,
        beta=BETA, beta_er=BETA_ER, beta_vr=BETA_VR, gamma_tpd=GAMMA, lambda_av=0.5,
    )  # fmt: skip
    z_y = [ERP[0] - TPD[0], ERP[1] - TPD[1]]  # [-0.375, 0.5]
    l_y = [softplus(-z) for z in z_y]
    z_av = [0.1 * (1.0 - 3.0), 0.1 * (2.0 + 2.5)]  # [-0.2, 0.45]
    l_av = [softplus(-z) for z in z_av]
    assert out.response_logits.tolist() == pytest.approx(z_y, abs=1e-6)
    assert out.tpd_offset.tolist() == pytest.approx(TPD, abs=1e-6)
    assert out.loss_response.tolist() == pytest.approx(l_y, abs=1e-6)
    assert out.input_logits.tolist() == pytest.approx(z_av, abs=1e-6)
    assert out.loss_input.tolist() == pytest.approx(l_av, abs=1e-6)
    expected = sum(a + 0.5 * b for a, b in zip(l_y, l_av, strict=True)) / 2
    assert out.loss.item() == pytest.approx(expected, abs=1e-6)


def test_switched_off_terms_leave_plain_dpo():
    """One negative, γ_TPD = 0, λ_av = 0: −log σ(β·(Δ_w − Δ_l)), TRL's sigmoid loss."""
    out = avem_dpo_loss(
        delta_chosen=D_W, delta_rejected=D_ER, beta=BETA, gamma_tpd=0.0, lambda_av=0.0
    )
    dpo = [softplus(-BETA * (w - r)) for w, r in zip(D_W.tolist(), D_ER.tolist(), strict=True)]
    assert out.loss.item() == pytest.approx(sum(dpo) / 2, abs=1e-7)
    assert out.loss_input is None and out.input_logits is None
    assert out.tpd_offset.tolist() == [0.0, 0.0]


def test_gradient_of_response_term_by_hand():
    d_w = D_W.clone().requires_grad_()
    out = avem_dpo_loss(
        delta_chosen=d_w, delta_rejected=D_ER, beta=BETA, gamma_tpd=0.0, lambda_av=0.0
    )
    out.loss.backward()
    # d/dΔ_w mean(−log σ(z)) = −β·σ(−z)/B
    z = [0.1 * 0.5, 0.1 * 3.0]
    expected = [-BETA / (1 + math.exp(zz)) / 2 for zz in z]
    assert d_w.grad.tolist() == pytest.approx(expected, abs=1e-7)


def test_no_gradient_flows_through_the_text_prior():
    t_w, t_er, t_vr = (t.clone().requires_grad_() for t in (T_W, T_ER, T_VR))
    d_w = D_W.clone().requires_grad_()
    out = avem_dpo_loss(
        delta_chosen=d_w, delta_rejected=D_ER, delta_rejected_2=D_VR, has_rejected_2=HAS,
        text_chosen=t_w, text_rejected=t_er, text_rejected_2=t_vr,
        delta_chosen_mismatched=torch.zeros(2), beta=BETA, gamma_tpd=GAMMA,
    )  # fmt: skip
    assert not out.tpd_offset.requires_grad
    out.loss.backward()
    assert t_w.grad is None and t_er.grad is None and t_vr.grad is None
    assert d_w.grad is not None and torch.all(d_w.grad != 0)
    # ...but the offset does move the loss (it is not silently dropped)
    no_tpd = avem_dpo_loss(
        delta_chosen=D_W, delta_rejected=D_ER, delta_rejected_2=D_VR, has_rejected_2=HAS,
        delta_chosen_mismatched=torch.zeros(2), beta=BETA, gamma_tpd=0.0,
    )  # fmt: skip
    assert abs(out.loss.item() - no_tpd.loss.item()) > 1e-3


def test_input_mask_excludes_samples_without_a_swap():
    out = avem_dpo_loss(
        delta_chosen=D_W, delta_rejected=D_ER, delta_chosen_mismatched=torch.tensor([3.0, 0.0]),
        input_mask=torch.tensor([True, False]), beta=BETA, gamma_tpd=0.0, lambda_av=1.0,
    )  # fmt: skip
    l_y = [softplus(-0.05), softplus(-0.3)]
    l_av0 = softplus(-0.1 * (1.0 - 3.0))
    assert out.loss.item() == pytest.approx((l_y[0] + l_av0 + l_y[1]) / 2, abs=1e-6)


def test_missing_inputs_are_errors():
    with pytest.raises(ValueError, match="gamma_tpd > 0"):
        avem_dpo_loss(delta_chosen=D_W, delta_rejected=D_ER, gamma_tpd=0.2, lambda_av=0.0)
    with pytest.raises(ValueError, match="lambda_av > 0"):
        avem_dpo_loss(delta_chosen=D_W, delta_rejected=D_ER, gamma_tpd=0.0, lambda_av=1.0)
    with pytest.raises(ValueError, match="text_rejected_2"):
        avem_dpo_loss(
            delta_chosen=D_W, delta_rejected=D_ER, delta_rejected_2=D_VR, has_rejected_2=HAS,
            text_chosen=T_W, text_rejected=T_ER, gamma_tpd=0.2, lambda_av=0.0,
        )  # fmt: skip


def test_zero_weight_second_negative_equals_leaving_it_out():
    both = torch.tensor([True, True])
    kw = {"beta": BETA, "beta_er": 0.7, "beta_vr": 0.0, "gamma_tpd": GAMMA, "lambda_av": 0.0}
    with_vr = avem_dpo_loss(
        delta_chosen=D_W, delta_rejected=D_ER, delta_rejected_2=torch.tensor([3.0, 4.0]),
        has_rejected_2=both, text_chosen=T_W, text_rejected=T_ER,
        text_rejected_2=torch.tensor([-5.0, -6.0]), **kw,
    )  # fmt: skip
    without = avem_dpo_loss(
        delta_chosen=D_W, delta_rejected=D_ER, text_chosen=T_W, text_rejected=T_ER, **kw
    )
    assert with_vr.loss.item() == pytest.approx(without.loss.item(), abs=1e-7)
