"""What ``max_length`` means for AVEm-DPO's rows, and the check of a whole dataset before step 1.

**``max_length`` counts a row's text tokens**: the text-only prompt as the chat template renders
it, plus the response (with its end-of-turn token). A sample's media rows carry the same text
plus the media block (the video/audio placeholders with their start/end markers), which is
**never cut and not counted**: its size is set by ``num_frames``, ``video_max_pixels`` and the
clip's audio length, not by ``max_length``. So a row on media is at most ``max_length`` + the
sample's media tokens long.

Why text tokens and not the whole row: media blocks are long (hundreds to thousands of
placeholders) and vary with the clip, text-only prompts are short. Counting the media would cut
a sample's response on its media rows far more than on its text-only (TPD) rows, so the
text-prior offset would compare text that the response term no longer sees, and a longer clip
would silently lose more of its response. Counted on text, one budget per sample,
``max_length − text-prompt tokens``, applies to all its rows: the chosen response scores the
same tokens on the true media, on the mismatched media (PMP) and on the text-only prompt (TPD).

:func:`cut_responses` applies such a per-row budget to any adapter's right-padded rows.
:func:`check_dataset` measures every sample's text rows once, before step 1, and raises
:class:`SequenceLengthError` (one line: the longest sample, its prompt / media / response token
counts, and the ``--max_length`` that fits) instead of a warning per batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from avem_plugins.adapters.base import Example, ModelAdapter
from avem_plugins.media import Media, MediaError
from avem_plugins.modality import strip_media_markers

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

#: The responses of a sample, in row-kind order (collator.KIND_NAMES).
RESPONSES: tuple[str, ...] = ("chosen", "rejected", "rejected_2")


class SequenceLengthError(ValueError):
    """A sample's text does not fit ``max_length``; the message names it and the flag to change."""


@dataclass(frozen=True)
class SampleLength:
    """Text tokens of one sample's rows: the text-only prompt and its longest response."""

    sample_id: str
    prompt: int
    response: int
    response_name: str

    @property
    def total(self) -> int:
        """Text tokens of the sample's longest row (what ``max_length`` bounds)."""
        return self.prompt + self.response


def prompt_tokens(rows: Mapping[str, Any]) -> torch.Tensor:
    """Prompt tokens of each row (real tokens minus response tokens), shape ``(B,)``."""
    return rows["attention_mask"].sum(-1) - rows["completion_mask"].sum(-1)


def cut_responses(rows: dict[str, Any], keep: Sequence[int], pad_id: int) -> dict[str, Any]:
    """``rows`` with row ``i``'s response cut to its first ``keep[i]`` tokens.

    ``rows`` are right-padded prompt + response rows (:meth:`ModelAdapter.training_rows`);
    prompt and media tokens are untouched. Every per-token tensor (same shape as
    ``input_ids``) is cut alike; the width shrinks to the longest remaining row.
    """
    import torch

    ids, attention, completion = rows["input_ids"], rows["attention_mask"], rows["completion_mask"]
    length = attention.sum(-1)
    response = completion.sum(-1)
    keep_t = torch.minimum(torch.as_tensor(list(keep), dtype=length.dtype), response)
    if bool((keep_t == response).all()):
        return rows
    positions = torch.arange(ids.shape[1])
    start = length - response
    in_response = (positions >= start[:, None]) & (positions < length[:, None])
    if not bool((in_response == completion.bool()).all()):
        raise ValueError(
            "cannot cut responses: these rows are not right-padded prompt + response rows "
            "(the completion mask is not the last real tokens of each row)"
        )
    new_length = start + keep_t
    drop = positions[None, :] >= new_length[:, None]
    width = int(new_length.max())
    out = dict(rows)
    for key, value in rows.items():
        if isinstance(value, torch.Tensor) and value.shape == ids.shape:
            fill = pad_id if key == "input_ids" else 0
            out[key] = value.masked_fill(drop, fill)[:, :width].contiguous()
    return out


def pad_token_id(processor: Any) -> int:
    """The id right padding uses (the tokenizer's pad token, else its end of sequence)."""
    tok = getattr(processor, "tokenizer", processor)
    pad = getattr(tok, "pad_token_id", None)
    return int(pad if pad is not None else getattr(tok, "eos_token_id", 0) or 0)


def responses_of(sample: Mapping[str, Any], with_rejected_2: bool = True) -> list[str]:
    """Names of the responses a sample is scored on."""
    names = ["chosen", "rejected"]
    if with_rejected_2 and sample.get("rejected_2"):
        names.append("rejected_2")
    return names


