"""Emotion answers: the robust parser and the authors' scorer on the SPEC §4.2 cases."""

from __future__ import annotations

import pytest

from avem_plugins.scoring import lexicon
from avem_plugins.scoring.emotions import (
    EmotionAnswer,
    emotion_clusters,
    parse_answer,
    parse_emotion,
    parse_emotion_compat,
)

DFEW = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]


@pytest.mark.parametrize(
    ("text", "label"),
    [("sad", "sadness"), ("Angry.", "anger"), ("fearful", "fear"), ("Worried", "fear")],
)
def test_spec_words_robust_gets_right_and_compat_maps_to_happiness(text, label):
    assert parse_emotion(text, DFEW) == EmotionAnswer(label, "ok")
    # the authors' scorer does not know these forms and falls back to happiness
    assert parse_emotion_compat(text) == EmotionAnswer("happiness", "unparsed")


def test_unparseable_text():
    assert parse_emotion("I cannot tell from this clip.", DFEW) == EmotionAnswer(None, "unparsed")
    assert parse_emotion_compat("I cannot tell from this clip.").label == "happiness"


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_answers(text):
    assert parse_emotion(text, DFEW) == EmotionAnswer(None, "empty")
    got = parse_emotion_compat(text)
    assert got.status == "dropped" and not got.scored  # dropped by the authors, counted by us


def test_know_and_normal_are_not_negations_in_robust_but_are_in_compat():
    # "know" contains "no": the authors' scorer drops the sentence naming the emotion
    text = "I know she feels disgust. Her smile fades."
    assert parse_emotion(text, DFEW).label == "disgust"
    assert parse_emotion_compat(text).label == "happiness"
    text = "Fear, which is normal here. She smiles a bit."
    assert parse_emotion(text, DFEW).label == "fear"
    assert parse_emotion_compat(text).label == "happiness"
    assert parse_emotion("normal", DFEW).label == "neutral"


def test_robust_negation_is_clause_scoped():
    assert parse_emotion("Not happy, rather sad.", DFEW).label == "sadness"
    assert parse_emotion("She is not very happy", DFEW) == EmotionAnswer(None, "unparsed")
    assert parse_emotion("He doesn't look angry but surprised", DFEW).label == "surprise"
    assert parse_emotion("No fear at all; calm.", DFEW).label == "neutral"  # calm -> neutral


def test_compat_first_sentence_then_counts_then_label_order():
    assert parse_emotion_compat("The person is serious.").label == "anger"  # anger before neutral
    assert parse_emotion_compat("Hmm. Anger and rage, some fear.").label == "anger"
    assert parse_emotion_compat("Hmm. Fear, dread, anger.").label == "fear"
    assert parse_emotion_compat("Hmm. Fear and anger.").label == "anger"  # tie: earlier label
    # a line break before the first sentence end: their scorer raised and skipped it
    assert parse_emotion_compat("happy\nthe end.").status == "dropped"


def test_labels_outside_the_dataset():
    ravdess8 = [*DFEW, "calm"]
    assert parse_emotion("calm", ravdess8).label == "calm"
    assert parse_emotion("calm", DFEW).label == "neutral"
    assert parse_emotion("surprised", ["happiness", "sadness"]).status == "unparsed"


def test_dispatch():
    assert parse_answer("sad", DFEW, "robust").label == "sadness"
    assert parse_answer("sad", DFEW, "compat").label == "happiness"
    with pytest.raises(ValueError, match="unknown answer parser"):
        parse_answer("sad", DFEW, "fancy")


def test_emotion_clusters():
    assert emotion_clusters("She looks happy but slightly nervous, not angry.") == {"joy", "fear"}
    assert emotion_clusters("") == frozenset()
    assert emotion_clusters("Visibly grossed out") == {"disgust"}


def test_lexicon_labels_are_disjoint():
    seen: dict[str, str] = {}
    for label, words in lexicon.SYNONYMS.items():
        for word in words:
            assert word not in seen, f"{word!r} is under both {seen.get(word)} and {label}"
            seen[word] = label
    assert set(lexicon.COMPAT_ORDER) == set(lexicon.COMPAT_KEYWORDS)
