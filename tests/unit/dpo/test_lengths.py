"""max_length counts text tokens: literal rows through cut_responses and the collator."""

from __future__ import annotations

import pytest
import torch
from test_collator import VOCAB, collator, row

from avem_plugins.dpo.collator import CHOSEN_MISMATCHED
from avem_plugins.dpo.lengths import SequenceLengthError, cut_responses, text_lengths


def rows_of(*specs):
    """Right-padded rows from (prompt_len, response_len) pairs; token ids count up from 10."""
    width = max(p + r for p, r in specs)
    ids = torch.zeros(len(specs), width, dtype=torch.long)
    comp, extra = torch.zeros_like(ids), torch.zeros_like(ids)
    for i, (p, r) in enumerate(specs):
        ids[i, : p + r] = torch.arange(10, 10 + p + r)
        comp[i, p : p + r] = 1
        extra[i, : p + r] = 7
    return {
        "input_ids": ids,
        "attention_mask": (ids != 0).long(),
        "completion_mask": comp,
        "mm_token_type_ids": extra,  # a per-token tensor: cut alike
        "pixel_values": torch.ones(3, 4),  # a media tensor: untouched
    }


def test_cut_responses_keeps_prompts_and_cuts_every_per_token_tensor():
    rows = rows_of((3, 4), (5, 2))
    out = cut_responses(rows, [1, 5], pad_id=0)
    assert out["input_ids"].tolist() == [[10, 11, 12, 13, 0, 0, 0], [10, 11, 12, 13, 14, 15, 16]]
    assert out["completion_mask"].tolist() == [[0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1, 1]]
    assert out["attention_mask"].sum(-1).tolist() == [4, 7]
    assert out["mm_token_type_ids"].tolist()[0] == [7, 7, 7, 7, 0, 0, 0]
    assert out["pixel_values"] is rows["pixel_values"]
    narrower = cut_responses(rows, [1, 1], pad_id=0)
    assert narrower["input_ids"].shape == (2, 6)  # the width shrinks to the longest row left
    assert cut_responses(rows, [9, 9], pad_id=0) is rows  # nothing to cut


def test_cut_responses_refuses_rows_that_are_not_prompt_then_response():
    rows = rows_of((3, 2))
    rows["completion_mask"] = torch.tensor([[0, 1, 1, 0, 0]])
    with pytest.raises(ValueError, match="right-padded prompt \\+ response"):
        cut_responses(rows, [1], pad_id=0)


def long_row(i, **over):
    words = " ".join(["happy", "sad", "calm", "loud", "dark"] * 2)
    return row(i, chosen=words, rejected="sad " * 3, video_l="/m/x.mp4", **over)


@pytest.mark.parametrize("tpd", [True, False])
def test_one_budget_per_sample_on_media_mismatched_and_text_rows(tpd):
    # prompt "<bos> how does she feel" = 5 tokens; chosen 10 words + end = 11 tokens
    c = collator(max_length=8, text_rows=tpd)
    out = c([long_row(0), long_row(1, modality="audio")])
    media = out["media_rows"]
    responses = [
        media["input_ids"][r][media["completion_mask"][r].bool()].tolist()
        for r in range(media["input_ids"].shape[0])
    ]
    kinds = out["media_row_kind"].tolist()
    chosen_rows = [r for r, k in enumerate(kinds) if k in (0, CHOSEN_MISMATCHED)]
    assert all(responses[r] == [VOCAB["happy"], VOCAB["sad"], VOCAB["calm"]] for r in chosen_rows)
    assert all(len(r) == 3 for r in responses)  # budget 8 - 5 on every row
    if tpd:
        text = out["text_rows"]
        assert text["completion_mask"].sum(-1).tolist() == [3, 3, 3, 3]
        assert text["input_ids"][0][text["completion_mask"][0].bool()].tolist() == responses[0]
    else:
        assert "text_rows" not in out


def test_a_text_prompt_that_fills_max_length_names_the_sample():
    with pytest.raises(SequenceLengthError, match=r"'s0'.*prompt alone is 5 tokens.*--max_length"):
        collator(max_length=5)([long_row(0)])


def test_text_lengths_measure_prompt_and_longest_response():
    c = collator()
    samples = [long_row(0), row(1, chosen="calm", rejected="sad", rejected_2="dark loud sad")]
    lengths = text_lengths(c.adapter, None, samples)
    assert [(x.sample_id, x.prompt, x.response, x.response_name) for x in lengths] == [
        ("s0", 5, 11, "chosen"),
        ("s1", 5, 4, "rejected_2"),
    ]
    without = text_lengths(c.adapter, None, samples, with_rejected_2=False)
    assert without[1].response == 2


def test_every_shipped_recipe_sets_max_length_in_a_recipe_file():
    """No recipe falls back to TRL's 1024 by accident: the value comes from a recipe file."""
    from avem_plugins.launch import recipe as R

    for name in R.available_recipes():
        recipe = R.load_recipe(name)
        assert isinstance(recipe.args.get("max_length"), int), name
        assert recipe.sources["max_length"].parent.name == "recipes", name