def text_lengths(
    adapter: ModelAdapter,
    processor: Any,
    samples: Iterable[Mapping[str, Any]],
    *,
    with_rejected_2: bool = True,
    chunk: int = 256,
) -> list[SampleLength]:
    """Text tokens of every sample's text-only rows, built by the adapter as TPD builds them.

    Each distinct prompt is measured once (prompt tokens of a row), and the responses in
    batches on one shared prompt (response tokens of a row): adapters append the tokenised
    response to the prompt's tokens (:class:`~avem_plugins.adapters.chat_template.ChatTemplateAdapter`),
    so a response's count does not depend on its prompt.
    """
    samples = list(samples)
    prompts = [adapter.text_only_prompt(s["prompt"]) for s in samples]
    prompt_len: dict[str, int] = {}
    unique = list(dict.fromkeys(prompts))
    for start in range(0, len(unique), chunk):
        part = unique[start : start + chunk]
        rows = adapter.training_rows(
            processor, [Example(p, Media(), "", id=p[:40]) for p in part], modalities=frozenset()
        )
        prompt_len.update(zip(part, (int(n) for n in prompt_tokens(rows).tolist()), strict=True))

    owners = [(i, name) for i, s in enumerate(samples) for name in responses_of(s, with_rejected_2)]
    response_len: list[int] = []
    shared = Media()  # one prompt, one Media: the adapter processes the prompt once per batch
    anchor = unique[0] if unique else ""
    for start in range(0, len(owners), chunk):
        examples = [
            Example(anchor, shared, samples[i][name], id=f"{samples[i]['id']}/{name}")
            for i, name in owners[start : start + chunk]
        ]
        rows = adapter.training_rows(processor, examples, modalities=frozenset())
        response_len.extend(int(n) for n in rows["completion_mask"].sum(-1).tolist())

    best: dict[int, tuple[int, str]] = {}
    for (i, name), n in zip(owners, response_len, strict=True):
        if i not in best or n > best[i][0]:
            best[i] = (n, name)
    return [
        SampleLength(str(s["id"]), prompt_len[p], *best[i])
        for i, (s, p) in enumerate(zip(samples, prompts, strict=True))
    ]


def media_tokens(collator: Any, sample: Mapping[str, Any], text_prompt: int) -> int | None:
    """Tokens the media block adds to ``sample``'s rows (decodes its clip), ``None`` if unknown."""
    if not collator.fed:
        return 0
    try:
        media = collator.true_media(sample)
        rows = collator.adapter.training_rows(
            collator.processor,
            [Example(strip_media_markers(sample["prompt"]), media, "", id=str(sample["id"]))],
            modalities=collator.fed,
        )
    except (MediaError, ValueError) as err:
        logger.debug("media tokens of %r unknown: %s", sample.get("id"), err)
        return None
    return int(prompt_tokens(rows)[0]) - text_prompt


def check_dataset(
    collator: Any, dataset: Any, max_length: int | None, *, split: str = "train"
) -> list[SampleLength]:
    """Measure every sample's text rows once; raise :class:`SequenceLengthError` if one does not fit.

    ``collator`` is the :class:`~avem_plugins.dpo.collator.DataCollatorForAVPreference` that will
    build the rows (its adapter, processor and ``rejected_2`` setting). Returns the lengths
    (empty when ``max_length`` is ``None``: nothing is cut then).
    """
    if max_length is None or dataset is None:
        return []
    columns = [
        c for c in ("id", "prompt", "chosen", "rejected", "rejected_2") if c in dataset.column_names
    ]
    rows = dataset.select_columns(columns).to_list()
    if not rows:
        return []
    lengths = text_lengths(
        collator.adapter, collator.processor, rows, with_rejected_2=collator.rejected_2_rows
    )
    longest_i = max(range(len(lengths)), key=lambda i: lengths[i].total)
    longest = lengths[longest_i]
    too_long = sum(1 for x in lengths if x.total > max_length)
    logger.info(
        "%s: %d samples; the longest text row is %r: %d prompt + %d response (%s) = %d tokens "
        "(max_length=%d counts text tokens; media tokens come on top, never cut)",
        split, len(lengths), longest.sample_id, longest.prompt, longest.response,
        longest.response_name, longest.total, max_length,
    )  # fmt: skip
    if too_long:
        media = media_tokens(collator, dataset[longest_i], longest.prompt)
        media_text = "an unknown number of" if media is None else str(media)
        raise SequenceLengthError(
            f"{split} sample {longest.sample_id!r} does not fit max_length={max_length}: its "
            f"longest row is prompt {longest.prompt} + response {longest.response} "
            f"({longest.response_name}) = {longest.total} text tokens, and its media rows add "
            f"{media_text} media tokens (never cut, not counted in max_length); {too_long} of "
            f"{len(lengths)} samples do not fit. Set --max_length {longest.total} or more "
            "(it counts a row's text tokens: prompt + response), or shorten those responses"
        )
    return lengths


__all__ = [
    "RESPONSES",
    "SampleLength",
    "SequenceLengthError",
    "check_dataset",
    "cut_responses",
    "media_tokens",
    "pad_token_id",
    "prompt_tokens",
    "responses_of",
    "text_lengths",
]
