"""Choosing the mismatched input ``(a_l, v_l)`` of PMP (SPEC §3.2).

Sources, in order of preference:

1. ``data``  — the sample's own ``video_l`` / ``audio_l`` fields (``audio_l`` defaults to the
   track of ``video_l``);
2. ``label`` — a clip of the training set whose ``emotion`` label differs (both labelled);
3. ``batch`` — another sample of the same per-device batch, with a different label (when both
   are labelled) and different media: the batch is *rolled* by the smallest shift that gives
   every sample such a partner;
4. ``noise`` — random frames / audio of the same shape as the true media.

With ``source="auto"`` each sample takes the first source that can supply it, and every
fallback is logged (once per reason) and counted (:attr:`MismatchSelector.counts`), so it is
never silent. Naming one source uses only it and raises :class:`MismatchError` when a sample
cannot get it.

A rolled in-batch swap can leave a sample with its *own* media: at per-device batch 1 the roll
is the identity, and duplicates in a batch do the same. That is always detected here (no
partner) and again by :func:`check_not_identity` on the final media keys, never passed on as a
"mismatched" input that is in fact the matched one.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from avem_plugins.modality import SWAP_MODES, swapped_modalities

logger = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = ("data", "label", "batch", "noise")


class MismatchError(ValueError):
    """No mismatched input of the requested source; the message says what to do."""


@dataclass(frozen=True)
class MismatchChoice:
    """Where one sample's swapped media come from.

    ``video_path`` is the clip giving ``v'`` (when ``swap_video``); ``audio_path`` the file
    giving ``a'`` (when ``swap_audio``), a video whose track is used when ``audio_in_video``.
    Both are ``None`` for ``noise``. ``partner`` is the id of the sample lent by ``label`` or
    ``batch``.
    """

    source: str
    swap_audio: bool
    swap_video: bool
    video_path: str | None = None
    audio_path: str | None = None
    audio_in_video: bool = False
    partner: str | None = None

    def audio_key(self) -> str | None:
        """Identity of ``a'`` for the identity check (``None`` for noise/unswapped)."""
        if not self.swap_audio or self.audio_path is None:
            return None
        return f"{self.audio_path}#audio" if self.audio_in_video else self.audio_path

    def video_key(self) -> str | None:
        """Identity of ``v'`` for the identity check (``None`` for noise/unswapped)."""
        return self.video_path if self.swap_video else None


def own_audio_key(sample: Mapping[str, Any]) -> str | None:
    """Identity of a sample's true audio: its ``audio`` file or its video's track."""
    if sample.get("audio"):
        return str(sample["audio"])
    return f"{sample['video']}#audio" if sample.get("video") else None


def _lend(
    sample: Mapping[str, Any],
    *,
    swap_audio: bool,
    swap_video: bool,
    video: str = "video",
    audio: str = "audio",
) -> dict[str, Any] | None:
    """The media a sample lends for the swap (its ``video``/``audio`` fields, or the
    ``video_l``/``audio_l`` ones), or ``None`` if it lacks what is needed."""
    if swap_video and not sample.get(video):
        return None
    out: dict[str, Any] = {"video_path": sample.get(video) if swap_video else None}
    if swap_audio:
        if sample.get(audio):
            out |= {"audio_path": sample[audio], "audio_in_video": False}
        elif sample.get(video):
            out |= {"audio_path": sample[video], "audio_in_video": True}
        else:
            return None
    return out


def check_not_identity(sample: Mapping[str, Any], choice: MismatchChoice) -> None:
    """Raise if a swapped modality would get the sample's own media back."""
    if (
        choice.swap_video
        and choice.video_key() is not None
        and choice.video_key() == sample.get("video")
    ):
        raise MismatchError(
            f"sample {sample.get('id')!r}: the mismatched video ({choice.source}) is its own video "
            f"{sample.get('video')}; PMP would compare the sample with itself"
        )
    if (
        choice.swap_audio
        and choice.audio_key() is not None
        and choice.audio_key() == own_audio_key(sample)
    ):
        raise MismatchError(
            f"sample {sample.get('id')!r}: the mismatched audio ({choice.source}) is its own audio "
            f"{own_audio_key(sample)}; PMP would compare the sample with itself"
        )


