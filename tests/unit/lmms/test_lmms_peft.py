"""`avem_av pretrained=` accepts a LoRA output folder (what `trl dpo --recipe` writes)."""

from __future__ import annotations

import json

import pytest

from avem_plugins.lmms.model import resolve_peft


def test_adapter_folder_names_its_base(tmp_path):
    (tmp_path / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "/m/base"})
    )
    assert resolve_peft(str(tmp_path), None) == ("/m/base", str(tmp_path))


def test_full_model_folder_is_left_alone(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "/m/base"})
    )
    assert resolve_peft(str(tmp_path), None) == (str(tmp_path), None)


def test_explicit_peft_argument_wins(tmp_path):
    assert resolve_peft("/m/base", "/m/lora") == ("/m/base", "/m/lora")


def test_adapter_without_base_says_what_to_do(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(ValueError, match="pretrained=BASE,peft=ADAPTER_DIR"):
        resolve_peft(str(tmp_path), None)
