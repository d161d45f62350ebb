"""Metrics: sklearn reference values on real CREMA-D votes, random cross-checks, paper yes/no."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from avem_plugins.scoring import metrics

REALDATA = Path(__file__).resolve().parents[3].parent / "shared" / "realdata"
CREMA = REALDATA / "crema-d" / "summaryTable.csv"
CODE_TO_LETTER = {"ANG": "A", "DIS": "D", "FEA": "F", "HAP": "H", "NEU": "N", "SAD": "S"}
LABELS = ["A", "D", "F", "H", "N", "S"]

# sklearn 1.9.1 reference values from ../shared/realdata/crema-d/README.md
REFERENCE = {
    "VoiceVote": (6798, 0.455869, 0.461286, 0.452629),
    "FaceVote": (6972, 0.707258, 0.707522, 0.700191),
    "MultiModalVote": (7022, 0.765309, 0.764693, 0.755287),
}


def _crema(column: str) -> tuple[list[str], list[str]]:
    golds, preds = [], []
    with open(CREMA, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            vote = row[column]
            if ":" in vote:  # a tie: dropped, as in the README's protocol
                continue
            golds.append(CODE_TO_LETTER[row["FileName"].split("_")[2]])
            preds.append(vote)
    return golds, preds


@pytest.mark.skipif(not CREMA.exists(), reason=f"real CREMA-D tables not found at {CREMA}")
@pytest.mark.parametrize("column", sorted(REFERENCE))
def test_crema_d_reference_values(column):
    n, war, uar, f1 = REFERENCE[column]
    golds, preds = _crema(column)
    scores = metrics.classification_scores(golds, preds, LABELS)
    assert scores.n == n
    # the README gives 6 decimals: agreement to its rounding (5e-7) is agreement to 1e-6
    assert scores.war == pytest.approx(war, abs=5e-7)
    assert scores.uar == pytest.approx(uar, abs=5e-7)
    assert scores.macro_f1 == pytest.approx(f1, abs=5e-7)


@pytest.mark.skipif(not CREMA.exists(), reason=f"real CREMA-D tables not found at {CREMA}")
def test_crema_d_matches_sklearn_exactly():
    sk = pytest.importorskip("sklearn.metrics")
    golds, preds = _crema("VoiceVote")
    scores = metrics.classification_scores(golds, preds, LABELS)
    assert scores.uar == pytest.approx(sk.recall_score(golds, preds, average="macro"), abs=1e-12)
    assert scores.war == pytest.approx(sk.recall_score(golds, preds, average="weighted"), abs=1e-12)
    assert scores.macro_f1 == pytest.approx(sk.f1_score(golds, preds, average="macro"), abs=1e-12)
    assert scores.matrix == sk.confusion_matrix(golds, preds, labels=LABELS).tolist()


@pytest.mark.parametrize("seed", range(25))
def test_random_cases_match_sklearn(seed):
    sk = pytest.importorskip("sklearn.metrics")
    rng = random.Random(seed)
    labels = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]
    n = rng.randint(len(labels), 60)
    golds = labels + [rng.choice(labels) for _ in range(n - len(labels))]  # every class present
    rng.shuffle(golds)
    # some predictions are unparsed (None) or outside the label list
    preds = [rng.choice([*labels, None, "calm"]) for _ in golds]
    mapped = [p if p is not None else "<unparsed>" for p in preds]
    scores = metrics.classification_scores(golds, preds, labels)
    assert scores.uar == pytest.approx(
        sk.recall_score(golds, mapped, labels=labels, average="macro", zero_division=0), abs=1e-12
    )
    assert scores.war == pytest.approx(sk.accuracy_score(golds, mapped), abs=1e-12)
    assert scores.macro_f1 == pytest.approx(
        sk.f1_score(golds, mapped, labels=labels, average="macro", zero_division=0), abs=1e-12
    )
    assert scores.matrix == sk.confusion_matrix(golds, mapped, labels=labels).tolist()


def test_fixed_label_list_and_missing_classes():
    labels = ["a", "b", "c"]
    golds = ["a", "a", "b", "b"]
    preds = ["a", "c", "b", None]
    s = metrics.classification_scores(golds, preds, labels)
    assert s.war == 0.5
    assert s.uar == pytest.approx((0.5 + 0.5) / 2)  # "c" has no gold example: left out
    assert s.classes_without_examples == ["c"]
    assert s.matrix == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]
    assert s.outside_labels == [0, 1, 0]  # the unparsed answer stays in b's row total
    assert s.support == [2, 2, 0]
    assert s.f1[2] is None
    assert s.as_dict() == {
        "labels": labels,
        "matrix": s.matrix,
        "predicted_outside_labels": [0, 1, 0],
    }


def test_unknown_gold_and_length_mismatch_are_errors():
    with pytest.raises(ValueError, match="not in the label list"):
        metrics.uar(["x"], ["x"], ["a"])
    with pytest.raises(ValueError, match="predictions"):
        metrics.war(["a"], [], ["a"])


def test_paper_yes_no_scores():
    golds = [True, True, True, False, False]
    answers = [True, False, None, False, True]
    s = metrics.paper_yes_no_scores(golds, answers)
    assert s.accuracy == pytest.approx(2 / 5)
    assert s.precision_yes_acc == pytest.approx(1 / 3)  # accuracy on gold-Yes
    assert s.recall_no_acc == pytest.approx(1 / 2)  # accuracy on gold-No
    assert s.f1 == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert s.yes_rate == pytest.approx(2 / 5)
    zero = metrics.paper_yes_no_scores([True, False], [False, True])
    assert zero.f1 == 0.0


def test_set_prf():
    assert metrics.set_prf({"joy"}, {"joy", "fear"}) == (1.0, 0.5, pytest.approx(2 / 3))
    assert metrics.set_prf(set(), {"joy"}) == (0.0, 0.0, 0.0)
    assert metrics.set_prf({"joy"}, set()) is None
