"""Stand-in EmoReAlM scorer: not the authors' rule (see ../../README.md)."""

import sklearn.metrics  # noqa: F401  (a third-party import at top level, as a real file has)
from eval_constants import EVAL_TEMP_DIR  # noqa: F401
from utils import chunk_path_list  # noqa: F401


def matches_correct_answer(prediction: str, correct_answer: str) -> bool:
    letter = correct_answer.strip().lower()
    return (
        prediction.startswith(letter) or f"({letter})" in prediction or f"[{letter}]" in prediction
    )
