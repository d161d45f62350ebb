"""Stand-in emotion scorer: made-up interjections, not the authors' keywords (see ../../README.md)."""

import re

import sklearn.metrics  # noqa: F401  (a third-party import at top level, as a real file has)
from eval_constants import EVAL_TEMP_DIR  # noqa: F401
from utils import chunk_path_list  # noqa: F401

emotion_list = {
    "happiness": ["yay", "woohoo"],
    "sadness": ["sniff", "boohoo"],
    "surprise": ["wow", "whoa"],
    "anger": ["grr", "argh"],
    "neutral": ["meh", "hmm"],
    "disgust": ["yuck", "ew"],
    "fear": ["eek", "yikes"],
    "sleepy": ["zzz"],
}


def description2emotion(description, return_idx=False):
    if not description:
        raise ValueError("empty description")
    if "\n" in description:
        raise RuntimeError("a line break")
    words = re.findall(r"[a-z]+", description)
    for label, interjections in emotion_list.items():
        if any(w in interjections for w in reversed(words)):
            return list(emotion_list).index(label) if return_idx else label
    return list(emotion_list).index("surprise") if return_idx else "surprise"
