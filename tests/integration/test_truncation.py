"""max_length on audiovisual rows: one cut per sample, and a dataset that does not fit stops early.

``max_length`` (TRL's flag) counts a row's **text** tokens: the text-only prompt (chat template
included) plus the response. Media placeholders are never cut and not counted: their number is
set by ``num_frames``, ``video_max_pixels`` and the clip's audio length. So a sample's chosen
response keeps the same tokens on the true media, on the mismatched media (PMP) and on the
text-only prompt (TPD), whatever the clip. Before step 1 the trainer checks every row of the
dataset and stops with one line naming the longest sample when one does not fit.
"""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("trl")

from avem_plugins.adapters.base import Example
from avem_plugins.dpo.collator import (
    CHOSEN,
    CHOSEN_MISMATCHED,
    REJECTED,
    REJECTED_2,
    DataCollatorForAVPreference,
)
from avem_plugins.media import Media
from avem_plugins.modality import parse_modalities
from avem_plugins.prefs.schema import load_preference_dataset
from avem_plugins.registry import get_adapter

LONG = " ".join(["the voice trembles and the face is tense"] * 12)
ADAPTER_KWARGS = {"video_max_pixels": 4096}


def write_prefs(clips, n: int = 4, *, long_at: int | None = None) -> object:
    """``n`` samples (audiovisual question, three responses, a mismatched clip) beside the clips."""
    folder = clips[0].path.parent
    rows = []
    for i in range(n):
        clip, other = clips[i % len(clips)], clips[(i + 1) % len(clips)]
        long = long_at is None or i == long_at
        rows.append(
            {
                "id": f"s{i}",
                "prompt": "<video>\n<audio>\nHow does the person feel?",
                "modality": "audiovisual",
                "chosen": f"She is {clip.emotion}: {LONG if long else 'calm voice'}.",
                "rejected": f"She is {clip.emotion}: {'she cries ' * (8 if long else 1)}.",
                "rejected_2": f"She is {clip.emotion}: the room is dark.",
                "video": clip.path.name,
                "video_l": other.path.name,
            }
        )
    name = f"truncation_{n}_{long_at}.jsonl"
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def kit(tiny_qwen2_5_omni_dir):
    adapter = get_adapter("qwen2_5_omni", **ADAPTER_KWARGS)
    return adapter.load(str(tiny_qwen2_5_omni_dir))


def response_tokens(rows, i: int) -> list[int]:
    return rows["input_ids"][i][rows["completion_mask"][i].bool()].tolist()


def test_a_samples_rows_score_the_same_response_tokens(kit, avem_synth_clips):
    """Media, mismatched and text-only rows of a sample keep identical response tokens."""
    samples = list(load_preference_dataset(write_prefs(avem_synth_clips, 2)))
    collator = DataCollatorForAVPreference(
        adapter=kit.adapter, processor=kit.processor, num_frames=4, max_length=None
    )
    # The lengths with nothing cut: the media prompt is the text prompt plus the media block.
    media = collator.true_media(samples[0])
    full = kit.adapter.training_rows(
        kit.processor,
        [Example("How does the person feel?", media, "x")],
        modalities=parse_modalities("av"),
    )
    text = kit.adapter.training_rows(
        kit.processor, [Example("How does the person feel?", Media(), "x")], modalities=frozenset()
    )
    media_prompt = int((full["completion_mask"][0] == 0).sum())
    text_prompt = int((text["completion_mask"][0] == 0).sum())
    assert media_prompt > text_prompt + 20  # a clip is many placeholders
    # As in the issue: room for 2 response tokens if the media placeholders counted.
    collator.max_length = media_prompt + 2
    batch = collator(samples)

    budget = collator.max_length - text_prompt
    for name in ("media_rows", "text_rows"):
        rows = batch[name]
        assert rows["input_ids"].shape == rows["completion_mask"].shape
    per_row: dict[tuple[int, int], list[list[int]]] = {}
    for prefix in ("media", "text"):
        rows = batch[f"{prefix}_rows"]
        for r, (s, k) in enumerate(
            zip(
                batch[f"{prefix}_row_sample"].tolist(),
                batch[f"{prefix}_row_kind"].tolist(),
                strict=True,
            )
        ):
            kind = CHOSEN if k == CHOSEN_MISMATCHED else k
            per_row.setdefault((s, kind), []).append(response_tokens(rows, r))
    for s in range(len(samples)):
        chosen = per_row[(s, CHOSEN)]
        assert len(chosen) == 3  # true media, mismatched media, text only
        assert chosen[0] == chosen[1] == chosen[2], f"sample {s}: {[len(c) for c in chosen]}"
        assert len(chosen[0]) == budget  # the long response is cut to max_length - text prompt
        for kind in (REJECTED, REJECTED_2):
            media_row, text_row = per_row[(s, kind)]
            assert media_row == text_row, (s, kind, len(media_row), len(text_row))
    # media are never cut: every placeholder of the clip is still there
    video_token = kit.model.config.video_token_id
    assert int((batch["media_rows"]["input_ids"][0] == video_token).sum()) == int(
        (full["input_ids"][0] == video_token).sum()
    )


def test_training_stops_before_step_1_naming_the_longest_sample(
    tiny_qwen2_5_omni_dir, avem_synth_clips, tmp_path, caplog
):
    """Every row is checked up front (the long one is last, past the first step's batch)."""
    from avem_plugins.dpo.train import train

    data = write_prefs(avem_synth_clips, 6, long_at=5)
    args = {
        "model_name_or_path": str(tiny_qwen2_5_omni_dir),
        "dataset_name": str(data),
        "output_dir": str(tmp_path / "out"),
        "use_peft": True,
        "lora_r": 4,
        "lora_alpha": 8,
        "max_steps": 1,
        "per_device_train_batch_size": 2,
        "use_cpu": True,
        "bf16": False,
        "gradient_checkpointing": False,
        "report_to": "none",
        "save_strategy": "no",
        "num_frames": 4,
        "adapter_kwargs": ADAPTER_KWARGS,
        "max_length": 64,
    }
    with pytest.raises(ValueError, match="max_length") as info:
        train(args)
    message = str(info.value)
    assert "\n" not in message  # one line
    assert "'s5'" in message  # the longest sample, although step 1 only sees s0 and s1
    assert "--max_length" in message  # the flag to change
    # its prompt / media / response token counts
    assert re.search(r"prompt \d+ \+ response \d+ \(chosen\)", message), message
    assert re.search(r"add \d+ media tokens", message), message
    assert not (tmp_path / "out" / "trainer_state.json").exists()

    # the same data fits at a max_length that holds the longest text row
    needed = int(message.split("--max_length ")[1].split()[0].rstrip(".,;)"))
    caplog.set_level("INFO")
    trainer = train({**args, "max_length": needed})
    assert trainer.state.global_step == 1
    assert "truncated" not in caplog.text
