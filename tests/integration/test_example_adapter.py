"""The out-of-tree example adapter (examples/avem-example-adapter) installs and is picked up.

The example distribution is pip-installed (no dependencies, no build isolation, so no
network) into a temporary target folder that is put on ``PYTHONPATH``: its ``avem``
entry point then appears to this environment exactly as after ``pip install``, and
``avem plugins`` must list it with no change to avem-plugins.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.venv

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "avem-example-adapter"
AVEM = Path(sys.executable).with_name("avem")

USE_IT = r"""
import sys
from avem_plugins.adapters.base import Example
from avem_plugins.registry import get_adapter
from avem_plugins.modality import parse_modalities
from avem_plugins.media import decode_clip

adapter = get_adapter("example_media_last")
loaded = adapter.load(sys.argv[1])
media = decode_clip(sys.argv[2]).to_media()
inputs = adapter.generation_inputs(
    loaded.processor, [Example("How does she feel?", media)], modalities=parse_modalities("av")
)
text = loaded.processor.tokenizer.decode(inputs["input_ids"][0])
question = text.index("How does she feel?")
assert question < text.index(loaded.processor.video_token) and question < text.index(
    loaded.processor.audio_token
), text
print("OK", type(adapter).__module__)
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("example-site")
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = tmp_path_factory.mktemp("example-src") / EXAMPLE.name
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
           "--no-index", "--quiet", "--target", str(target), str(source)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]),
    }
    return env


def test_avem_plugins_lists_the_installed_example(installed):
    out = subprocess.run(
        [str(AVEM), "plugins", "--json"], env=installed, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    example = rows["example_adapter"]
    assert example["distribution"] == "avem-example-adapter"
    assert example["version"] == "0.1.0"
    assert example["builtin"] is False
    assert example["hooks"] == ["avem_register_model_adapters"]
    assert {"qwen2_5_omni", "qwen3_omni", "hf_generic"} <= set(rows)


def test_the_example_is_not_there_without_the_install():
    out = subprocess.run(
        [str(AVEM), "plugins", "--json"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "example_adapter" not in {row["name"] for row in json.loads(out.stdout)}


def test_the_example_adapter_works_on_a_tiny_model(
    installed, tiny_qwen2_5_omni_dir, avem_synth_clips
):
    env = {**installed, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", USE_IT, str(tiny_qwen2_5_omni_dir), str(avem_synth_clips[0].path)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK avem_example_adapter" in out.stdout
