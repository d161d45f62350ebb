"""Shared lmms-eval glue for the one-word emotion classification tasks (DFEW, RAVDESS).

A doc carries ``video_path``/``audio_path``, its gold ``label``, the task's fixed
``labels`` list, the ``modality`` (``av`` or ``audio``), the ``answer_parser`` and the
``scorer_family`` whose authors' scorer ``compat`` uses (``dfew``, ``ravdess``,
``mer2023``; see :mod:`avem_plugins.scoring.authors`). Every
metric's per-sample item is the same small record; the aggregations compute UAR, WAR,
macro-F1 and the confusion matrix over the fixed label list, and count empty, unparsed
and (compat mode) dropped answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from avem_plugins.scoring import authors, emotions, metrics, taskdata

#: The paper's prompt.
PROMPT_VIDEO = "Describe the emotion of the person in the video in one word."
#: The same question for audio-only data (there is no video to speak of).
PROMPT_AUDIO = "Describe the emotion of the speaker in the audio in one word."

METRICS: tuple[str, ...] = (
    "uar",
    "war",
    "macro_f1",
    "confusion_matrix",
    "unparsed_count",
    "unparsed_rate",
    "empty_count",
    "dropped_count",
    "missing_media_count",
    "answer_parser",
    "answer_parser_note",
    "model_modalities",
)


def doc_to_text(
    doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None
) -> str:
    """The one-word emotion question (audio wording for audio-only docs)."""
    prompt = PROMPT_AUDIO if doc.get("modality") == "audio" else PROMPT_VIDEO
    return taskdata.with_prompts(prompt, lmms_eval_specific_kwargs)


#: The clip, or the audio file for audio-only docs.
doc_to_visual = taskdata.media_visuals


doc_to_messages = taskdata.messages_of(doc_to_text)


def authors_answer(
    scorer: authors.CompatScorer, answer: str | None, reconstruction: emotions.EmotionAnswer
) -> emotions.EmotionAnswer:
    """The authors' ``description2emotion`` on the stripped, lower-cased answer, as their
    evaluation calls it; any exception drops the answer (their loop skips it).

    Their function always returns a label (``happiness`` when nothing matches), so whether
    an answer named an emotion at all (``unparsed``) is taken from our reconstruction.
    """
    assert scorer.fn is not None
    try:
        label = scorer.fn((answer or "").strip().lower())
    except Exception:
        return emotions.EmotionAnswer(None, "dropped")
    status = "unparsed" if reconstruction.status == "unparsed" else "ok"
    return emotions.EmotionAnswer(str(label), status)


def parse_record(
    doc: dict[str, Any],
    answer: str | None,
    parser: str,
    parse: Callable[..., Any] = emotions.parse_answer,
) -> tuple[emotions.EmotionAnswer, str, str]:
    """``(parsed answer, scorer label, scorer note)`` of one answer under ``parser``."""
    if parser != "compat":
        return parse(answer, doc["labels"], parser), parser, ""
    scorer = authors.compat_scorer(doc.get("scorer_family") or "dfew")
    parsed = parse(answer, doc["labels"], "compat")
    if scorer.fn is not None:
        parsed = authors_answer(scorer, answer, parsed)
    return parsed, scorer.label, scorer.note


def result_record(
    doc: dict[str, Any], results: list[str], parse: Callable[..., Any] = emotions.parse_answer
) -> dict[str, Any]:
    """One answer's record, parsed with ``parse(answer, labels, parser)`` (or, under
    ``compat`` with ``AVEM_AVERE_REPO`` set, the authors' own scorer).

    A task whose labels need their own parsing (MER2023's ``worried``) passes ``parse``.
    """
    answer = results[0] if results else ""
    parsed, label, note = parse_record(doc, answer, doc.get("answer_parser") or "robust", parse)
    record = {
        "id": doc["id"],
        "gold": doc["label"],
        "pred": parsed.label,
        "status": parsed.status,
        "labels": list(doc["labels"]),
        "parser": label,
        "parser_note": note,
        "scorer_family": doc.get("scorer_family"),
        "missing_media_count": int(doc.get("missing_media_count", 0)),
    }
    return record


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """Parse the answer; every metric gets the same record."""
    return dict.fromkeys(METRICS, result_record(doc, results))


aggregate_model_modalities = taskdata.aggregate_model_modalities


def _scores(items: list[dict[str, Any]]) -> metrics.ClassificationScores:
    labels = items[0]["labels"] if items else []
    kept = [r for r in items if r["status"] != "dropped"]
    return metrics.classification_scores(
        [r["gold"] for r in kept], [r["pred"] for r in kept], labels
    )


def _score(field: str, doc: str) -> Callable[[list[dict[str, Any]]], float]:
    def aggregate(items: list[dict[str, Any]]) -> float:
        return float(getattr(_scores(items), field))

    aggregate.__name__ = aggregate.__qualname__ = f"aggregate_{field}"
    aggregate.__doc__ = doc
    return aggregate


aggregate_uar = _score("uar", "Unweighted average recall over the fixed label list.")
aggregate_war = _score("war", "Weighted average recall (= accuracy).")
aggregate_macro_f1 = _score("macro_f1", "Macro-F1 over the fixed label list.")


def aggregate_confusion_matrix(items: list[dict[str, Any]]) -> dict[str, object]:
    """``{labels, matrix (gold rows x predicted columns), predicted_outside_labels}``."""
    return _scores(items).as_dict()


def aggregate_unparsed_count(items: list[dict[str, Any]]) -> int:
    """Non-empty answers naming no emotion (robust: wrong; compat: scored as happiness)."""
    return sum(r["status"] == "unparsed" for r in items)


def aggregate_empty_count(items: list[dict[str, Any]]) -> int:
    """Blank answers (robust: wrong; compat: dropped, see ``dropped_count``)."""
    return sum(r["status"] in ("empty", "dropped") for r in items)


def aggregate_unparsed_rate(items: list[dict[str, Any]]) -> float:
    """Answers naming no emotion, blank ones included, over all answers."""
    bad = sum(r["status"] != "ok" for r in items)
    return bad / len(items) if items else 0.0


def aggregate_dropped_count(items: list[dict[str, Any]]) -> int:
    """Answers left out of UAR/WAR/F1 (compat mode only, as the authors' scorer did)."""
    return sum(r["status"] == "dropped" for r in items)


def aggregate_missing_media_count(items: list[dict[str, Any]]) -> int:
    """Items left out for missing media (only with ``AVEM_ALLOW_MISSING_MEDIA=1``)."""
    return max((r["missing_media_count"] for r in items), default=0)


def aggregate_answer_parser(items: list[dict[str, Any]]) -> str:
    """Which scorer ran: ``robust``, ``compat-reconstruction`` or ``compat-authors@<commit>``."""
    return ",".join(sorted({r["parser"] for r in items})) or "robust"


def aggregate_answer_parser_note(items: list[dict[str, Any]]) -> str:
    """The reconstruction's notice when compat ran without the authors' code, else ``""``."""
    return " | ".join(sorted({r.get("parser_note") or "" for r in items} - {""}))
