"""Generated model answers for comparing answer scorers (ours, the authors', a stand-in).

Seeded, standard library only, and written here from our own vocabulary
(:mod:`avem_plugins.scoring.lexicon`): nothing in it comes from the authors' code. Used by
the tests that run ``AVEM_ANSWER_PARSER=compat`` through lmms-eval and by anyone checking
their own ``AVEM_AVERE_REPO`` checkout against our scorer.

- :func:`emorealm_cases`: ``(answer, choices, gold letter)`` triples for EmoReAlM: letters
  in every wrapping and case, "The answer is C", out-of-range letters, articles ("a man
  smiles"), yes/no replies in words, option texts, sentences, digits, gibberish, blanks.
- :func:`emotion_strings`: free-text answers for the one-word emotion tasks: every word
  of our lexicon (plus ``extra_words``, e.g. a scorer's own keyword list read at run
  time) in bare, capitalised, negated, inflected and multi-sentence forms, random mixes
  of words, negations and punctuation, blanks and gibberish.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from avem_plugins.scoring import lexicon

#: Choice lists the EmoReAlM cases are crossed with.
FOUR_EMOTIONS = ["(A) Happiness", "(B) Sadness", "(C) Anger", "(D) Fear"]
FOUR_CUES = [
    "(A) The broad smile on the face",
    "(B) The raised voice",
    "(C) The trembling hands",
    "(D) The quiet background music",
]
YES_NO = ["(A) Yes", "(B) No"]
CHOICE_SETS: tuple[list[str], ...] = (FOUR_EMOTIONS, FOUR_CUES, YES_NO)

_LETTER_TEMPLATES = (
    "{L}", "({L})", "[{L}]", "{L}.", "{L})", "{L}:", " {L} ", "{L}\n", "{L}) {text}",
    "({L}) {text}", "{L}. {text}", "The answer is {L}.", "the answer is ({L})", "answer: {L}",
    "Answer: {L}", "Option {L}.", "option ({L}) is correct", "I think {L}", "{L} or B",
    "A or {L}", "not {L}", "{L}{L}", "{L}-", "{L}/{L}", "({L}", "Choice {L}: {text}",
)  # fmt: skip
_YES_NO_REPLIES = (
    "yes", "Yes", "Yes.", "YES", "yes!", "no", "No", "No.", "NO", "Nope", "Yep", "Yeah", "Yup",
    "Nah", "Not really", "Definitely not", "Definitely", "Absolutely", "Absolutely not",
    "no idea", "No idea.", "Of course", "Of course not", "Sure", "Maybe", "maybe yes",
    "I don't know", "I'm not sure", "Yes, it does.", "No, it does not.", "It does.",
    "It does not contribute.", "yes and no", "Yes (A)", "No (B)", "(A) Yes", "(B) No",
    "Yes, but not strongly.", "I don't think so", "Not at all", "The answer is yes.",
)  # fmt: skip
_SENTENCES = (
    "A man smiles", "a man smiles", "A woman looks sad.", "a woman looks sad", "I", "i", "an",
    "A", "a", "The person is happy.", "She is angry and sad.", "He looks afraid, not angry.",
    "The speaker sounds calm.", "It is a smile.", "a", "the", "Bad", "bad", "Cab", "Dad.",
    "E", "e.", "(E)", "Z.", "F", "option E", "1", "2.", "42", "(1)", "<avem_av generation error>",
    "", " ", "\n", "\t", "...", "?", "(", ")", "[]", "A B C D", "a b", "b c", "c, d",
)  # fmt: skip
_MIX_WORDS = (
    "a", "b", "c", "d", "A", "B", "C", "D", "E", "yes", "no", "not", "answer", "option", "is",
    "the", "person", "looks", "sad", "happy", "smile", "voice", "(", ")", ".", ":", "!", "?",
    "or", "and", "i", "think", "know", "normal", "\n",
)  # fmt: skip
_EMOTION_TEMPLATES = (
    "{w}", "{W}", "{W}.", "{w}!", "{w}.", " {w} ", "The person looks {w}.", "the person is {w}",
    "not {w}", "Not {w}. Happy.", "I know, {w}.", "{w}\nhappy.", "{w}? sad.", "Mr. {w}. calm",
    "{w} but also sad", "neither {w} nor calm.", "{w}, maybe {w}.", "Very {w}", "{W}!!!",
    "no {w}", "{w} isn't it.", "It won't be {w}. Anger.", "{w}ed", "{w}ing", "{w}ly",
    "{w}ness", "{w}s",
)  # fmt: skip
_EMOTION_MIX = (
    "not", "no", "normal", "know", "isn't", "won't", "neither", "shouldn't", "happy", "sad",
    "angry", "calm", "fear", "surprise", "disgust", "neutral", "the", "person", "is", ".", "!",
    "?", "e.g.", "i.e.", "\n", ",", "and", "but", "very",
)  # fmt: skip


def _gibberish(rng: random.Random, n: int) -> list[str]:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,!?()[]:;-'\"\n"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))) for _ in range(n)]


def _mix(rng: random.Random, words: tuple[str, ...], n: int, longest: int) -> list[str]:
    out = []
    for _ in range(n):
        tokens = [rng.choice(words) for _ in range(rng.randint(1, longest))]
        out.append(" ".join(tokens) if rng.random() < 0.7 else "".join(tokens))
    return out


def emorealm_answers(seed: int = 15) -> list[str]:
    """The answer strings (not yet crossed with choices and golds)."""
    rng = random.Random(seed)
    answers: list[str] = []
    texts = [c.split(") ", 1)[1] for choices in CHOICE_SETS for c in choices]
    for letter in "ABCDE":
        for case in (letter, letter.lower()):
            for template in _LETTER_TEMPLATES:
                answers.append(template.format(L=case, text=rng.choice(texts)))
    answers += list(_YES_NO_REPLIES) + list(_SENTENCES)
    answers += texts + [t.lower() for t in texts] + [f"{t}." for t in texts]
    answers += _mix(rng, _MIX_WORDS, 160, 6) + _gibberish(rng, 80)
    return list(dict.fromkeys(answers))  # unique, in order


def emorealm_cases(seed: int = 15) -> list[tuple[str, list[str], str]]:
    """``(answer, choices, gold)`` for every answer x choice list x gold letter."""
    cases = []
    for answer in emorealm_answers(seed):
        for choices in CHOICE_SETS:
            for gold in [c[1] for c in choices]:
                cases.append((answer, list(choices), gold))
    return cases


def lexicon_words() -> list[str]:
    """Every word our lexicons know (synonyms, the emotion wheel, the compat keywords)."""
    words: set[str] = set()
    for table in (lexicon.SYNONYMS, lexicon.WHEEL, lexicon.COMPAT_KEYWORDS):
        for forms in table.values():
            words.update(forms)
    return sorted(words)


def emotion_strings(seed: int = 15, extra_words: Iterable[str] = ()) -> list[str]:
    """Free-text emotion answers: lexicon words (and ``extra_words``) in many forms."""
    rng = random.Random(seed)
    words = sorted(set(lexicon_words()) | {w.strip() for w in extra_words if w and w.strip()})
    out = [t.format(w=w, W=w.capitalize()) for w in words for t in _EMOTION_TEMPLATES]
    out += _mix(rng, tuple(words[:: max(1, len(words) // 60)]) + _EMOTION_MIX, 1500, 6)
    out += ["", " ", "\n", ".", "!", "?", "...", "e.g.", "1", "<avem_av generation error>"]
    out += _gibberish(rng, 100)
    return list(dict.fromkeys(out))
