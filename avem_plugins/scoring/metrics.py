"""Evaluation metrics as pure functions (no numpy, no torch).

Classification (DFEW, RAVDESS) is scored over a **fixed label list**, so the set of
classes never depends on what a model happened to predict:

- :func:`confusion_matrix` counts gold (rows) x predicted (columns) over ``labels``;
  predictions outside ``labels`` (unparsed answers, ``None``) land in no column but stay
  in their gold row's total.
- :func:`uar` (unweighted average recall: the mean per-class recall), :func:`war`
  (weighted average recall, i.e. accuracy), :func:`macro_f1` and :func:`weighted_f1`
  (MER2023's headline: F1 weighted by gold support). Classes with no gold
  example have an undefined recall and are left out of the UAR and macro-F1 means
  (:func:`classification_scores` lists them); with every class present these equal
  scikit-learn's ``recall_score(average="macro")``, ``accuracy_score`` and
  ``f1_score(average="macro", zero_division=0)``.

Yes/no questions (EmoReAlM) use the paper's own definitions, named so that nobody takes
them for textbook precision and recall: :func:`paper_yes_no_scores`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


def _check(golds: Sequence[str], preds: Sequence[str | None], labels: Sequence[str]) -> None:
    if len(golds) != len(preds):
        raise ValueError(f"{len(golds)} gold labels but {len(preds)} predictions")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels {list(labels)} contain duplicates")
    unknown = sorted({g for g in golds if g not in labels})
    if unknown:
        raise ValueError(f"gold labels {unknown} are not in the label list {list(labels)}")


def confusion_matrix(
    golds: Sequence[str], preds: Sequence[str | None], labels: Sequence[str]
) -> list[list[int]]:
    """``m[i][j]`` = number of items with gold ``labels[i]`` predicted as ``labels[j]``."""
    _check(golds, preds, labels)
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for gold, pred in zip(golds, preds, strict=True):
        if pred in index:
            matrix[index[gold]][index[pred]] += 1
    return matrix


@dataclass(frozen=True)
class ClassificationScores:
    """Everything :func:`classification_scores` computes, JSON-friendly via ``as_dict``."""

    labels: list[str]
    n: int
    uar: float
    war: float
    macro_f1: float
    matrix: list[list[int]]
    support: list[int]
    recall: list[float | None]
    precision: list[float | None]
    f1: list[float | None]
    outside_labels: list[int] = field(default_factory=list)
    classes_without_examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """The confusion matrix for a results file: ``labels`` (row and column order),
        ``matrix`` (gold rows x predicted columns) and ``predicted_outside_labels`` (per
        gold row: answers that named no label, e.g. unparsed). Per-class scores follow
        from these; they stay out to keep lmms-eval's printed table narrow."""
        return {
            "labels": list(self.labels),
            "matrix": [list(row) for row in self.matrix],
            "predicted_outside_labels": list(self.outside_labels),
        }


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def classification_scores(
    golds: Sequence[str], preds: Sequence[str | None], labels: Sequence[str]
) -> ClassificationScores:
    """UAR, WAR, macro-F1, the confusion matrix and per-class scores over ``labels``.

    An empty input gives zeros (and an all-zero matrix).
    """
    matrix = confusion_matrix(golds, preds, labels)
    k = len(labels)
    support = [sum(row) for row in matrix]
    # gold rows also count predictions outside the label list (unparsed answers)
    totals = [0] * k
    index = {label: i for i, label in enumerate(labels)}
    for gold in golds:
        totals[index[gold]] += 1
    outside = [totals[i] - support[i] for i in range(k)]
    predicted = [sum(matrix[i][j] for i in range(k)) for j in range(k)]
    tp = [matrix[i][i] for i in range(k)]
    recall = [_ratio(tp[i], totals[i]) for i in range(k)]
    precision = [_ratio(tp[i], predicted[i]) for i in range(k)]
    f1: list[float | None] = []
    for i in range(k):
        if totals[i] == 0:
            f1.append(None)
        else:
            p, r = precision[i] or 0.0, recall[i] or 0.0
            f1.append(2 * p * r / (p + r) if p + r else 0.0)
    present = [i for i in range(k) if totals[i]]
    return ClassificationScores(
        labels=list(labels),
        n=len(golds),
        uar=_mean([recall[i] or 0.0 for i in present]),
        war=sum(tp) / len(golds) if golds else 0.0,
        macro_f1=_mean([f1[i] or 0.0 for i in present]),
        matrix=matrix,
        support=totals,
        recall=recall,
        precision=precision,
        f1=f1,
        outside_labels=outside,
        classes_without_examples=[labels[i] for i in range(k) if not totals[i]],
    )


