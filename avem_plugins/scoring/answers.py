"""Multiple-choice and yes/no answers (EmoReAlM): the robust parser and the authors' scorer.

Choices come as ``"(A) Happiness"``, ``"B. No"`` or ``"C: ..."``; the gold answer is a
letter.

- :func:`parse_choice` (``robust``, the default) reads which option an answer picks:
  an answer that is just a letter, a bracketed or punctuated letter (``(B)``, ``B.``,
  ``B:``), "answer is B"/"option B", a lone capital letter (but not the article *A*
  opening a phrase), then a leading yes/no for yes/no questions, then the unique option
  whose text the answer contains. On yes/no questions a reply in words counts ("Yep",
  "Nope", "Not really", "Definitely not", "I don't think so"), and a hedge ("no idea",
  "not sure", "can't tell") is unparsed, never a No. Blank answers are ``"empty"``; answers naming several
  options with no stated pick are ``"ambiguous"``; anything else unreadable is
  ``"unparsed"``. None of these is ever scored as correct, and the task reports them.
- :func:`compat_is_correct` reproduces the authors' scorer exactly: an answer is
  correct when the gold letter occurs anywhere as a standalone letter, case-insensitive.
  So the article "a" scores as option A, "A or B" is correct whatever the gold, and a
  bare "yes" never scores (it holds no letter).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: Parser names accepted by the tasks (``AVEM_ANSWER_PARSER``).
PARSERS: tuple[str, ...] = ("robust", "compat")

_CHOICE = re.compile(r"^\s*[\(\[]?\s*([A-Za-z])\s*[\)\]\.:]\s*(.*)$", re.DOTALL)
_NORM = re.compile(r"[^a-z0-9]+")
#: Words after a capital "A" showing it names option A rather than being the article.
_AFTER_OPTION_A = frozenset(
    {
        "or",
        "and",
        "is",
        "was",
        "seems",
        "appears",
        "because",
        "since",
        "as",
        "then",
        "nor",
        "would",
        "could",
        "should",
        "fits",
        "matches",
        "best",
        "looks",
        "sounds",
    }
)


#: Words that answer a yes/no question with yes / with no (leading the reply, or alone in it).
YES_WORDS = frozenset({
    "yes", "yeah", "yep", "yup", "yea", "sure", "absolutely", "definitely", "certainly", "indeed",
    "correct", "affirmative",
})  # fmt: skip
NO_WORDS = frozenset(["no", "nope", "nah", "not", "never", "negative", "incorrect"])
#: Phrases that say the model does not know: such a reply picks neither Yes nor No.
_UNSURE = re.compile(
    r"\b(?:no idea|not sure|unsure|uncertain|no clue|not certain"
    r"|(?:do not|don't|cannot|can't|can not|unable to) (?:know|tell|say|determine|be sure)"
    r"|hard to (?:say|tell)|impossible to (?:say|tell|determine))\b"
)
_REPLY_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_CLAUSE_END = re.compile(r"[.,;:!?\n]| but ")


@dataclass(frozen=True)
class ChoiceAnswer:
    """Which option an answer picks: ``letter`` (upper case) or ``None`` with a reason.

    ``status``: ``"ok"``, ``"empty"``, ``"ambiguous"`` or ``"unparsed"``.
    """

    letter: str | None
    status: str


def _norm(text: str) -> str:
    return _NORM.sub(" ", text.lower()).strip()


def split_choice(choice: str) -> tuple[str, str]:
    """``"(B) No"`` -> ``("B", "No")``.

    :raises ValueError: when the choice has no leading option letter.
    """
    match = _CHOICE.match(choice)
    if not match:
        raise ValueError(f"choice {choice!r} does not start with an option letter like '(A)'")
    return match.group(1).upper(), match.group(2).strip()


def choice_map(choices: Sequence[str]) -> dict[str, str]:
    """``{"A": "Yes", "B": "No"}`` from the ``choices`` list, in order."""
    return dict(split_choice(c) for c in choices)


def yes_no_value(text: str) -> bool | None:
    """``True`` for a choice text meaning yes, ``False`` for no, else ``None``."""
    words = _norm(text).split()
    if words[:1] == ["yes"]:
        return True
    if words[:1] == ["no"]:
        return False
    return None


def _is_article(after: str) -> bool:
    """Whether an "A" followed by ``after`` reads as the article ("A man smiles")."""
    nxt = re.match(r"\s+([a-z]+)", after)
    return nxt is not None and nxt.group(1) not in _AFTER_OPTION_A


def _letters_pattern(letters: str) -> str:
    return f"[{letters}{letters.lower()}]"


def yes_no_reply(answer: str) -> bool | str | None:
    """What a free-text reply to a yes/no question says: ``True``, ``False``, ``"unsure"``
    or ``None`` (nothing recognisable).

    The first clause decides: a leading yes-word not followed by "not" is yes, a leading
    no-word is no; otherwise any negation in it (``not``, ``never``, ``...n't``) is no, and
    any yes-word (or "of course") is yes. "No idea", "not sure", "can't tell" are
    ``"unsure"`` wherever they occur.

    >>> [yes_no_reply(t) for t in ("Yep", "Definitely not", "no idea", "maybe")]
    [True, False, 'unsure', None]
    """
    text = answer.lower().replace("\u2019", "'").strip()
    if _UNSURE.search(text):
        return "unsure"
    clause = _CLAUSE_END.split(text, maxsplit=1)[0]
    words = _REPLY_WORD.findall(clause)
    if not words:
        return None
    if words[0] in YES_WORDS and words[1:2] != ["not"]:
        return True
    if words[0] in NO_WORDS:
        return False
    if any(w in NO_WORDS or w.endswith("n't") for w in words):
        return False
    if any(w in YES_WORDS for w in words) or "of course" in clause:
        return True
    return None


def parse_choice(answer: str | None, choices: Sequence[str]) -> ChoiceAnswer:
    """Which of ``choices`` a model's answer picks (robust parser).

    >>> parse_choice("(B) No", ["(A) Yes", "(B) No"])
    ChoiceAnswer(letter='B', status='ok')
    >>> parse_choice("A person looks sad", ["(A) Joy", "(B) Sad"]).letter  # "A" is the article
    'B'
    """
    if answer is None or not answer.strip():
        return ChoiceAnswer(None, "empty")
    options = choice_map(choices)
    letters = "".join(options)
    text = answer.strip()

    # 1. the whole answer is one letter, possibly bracketed/punctuated: "b", "(B)", "B."
    bare = re.fullmatch(r"[\(\[]?\s*([A-Za-z])\s*[\)\]\.:]?", text)
    if bare and bare.group(1).upper() in options:
        return ChoiceAnswer(bare.group(1).upper(), "ok")

    # 2. a stated pick: "answer is B", "option (C)", "choice: D"
    stated = re.finditer(
        rf"\b(?:answer|option|choice)\s*(?:is|:)?\s*[\(\[]?({_letters_pattern(letters)})\b",
        text,
        flags=re.IGNORECASE,
    )
    picked = {
        m.group(1).upper()
        for m in stated
        # "the answer is a happy face": a lower-case "a" opening a phrase is the article
        if not (m.group(1) == "a" and _is_article(text[m.end() :]))
    }
    if len(picked) == 1:
        return ChoiceAnswer(picked.pop(), "ok")

    # 3. marked letters: "(B)", "[C]", or a letter at the start followed by . ) : ("a) the
    #    smile": a lower-case letter so marked is never the article)
    marked = re.findall(rf"[\(\[]({_letters_pattern(letters)})[\)\]]", text)
    marked += re.findall(rf"^({_letters_pattern(letters)})[\.\):](?=\s|$)", text)
    # 4. lone capitals, except the article "A" opening a phrase ("A man smiles")
    lone = [
        m.group(1)
        for m in re.finditer(rf"(?<![\w\(\[])([{letters}])(?![\w\)\]])", text)
        if not (m.group(1) == "A" and _is_article(text[m.end() :]))
    ]
    found = {x.upper() for x in marked} or set(lone)
    if len(found) == 1:
        return ChoiceAnswer(found.pop(), "ok")
    ambiguous = len(found) > 1

    # 5. yes/no questions: a reply in words (:func:`yes_no_reply`), else only one of the
    #    two words anywhere; "no idea"/"not sure" pick neither (and skip step 6)
    yes_no = {v: k for k, v in ((k, yes_no_value(t)) for k, t in options.items()) if v is not None}
    words = _norm(text).split()
    if not ambiguous and len(yes_no) == 2:
        reply = yes_no_reply(text)
        if reply == "unsure":
            return ChoiceAnswer(None, "unparsed")
        if isinstance(reply, bool):
            return ChoiceAnswer(yes_no[reply], "ok")
        said = {w == "yes" for w in words if w in ("yes", "no")}
        if len(said) == 1:
            return ChoiceAnswer(yes_no[said.pop()], "ok")

    # 6. the answer contains exactly one option's text
    norm = f" {_norm(text)} "
    hits = [k for k, t in options.items() if _norm(t) and f" {_norm(t)} " in norm]
    if not ambiguous and len(hits) == 1:
        return ChoiceAnswer(hits[0], "ok")
    return ChoiceAnswer(None, "ambiguous" if ambiguous or len(hits) > 1 else "unparsed")


def compat_is_correct(answer: str | None, gold: str) -> bool:
    """The authors' scorer: is ``gold`` present anywhere as a standalone letter?

    >>> compat_is_correct("a", "A"), compat_is_correct("yes", "A")
    (True, False)
    """
    return bool(re.search(rf"\b{re.escape(gold)}\b", (answer or "").strip(), re.IGNORECASE))


def compat_letters(answer: str | None, choices: Sequence[str]) -> set[str]:
    """The option letters the authors' scorer would see in ``answer`` (for reporting)."""
    text = (answer or "").strip()
    return {
        letter
        for letter in choice_map(choices)
        if re.search(rf"\b{re.escape(letter)}\b", text, re.IGNORECASE)
    }
