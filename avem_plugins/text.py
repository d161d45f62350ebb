"""Prompt text helpers shared by evaluation and training (no heavy imports)."""

from __future__ import annotations

import re

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