class MismatchSelector:
    """Picks ``(a_l, v_l)`` per sample of a batch; deterministic for a given ``seed``.

    ``pool`` is the training set (normalised rows with ``id``, ``video``, ``audio`` and
    ``emotion``); ``fed`` the media modalities the model receives (a prompt asking about a
    modality the model is not fed has nothing to swap: ``choose`` returns ``None`` for it);
    ``modalities`` a key of :data:`SWAP_MODES` (default ``prompt``).
    """

    def __init__(
        self,
        pool: Sequence[Mapping[str, Any]] = (),
        *,
        source: str = "auto",
        seed: int = 0,
        fed: frozenset[str] = frozenset({"video", "audio"}),
        modalities: str = "prompt",
    ) -> None:
        if source not in ("auto", *SOURCES):
            raise MismatchError(
                f"mismatch source must be 'auto' or one of {SOURCES}, got {source!r}"
            )
        if modalities not in SWAP_MODES:
            raise MismatchError(
                f"mismatch modalities must be one of {list(SWAP_MODES)}, got {modalities!r}"
            )
        self.modalities = modalities
        self.source = source
        self.seed = seed
        self.fed = fed
        self.pool = [{k: row.get(k) for k in ("id", "video", "audio", "emotion")} for row in pool]
        self.by_label: dict[str, list[int]] = {}
        for i, row in enumerate(self.pool):
            if row["emotion"]:
                self.by_label.setdefault(row["emotion"], []).append(i)
        self.counts: dict[str, int] = dict.fromkeys(SOURCES, 0)
        self._warned: set[str] = set()

    # -- public -----------------------------------------------------------------------------

    def swaps(self, sample: Mapping[str, Any]) -> tuple[bool, bool]:
        """``(swap_audio, swap_video)``: the prompt's modality (or the fixed ``modalities``),
        restricted to the media that reach the model and that the sample has (an audio-only
        sample has no video to swap)."""
        fixed = SWAP_MODES[self.modalities]
        swap_audio, swap_video = fixed or swapped_modalities(sample["modality"])
        has_video = bool(sample.get("video"))
        has_audio = bool(sample.get("audio")) or has_video  # the video's own track
        return (
            swap_audio and "audio" in self.fed and has_audio,
            swap_video and "video" in self.fed and has_video,
        )

    def choose(self, batch: Sequence[Mapping[str, Any]]) -> list[MismatchChoice | None]:
        """One choice per sample (``None``: nothing to swap for this prompt and model)."""
        order = SOURCES if self.source == "auto" else (self.source,)
        choices: list[MismatchChoice | None] = []
        for i, sample in enumerate(batch):
            swap_audio, swap_video = self.swaps(sample)
            if not (swap_audio or swap_video):
                choices.append(None)
                continue
            reasons: list[str] = []
            choice = None
            for src in order:
                choice, reason = getattr(self, f"_from_{src}")(batch, i, swap_audio, swap_video)
                if choice is not None:
                    break
                reasons.append(f"{src}: {reason}")
            if choice is None:
                raise MismatchError(
                    f"sample {sample.get('id')!r}: no mismatched input from source "
                    f"{self.source!r} ({'; '.join(reasons)}); use mismatch_source=auto to fall back "
                    "(data, label, batch, noise)"
                )
            if reasons:
                self._warn_fallback(choice.source, reasons)
            check_not_identity(sample, choice)
            self.counts[choice.source] += 1
            choices.append(choice)
        return choices

    # -- sources ----------------------------------------------------------------------------

    def _from_data(self, batch, i, swap_audio, swap_video):
        s = batch[i]
        choice = _lend(
            s, swap_audio=swap_audio, swap_video=swap_video, video="video_l", audio="audio_l"
        )
        if choice is None:
            missing = (
                "'video_l'" if swap_video and not s.get("video_l") else "'audio_l' or 'video_l'"
            )
            return None, f"no {missing} field"
        out = MismatchChoice("data", swap_audio, swap_video, **choice)
        if self._is_identity(s, out):
            return None, "'video_l'/'audio_l' equal the sample's own media"
        return out, ""

    def _from_label(self, batch, i, swap_audio, swap_video):
        s = batch[i]
        label = s.get("emotion")
        if not label:
            return None, "the sample has no 'emotion' label"
        others = [j for lab, idx in self.by_label.items() if lab != label for j in idx]
        if not others:
            return None, f"no training clip with an emotion other than {label!r}"
        rng = random.Random(f"{self.seed}:{s.get('id')}")
        for _ in range(8):
            partner = self.pool[rng.choice(others)]
            lent = _lend(partner, swap_audio=swap_audio, swap_video=swap_video)
            if lent is None:
                continue
            out = MismatchChoice("label", swap_audio, swap_video, partner=partner["id"], **lent)
            if not self._is_identity(s, out):
                return out, ""
        return None, "no different-label clip with the needed media"

    def _from_batch(self, batch, i, swap_audio, swap_video):
        s, n = batch[i], len(batch)
        if n == 1:
            return None, "per-device batch 1: the in-batch roll is the identity"
        for shift in range(1, n):
            partner = batch[(i + shift) % n]
            if s.get("emotion") and partner.get("emotion") == s.get("emotion"):
                continue
            lent = _lend(partner, swap_audio=swap_audio, swap_video=swap_video)
            if lent is None:
                continue
            out = MismatchChoice("batch", swap_audio, swap_video, partner=partner.get("id"), **lent)
            if not self._is_identity(s, out):
                return out, ""
        return None, "every rolled partner has the same label or the sample's own media"

    def _from_noise(self, batch, i, swap_audio, swap_video):
        return MismatchChoice("noise", swap_audio, swap_video), ""

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _is_identity(sample: Mapping[str, Any], choice: MismatchChoice) -> bool:
        try:
            check_not_identity(sample, choice)
        except MismatchError:
            return True
        return False

    def _warn_fallback(self, used: str, reasons: list[str]) -> None:
        key = f"{used}|{'|'.join(r.split(':')[0] for r in reasons)}"
        if key in self._warned:
            return
        self._warned.add(key)
        logger.warning(
            "PMP mismatched input falls back to %r (%s); counted in the mismatch/%s metric. "
            "Give video_l/audio_l or emotion labels in the data to avoid it",
            used, "; ".join(reasons), used,
        )  # fmt: skip
