"""pytest fixtures for avem-plugins and its plugin authors (loaded through ``pytest11``).

Installing avem-plugins makes these fixtures available in every pytest run, with no
``conftest.py``:

- ``tiny_qwen2_5_omni_dir`` / ``tiny_qwen3_omni_dir`` (session): a folder holding a tiny
  random-weight Qwen2.5-Omni / Qwen3-Omni thinker and its processor, built offline by
  :func:`avem_plugins.testing.tiny.build_tiny_model`; pass it as ``pretrained=``.
- ``avem_synth_clips`` (session): a few generated H.264 + AAC mp4 clips
  (:func:`avem_plugins.testing.synth.make_clips`), as a list of
  :class:`~avem_plugins.testing.synth.ClipRecord` (``.path``, ``.emotion``, cues).

This module is imported by pytest in every run of every project that has avem-plugins
installed, so it imports nothing heavy at module level: torch, transformers and PyAV are
imported inside the fixture bodies, only when a test asks for a fixture.

Tip: the tiny models use the processors' default video size (frames are upscaled, about
600 tokens per 8-frame clip); pass ``video_max_pixels=4096`` to an adapter (or as an
``avem_av`` model_arg) to make a test about ten times faster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

#: Number of clips in ``avem_synth_clips`` (one per emotion, cycling).
SYNTH_CLIPS = 4


@pytest.fixture(scope="session")
def tiny_qwen2_5_omni_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny Qwen2.5-Omni thinker + processor (``from_pretrained`` works offline)."""
    from avem_plugins.testing.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2_5_omni"), "qwen2_5_omni")


@pytest.fixture(scope="session")
def tiny_qwen3_omni_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny Qwen3-Omni MoE thinker + processor (``from_pretrained`` works offline)."""
    from avem_plugins.testing.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen3_omni"), "qwen3_omni")


@pytest.fixture(scope="session")
def avem_synth_clips(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """A few generated mp4 clips (64x64, 16 frames at 8 fps, with an AAC track)."""
    from avem_plugins.testing.synth import make_clips

    return make_clips(tmp_path_factory.mktemp("avem-synth-clips"), SYNTH_CLIPS, seed=0)
