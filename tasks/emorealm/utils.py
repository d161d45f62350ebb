"""EmoReAlM for lmms-eval: docs from the released questions file, prompts, scoring.

No side effects at import: the questions file and clips are read when a task loads
(``process_docs``), through the environment variables in README.md.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from avem_plugins.tasks.dfew import utils as dfew

from avem_plugins.media import VIDEO_SUFFIXES
from avem_plugins.modality import strip_media_markers
from avem_plugins.scoring import answers, authors, metrics, taskdata

logger = logging.getLogger(__name__)

QUESTIONS_ENV = "EMOREALM_JSON"
#: The clips are DFEW's, found as the ``dfew`` task finds them (``DFEW_ROOT``, ...).
CLIPS = dfew.CLIPS
HUB_DATASET = "chaubeyG/EmoReAlM"
HUB_FILE = "emorealm_v1.json"

#: The five subtasks (the ``task`` values of the released file).
TASKS: tuple[str, ...] = (
    "reasoning_basic_audio",
    "reasoning_basic_video",
    "modality_agreement",
    "reasoning_stress_audio",
    "reasoning_stress_video",
)
YES_NO_TASKS: frozenset[str] = frozenset(TASKS[2:])
REQUIRED_FIELDS: tuple[str, ...] = ("id", "video", "task", "question", "choices", "answer")
#: Optional item fields that may say which kind a stress question is.
KIND_FIELDS: tuple[str, ...] = ("stress_kind", "kind", "stress_type", "category", "type", "subtype")
KINDS: tuple[str, ...] = ("relevant", "spurious", "hallucination")
#: The authors' scorer used by ``AVEM_ANSWER_PARSER=compat`` (:mod:`avem_plugins.scoring.authors`).
SCORER_FAMILY = "emorealm"


# --- data ------------------------------------------------------------------------------


def questions_file() -> Path:
    """The questions file: ``EMOREALM_JSON``, ``$LMMS_EVAL_MEDIA_ROOT/EmoReAlM/``, or the hub."""
    try:
        return taskdata.env_path(
            QUESTIONS_ENV,
            media_root_names=(f"EmoReAlM/{HUB_FILE}", HUB_FILE),
            purpose=f"the released {HUB_FILE} (hub dataset {HUB_DATASET})",
            kind="file",
        )
    except taskdata.TaskDataError as err:
        if os.environ.get(QUESTIONS_ENV, "").strip():
            raise
        try:  # online (or already cached): the released file from the hub
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(HUB_DATASET, HUB_FILE, repo_type="dataset"))
        except Exception as hub_err:
            raise taskdata.TaskDataError(
                f"{err} The hub copy ({HUB_DATASET}/{HUB_FILE}) could not be fetched either: "
                f"{type(hub_err).__name__}."
            ) from None


@functools.lru_cache(maxsize=4)
def _read_items(path: str, mtime: float) -> tuple[dict[str, Any], ...]:
    raw = b""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise taskdata.TaskDataError(
            f"{QUESTIONS_ENV}: {path} line {line}: not UTF-8 (byte 0x{raw[err.start]:02x}); "
            "use the released file unchanged, or save it as UTF-8"
        ) from None
    except (OSError, json.JSONDecodeError) as err:
        raise taskdata.TaskDataError(f"{QUESTIONS_ENV}: cannot read {path}: {err}") from None
    except ValueError as err:  # an integer longer than Python's 4300-digit limit
        raise taskdata.TaskDataError(
            f"{QUESTIONS_ENV}: cannot read {path}: {str(err).split(';')[0]}; use the released "
            "file unchanged"
        ) from None
    except RecursionError:
        raise taskdata.TaskDataError(
            f"{QUESTIONS_ENV}: cannot read {path}: lists or objects nested too deeply; use the "
            "released file unchanged"
        ) from None
    if not isinstance(data, list):
        raise taskdata.TaskDataError(
            f"{path}: expected a JSON list of questions, got {type(data).__name__}"
        )
    first_of: dict[str, int] = {}
    for i, item in enumerate(data):
        missing = [f for f in REQUIRED_FIELDS if not isinstance(item, dict) or f not in item]
        if missing:
            raise taskdata.TaskDataError(f"{path}: item {i} lacks the field(s) {missing}")
        _check_item(path, i, item)
        key = str(item["id"])
        if key in first_of:
            raise taskdata.TaskDataError(
                f"{path}: item {i}, field 'id': duplicate id {item['id']!r} (first at item "
                f"{first_of[key]}); ids must be unique"
            )
        first_of[key] = i
    unknown = Counter(str(item["task"]) for item in data if item["task"] not in TASKS)
    if unknown:
        logger.warning(
            "%s: %d items have a 'task' outside the five EmoReAlM subtasks (%s); no emorealm "
            "task evaluates them",
            path, sum(unknown.values()), dict(unknown),
        )  # fmt: skip
    return tuple(data)


def _check_item(path: str, i: int, item: dict[str, Any]) -> None:
    """One item's choices, gold letter and clip path (which must stay under ``DFEW_ROOT``)."""
    ident = item["id"]
    where = f"{path}: item {i} (id {taskdata.one_line(ident)})"
    if not isinstance(item["task"], str):
        raise taskdata.TaskDataError(
            f"{where}, field 'task': expected one of {list(TASKS)}, got {item['task']!r}"
        )
    choices = item["choices"]
    if not isinstance(choices, list) or not choices:
        raise taskdata.TaskDataError(f"{where}: 'choices' must be a non-empty list")
    try:
        options = answers.choice_map([str(c) for c in choices])
    except ValueError as err:
        raise taskdata.TaskDataError(f"{where}, field 'choices': {err}") from None
    gold = str(item["answer"]).strip().upper()
    if gold not in options:
        raise taskdata.TaskDataError(
            f"{where}, field 'answer': {item['answer']!r} is not among the choices' letters "
            f"{sorted(options)}"
        )
    if item["task"] in YES_NO_TASKS and answers.yes_no_value(options[gold]) is None:
        raise taskdata.TaskDataError(
            f"{where}, field 'answer': a yes/no task's gold option {gold} is {options[gold]!r}, "
            "neither Yes nor No"
        )
    video = item["video"]
    if not isinstance(video, str) or not video.strip():
        raise taskdata.TaskDataError(f"{where}, field 'video': expected a clip path, got {video!r}")
    relative = PurePosixPath(video.replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts or video[1:2] == ":":
        raise taskdata.TaskDataError(
            f"{where}, field 'video': {video!r} leaves {CLIPS.root_env} (an absolute path or '..'); "
            "clip paths are relative to the DFEW clips folder, like part_1/1.mp4"
        )


def load_items() -> list[dict[str, Any]]:
    """The released questions, unchanged."""
    path = questions_file()
    return list(_read_items(str(path), path.stat().st_mtime))


def stress_kind(item: dict[str, Any]) -> str | None:
    """``relevant``/``spurious``/``hallucination`` when an item says which kind it is."""
    for field in KIND_FIELDS:
        value = str(item.get(field) or "").lower()
        if "spurious" in value:
            return "spurious"
        if "halluc" in value:
            return "hallucination"
        if "relevant" in value:
            return "relevant"
    return None


@functools.lru_cache(maxsize=4)
def _clips_by_id(root: str) -> dict[int, Path]:
    return taskdata.index_files(Path(root), VIDEO_SUFFIXES, key=lambda p: dfew.clip_id(p.stem))


def _video_path(root: Path, relative: str) -> Path:
    direct = root / relative
    if os.path.isfile(direct):  # (False for a name longer than the file system allows)
        return direct
    clip = dfew.clip_id(Path(relative).stem)  # not at the released path: find it by its id
    if clip is not None:
        found = _clips_by_id(str(root)).get(clip)
        if found is not None:
            return found
    return direct


def build_docs(task: str) -> list[dict[str, Any]]:
    """The docs of one subtask, media resolved and checked."""
    if task not in TASKS:
        raise ValueError(f"unknown EmoReAlM task {task!r}; expected one of {TASKS}")
    items = load_items()  # the questions file first: EMOREALM_JSON before DFEW_ROOT
    sources = CLIPS.find(authors.checked_parser(SCORER_FAMILY))
    parser, video_root, audio_root = sources.parser, sources.root, sources.audio_root
    rows = []
    for item in items:
        if item["task"] != task:
            continue
        video = _video_path(video_root, str(item["video"]))
        audio = audio_root / Path(str(item["video"])).with_suffix(".wav") if audio_root else video
        rows.append(
            {
                "id": str(item["id"]),
                "video": str(item["video"]),
                "task": task,
                "question": str(item["question"]),
                "choices": [str(c) for c in item["choices"]],
                "answer": str(item["answer"]).strip().upper(),
                "video_path": str(video),
                "audio_path": str(audio),
                "audio_source": "wav" if audio_root else "video_track",
                "stress_kind": stress_kind(item),
                "answer_parser": parser,
            }
        )
    return taskdata.keep_present(rows, task=f"emorealm_{task}", env_vars=sources.env_vars)


process_docs_reasoning_basic_audio = taskdata.process_docs_of(
    build_docs, "reasoning_basic_audio", task="emorealm_reasoning_basic_audio"
)
process_docs_reasoning_basic_video = taskdata.process_docs_of(
    build_docs, "reasoning_basic_video", task="emorealm_reasoning_basic_video"
)
process_docs_modality_agreement = taskdata.process_docs_of(
    build_docs, "modality_agreement", task="emorealm_modality_agreement"
)
process_docs_reasoning_stress_audio = taskdata.process_docs_of(
    build_docs, "reasoning_stress_audio", task="emorealm_reasoning_stress_audio"
)
process_docs_reasoning_stress_video = taskdata.process_docs_of(
    build_docs, "reasoning_stress_video", task="emorealm_reasoning_stress_video"
)


# --- prompts ---------------------------------------------------------------------------


def question_text(question: str) -> str:
    """The question as the authors sent it: verbatim (not even stripped), except that
    ``<video>``/``<audio>`` markers, if a questions file has them, are removed (the model
    adapter places the media itself)."""
    stripped = strip_media_markers(question)
    return stripped if stripped != question.strip() else question


def doc_to_text(
    doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None
) -> str:
    """The authors' prompt ``question + " " + " ".join(choices)``, between the task's
    ``pre_prompt`` and ``post_prompt`` (both empty for ``emorealm``; ``emorealm_instructed``
    appends the short-answer instruction)."""
    body = question_text(doc["question"]) + " " + " ".join(doc["choices"])
    return taskdata.with_prompts(body, lmms_eval_specific_kwargs)


#: The clip (and a separate 16 kHz wav when ``DFEW_AUDIO_ROOT`` is set).
doc_to_visual = taskdata.media_visuals


doc_to_messages = taskdata.messages_of(doc_to_text)


# --- scoring ---------------------------------------------------------------------------


def _compat_correct(scorer: authors.CompatScorer, doc: dict[str, Any], answer: str) -> bool:
    """The authors' verdict: their function on the stripped, lower-cased answer (as their
    evaluation calls it), or our reconstruction without ``AVEM_AVERE_REPO``."""
    if scorer.fn is None:
        return answers.compat_is_correct(answer, doc["answer"])
    try:
        return bool(scorer.fn((answer or "").strip().lower(), doc["answer"]))
    except Exception as err:  # their evaluation would stop here too
        raise authors.AuthorsScorerError(
            " ".join(
                f"{scorer.where()} failed on emorealm {doc['task']} item {doc['id']}: "
                f"{type(err).__name__}: {err}".split()
            )
        ) from None


def score(doc: dict[str, Any], answer: str, parser: str | None = None) -> dict[str, Any]:
    """One answer's record: correctness, parse status, and for yes/no tasks the Yes/No facts.

    ``record["parser"]`` is the scorer that ran: ``robust``, ``compat-reconstruction`` or
    ``compat-authors@...``; ``record["parser_note"]`` the reconstruction's notice, if used.
    """
    parser = parser or doc.get("answer_parser") or "robust"
    gold = doc["answer"]
    options = answers.choice_map(doc["choices"])
    label, note = parser, ""
    if parser == "compat":
        scorer = authors.compat_scorer(SCORER_FAMILY)
        label, note = scorer.label, scorer.note
        correct = _compat_correct(scorer, doc, answer)
        status = (
            "empty"
            if not (answer or "").strip()
            else ("ok" if answers.compat_letters(answer, doc["choices"]) else "unparsed")
        )
        picked = None
    else:
        parsed = answers.parse_choice(answer, doc["choices"])
        correct, status, picked = parsed.letter == gold, parsed.status, parsed.letter
    record: dict[str, Any] = {  # self-contained: lmms-eval's logged samples omit the doc
        "id": doc["id"],
        "task": doc["task"],
        "gold": gold,
        "choices": list(doc["choices"]),
        "correct": bool(correct),
        "status": status,
        "parser": label,
        "parser_note": note,
        "missing_media_count": int(doc.get("missing_media_count", 0)),
        "kind": doc.get("stress_kind"),
        "gold_yes": None,
        "answered_yes": None,
    }
    if doc["task"] in YES_NO_TASKS:
        gold_yes = answers.yes_no_value(options.get(gold, ""))
        if gold_yes is None:
            raise ValueError(
                f"emorealm item {doc['id']}: gold option {gold} is neither Yes nor No: {doc['choices']}"
            )
        record["gold_yes"] = gold_yes
        if parser == "compat":  # the authors count a wrong answer on a gold-No item as a "yes"
            record["answered_yes"] = correct == gold_yes
        else:
            record["answered_yes"] = answers.yes_no_value(options[picked]) if picked else None
    return record


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """Per-sample values for every metric in the YAML."""
    record = score(doc, results[0] if results else "")
    out: dict[str, Any] = {"accuracy": float(record["correct"])}
    for name in (
        "unparsed_count", "unparsed_rate", "empty_count", "missing_media_count", "answer_parser",
        "answer_parser_note", "model_modalities",
    ):  # fmt: skip
        out[name] = record
    if doc["task"] in YES_NO_TASKS:
        for name in (
            "paper_precision_yes_acc", "paper_recall_no_acc", "paper_f1_yes_no", "yes_rate",
            "relevant_acc", "spurious_acc", "hallucination_acc",
        ):  # fmt: skip
            out[name] = record
    return out


def _paper(items: list[dict[str, Any]]) -> metrics.PaperYesNoScores:
    gold = [bool(r["gold_yes"]) for r in items]
    if items and str(items[0]["parser"]).startswith("compat"):
        n_yes = sum(gold)
        yes_correct = sum(r["correct"] for r in items if r["gold_yes"])
        no_correct = sum(r["correct"] for r in items if not r["gold_yes"])
        return metrics.paper_yes_no_from_counts(
            n=len(items),
            correct=yes_correct + no_correct,
            n_yes=n_yes,
            yes_correct=yes_correct,
            n_no=len(items) - n_yes,
            no_correct=no_correct,
            answered_yes=yes_correct + (len(items) - n_yes - no_correct),
        )
    return metrics.paper_yes_no_scores(gold, [r["answered_yes"] for r in items])


def _paper_metric(field: str, name: str, doc: str) -> Callable[[list[dict[str, Any]]], float]:
    def aggregate(items: list[dict[str, Any]]) -> float:
        return float(getattr(_paper(items), field))

    aggregate.__name__ = aggregate.__qualname__ = f"aggregate_{name}"
    aggregate.__doc__ = doc
    return aggregate


aggregate_paper_precision_yes_acc = _paper_metric(
    "precision_yes_acc",
    "paper_precision_yes_acc",
    'The paper\'s "precision": accuracy on gold-Yes items.',
)
aggregate_paper_recall_no_acc = _paper_metric(
    "recall_no_acc", "paper_recall_no_acc", 'The paper\'s "recall": accuracy on gold-No items.'
)
aggregate_paper_f1_yes_no = _paper_metric(
    "f1", "paper_f1_yes_no", 'The paper\'s "F1": harmonic mean of its precision and recall.'
)


def aggregate_yes_rate(items: list[dict[str, Any]]) -> float:
    """Fraction of items answered Yes."""
    return _paper(items).yes_rate


def _kind_acc(kind: str, what: str) -> Callable[[list[dict[str, Any]]], float | None]:
    def aggregate(items: list[dict[str, Any]]) -> float | None:
        chosen = [r["correct"] for r in items if r["kind"] == kind]
        return sum(chosen) / len(chosen) if chosen else None

    aggregate.__name__ = aggregate.__qualname__ = f"aggregate_{kind}_acc"
    aggregate.__doc__ = f"Accuracy on {what} (``None`` when no item says it is one)."
    return aggregate


aggregate_relevant_acc = _kind_acc("relevant", "stress items whose cue is present and relevant")
aggregate_spurious_acc = _kind_acc("spurious", "spurious-cue items (present, irrelevant)")
aggregate_hallucination_acc = _kind_acc("hallucination", "hallucinated-cue items (absent)")


def aggregate_unparsed_count(items: list[dict[str, Any]]) -> int:
    """Answers naming no option (empty ones included); scored as wrong."""
    return sum(r["status"] != "ok" for r in items)


def aggregate_unparsed_rate(items: list[dict[str, Any]]) -> float:
    """:func:`aggregate_unparsed_count` over the number of answers."""
    return aggregate_unparsed_count(items) / len(items) if items else 0.0


def aggregate_empty_count(items: list[dict[str, Any]]) -> int:
    """Blank answers (a subset of the unparsed ones)."""
    return sum(r["status"] == "empty" for r in items)


def aggregate_missing_media_count(items: list[dict[str, Any]]) -> int:
    """Items left out for missing media (only with ``AVEM_ALLOW_MISSING_MEDIA=1``)."""
    return max((r["missing_media_count"] for r in items), default=0)


aggregate_model_modalities = taskdata.aggregate_model_modalities


def aggregate_answer_parser(items: list[dict[str, Any]]) -> str:
    """Which scorer ran: ``robust``, ``compat-reconstruction`` or ``compat-authors@<commit>``."""
    return ",".join(sorted({r["parser"] for r in items})) or "robust"


def aggregate_answer_parser_note(items: list[dict[str, Any]]) -> str:
    """The reconstruction's notice when compat ran without the authors' code, else ``""``."""
    return " | ".join(sorted({r.get("parser_note") or "" for r in items} - {""}))
