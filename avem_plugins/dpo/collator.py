"""``DataCollatorForAVPreference``: the rows AVEm-DPO scores, built through the model adapter.

For each preference sample (a normalised row, see :mod:`avem_plugins.prefs.schema`) it builds

- **media rows** ``[y_w | y_er | y_vr | y_w with the prompt-selected modality swapped]``,
  all on the true media ``(a_w, v_w)`` except the last, which gets ``(a', v')`` (PMP,
  :mod:`avem_plugins.dpo.mismatch`); ``y_vr`` only when the sample has ``rejected_2``, the swapped
  row only when PMP is on and the prompt's modality is fed to the model;
- **text-only rows** ``[y_w | y_er | y_vr]`` on the prompt with every media placeholder
  removed (TPD), only when TPD is on.

The rows of the whole batch go through :meth:`ModelAdapter.training_rows` in one call per
kind (media / text), so every adapter works (rows are named ``<sample id>/<response>`` in
errors). ``max_length`` counts text tokens (:mod:`avem_plugins.dpo.lengths`): a response too
long is cut to one budget per sample on all its rows, media tokens never.
``media_row_sample``/``media_row_kind`` (and the ``text_`` pair) say which sample and which
response each row is, so the trainer can score samples with and without ``rejected_2`` in
one batch.

A swapped clip is fitted to the true one's shape (audio cropped or looped to the same
length, frames resized to the same size) so the matched and swapped rows have the same
token layout and differ only in content.
"""

from __future__ import annotations

import contextlib
import logging
import os
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from avem_plugins.adapters.base import Example, ModelAdapter
from avem_plugins.dpo.lengths import SequenceLengthError, cut_responses, pad_token_id, prompt_tokens
from avem_plugins.dpo.mismatch import MismatchChoice, MismatchError, MismatchSelector
from avem_plugins.media import Media, MediaError, NoAudioStreamError
from avem_plugins.modality import parse_modalities, strip_media_markers
from avem_plugins.prefs.schema import COLUMNS

logger = logging.getLogger(__name__)

#: Row kinds: which response of a sample a row scores.
CHOSEN, REJECTED, REJECTED_2, CHOSEN_MISMATCHED = 0, 1, 2, 3
KIND_NAMES: tuple[str, ...] = ("chosen", "rejected", "rejected_2", "chosen_mismatched")


def noise_seed(seed: int, sample_id: str) -> int:
    """The noise seed of a sample: stable across processes, runs and batch compositions."""
    return zlib.crc32(f"{seed}:{sample_id}".encode())


