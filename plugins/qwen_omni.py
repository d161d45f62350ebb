"""The Qwen-Omni family base: Qwen2.5-Omni and Qwen3-Omni thinkers share everything here.

**Audio that belongs to the video.** Qwen-Omni models were trained to see a video's own
sound track *interleaved* with its frames in time-aligned chunks (TMRoPE): the video
placeholder becomes ``<audio_bos> [frames of chunk 1][audio of chunk 1] ... <audio_eos>``
and the model is called with ``use_audio_in_video=True``. So when an example's audio is
the video's own track (``Media.audio_in_video``) and both modalities are requested, the
adapter decodes nothing itself but hands the processor the already-decoded track with
``load_audio_from_video=True, audio_from_video_indices=[0]`` (letting the processor read
files would need torchcodec, which fails on CPU) and adds ``use_audio_in_video=True`` to
the model inputs. Audio from a separate file, or audio alone (``modalities=audio``), is a
separate ``audio`` content item. ``interleave_audio_in_video=False`` turns interleaving off
(always separate items). The model's flag is per batch, so one batch cannot mix a plain
video with an interleaved one: group such examples with :meth:`QwenOmniAdapter.batch_key`
(the ``avem_av`` model does); a mixed batch raises :class:`~avem_plugins.adapters.base.AdapterError`.

Frames are placed in time: each example is processed on its own so that its frame rate
(``Media.frame_rate``, else ``len(frames) / audio seconds`` for the clip's own track, else
the processor's default) sets ``video_second_per_grid``; the examples are then collated
(left padding).

**Encode once** (design). The trainer needs each clip's encoding many times per step:
chosen and rejected rows share a clip, and the policy and reference passes see the same
media. :meth:`QwenOmniAdapter.encode_media` runs the audio and vision towers once for the
*unique* media of a batch -- identified by a content hash of their processed tensors
(:func:`avem_plugins.adapters.encoding.content_key`), so identity survives re-batching and never
confuses a swapped clip with the original -- and returns :class:`OmniFeatures`.
:meth:`QwenOmniAdapter.forward_logps` then calls the thinker's base model with
``input_ids`` (so the model itself computes the placeholder masks and the 3-D rope
positions, exactly as in its own forward), ``inputs_embeds`` with the audio features
already scattered at the audio placeholders, and the video features through the
thinker's own ``mm_encoder_outputs`` argument (which also carries Qwen3-Omni's deepstack
features); no pixel values or audio features reach the model, so the towers do not run.
Only the hidden states of positions whose next token is scored go through ``lm_head``.
The result equals the plain ``model(**rows)`` forward (tested with ``allclose``).

Reusing one encoding for the policy and the reference is exact when the towers are not
adapted (LoRA on the language model only, the recipes' default); gradients flow through
the features only if they were computed with gradients enabled.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from avem_plugins.adapters.base import AdapterError, Example
from avem_plugins.adapters.chat_template import ChatTemplateAdapter, _name, _tokenizer, left_pad
from avem_plugins.adapters.encoding import content_key, gather_logps, unique_in_order, unwrap_model
from avem_plugins.media import Media

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

#: Processor outputs that are concatenated along the first axis when collating.
_CAT_KEYS = (
    "pixel_values_videos",
    "video_grid_thw",
    "video_second_per_grid",
    "pixel_values",
    "image_grid_thw",
)
#: Processor outputs padded on the last axis (audio frames) before concatenating.
_AUDIO_KEYS = ("input_features", "feature_attention_mask")


@dataclass
class VideoFeature:
    """One video's encoding: merged patch embeddings and (Qwen3-Omni) deepstack levels."""

    embeds: torch.Tensor
    deepstack: list[torch.Tensor] | None = None


@dataclass
class OmniFeatures:
    """Encodings of unique media, keyed by :func:`~avem_plugins.adapters.encoding.content_key`.

    Pass the same object to several :meth:`QwenOmniAdapter.forward_logps` calls (rows
    sharing clips, policy and reference); :meth:`QwenOmniAdapter.encode_media` adds to an
    existing object (``features=``) instead of re-encoding what it already holds.
    """

    video: dict[str, VideoFeature] = field(default_factory=dict)
    audio: dict[str, torch.Tensor] = field(default_factory=dict)
    #: Output type of the vision tower (rebuilt to feed ``mm_encoder_outputs``).
    video_output_type: Any = None


