"""Parity: with one negative, lambda_av=0 and gamma_tpd=0, AVEm-DPO *is* TRL's sigmoid DPO.

Both trainers get the same tiny text model (a 2-layer Qwen2 built from a config, with the
kit's locally built tokenizer) and **the same batch**: TRL's own collated
``[chosen; rejected]`` rows, handed to our ``compute_loss`` as media rows of kinds
``chosen``/``rejected`` (a text model has no media, so these rows are exactly what our
collator would build; the collator's own layout is tested in tests/unit/dpo/test_collator.py).
TRL scores rows with its fused LM head, we score them with the adapter's
``forward_logps`` (full logits): the losses agree to float32 rounding, checked to 1e-5.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch

pytest.importorskip("trl")

from datasets import Dataset
from peft import LoraConfig
from transformers import Qwen2Config, Qwen2ForCausalLM
from trl import DPOConfig, DPOTrainer

from avem_plugins.adapters.base import ModelAdapter
from avem_plugins.dpo.collator import CHOSEN, REJECTED
from avem_plugins.dpo.config import AVEmDPOConfig
from avem_plugins.dpo.trainer import AVEmDPOTrainer
from avem_plugins.prefs.schema import load_preference_dataset
from avem_plugins.testing.tiny import build_tokenizer

PAIRS = [
    ("Describe the emotion of the person in the video in one word.", "happiness", "sadness"),
    ("What is the emotion of the speaker?", "The speaker frowns: sadness.", "anger"),
    (
        "Does the tone of voice contribute to the sadness of the speaker?",
        "Yes.",
        "No, the face is calm.",
    ),
]
COMMON = {
    "per_device_train_batch_size": len(PAIRS),
    "use_cpu": True,
    "bf16": False,
    "gradient_checkpointing": False,
    "report_to": "none",
    "beta": 0.1,
    "max_length": None,
}
SHARED_METRICS = (
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
    "logps/chosen",
    "logps/rejected",
)


class TextAdapter(ModelAdapter):
    """A plain causal LM: no media; the base class's forward_logps (full logits)."""

    name = "parity_text"
    modalities = frozenset()

    def load(self, pretrained, **kwargs):  # pragma: no cover - models are passed in
        raise NotImplementedError

    def generation_inputs(self, processor, examples, *, modalities):  # pragma: no cover
        raise NotImplementedError

    def training_rows(
        self, processor, examples, *, modalities, max_length=None
    ):  # pragma: no cover
        raise NotImplementedError("the parity test feeds TRL's batch directly")


def tiny_qwen2(tokenizer, seed: int) -> Qwen2ForCausalLM:
    config = Qwen2Config(
        vocab_size=(len(tokenizer) + 63) // 64 * 64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(config)


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def our_dataset(tmp_path_factory):
    # Our trainer validates preference rows (media required by the schema); the parity
    # batch itself is text-only.
    root = tmp_path_factory.mktemp("parity")
    (root / "clip.mp4").write_bytes(b"unused")
    lines = [
        json.dumps({"prompt": p, "chosen": c, "rejected": r, "video": "clip.mp4"})
        for p, c, r in PAIRS
    ]
    (root / "p.jsonl").write_text("\n".join(lines))
    return load_preference_dataset(root / "p.jsonl")


def build_pair(tokenizer, our_dataset, tmp_path, use_peft: bool):
    """(TRL trainer, our trainer) on identical models; the reference differs from the policy."""
    trl_ds = Dataset.from_list([{"prompt": p, "chosen": c, "rejected": r} for p, c, r in PAIRS])
    trainers = []
    for kind in ("trl", "ours"):
        policy = tiny_qwen2(tokenizer, seed=0)
        peft_config = None
        ref = None
        if use_peft:
            peft_config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
        else:
            ref = tiny_qwen2(tokenizer, seed=1)
        if kind == "trl":
            args = DPOConfig(output_dir=str(tmp_path / "trl"), **COMMON)
            trainer = DPOTrainer(
                model=policy, ref_model=ref, args=args, train_dataset=trl_ds,
                processing_class=copy.deepcopy(tokenizer), peft_config=peft_config,
            )  # fmt: skip
        else:
            args = AVEmDPOConfig(
                output_dir=str(tmp_path / "ours"), modalities="text", lambda_av=0.0, gamma_tpd=0.0,
                **COMMON,
            )  # fmt: skip
            trainer = AVEmDPOTrainer(
                model=policy, ref_model=ref, args=args, train_dataset=our_dataset,
                processing_class=copy.deepcopy(tokenizer), peft_config=peft_config,
                adapter=TextAdapter(),
            )  # fmt: skip
        if use_peft:  # a trained-looking adapter, identical in both, so policy != reference
            gen = torch.Generator().manual_seed(7)
            for name, param in sorted(trainer.model.named_parameters()):
                if "lora_B" in name:
                    param.data = torch.randn(param.shape, generator=gen) * 0.5
        trainer.model.train()
        trainers.append(trainer)
    return trainers


@pytest.mark.parametrize("use_peft", [False, True], ids=["ref_model", "lora_disabled_reference"])
def test_one_negative_no_pmp_no_tpd_equals_trl_sigmoid_dpo(
    tokenizer, our_dataset, tmp_path, use_peft
):
    trl_trainer, ours = build_pair(tokenizer, our_dataset, tmp_path, use_peft)
    n = len(PAIRS)
    trl_batch = trl_trainer.data_collator([trl_trainer.train_dataset[i] for i in range(n)])
    our_batch = {
        "sample_ids": [f"p{i}" for i in range(n)],
        "has_rejected_2": torch.zeros(n, dtype=torch.bool),
        "has_mismatched": torch.zeros(n, dtype=torch.bool),
        "mismatch_source": ["none"] * n,
        "media_rows": {k: trl_batch[k] for k in ("input_ids", "attention_mask", "completion_mask")},
        "media_row_sample": torch.arange(n).repeat(2),
        "media_row_kind": torch.tensor([CHOSEN] * n + [REJECTED] * n),
    }
    trl_loss = trl_trainer.compute_loss(trl_trainer.model, trl_batch)
    our_loss = ours.compute_loss(ours.model, our_batch)
    assert abs(trl_loss.item() - torch.log(torch.tensor(2.0)).item()) > 1e-3  # not a trivial point
    assert our_loss.item() == pytest.approx(trl_loss.item(), abs=1e-5)
    for key in SHARED_METRICS:
        assert ours._metrics["train"][key][-1] == pytest.approx(
            trl_trainer._metrics["train"][key][-1], abs=1e-4
        ), key
    # the gradients agree too
    trl_loss.backward()
    our_loss.backward()
    trl_grads = {n: p.grad for n, p in trl_trainer.model.named_parameters() if p.grad is not None}
    our_grads = {n: p.grad for n, p in ours.model.named_parameters() if p.grad is not None}
    assert trl_grads.keys() == our_grads.keys() and trl_grads
    for name, grad in trl_grads.items():
        torch.testing.assert_close(our_grads[name], grad, atol=1e-5, rtol=1e-4, msg=name)