def fit_audio(audio: np.ndarray, length: int) -> np.ndarray:
    """``audio`` cropped, or looped, to exactly ``length`` samples."""
    if length <= 0:
        return audio[:0]
    if audio.size == 0:
        return np.zeros(length, dtype=np.float32)
    if audio.size == length and audio.dtype == np.float32:
        return audio  # the very array: the processor's work on it is reused within a batch
    reps = -(-length // audio.size)
    return np.tile(audio, reps)[:length].astype(np.float32, copy=False)


def _same_file(path: Any) -> str:
    return os.path.realpath(os.fspath(path))


def fit_frames(frames: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``frames`` (T, H, W, 3) resized and re-sampled in time to the shape of ``like``."""
    if frames.shape == like.shape:
        return frames
    import torch
    import torch.nn.functional as F

    t_idx = np.linspace(0, frames.shape[0] - 1, like.shape[0]).round().astype(int)
    x = torch.from_numpy(np.ascontiguousarray(frames[t_idx])).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=like.shape[1:3], mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def same_content(a: Media, b: Media) -> bool:
    """Whether two media carry the same frames and audio (the swap would be the identity)."""

    def equal(x: np.ndarray | None, y: np.ndarray | None) -> bool:
        return (x is None and y is None) or (
            x is not None and y is not None and x.shape == y.shape and np.array_equal(x, y)
        )

    return equal(a.frames, b.frames) and equal(a.audio, b.audio)


def noise_media(media: Media, seed: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Random frames and audio with the shapes (and audio level) of ``media``."""
    rng = np.random.default_rng(seed)
    frames = (
        None if media.frames is None else rng.integers(0, 256, media.frames.shape, dtype=np.uint8)
    )
    audio = None
    if media.audio is not None:
        level = float(np.std(media.audio)) or 0.1
        audio = np.clip(rng.normal(0.0, level, media.audio.shape), -1, 1).astype(np.float32)
    return frames, audio


@contextlib.contextmanager
def naming_sample(sample_id: Any, role: str = "") -> Iterator[None]:
    """Re-raise a :class:`~avem_plugins.media.MediaError` naming the preference sample.

    ``role`` says what the file is to that sample (e.g. ``"the mismatched input of "``).
    """
    try:
        yield
    except MediaError as err:
        hint = (
            "; give the row an 'audio' file, or train on video only with --modalities video"
            if isinstance(err, NoAudioStreamError)
            else ""
        )
        where = f"{role}preference sample {sample_id!r}"
        raise type(err)(err.path, f"{err.reason} ({where}{hint})") from err


@dataclass
class DataCollatorForAVPreference:
    """Collate normalised preference rows into AVEm-DPO's media and text-only rows.

    Args:
        adapter: the model family's adapter.
        processor: the model's processor (what ``adapter.training_rows`` takes).
        modalities: media requested (``"av"``, a set, ...); restricted to what the adapter can take.
        max_length: text tokens of a row (text-only prompt + response; media placeholders are
            never cut and not counted, :mod:`avem_plugins.dpo.lengths`). A response that does
            not fit is cut to ``max_length`` minus the sample's text-prompt tokens on *all* the
            sample's rows (media, mismatched and text-only alike).
        num_frames, sample_rate: decoding parameters.
        text_rows: build the text-only rows (TPD on, ``gamma_tpd > 0``).
        swap_rows: build the mismatched-input rows (PMP on, ``lambda_av > 0``).
        rejected_2_rows: build the ``rejected_2`` rows (``beta_vr > 0``; with ``beta_vr = 0``
            the second negative has no weight, and leaving it out gives the same loss).
        mismatch: the selector of ``(a_l, v_l)``; default: ``auto`` with no label pool.
        seed: seeds the noise fallback (per sample id, so identical in every process).
        decode: ``decode_clip``-compatible callable (injectable for tests).
        missing_audio: ``"error"`` or ``"silence"`` for clips without an audio track.
    """

    adapter: ModelAdapter
    processor: Any
    modalities: str | frozenset[str] = frozenset({"video", "audio"})
    max_length: int | None = None
    num_frames: int = 8
    sample_rate: int = 16000
    text_rows: bool = True
    swap_rows: bool = True
    rejected_2_rows: bool = True
    mismatch: MismatchSelector | None = None
    seed: int = 0
    decode: Callable[..., Any] | None = None
    missing_audio: str = "error"
    _fed: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # The one place training derives the media that reach the model.
        self._fed = self.adapter.effective_modalities(parse_modalities(self.modalities))
        dropped = set(self.modalities) - set(self._fed)
        if dropped:
            logger.warning(
                "adapter %r cannot take %s: training feeds %s only",
                self.adapter.name, sorted(dropped), sorted(self._fed) or "text",
            )  # fmt: skip
        if self.mismatch is None:
            self.mismatch = MismatchSelector(source="auto", seed=self.seed)
        self.mismatch.fed = self._fed
        if self.decode is None:
            from avem_plugins.media import decode_clip

            self.decode = decode_clip

    @property
    def fed(self) -> frozenset[str]:
        """The media modalities that reach the model."""
        return self._fed

    # -- media -------------------------------------------------------------------------------

    def _decode(
        self, video: str | None, audio: str | None, *, want_video: bool, want_audio: bool
    ) -> Media:
        from avem_plugins.media import example_media

        return example_media(
            video,
            audio,
            want_video=want_video and video is not None,
            want_audio=want_audio,
            num_frames=self.num_frames,
            sample_rate=self.sample_rate,
            missing_audio=self.missing_audio,
            decode=self.decode,
        )

    def true_media(self, sample: Mapping[str, Any]) -> Media:
        """The sample's own ``(a_w, v_w)``, only the fed modalities."""
        if not self._fed:
            return Media()
        return self._decode(
            sample.get("video"), sample.get("audio"),
            want_video="video" in self._fed, want_audio="audio" in self._fed,
        )  # fmt: skip

    def swapped_media(self, sample: Mapping[str, Any], own: Media, choice: MismatchChoice) -> Media:
        """``(a', v')``: the prompt-selected modality replaced, fitted to the true media's shape."""
        frames, audio = own.frames, own.audio
        if choice.source == "noise":
            noise_frames, noise_audio = noise_media(own, noise_seed(self.seed, str(sample["id"])))
            if choice.swap_video:
                frames = noise_frames
            if choice.swap_audio:
                audio = noise_audio
        else:
            # Another sample's own clip in this batch is taken as decoded for it (the same
            # arrays, so the processor's work on them is shared too); others are decoded.
            if choice.swap_video and own.frames is not None:
                lent = self._batch_stream("frames", choice.video_path)
                if lent is None:
                    v = self._decode(choice.video_path, None, want_video=True, want_audio=False)
                    lent = v.frames
                assert lent is not None
                frames = fit_frames(lent, own.frames)
            if choice.swap_audio and own.audio is not None:
                src_video, src_audio = (
                    (choice.audio_path, None)
                    if choice.audio_in_video
                    else (None, choice.audio_path)
                )
                heard = self._batch_stream(
                    "track" if choice.audio_in_video else "file", choice.audio_path
                )
                if heard is None:
                    a = self._decode(src_video, src_audio, want_video=False, want_audio=True)
                    heard = a.audio
                assert heard is not None
                audio = fit_audio(heard, own.audio.size)
        return Media(
            frames=frames,
            audio=audio,
            sample_rate=own.sample_rate,
            audio_in_video=own.audio_in_video,  # same token layout as the matched row
            key=f"{own.key}|mismatch:{choice.source}:{choice.video_key()}:{choice.audio_key()}",
            frame_rate=own.frame_rate,
        )

    def _remember_batch_streams(
        self, features: Sequence[Mapping[str, Any]], owns: Sequence[Media]
    ) -> None:
        """Index this batch's decoded own streams by file: ``frames``/``track`` of a video,
        ``file`` of a separate audio file (what :meth:`swapped_media` may borrow)."""
        streams: dict[tuple[str, str], np.ndarray] = {}
        for sample, own in zip(features, owns, strict=True):
            video, audio = sample.get("video"), sample.get("audio")
            if own.frames is not None and isinstance(video, str):
                streams[("frames", _same_file(video))] = own.frames
            if own.audio is not None and own.audio_in_video and isinstance(video, str):
                streams[("track", _same_file(video))] = own.audio
            elif own.audio is not None and isinstance(audio, str):
                streams[("file", _same_file(audio))] = own.audio
        self._batch_streams = streams

    def _batch_stream(self, kind: str, path: str | None) -> np.ndarray | None:
        streams = getattr(self, "_batch_streams", None)
        if not streams or path is None:
            return None
        return streams.get((kind, _same_file(path)))

    def _identity_fallback(
        self, sample: Mapping[str, Any], own: Media, choice: MismatchChoice
    ) -> tuple[MismatchChoice, Media]:
        """A "mismatched" clip decoded to the sample's own content: noise (auto) or an error."""
        message = (
            f"sample {sample['id']!r}: the mismatched input from {choice.source!r} "
            f"({choice.video_path or choice.audio_path}) decodes to the sample's own media "
            "(a duplicate clip?)"
        )
        assert self.mismatch is not None
        if self.mismatch.source != "auto":
            raise MismatchError(f"{message}; de-duplicate the clips or use mismatch_source=auto")
        logger.warning("%s; using noise for this sample", message)
        noise = MismatchChoice("noise", choice.swap_audio, choice.swap_video)
        self.mismatch.counts[choice.source] -= 1
        self.mismatch.counts["noise"] += 1
        return noise, self.swapped_media(sample, own, noise)

    # -- rows ----------------------------------------------------------------------------------

    def _uniform_layout(self, examples: list[Example]) -> list[Example]:
        """Feed every clip's track as a separate audio item if the batch mixes layouts.

        Families that interleave a video's own audio track with its frames (Qwen-Omni) take
        one layout per batch; a batch mixing samples with and without a separate ``audio``
        file would be refused. Such a batch is fed with separate audio items throughout,
        and a warning says so once.
        """
        key = getattr(self.adapter, "batch_key", None)
        if key is None:
            return examples
        keys = {key(ex, self._fed) for ex in examples}
        if not {"interleaved", "video"} <= keys:
            return examples
        if not getattr(self, "_warned_layout", False):
            self._warned_layout = True
            logger.warning(
                "a batch mixes clips whose audio is the video's own track with clips that have a "
                "separate 'audio' file; %s takes one layout per batch, so such batches feed every "
                "audio as a separate item. Give all samples an 'audio' file, or none, to avoid it",
                self.adapter.name,
            )
        return [replace(ex, media=replace(ex.media, audio_in_video=False)) for ex in examples]

    def _has_rejected_2(self, sample: Mapping[str, Any]) -> bool:
        return self.rejected_2_rows and bool(sample.get("rejected_2"))

    def _rows(self, examples: list[Example], modalities: frozenset[str]) -> dict[str, Any]:
        # No max_length here: the adapter would count media placeholders; _fit cuts per sample.
        return self.adapter.training_rows(self.processor, examples, modalities=modalities)

    def _fit(
        self,
        ids: list[str],
        media_rows: dict[str, Any],
        media_idx: list[tuple[int, int]],
        text_rows: dict[str, Any],
        text_idx: list[tuple[int, int]],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Cut each sample's responses to one budget, ``max_length`` − its text-prompt tokens."""
        assert self.max_length is not None
        prompts = prompt_tokens(text_rows).tolist()
        budget: dict[int, int] = {}
        for (i, _), n in zip(text_idx, prompts, strict=True):
            budget.setdefault(i, self.max_length - int(n))
        for i, room in budget.items():
            if room < 1:
                raise SequenceLengthError(
                    f"sample {ids[i]!r}: its text-only prompt alone is {self.max_length - room} "
                    f"tokens >= max_length={self.max_length}; raise --max_length (it counts text "
                    "tokens: prompt + response; media tokens are never cut)"
                )
        import torch

        cut = [budget[i] for i, _ in text_idx]
        over = text_rows["completion_mask"].sum(-1) > torch.tensor(cut)
        if bool(over.any()) and not getattr(self, "_warned_cut", False):
            self._warned_cut = True
            logger.warning(
                "cutting responses to max_length=%s text tokens (the same tokens on every row of a "
                "sample); AVEmDPOTrainer checks the whole dataset before step 1 instead",
                self.max_length,
            )
        pad = pad_token_id(self.processor)
        return (
            cut_responses(media_rows, [budget[i] for i, _ in media_idx], pad),
            cut_responses(text_rows, cut, pad),
        )

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        import torch

        missing = [
            c for c in ("id", "prompt", "chosen", "rejected", "modality") if c not in features[0]
        ]
        if missing:
            raise ValueError(
                f"preference rows lack {missing}: load them with avem_plugins.prefs.schema "
                f"(load_preference_dataset / normalize_dataset), which yields the columns {list(COLUMNS)}"
            )
        assert self.mismatch is not None
        choices: list[MismatchChoice | None] = [None] * len(features)
        if self.swap_rows and self._fed:
            choices = self.mismatch.choose(features)

        media_ex: list[Example] = []
        media_idx: list[tuple[int, int]] = []
        text_ex: list[Example] = []
        text_idx: list[tuple[int, int]] = []
        owns = []
        for sample in features:  # first every sample's own media: mismatched inputs borrow them
            with naming_sample(sample["id"]):
                owns.append(self.true_media(sample))
        self._remember_batch_streams(features, owns)
        for i, sample in enumerate(features):
            responses = [(CHOSEN, sample["chosen"]), (REJECTED, sample["rejected"])]
            if self._has_rejected_2(sample):
                responses.append((REJECTED_2, sample["rejected_2"]))
            own = owns[i]
            prompt = strip_media_markers(sample["prompt"])  # the adapter places the media
            for kind, response in responses:
                media_ex.append(
                    Example(prompt, own, response, id=f"{sample['id']}/{KIND_NAMES[kind]}")
                )
                media_idx.append((i, kind))
            choice = choices[i]
            if choice is not None:
                with naming_sample(sample["id"], f"the mismatched input ({choice.source}) of "):
                    swapped = self.swapped_media(sample, own, choice)
                if same_content(own, swapped):
                    choice, swapped = self._identity_fallback(sample, own, choice)
                    choices[i] = choice
                media_ex.append(
                    Example(
                        prompt,
                        swapped,
                        sample["chosen"],
                        id=f"{sample['id']}/chosen_mismatched",
                    )
                )
                media_idx.append((i, CHOSEN_MISMATCHED))
            if self.text_rows or self.max_length is not None:  # text rows measure the budget
                text_prompt = self.adapter.text_only_prompt(sample["prompt"])
                for kind, response in responses:
                    text_ex.append(
                        Example(
                            text_prompt,
                            Media(),
                            response,
                            id=f"{sample['id']}/{KIND_NAMES[kind]}/text",
                        )
                    )
                    text_idx.append((i, kind))

        ids = [str(s["id"]) for s in features]
        media_rows = self._rows(self._uniform_layout(media_ex), self._fed)
        text_rows = self._rows(text_ex, frozenset()) if text_ex else {}
        if self.max_length is not None:
            media_rows, text_rows = self._fit(ids, media_rows, media_idx, text_rows, text_idx)
        batch: dict[str, Any] = {
            "sample_ids": ids,
            "has_rejected_2": torch.tensor([self._has_rejected_2(s) for s in features]),
            "has_mismatched": torch.tensor([c is not None for c in choices]),
            "mismatch_source": [c.source if c is not None else "none" for c in choices],
            "media_rows": media_rows,
            "media_row_sample": torch.tensor([i for i, _ in media_idx], dtype=torch.long),
            "media_row_kind": torch.tensor([k for _, k in media_idx], dtype=torch.long),
        }
        if self.text_rows:
            batch["text_rows"] = text_rows
            batch["text_row_sample"] = torch.tensor([i for i, _ in text_idx], dtype=torch.long)
            batch["text_row_kind"] = torch.tensor([k for _, k in text_idx], dtype=torch.long)
        return batch


__all__ = [
    "CHOSEN",
    "CHOSEN_MISMATCHED",
    "KIND_NAMES",
    "REJECTED",
    "REJECTED_2",
    "DataCollatorForAVPreference",
    "fit_audio",
    "fit_frames",
    "noise_media",
    "noise_seed",
    "same_content",
]
