"""RAVDESS audio-only for lm-eval 0.4.13 (audio LMs; lm-eval has no video).

Same files, labels and scoring as the lmms-eval task ``ravdess_audio``; the audio is
decoded to 16 kHz mono arrays, lm-eval's audio format. No side effects at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from avem_plugins.tasks.classification import PROMPT_AUDIO

if TYPE_CHECKING:
    import datasets

SAMPLE_RATE = 16000


def ravdess_audio_dataset(**kwargs: Any) -> datasets.DatasetDict:
    """lm-eval's ``custom_dataset``: the ``03-01-*.wav`` files under ``RAVDESS_ROOT``, 7 classes."""
    import datasets
    from avem_plugins.tasks.ravdess.utils import build_docs

    from avem_plugins.scoring import taskdata

    del kwargs  # lm-eval passes metadata and dataset_kwargs; none are used
    return datasets.DatasetDict(
        {"test": taskdata.to_dataset(build_docs("audio", 7), task="ravdess_audio_lmeval")}
    )


def doc_to_text(doc: dict[str, Any]) -> str:
    """The one-word question after lm-eval's ``<audio>`` placeholder."""
    return f"<audio>{PROMPT_AUDIO}"


def doc_to_audio(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The speech file as lm-eval wants it: ``[{"array", "sampling_rate"}]`` at 16 kHz."""
    from avem_plugins.media import load_audio

    return [{"array": load_audio(doc["audio_path"], SAMPLE_RATE), "sampling_rate": SAMPLE_RATE}]
