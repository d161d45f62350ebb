"""EMER for lmms-eval: explainable emotion descriptions, judged and word-overlap scored.

No side effects at import: the annotations are read when the task loads and the judge
client is built on first use (:mod:`avem_plugins.scoring.judge`).
"""

from __future__ import annotations

import csv
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avem_plugins.media import VIDEO_SUFFIXES
from avem_plugins.scoring import emotions, judge, metrics, taskdata

if TYPE_CHECKING:
    import datasets

ROOT_ENV = "EMER_ROOT"
CSV_ENV = "EMER_CSV"
COLUMN_ENV = "EMER_DESCRIPTION_COLUMN"
CLIPS_ENV = "MER2023_ROOT"
#: Reference-description columns tried in order when ``EMER_DESCRIPTION_COLUMN`` is unset.
DESCRIPTION_COLUMNS: tuple[str, ...] = ("reason", "description", "reference", "english", "en")

PROMPT = "Describe the emotion of the person in the video in detail."


# --- data ------------------------------------------------------------------------------


def annotations_csv(root: Path) -> Path:
    """``EMER_CSV``, else the one CSV in ``EMER_ROOT`` that has a ``name`` column."""
    explicit = taskdata.optional_env_path(CSV_ENV)
    if explicit is not None:
        return explicit
    found = []
    for path in sorted(root.glob("*.csv")):
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
        if "name" in [h.strip() for h in header]:
            found.append(path)
    if len(found) != 1:
        what = (
            "no CSV with a 'name' column"
            if not found
            else f"several CSVs ({', '.join(p.name for p in found)})"
        )
        raise taskdata.TaskDataError(
            f"emer: {what} in {ROOT_ENV}={root}; set {CSV_ENV} to the annotation file."
        )
    return found[0]


def read_annotations(path: Path) -> list[tuple[str, str]]:
    """``(name, reference description)`` rows of the annotation CSV."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        wanted = os.environ.get(COLUMN_ENV, "").strip()
        column = wanted or next((c for c in DESCRIPTION_COLUMNS if c in header), None)
        if column is None or column not in header:
            raise taskdata.TaskDataError(
                f"{path}: no reference-description column ({wanted or ', '.join(DESCRIPTION_COLUMNS)}) "
                f"among {header}; set {COLUMN_ENV}."
            )
        rows = []
        for line, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            if not row.get("name") or not row.get(column):
                raise taskdata.TaskDataError(f"{path}, line {line}: empty 'name' or '{column}'")
            rows.append((row["name"], row[column]))
    return rows


@functools.lru_cache(maxsize=4)
def _clips(root: str) -> dict[str, Path]:
    return taskdata.index_files(Path(root), VIDEO_SUFFIXES)


def build_docs() -> list[dict[str, Any]]:
    """The EMER docs: each annotated clip with its reference description."""
    root = taskdata.env_path(
        ROOT_ENV,
        media_root_names=("EMER", "emer"),
        purpose="the folder with the EMER annotation CSV and clips",
    )
    extra = taskdata.optional_env_dir(CLIPS_ENV)
    roots = [root] + ([extra] if extra else [])
    rows = []
    for name, reference in read_annotations(annotations_csv(root)):
        video = next((_clips(str(r)).get(name) for r in roots if _clips(str(r)).get(name)), None)
        video_path = video if video is not None else root / f"{name}.mp4"
        rows.append(
            {
                "id": name,
                "reference": reference,
                "video_path": str(video_path),
                "audio_path": str(video_path),
                "audio_source": "video_track",
            }
        )
    env_vars = (ROOT_ENV, CLIPS_ENV) if extra else (ROOT_ENV,)
    return taskdata.keep_present(rows, task="emer", env_vars=env_vars)


def process_docs(dataset: datasets.Dataset) -> datasets.Dataset:
    """Replace the YAML's placeholder with the user's annotations."""
    del dataset
    return taskdata.to_dataset(build_docs(), task="emer")


# --- prompts ---------------------------------------------------------------------------


def doc_to_text(
    doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None
) -> str:
    """The paper's open-ended question."""
    return taskdata.with_prompts(PROMPT, lmms_eval_specific_kwargs)


#: The clip (its own audio track gives the audio).
doc_to_visual = taskdata.media_visuals


doc_to_messages = taskdata.messages_of(doc_to_text)


# --- scoring ---------------------------------------------------------------------------

METRICS: tuple[str, ...] = (
    *judge.CRITERIA,
    "judge_average",
    "judge_status",
    "judge_unparsed_count",
    "judge_error_count",
    "emotion_overlap_precision",
    "emotion_overlap_recall",
    "emotion_overlap_f1",
    "emotion_overlap_unscorable_count",
    "empty_count",
    "missing_media_count",
    "model_modalities",
)