def uar(golds: Sequence[str], preds: Sequence[str | None], labels: Sequence[str]) -> float:
    """Unweighted average recall: the mean recall of the classes with gold examples."""
    return classification_scores(golds, preds, labels).uar


def war(golds: Sequence[str], preds: Sequence[str | None], labels: Sequence[str]) -> float:
    """Weighted average recall, which equals accuracy."""
    return classification_scores(golds, preds, labels).war


def macro_f1(golds: Sequence[str], preds: Sequence[str | None], labels: Sequence[str]) -> float:
    """The mean F1 of the classes with gold examples (F1 = 0 when nothing is right)."""
    return classification_scores(golds, preds, labels).macro_f1


def weighted_f1(golds: Sequence[str], preds: Sequence[str | None], labels: Sequence[str]) -> float:
    """The per-class F1 averaged with weights = gold support (MER2023's headline metric).

    Classes without gold examples weigh nothing; answers outside ``labels`` count as wrong.
    Equals scikit-learn's ``f1_score(average="weighted", labels=labels, zero_division=0)``.
    """
    scores = classification_scores(golds, preds, labels)
    if not scores.n:
        return 0.0
    total = sum(n * (f or 0.0) for n, f in zip(scores.support, scores.f1, strict=True))
    return total / scores.n


@dataclass(frozen=True)
class PaperYesNoScores:
    """EmoReAlM's yes/no metrics as the paper defines them (fractions in ``[0, 1]``).

    - ``precision_yes_acc``: the paper's "precision" = accuracy on gold-Yes items.
    - ``recall_no_acc``: the paper's "recall" = accuracy on gold-No items.
    - ``f1``: the paper's "F1" = harmonic mean of those two (0 when both are 0).
    - ``yes_rate``: the fraction of all items answered Yes.
    """

    accuracy: float
    precision_yes_acc: float
    recall_no_acc: float
    f1: float
    yes_rate: float
    n_yes: int
    n_no: int


def paper_yes_no_scores(
    golds: Sequence[bool], answered_yes: Sequence[bool | None]
) -> PaperYesNoScores:
    """Score yes/no answers; ``None`` (unparsed) counts as wrong and as not-Yes.

    :param golds: ``True`` for gold Yes.
    :param answered_yes: ``True``/``False`` for a Yes/No answer, ``None`` if unreadable.
    """
    if len(golds) != len(answered_yes):
        raise ValueError(f"{len(golds)} gold answers but {len(answered_yes)} predictions")
    right = [a is not None and a == g for g, a in zip(golds, answered_yes, strict=True)]
    yes_right = [r for g, r in zip(golds, right, strict=True) if g]
    no_right = [r for g, r in zip(golds, right, strict=True) if not g]
    return paper_yes_no_from_counts(
        n=len(golds),
        correct=sum(right),
        n_yes=len(yes_right),
        yes_correct=sum(yes_right),
        n_no=len(no_right),
        no_correct=sum(no_right),
        answered_yes=sum(1 for a in answered_yes if a),
    )


def paper_yes_no_from_counts(
    *,
    n: int,
    correct: int,
    n_yes: int,
    yes_correct: int,
    n_no: int,
    no_correct: int,
    answered_yes: int,
) -> PaperYesNoScores:
    """:class:`PaperYesNoScores` from counts (rates are 0 for empty denominators)."""
    p = yes_correct / n_yes if n_yes else 0.0
    r = no_correct / n_no if n_no else 0.0
    return PaperYesNoScores(
        accuracy=correct / n if n else 0.0,
        precision_yes_acc=p,
        recall_no_acc=r,
        f1=2 * p * r / (p + r) if p + r else 0.0,
        yes_rate=answered_yes / n if n else 0.0,
        n_yes=n_yes,
        n_no=n_no,
    )


def set_prf(
    predicted: set[str] | frozenset[str], reference: set[str] | frozenset[str]
) -> tuple[float, float, float] | None:
    """Set precision, recall and F1; ``None`` when ``reference`` is empty (unscorable).

    An empty prediction against a non-empty reference scores ``(0, 0, 0)``.
    """
    if not reference:
        return None
    hit = len(set(predicted) & set(reference))
    p = hit / len(predicted) if predicted else 0.0
    r = hit / len(reference)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)
