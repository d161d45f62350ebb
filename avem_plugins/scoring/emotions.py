"""Free-text emotion answers -> dataset labels, robustly or as the AVERE authors scored them.

Two parsers share one result type, :class:`EmotionAnswer`:

- :func:`parse_emotion` (``robust``, the default): whole-word synonym lookup
  (:data:`avem_plugins.scoring.lexicon.SYNONYMS`), clause-scoped negation (``not happy`` is not
  happiness; ``know`` and ``normal`` are not negations), the first non-negated emotion
  mention wins. Empty and unrecognised answers get ``label=None`` and a status saying
  which: they count as wrong and are reported, never dropped.
- :func:`parse_emotion_compat` (``compat`` without ``AVEM_AVERE_REPO``): our
  *reconstruction* of the authors' keyword scorer, defects included. It is known to differ
  from their scorer on rare words (their keyword list is longer than ours and is not
  copied here); for the exact scorer, ``AVEM_AVERE_REPO`` loads their own function
  (:mod:`avem_plugins.scoring.authors`). The reconstruction: sentences containing
  ``no`` anywhere (``know``, ``normal``) are discarded, words match only in the exact
  forms their scorer knows (``sad``, ``angry``, ``fearful``, ``worried`` do not), the
  first sentence decides, else the most frequent label in the rest, and no match at all
  means ``happiness``. Empty answers are *dropped* (status ``"dropped"``) as the authors
  did; the task still counts and reports them.

:func:`emotion_clusters` extracts the set of emotion-wheel clusters a text mentions
(EMER's judge-free overlap score).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from avem_plugins.scoring import lexicon

#: Parser names accepted by the tasks (``AVEM_ANSWER_PARSER``).
PARSERS: tuple[str, ...] = ("robust", "compat")

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[.,;:!?]")


@dataclass(frozen=True)
class EmotionAnswer:
    """A parsed answer.

    ``status`` is ``"ok"`` (a label was found), ``"empty"`` (blank answer),
    ``"unparsed"`` (no emotion recognised; robust: ``label`` is ``None``; compat: the
    authors' fallback ``label="happiness"``) or ``"dropped"`` (compat only: an empty
    answer the authors' scorer skipped).
    """

    label: str | None
    status: str

    @property
    def scored(self) -> bool:
        """Whether this answer enters the metrics (everything but compat's drops)."""
        return self.status != "dropped"


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _is_negation(token: str) -> bool:
    return token in lexicon.NEGATIONS or token.endswith("n't")


def _mentions(tokens: Sequence[str], vocab: dict[str, list[str]]) -> list[tuple[int, list[str]]]:
    """``(position, keys)`` of non-negated vocabulary words and two-word phrases."""
    found: list[tuple[int, list[str]]] = []
    negated_until = -1
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in lexicon.CLAUSE_BREAKS:
            negated_until = -1
        elif _is_negation(tok):
            negated_until = i + lexicon.NEGATION_SCOPE
        pair = f"{tok} {tokens[i + 1]}" if i + 1 < len(tokens) else None
        keys = vocab.get(pair) if pair else None
        step = 2 if keys else 1
        keys = keys or vocab.get(tok)
        if keys and i > negated_until:
            found.append((i, keys))
        i += step
    return found


def _vocab(groups: dict[str, Iterable[str]]) -> dict[str, list[str]]:
    vocab: dict[str, list[str]] = {}
    for key, words in groups.items():
        for word in words:
            vocab.setdefault(word, []).append(key)
    return vocab


_LABEL_VOCAB = _vocab(dict(lexicon.SYNONYMS))
_WHEEL_VOCAB = _vocab(dict(lexicon.WHEEL))


def _in_labels(label: str, labels: Sequence[str]) -> str | None:
    if label in labels:
        return label
    fallback = lexicon.FALLBACK_LABEL.get(label)
    return fallback if fallback in labels else None


def parse_emotion(text: str | None, labels: Sequence[str]) -> EmotionAnswer:
    """Map a free-text answer to one of ``labels`` (robust parser).

    >>> parse_emotion("Sad.", ["happiness", "sadness"]).label
    'sadness'
    >>> parse_emotion("I don't know", ["happiness", "sadness"]).status
    'unparsed'
    """
    if text is None or not text.strip():
        return EmotionAnswer(None, "empty")
    for _, keys in _mentions(_tokens(text), _LABEL_VOCAB):
        for key in keys:
            label = _in_labels(key, labels)
            if label is not None:
                return EmotionAnswer(label, "ok")
    return EmotionAnswer(None, "unparsed")


# --- compat: the authors' scorer ---------------------------------------------------------

_COMPAT_SENTENCE_END = re.compile(r"(?<=[.?])\s")
_COMPAT_ABBREVIATION = re.compile(r"\w\.\w.$")
_COMPAT_FIRST = re.compile(r"^(.*?)[.!?]")  # no DOTALL, as theirs
_WORD = re.compile(r"\b\w+\b")


def _compat_sentences(text: str) -> list[str]:
    """Split after ``.``/``?`` + whitespace, except after ``x.y.``-style abbreviations."""
    parts, start = [], 0
    for match in _COMPAT_SENTENCE_END.finditer(text):
        if _COMPAT_ABBREVIATION.search(text[: match.start()]):
            continue
        parts.append(text[start : match.start()])
        start = match.end()
    parts.append(text[start:])
    return parts


def _compat_keyword_label(word: str, order: Sequence[str] = lexicon.COMPAT_ORDER) -> str | None:
    for label in order:
        if word in lexicon.COMPAT_KEYWORDS[label]:
            return label
    return None


def parse_emotion_compat(
    text: str | None, *, order: Sequence[str] = lexicon.COMPAT_ORDER
) -> EmotionAnswer:
    """Score an answer like the AVERE authors' keyword scorer (a reconstruction, defects
    included; known to differ from theirs on rare words: see the module docstring).

    Returns one of the labels in ``order`` (default: the seven DFEW labels), or
    ``status="dropped"`` for an answer their scorer skipped: an empty one, or one with a
    line break before the first ``.!?``. ``order`` is the scorer's label list, a subset of
    :data:`lexicon.COMPAT_ORDER` in that order: their MER2023 scorer searches only its
    five classes, so there a word of another label is no match.

    >>> parse_emotion_compat("sad").label  # their scorer does not know "sad"
    'happiness'
    >>> parse_emotion_compat("").status
    'dropped'
    """
    text = (text or "").strip().lower()
    if not text:
        return EmotionAnswer(None, "dropped")
    if not text.endswith("."):
        text += "."
    kept = [
        s
        for s in _compat_sentences(text)
        if not any(neg in s for neg in lexicon.COMPAT_NEGATION_SUBSTRINGS)
    ]
    positive = " ".join(kept) or text
    first = _COMPAT_FIRST.match(positive)
    if first is None:  # a line break before any [.!?]: their scorer raised and skipped it
        return EmotionAnswer(None, "dropped")
    head, rest = first.group(1), positive[first.end() :]
    for word in _WORD.findall(head):
        label = _compat_keyword_label(word, order)
        if label is not None:
            return EmotionAnswer(label, "ok")
    counts = dict.fromkeys(order, 0)
    for word in _WORD.findall(rest):
        for label in order:
            if word in lexicon.COMPAT_KEYWORDS[label]:
                counts[label] += 1
    best = max(counts, key=lambda k: counts[k])  # ties: earliest label, as theirs
    return EmotionAnswer(best, "ok" if counts[best] else "unparsed")


def parse_answer(text: str | None, labels: Sequence[str], parser: str = "robust") -> EmotionAnswer:
    """Dispatch to :func:`parse_emotion` or :func:`parse_emotion_compat` by name.

    In ``compat`` mode a label outside ``labels`` (e.g. ``neutral`` for a dataset without
    it) is kept as the prediction and simply never matches a gold label.
    """
    if parser == "robust":
        return parse_emotion(text, labels)
    if parser == "compat":
        return parse_emotion_compat(text)
    raise ValueError(f"unknown answer parser {parser!r}; use one of {PARSERS}")


def emotion_clusters(text: str | None) -> frozenset[str]:
    """The emotion-wheel clusters (:data:`avem_plugins.scoring.lexicon.WHEEL`) a text mentions.

    Negated mentions (``no sign of anger``) are left out.

    >>> sorted(emotion_clusters("She looks happy but slightly nervous, not angry."))
    ['fear', 'joy']
    """
    if not text:
        return frozenset()
    return frozenset(k for _, keys in _mentions(_tokens(text), _WHEEL_VOCAB) for k in keys)
