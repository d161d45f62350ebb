"""Test data for the AVEm-DPO trainer tests: a preference file in the authors' DPO format."""

from __future__ import annotations

import json
from pathlib import Path

from avem_plugins.testing.synth import write_wav

PROMPTS = [
    "What emotion does the tone of her voice convey?",  # audio
    "What does her facial expression say about her emotion?",  # visual
    "How does the person feel?",  # audiovisual
    "What emotion does the pitch of the speech suggest?",  # audio
]


def write_authors_file(clips, folder: Path, n_rows: int = 4) -> Path:
    """A preference file in the authors' format; rows 0-2 have rejected_2, row 3 not."""
    for i, clip in enumerate(clips):
        write_wav(folder / f"{clip.path.stem}.wav", audio_cue=clip.audio_cue, seed=i, seconds=2.0)
    rows = []
    for i in range(n_rows):
        clip, other = clips[i % len(clips)], clips[(i + 1) % len(clips)]
        row = {
            "prompt": "<video>\n<audio>\n" + PROMPTS[i % len(PROMPTS)],
            "chosen": f"The person shows {clip.emotion}: the voice is clear.",
            "rejected": f"The person shows {clip.emotion}: she is crying loudly.",
            "video": clip.path.name,
            "audio": f"{clip.path.stem}.wav",
            "video_l": other.path.name,
            "audio_l": f"{other.path.stem}.wav",
        }
        if i % 4 != 3:
            row["rejected_2"] = f"The person shows {clip.emotion}: the background is dark."
        rows.append(row)
    path = folder / f"dpo_pairs_{n_rows}.json"  # beside the clips: relative media paths
    path.write_text(json.dumps(rows, indent=1))  # the authors ship a JSON list
    return path