aggregate_model_modalities = taskdata.aggregate_model_modalities


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """Judge the description (when a judge is configured) and score its emotion words."""
    answer = results[0] if results else ""
    if answer.strip():
        verdict = judge.judge(doc["reference"], answer)
    else:  # a blank answer is not sent to the judge; it is counted as empty
        verdict = judge.JudgeResult("empty" if judge.judge_model() else "not_configured")
    overlap = metrics.set_prf(
        emotions.emotion_clusters(answer), emotions.emotion_clusters(doc["reference"])
    )
    record = {
        "id": doc["id"],
        "empty": not answer.strip(),
        "judge_status": verdict.status,
        "judge_scores": verdict.scores,
        "judge_detail": verdict.detail,
        "judge_model": judge.judge_model(),
        "overlap": overlap,
        "missing_media_count": int(doc.get("missing_media_count", 0)),
    }
    return dict.fromkeys(METRICS, record)


def _judged(key: str, what: str = "") -> Callable[[list[dict[str, Any]]], float | None]:
    def aggregate(items: list[dict[str, Any]]) -> float | None:
        values = [r["judge_scores"][key] for r in items if r["judge_status"] == "ok"]
        return sum(values) / len(values) if values else None

    aggregate.__name__ = aggregate.__qualname__ = f"aggregate_{key}"
    aggregate.__doc__ = f"Mean judge score for {key} (1-10{what}); ``None`` without judged answers."
    return aggregate


aggregate_cue_overlap = _judged("cue_overlap")
aggregate_emotion_consistency = _judged("emotion_consistency")
aggregate_emotion_cue_association = _judged("emotion_cue_association")
aggregate_hallucinated_cues = _judged("hallucinated_cues", ", higher = fewer invented cues")


def aggregate_judge_average(items: list[dict[str, Any]]) -> float | None:
    """Mean of the four criteria (the paper's average); ``None`` without judged answers."""
    means = [_judged(key)(items) for key in judge.CRITERIA]
    return None if None in means else sum(means) / len(means)  # type: ignore[arg-type]


def aggregate_judge_status(items: list[dict[str, Any]]) -> str:
    """Whether the judge metrics were computed, and on how many answers."""
    if any(r["judge_status"] == "not_configured" for r in items):
        return f"not computed: no judge configured (set {judge.MODEL_ENV}; see the emer README)"
    ok = sum(r["judge_status"] == "ok" for r in items)
    model = next((r["judge_model"] for r in items if r["judge_model"]), "?")
    return f"judged {ok} of {len(items)} answers with {model}"


def _count(items: list[dict[str, Any]], status: str) -> int:
    return sum(r["judge_status"] == status for r in items)


def aggregate_judge_unparsed_count(items: list[dict[str, Any]]) -> int:
    """Judge replies without the four scores (left out of the judge means)."""
    return _count(items, "unparsed")


def aggregate_judge_error_count(items: list[dict[str, Any]]) -> int:
    """Judge requests that failed after their retries (left out of the judge means)."""
    return _count(items, "error")


def aggregate_empty_count(items: list[dict[str, Any]]) -> int:
    """Blank model answers (not judged; they score 0 on emotion overlap)."""
    return sum(r["empty"] for r in items)


def _overlap(items: list[dict[str, Any]], i: int) -> float | None:
    values = [r["overlap"][i] for r in items if r["overlap"] is not None]
    return sum(values) / len(values) if values else None


def aggregate_emotion_overlap_precision(items: list[dict[str, Any]]) -> float | None:
    """Mean per-sample precision of the emotion-wheel clusters named (no judge needed)."""
    return _overlap(items, 0)


def aggregate_emotion_overlap_recall(items: list[dict[str, Any]]) -> float | None:
    """Mean per-sample recall of the reference's emotion-wheel clusters."""
    return _overlap(items, 1)


def aggregate_emotion_overlap_f1(items: list[dict[str, Any]]) -> float | None:
    """Mean per-sample F1 of the emotion-wheel cluster sets."""
    return _overlap(items, 2)


def aggregate_emotion_overlap_unscorable_count(items: list[dict[str, Any]]) -> int:
    """References naming no emotion word (left out of the overlap means)."""
    return sum(r["overlap"] is None for r in items)


def aggregate_missing_media_count(items: list[dict[str, Any]]) -> int:
    """Items left out for missing media (only with ``AVEM_ALLOW_MISSING_MEDIA=1``)."""
    return max((r["missing_media_count"] for r in items), default=0)
