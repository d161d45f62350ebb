"""EmoReAlM answers: the robust parser and the authors' scorer on the SPEC §4.1 quirks."""

from __future__ import annotations

import pytest

from avem_plugins.scoring.answers import (
    ChoiceAnswer,
    choice_map,
    compat_is_correct,
    compat_letters,
    parse_choice,
    split_choice,
    yes_no_value,
)

FOUR = ["(A) Happiness", "(B) Sadness", "(C) Anger", "(D) Fear"]
YES_NO = ["(A) Yes", "(B) No"]


@pytest.mark.parametrize(
    ("answer", "choices", "expected"),
    [
        ("B", FOUR, "B"),
        ("b", FOUR, "B"),
        ("(C)", FOUR, "C"),
        ("D.", FOUR, "D"),
        ("(B) Sadness", FOUR, "B"),
        ("The answer is C.", FOUR, "C"),
        ("Answer: (D) Fear", FOUR, "D"),
        ("I would pick option B because the voice trembles.", FOUR, "B"),
        ("Anger", FOUR, "C"),
        ("The person expresses sadness.", FOUR, "B"),
        ("a", FOUR, "A"),  # the whole answer is the letter
        ("Yes", YES_NO, "A"),
        ("yes.", YES_NO, "A"),
        ("No, the tone does not match.", YES_NO, "B"),
        ("(A) Yes", YES_NO, "A"),
        ("B", YES_NO, "B"),
    ],
)
def test_robust_parser_reads_the_pick(answer, choices, expected):
    assert parse_choice(answer, choices) == ChoiceAnswer(expected, "ok")


def test_robust_parser_does_not_read_the_article_as_option_a():
    # the authors' scorer would score this as A; the article is not a pick
    got = parse_choice("A woman with a trembling voice, clearly sad.", FOUR)
    assert got.letter is None
    assert got.status == "unparsed"
    assert parse_choice("The answer is a happy face", FOUR).letter is None
    assert parse_choice("The answer is a sign of happiness", FOUR).letter == "A"  # option text
    assert parse_choice("A person looks sad", ["(A) Joy", "(B) Sad"]).letter == "B"


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (None, "empty"),
        ("A or B", "ambiguous"),
        ("I am not sure.", "unparsed"),
    ],
)
def test_robust_parser_reports_what_it_cannot_read(answer, status):
    got = parse_choice(answer, FOUR)
    assert got.letter is None
    assert got.status == status


def test_compat_letter_quirks_from_the_spec():
    # the article "a" scores as option A
    assert compat_is_correct("a person who looks sad", "A")
    assert compat_is_correct("It is a", "A")
    # a bare "yes" never scores, even when (A) Yes is right
    assert not compat_is_correct("yes", "A")
    assert not compat_is_correct("Yes.", "A")
    # any standalone gold letter anywhere counts, so "A or B" is right for both
    assert compat_is_correct("A or B", "A") and compat_is_correct("A or B", "B")
    # letters inside words do not count
    assert not compat_is_correct("Bad", "B")
    assert compat_is_correct("(B)", "B") and compat_is_correct("b.", "B")
    assert not compat_is_correct("", "A")


def test_compat_letters_for_reporting():
    assert compat_letters("yes", YES_NO) == set()
    assert compat_letters("a (B)", YES_NO) == {"A", "B"}


def test_choice_helpers():
    assert split_choice("(A) Yes") == ("A", "Yes")
    assert split_choice("B. No") == ("B", "No")
    assert split_choice("C: Anger") == ("C", "Anger")
    assert choice_map(YES_NO) == {"A": "Yes", "B": "No"}
    assert yes_no_value("Yes") is True and yes_no_value("No.") is False
    assert yes_no_value("Anger") is None
    with pytest.raises(ValueError, match="option letter"):
        split_choice("Happiness")


# --- gaps found by the differential run against the authors' scorer (issue 15) ----------

SMILE = ["(A) The broad smile on the face", "(B) The raised voice", "(C) The hands", "(D) None"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("a) the smile", "A"),  # a lower-case letter marked by ")" is a pick, not the article
        ("a) smile", "A"),
        ("a. the smile", "A"),
        ("a: smile", "A"),
        ("b) raised voice", "B"),
        ("c) hands", "C"),
        ("A) the smile", "A"),
    ],
)
def test_a_lower_case_marked_letter_is_the_pick(answer, expected):
    assert parse_choice(answer, SMILE) == ChoiceAnswer(expected, "ok")


def test_the_article_opening_a_phrase_is_still_not_a_pick():
    assert parse_choice("a man smiles broadly", SMILE).letter is None
    assert parse_choice("a) the smile", ["(A) Joy", "(B) Sad"]).letter == "A"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Nope", "B"),
        ("Not really", "B"),
        ("Definitely not", "B"),
        ("Definitely not.", "B"),
        ("Of course not", "B"),
        ("Absolutely not", "B"),
        ("Not at all", "B"),
        ("I don't think so", "B"),
        ("It does not.", "B"),
        ("Nah", "B"),
        ("Yep", "A"),
        ("Yeah", "A"),
        ("Yeah, it does", "A"),
        ("Yup", "A"),
        ("Sure", "A"),
        ("Of course", "A"),
        ("Absolutely", "A"),
        ("Yes, but not strongly", "A"),
    ],
)
def test_yes_no_replies_in_words(answer, expected):
    assert parse_choice(answer, YES_NO) == ChoiceAnswer(expected, "ok")
    # the options in the other order: the reply, not the letter, decides
    flipped = parse_choice(answer, ["(A) No", "(B) Yes"])
    assert flipped == ChoiceAnswer("A" if expected == "B" else "B", "ok")


@pytest.mark.parametrize(
    "answer",
    ["no idea", "No idea.", "I have no idea", "Not sure", "I'm not sure, maybe yes", "I can't tell",
     "Hard to say", "maybe", "I don\u2019t know"],
)  # fmt: skip
def test_a_hedge_is_never_read_as_no(answer):
    got = parse_choice(answer, YES_NO)
    assert got == ChoiceAnswer(None, "unparsed")


def test_yes_no_reply_helper():
    from avem_plugins.scoring.answers import yes_no_reply

    assert [yes_no_reply(t) for t in ("Yep", "Nope", "no idea", "maybe", "")] == [
        True, False, "unsure", None, None,
    ]  # fmt: skip