class QwenOmniAdapter(ChatTemplateAdapter):
    """Shared adapter for the Qwen-Omni thinkers (see the module docstring)."""

    #: ``transformers`` class name of the thinker (what is loaded, from either checkpoint).
    thinker_class: ClassVar[str]
    #: Within one batch, run the video processor / feature extractor once per frames / audio
    #: array (the same object with the same keywords; outputs are identical, tested).
    reuse_media_work: bool = True
    #: Tokenise prompts without media with the tokenizer instead of the multimodal processor
    #: (identical ids and mask, tested).
    text_rows_by_tokenizer: bool = True

    def __init__(
        self,
        *,
        video_min_pixels: int | None = None,
        video_max_pixels: int | None = None,
        system_prompt: str | None = None,
        interleave_audio_in_video: bool | str = True,
    ) -> None:
        super().__init__(
            video_min_pixels=video_min_pixels,
            video_max_pixels=video_max_pixels,
            system_prompt=system_prompt,
        )
        # the processed parts of the batch training_rows is building, per thread
        self._parts: dict[int, list[dict[str, Any]] | None] = {}
        if isinstance(interleave_audio_in_video, str):
            interleave_audio_in_video = interleave_audio_in_video.lower() in ("1", "true", "yes")
        self.interleave_audio_in_video = bool(interleave_audio_in_video)

    # ------------------------------------------------------------------ loading

    def load_model(self, pretrained: str, config: Any, **kwargs: Any) -> Any:
        """The thinker only, from a thinker or a full (thinker + talker) checkpoint.

        ``transformers`` maps a full checkpoint's ``thinker_config`` and ``thinker.*``
        weights onto the thinker class, so the talker and its speaker file are never
        loaded (text output needs neither).
        """
        import transformers

        return getattr(transformers, self.thinker_class).from_pretrained(pretrained, **kwargs)

    # ------------------------------------------------------------------ batches

    def interleaves(self, example: Example, modalities: frozenset[str]) -> bool:
        """Whether ``example``'s audio goes inside its video placeholder."""
        use_video, use_audio = self.media_for(example, modalities)
        return (
            use_video
            and use_audio
            and example.media.audio_in_video
            and self.interleave_audio_in_video
        )

    def batch_key(self, example: Example, modalities: frozenset[str]) -> str:
        """``"interleaved"``, ``"video"`` (a plain video) or ``"any"``.

        Examples with different keys other than ``"any"`` cannot share a batch (the
        model's ``use_audio_in_video`` flag is per batch); ``"any"`` joins either.
        """
        if self.interleaves(example, modalities):
            return "interleaved"
        return "video" if self.media_for(example, modalities)[0] else "any"

    def frame_rate(self, media: Media) -> float | None:
        """Rate of the sampled frames: ``Media.frame_rate``, else from the clip's own track."""
        if media.frame_rate:
            return float(media.frame_rate)
        if (
            media.frames is not None
            and media.audio is not None
            and media.audio_in_video
            and len(media.audio) > 0
        ):
            return len(media.frames) / (len(media.audio) / media.sample_rate)
        return None

    def encode_prompts(
        self, processor: Any, examples: Sequence[Example], modalities: frozenset[str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Process each example on its own (its own frame rate), then collate."""
        self.note_modalities(modalities)
        keys = {self.batch_key(ex, modalities) for ex in examples}
        if {"interleaved", "video"} <= keys:
            raise AdapterError(
                "this batch mixes videos carrying their own audio track (interleaved) with "
                "plain videos; the model's use_audio_in_video flag is per batch. Group "
                "examples by adapter.batch_key(example, modalities) first"
            )
        # Rows of one preference sample (chosen, rejected, rejected_2) share the prompt and the
        # very same Media object: run the processor (frames, Whisper features) once for them;
        # rows without media share it by prompt alone. Within the batch, the frames and audio
        # arrays already processed for another row (a mismatched input that is another
        # sample's own clip, a sample's own track beside its swapped video) are not processed
        # again: see ``reuse_media_work``.
        batch_processor = _ReusingProcessor.wrap(processor) if self.reuse_media_work else processor
        seen: dict[tuple[Any, ...], dict[str, Any]] = {}
        parts = []
        for i, ex in enumerate(examples):
            has_media = any(self.media_for(ex, modalities))
            key = (ex.prompt, ex.system, id(ex.media) if has_media else None)
            if key not in seen:
                seen[key] = self._encode_one(batch_processor, ex, i, modalities)
            parts.append(seen[key])
        inputs = self._collate(processor, parts)
        if threading.get_ident() in self._parts:  # training_rows hashes once per part
            self._parts[threading.get_ident()] = parts
        model_kwargs = {"use_audio_in_video": True} if "interleaved" in keys else {}
        return inputs, model_kwargs

    def _encode_one(
        self, processor: Any, example: Example, index: int, modalities: frozenset[str]
    ) -> dict[str, Any]:
        self.check_sample_rate(processor, example, index)
        use_video, use_audio = self.media_for(example, modalities)
        interleave = self.interleaves(example, modalities)
        text = self.prompt_text(
            processor, example, video=use_video, audio=use_audio and not interleave
        )
        if not (use_video or use_audio) and self.text_rows_by_tokenizer:
            # a prompt without media (the text-prior rows): the tokenizer alone gives exactly
            # what the multimodal processor would, without its media machinery
            return dict(_tokenizer(processor)(text=[text], return_tensors="pt", padding=True))
        kwargs: dict[str, Any] = {"return_tensors": "pt", "padding": True}
        if use_video:
            videos_kwargs = self.videos_kwargs(processor)
            fps = self.frame_rate(example.media)
            if fps:
                videos_kwargs["fps"] = fps
            kwargs["videos"] = [example.media.frames]
            kwargs["videos_kwargs"] = videos_kwargs
        if use_audio:
            kwargs["audio"] = [example.media.audio]
        if interleave:
            kwargs["load_audio_from_video"] = True
            kwargs["audio_from_video_indices"] = [0]
        try:
            return dict(processor(text=[text], **kwargs))
        except AdapterError:
            raise
        except Exception as err:
            raise AdapterError(f"{_name(example, index)}: the processor failed: {err}") from err

    def _collate(self, processor: Any, parts: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        tok = _tokenizer(processor)
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        out: dict[str, Any] = {
            "input_ids": left_pad([p["input_ids"][0] for p in parts], pad_id),
            "attention_mask": left_pad([p["attention_mask"][0] for p in parts], 0),
        }
        known = {"input_ids", "attention_mask", *_CAT_KEYS, *_AUDIO_KEYS}
        unknown = {k for p in parts for k in p} - known
        if unknown:
            raise AdapterError(
                f"unexpected processor outputs {sorted(unknown)}; update the adapter"
            )
        for key in _CAT_KEYS:
            values = [torch.as_tensor(p[key]) for p in parts if p.get(key) is not None]
            if values:
                out[key] = torch.cat(values, dim=0)
        feats = [p for p in parts if p.get("input_features") is not None]
        if feats:
            width = max(int(p["input_features"].shape[-1]) for p in feats)
            for key in _AUDIO_KEYS:
                padded = [
                    p[key]
                    if p[key].shape[-1] == width  # Whisper's features: always 30 s, no copy
                    else torch.nn.functional.pad(p[key], (0, width - p[key].shape[-1]))
                    for p in feats
                ]
                out[key] = torch.cat(padded, dim=0)
        return out

    def training_rows(
        self,
        processor: Any,
        examples: Sequence[Example],
        *,
        modalities: frozenset[str],
        max_length: int | None = None,
    ) -> dict[str, Any]:
        """Training rows (see the base class) plus ``media_keys`` for encode-once."""
        thread = threading.get_ident()
        self._parts[thread] = None
        try:
            rows = super().training_rows(
                processor, examples, modalities=modalities, max_length=max_length
            )
        finally:
            parts = self._parts.pop(thread, None)
        keys = self._keys_by_part(parts) if self.reuse_media_work and parts else None
        rows["media_keys"] = keys if keys is not None else self.media_keys(rows)
        return rows

    def _keys_by_part(self, parts: list[dict[str, Any]]) -> dict[str, list[str]] | None:
        """:meth:`media_keys` of the collated rows, hashed once per processed part.

        Rows sharing a part hold the same tensors, so they get the same keys; ``None`` when
        a part holds more than one video or audio item (then the rows are hashed).
        """
        keys: dict[str, list[str]] = {"video": [], "audio": []}
        done: dict[int, tuple[str | None, str | None]] = {}
        for part in parts:
            if id(part) not in done:
                video = audio = None
                pixels, feats = part.get("pixel_values_videos"), part.get("input_features")
                if pixels is not None:
                    grid = part["video_grid_thw"]
                    if len(grid) != 1:
                        return None
                    video = content_key(pixels, grid[0])
                if feats is not None:
                    if feats.shape[0] != 1:
                        return None
                    length = int(part["feature_attention_mask"][0].sum())
                    audio = content_key(feats[0, :, :length])
                done[id(part)] = (video, audio)
            video, audio = done[id(part)]
            if video is not None:
                keys["video"].append(video)
            if audio is not None:
                keys["audio"].append(audio)
        return keys

    row_only_keys: ClassVar[tuple[str, ...]] = ("completion_mask", "media_keys")

    # ------------------------------------------------------------------ encode once

    def media_keys(self, rows: dict[str, Any]) -> dict[str, list[str]]:
        """Content keys of each video and audio item of ``rows``, in order."""
        keys: dict[str, list[str]] = {"video": [], "audio": []}
        pixels = rows.get("pixel_values_videos")
        if pixels is not None:
            grid = rows["video_grid_thw"]
            start = 0
            for g in grid:
                n = int(g.prod())
                keys["video"].append(content_key(pixels[start : start + n], g))
                start += n
        feats = rows.get("input_features")
        if feats is not None:
            mask = rows["feature_attention_mask"]
            for j in range(feats.shape[0]):
                keys["audio"].append(content_key(feats[j, :, : int(mask[j].sum())]))
        return keys

    def encode_media(
        self, model: Any, rows: dict[str, Any], features: OmniFeatures | None = None
    ) -> OmniFeatures:
        """Run the towers once for the media of ``rows`` not already in ``features``."""
        import torch

        thinker = unwrap_model(model)
        base = thinker.model
        features = features if features is not None else OmniFeatures()
        keys = rows.get("media_keys") or self.media_keys(rows)
        pixels = rows.get("pixel_values_videos")
        if pixels is not None and keys["video"]:
            grid = rows["video_grid_thw"]
            sizes = [int(g.prod()) for g in grid]
            starts = [sum(sizes[:j]) for j in range(len(sizes))]
            todo = [k for k in unique_in_order(keys["video"]) if k not in features.video]
            first = [keys["video"].index(k) for k in todo]
            if first:
                device = next(base.visual.parameters()).device
                sel = torch.cat([pixels[starts[j] : starts[j] + sizes[j]] for j in first])
                out = base.get_video_features(
                    sel.to(device), grid[first].to(device), return_dict=True
                )
                features.video_output_type = type(out)
                deep = getattr(out, "deepstack_features", None)
                for n, key in enumerate(todo):
                    features.video[key] = VideoFeature(
                        embeds=out.pooler_output[n],
                        deepstack=[level[n] for level in deep] if deep is not None else None,
                    )
        feats = rows.get("input_features")
        if feats is not None and keys["audio"]:
            counts = self._audio_token_counts(thinker, rows)
            todo = [k for k in unique_in_order(keys["audio"]) if k not in features.audio]
            first = [keys["audio"].index(k) for k in todo]
            if first:
                device = next(base.audio_tower.parameters()).device
                mask = rows["feature_attention_mask"][first]
                hidden = base.get_audio_features(
                    feats[first].to(device), mask.to(device), return_dict=True
                ).last_hidden_state
                sizes = [counts[j] for j in first]
                if sum(sizes) != hidden.shape[0]:
                    raise AdapterError(
                        f"the audio encoder returned {hidden.shape[0]} features for "
                        f"{sum(sizes)} audio placeholders"
                    )
                for key, part in zip(todo, torch.split(hidden, sizes), strict=True):
                    features.audio[key] = part
        return features

    def _audio_token_counts(self, thinker: Any, rows: dict[str, Any]) -> list[int]:
        """Audio placeholders per audio item (one audio item per row, in row order)."""
        per_row = (rows["input_ids"] == thinker.config.audio_token_id).sum(-1).tolist()
        counts = [int(n) for n in per_row if n > 0]
        if len(counts) != rows["input_features"].shape[0]:
            raise AdapterError(
                f"{rows['input_features'].shape[0]} audio items for {len(counts)} rows with "
                "audio placeholders; encode-once needs at most one audio item per row"
            )
        return counts

    def forward_hidden(
        self, model: Any, rows: dict[str, Any], features: OmniFeatures | None = None
    ) -> torch.Tensor:
        """Last hidden states ``(B, T, H)`` of the language model, towers not re-run."""
        thinker = unwrap_model(model)
        base = thinker.model
        if features is None:
            features = self.encode_media(model, rows)
        keys = rows.get("media_keys") or self.media_keys(rows)
        input_ids = rows["input_ids"]
        embeds = base.get_input_embeddings()(input_ids)
        if rows.get("input_features") is not None and keys["audio"]:
            audio = [features.audio[k] for k in keys["audio"]]
            flat = _cat(audio).to(embeds.device, embeds.dtype)
            mask = (input_ids == thinker.config.audio_token_id).unsqueeze(-1)
            if int(mask.sum()) != flat.shape[0]:
                raise AdapterError(
                    f"{int(mask.sum())} audio placeholders for {flat.shape[0]} audio features"
                )
            embeds = embeds.masked_scatter(mask.to(embeds.device), flat)
        kwargs: dict[str, Any] = {}
        if rows.get("pixel_values_videos") is not None and keys["video"]:
            kwargs["mm_encoder_outputs"] = {"video": self._video_outputs(features, keys["video"])}
        for key in ("video_grid_thw", "video_second_per_grid", "feature_attention_mask"):
            if rows.get(key) is not None:
                kwargs[key] = rows[key]
        for key in ("pixel_values", "image_grid_thw", "use_audio_in_video"):
            if rows.get(key) is not None:
                kwargs[key] = rows[key]
        out = base(
            input_ids=input_ids,
            inputs_embeds=embeds,
            attention_mask=rows.get("attention_mask"),
            use_cache=False,
            **kwargs,
        )
        return out.last_hidden_state

    def _video_outputs(self, features: OmniFeatures, keys: list[str]) -> Any:
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        items = [features.video[k] for k in keys]
        cls = features.video_output_type or BaseModelOutputWithPooling
        # The towers return one tensor per video here (``get_video_features`` splits them).
        out = cls(pooler_output=tuple(item.embeds for item in items))  # type: ignore[arg-type]
        if items[0].deepstack is not None:
            levels = len(items[0].deepstack)
            out.deepstack_features = [
                tuple(item.deepstack[level] for item in items)  # type: ignore[index]
                for level in range(levels)
            ]
        return out

    def forward_logps(
        self,
        model: Any,
        rows: dict[str, Any],
        features: OmniFeatures | None = None,
        *,
        positions: str = "completion",
    ) -> torch.Tensor:
        """``(B, T)`` token log-probs; media encodings from ``features`` (or encoded now).

        ``positions="completion"`` scores only tokens where ``rows["completion_mask"]`` is
        1 (other entries are 0); ``"all"`` scores every token after the first.
        """
        import torch

        thinker = unwrap_model(model)
        hidden = self.forward_hidden(model, rows, features)
        input_ids = rows["input_ids"].to(hidden.device)
        if positions == "all":
            scored = torch.ones_like(input_ids, dtype=torch.bool)
            scored &= rows["attention_mask"].to(hidden.device).bool()
        elif positions == "completion":
            scored = rows["completion_mask"].to(hidden.device).bool()
        else:
            raise ValueError(f"positions={positions!r}: use 'completion' or 'all'")
        scored = scored[:, 1:]
        picked = hidden[:, :-1][scored]
        logps = gather_logps(thinker.lm_head(picked), input_ids[:, 1:][scored])
        body = torch.zeros(scored.shape, dtype=logps.dtype, device=hidden.device)
        body = body.masked_scatter(scored, logps)
        return torch.cat([torch.zeros_like(body[:, :1]), body], dim=1)


class _ReuseCalls:
    """A sub-processor (video processor, feature extractor) that remembers its outputs.

    Keyed by the *identity* of the arrays it is given (kept alive for the key's lifetime, so
    an id is never reused) and by the value of every other argument; each call gets its own
    shallow copy of the output, which the processor then edits (renames, adds keys).
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._outputs: dict[Any, Any] = {}
        self._alive: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _freeze(self, value: Any) -> Any:
        if value is None or isinstance(value, str | bytes | bool | int | float):
            return value
        if isinstance(value, dict):
            return ("dict", tuple(sorted((str(k), self._freeze(v)) for k, v in value.items())))
        if isinstance(value, list | tuple):
            return (type(value).__name__, tuple(self._freeze(v) for v in value))
        self._alive.append(value)  # arrays, tensors, anything else: by identity
        return ("id", id(value))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key = self._freeze((args, kwargs))
        if key not in self._outputs:
            self._outputs[key] = self._inner(*args, **kwargs)
        out = self._outputs[key]
        return type(out)(dict(out)) if hasattr(out, "keys") else out


class _ReusingProcessor:
    """Shallow copies of a processor whose media sub-processors are :class:`_ReuseCalls`."""

    @staticmethod
    def wrap(processor: Any) -> Any:
        subs = [a for a in ("video_processor", "feature_extractor") if hasattr(processor, a)]
        if not subs:
            return processor
        import copy

        batch = copy.copy(processor)  # the caller's processor is never modified
        for attr in subs:
            setattr(batch, attr, _ReuseCalls(getattr(processor, attr)))
        return batch


def _cat(tensors: list[torch.Tensor]) -> torch.Tensor:
    import torch

    return torch.cat(tensors, dim=0)
