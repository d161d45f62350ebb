"""The one modality vocabulary (no heavy imports).

Two different questions use the word "modality", and both live here:

- **which media reach the model**: ``modalities=`` values of the lmms-eval model and the
  trainer (``"av"``, ``"video"``, ``"audio"``, ``"text"`` or a comma-separated subset of
  :data:`MEDIA_MODALITIES`), parsed by :func:`parse_modalities` into a frozenset;
- **which modality a prompt asks about**: a preference sample's ``modality`` field, one of
  :data:`PROMPT_MODALITIES`. It decides PMP's swap (:func:`swapped_modalities`, SPEC §3.2)
  and, when a row has no such field, comes from the rule :data:`MODALITY_RULES` names
  (:func:`missing_modality`: ``audiovisual`` by default, or :func:`infer_modality`'s guess
  from the prompt's words, or an error).

Also the media-marker rule shared by evaluation and training (:func:`strip_media_markers`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: The media modalities an adapter may feed to a model.
MEDIA_MODALITIES: tuple[str, ...] = ("video", "audio")

#: ``modalities=`` values accepted by the lmms-eval model and the trainer.
MODALITY_SETS: dict[str, frozenset[str]] = {
    "text": frozenset(),
    "audio": frozenset({"audio"}),
    "video": frozenset({"video"}),
    "av": frozenset({"video", "audio"}),
}

#: The values of a sample's ``modality`` (the modality its prompt asks about).
PROMPT_MODALITIES: tuple[str, ...] = ("audio", "visual", "audiovisual")

#: Spellings accepted for a preference row's ``modality``, mapped to the canonical value.
MODALITY_ALIASES: dict[str, str] = {
    "audio": "audio",
    "acoustic": "audio",
    "visual": "visual",
    "video": "visual",
    "vision": "visual",
    "audiovisual": "audiovisual",
    "audio-visual": "audiovisual",
    "audio_visual": "audiovisual",
    "av": "audiovisual",
    "both": "audiovisual",
}

#: Which media the PMP row swaps: ``prompt`` follows the prompt's modality (AVEm-DPO's PMP,
#: SPEC §3.2); the others swap that media whatever the prompt asks (``video``: Vista-DPO's
#: video-level term), as ``(swap_audio, swap_video)``.
SWAP_MODES: dict[str, tuple[bool, bool] | None] = {
    "prompt": None,
    "video": (False, True),
    "audio": (True, False),
    "av": (True, True),
}


class ModalityError(ValueError):
    """An unknown modality name; the message lists the accepted ones."""


def parse_modalities(value: str | Sequence[str] | frozenset[str]) -> frozenset[str]:
    """Turn ``"av"``, ``"text"``, ``"audio,video"`` or a set into a frozenset of modalities."""
    if isinstance(value, frozenset):
        mods = value
    elif isinstance(value, str):
        if value in MODALITY_SETS:
            return MODALITY_SETS[value]
        mods = frozenset(v.strip() for v in value.split(",") if v.strip())
    else:
        mods = frozenset(value)
    unknown = mods - set(MEDIA_MODALITIES)
    if unknown:
        raise ModalityError(
            f"unknown modalities {sorted(unknown)}: use one of {sorted(MODALITY_SETS)} "
            f"or a comma-separated subset of {list(MEDIA_MODALITIES)}"
        )
    return mods


def swapped_modalities(modality: str) -> tuple[bool, bool]:
    """PMP's swap rule: ``(swap_audio, swap_video)`` for a prompt asking about ``modality``.

    Only the modality the prompt asks about is swapped for the mismatched input.
    """
    if modality not in PROMPT_MODALITIES:
        raise ModalityError(f"modality must be one of {PROMPT_MODALITIES}, got {modality!r}")
    return modality in ("audio", "audiovisual"), modality in ("visual", "audiovisual")


#: Media markers used by the authors' data and LLaVA-style prompts.
_MARKER = re.compile(r"<(?:video|audio|image)>\s*", re.IGNORECASE)


def strip_media_markers(prompt: str) -> str:
    """Remove ``<video>``/``<audio>``/``<image>`` markers (and the newline after each).

    The authors' prompts start with ``"<video>\\n<audio>\\n"``; the model adapter places
    media itself, so the markers are dropped.

    >>> strip_media_markers("<video>\\n<audio>\\nHow does she feel?")
    'How does she feel?'
    """
    return _MARKER.sub("", prompt).strip()


_AUDIO_WORDS = re.compile(
    r"\b(audio|voice|vocal|speech|tone|pitch|sound|sounds|hear|heard|prosody|speaking rate|"
    r"loudness|intonation|what (?:is|was) said|words)\b",
    re.IGNORECASE,
)
_VISUAL_WORDS = re.compile(
    r"\b(video|visual|visually|face|facial|expression|see|seen|look|looks|gesture|gestures|"
    r"posture|body|eyes|eyebrows|mouth|smile|frown|scene|background|clothing)\b",
    re.IGNORECASE,
)


def infer_modality(prompt: str) -> str:
    """Which modality a prompt asks about: ``audio``, ``visual`` or ``audiovisual``.

    Used when a preference row has no ``modality`` field (the caller logs the inference).
    A prompt naming cues of both kinds, or neither, asks about both.
    """
    text = strip_media_markers(prompt)
    audio, visual = bool(_AUDIO_WORDS.search(text)), bool(_VISUAL_WORDS.search(text))
    if audio and not visual:
        return "audio"
    if visual and not audio:
        return "visual"
    return "audiovisual"


#: How a preference row without a ``modality`` field gets one (``--modality_rule``):
#: ``audiovisual`` (the default) swaps both media in PMP; ``infer`` guesses from the prompt's
#: words (:func:`infer_modality`); ``refuse`` makes the row an error.
MODALITY_RULES: tuple[str, ...] = ("audiovisual", "infer", "refuse")
DEFAULT_MODALITY_RULE = "audiovisual"


def check_modality_rule(rule: str) -> str:
    """``rule`` if it is one of :data:`MODALITY_RULES`; raises :class:`ModalityError` otherwise."""
    if rule not in MODALITY_RULES:
        raise ModalityError(f"modality rule {rule!r}: use one of {', '.join(MODALITY_RULES)}")
    return rule


def missing_modality(prompt: str, rule: str) -> str | None:
    """The modality a row without one gets under ``rule`` (``None`` under ``refuse``)."""
    check_modality_rule(rule)
    if rule == "infer":
        return infer_modality(prompt)
    return "audiovisual" if rule == "audiovisual" else None
