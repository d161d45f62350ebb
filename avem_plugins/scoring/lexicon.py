"""Emotion words: the synonym lexicon, negation cues and emotion-wheel clusters.

Pure data plus tiny lookups. :mod:`avem_plugins.scoring.emotions` uses it to map free text to a
dataset label (DFEW, RAVDESS) and to extract emotion clusters for EMER's judge-free
overlap score.

Canonical label names across the tasks: ``happiness``, ``sadness``, ``neutral``,
``anger``, ``surprise``, ``disgust``, ``fear`` and (RAVDESS 8-class) ``calm``.
Matching is by whole word (or a listed two-word phrase), never by substring.
"""

from __future__ import annotations

from types import MappingProxyType


def _words(text: str) -> frozenset[str]:
    """``"a, b c, d"`` -> ``{"a", "b c", "d"}`` (entries are comma-separated)."""
    return frozenset(w.strip() for w in text.split(",") if w.strip())


#: Word forms naming each label. Inflections are listed explicitly.
SYNONYMS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "happiness": _words(
            "happiness, happy, happily, joy, joyful, joyous, cheerful, cheery, glad, "
            "delighted, delight, pleased, content, contented, contentment, elated, elation, "
            "amused, amusement, smiling, smile, smiles, laughing, laughter, gleeful, excited, "
            "excitement, enthusiastic, ecstatic, euphoric, thrilled, satisfied, positive, "
            "upbeat, merry, jolly, blissful"
        ),
        "sadness": _words(
            "sadness, sad, sadly, unhappy, unhappiness, sorrow, sorrowful, melancholy, "
            "melancholic, depressed, depression, gloomy, gloom, miserable, misery, grief, "
            "grieving, heartbroken, crying, tearful, tears, weeping, downcast, dejected, "
            "despair, despondent, disappointed, disappointment, upset, hopeless, lonely, "
            "mournful, somber, sombre"
        ),
        "anger": _words(
            "anger, angry, angrily, mad, furious, fury, rage, raging, enraged, irate, "
            "irritated, irritation, annoyed, annoyance, frustrated, frustration, hostile, "
            "hostility, outraged, outrage, resentful, resentment, indignant, livid, agitated, "
            "agitation, aggressive, fuming, displeased, displeasure"
        ),
        "fear": _words(
            "fear, fearful, fearfulness, afraid, scared, frightened, fright, terrified, terror, "
            "anxious, anxiety, worried, worry, worrying, nervous, nervousness, panic, "
            "panicked, panicky, alarmed, apprehensive, apprehension, uneasy, horrified, "
            "horror, dread, timid, tense, threatened"
        ),
        "surprise": _words(
            "surprise, surprised, surprising, astonished, astonishment, amazed, amazement, "
            "shocked, shock, startled, stunned, astounded, awe, awestruck, dumbfounded, "
            "flabbergasted, speechless, disbelief"
        ),
        "disgust": _words(
            "disgust, disgusted, disgusting, revulsion, revolted, repulsed, repulsion, "
            "grossed out, contempt, contemptuous, distaste, aversion, loathing, nauseated, "
            "sickened, disdain, scorn"
        ),
        "neutral": _words(
            "neutral, neutrality, expressionless, emotionless, unemotional, indifferent, "
            "indifference, blank, impassive, deadpan, unexpressive, nonchalant, stoic, composed, normal"
        ),
        "calm": _words(
            "calm, calmness, calmly, relaxed, peaceful, serene, serenity, tranquil, "
            "tranquility, placid, at ease, mellow"
        ),
    }
)

#: When a dataset lacks a label, answers naming it count as this label instead
#: (7-class RAVDESS and DFEW have no ``calm``: a calm answer means ``neutral``).
FALLBACK_LABEL: MappingProxyType[str, str] = MappingProxyType({"calm": "neutral"})

#: Tokens negating an emotion word later in the same clause (robust parser). Whole
#: tokens only, plus any token ending in ``n't``: ``know``, ``normal``, ``annoyed`` are not.
NEGATIONS: frozenset[str] = _words(
    "not, no, never, neither, nor, without, hardly, barely, none, nothing, cannot, lack, "
    "lacks, lacking, absent, absence"
)

#: A negation reaches this many tokens ahead (``not very happy``).
NEGATION_SCOPE = 3

#: Tokens that end a negation's scope.
CLAUSE_BREAKS: frozenset[str] = frozenset(
    {".", ",", ";", ":", "!", "?", "but", "however", "yet", "though", "although", "while"}
)

#: Emotion-wheel clusters for EMER's overlap score: seven families (calm and neutral
#: merged), each extended with emotion words that free-form descriptions use. A word may
#: belong to two families (``helpless``).
WHEEL: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "joy": SYNONYMS["happiness"]
        | _words(
            "proud, pride, hopeful, hope, relieved, relief, grateful, gratitude, love, loving, "
            "affection, affectionate, playful, optimistic, confident, pleasure, pleasant, "
            "warm, friendly"
        ),
        "sadness": SYNONYMS["sadness"]
        | _words(
            "hurt, regret, regretful, guilt, guilty, ashamed, shame, sorry, pity, helpless, "
            "helplessness, tired, weary, weariness, exhausted, distress, distressed, anguish, "
            "sob, sobbing"
        ),
        "anger": SYNONYMS["anger"]
        | _words(
            "impatient, impatience, bitter, bitterness, jealous, jealousy, stern, defiant, "
            "defiance, provoked, grumpy, vexed"
        ),
        "fear": SYNONYMS["fear"]
        | _words(
            "insecure, insecurity, embarrassed, embarrassment, shy, stress, stressed, "
            "concerned, concern, trembling, vulnerable, helpless"
        ),
        "surprise": SYNONYMS["surprise"]
        | _words(
            "confused, confusion, puzzled, bewildered, bewilderment, curious, curiosity, "
            "wonder, perplexed, unexpected"
        ),
        "disgust": SYNONYMS["disgust"]
        | _words("dislike, disapproval, disapproving, repelled, sneer, sneering"),
        "calm": SYNONYMS["neutral"]
        | SYNONYMS["calm"]
        | _words(
            "serious, seriousness, thoughtful, pensive, contemplative, focused, attentive, "
            "reserved, detached, bored, boredom"
        ),
    }
)

#: The emotion-word scorer of the AVERE authors, as far as our ``compat`` reconstruction
#: needs it: for each common answer word, the label their scorer assigns (words are
#: matched exactly, with no inflections). Compiled by us from the scorer's observable
#: behaviour on these words; it is not their word list, and it lacks many of their rarer
#: words (e.g. "reserved", "solemn"), so the reconstruction is known to differ from their
#: scorer on rare words. ``AVEM_AVERE_REPO`` runs their own function instead
#: (:mod:`avem_plugins.scoring.authors`). Notable: ``sad``, ``angry``, ``fearful``,
#: ``worried``, ``scared`` and ``afraid`` are absent, so their scorer falls back to
#: ``happiness``; ``serious`` is listed under both anger and neutral and anger wins by
#: label order.
COMPAT_KEYWORDS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "happiness": _words(
            "happiness, happy, joy, joyful, cheerful, smile, smiling, pleasant, content, "
            "contentment, contented, relaxed, amused, amusement, positive, friendly, "
            "pleasure, ecstatic, bright"
        ),
        "sadness": _words(
            "sadness, crying, distress, concern, discomfort, anguish, somber, downcast, "
            "melancholy, melancholic, despair, weeping, hopelessness"
        ),
        "surprise": _words(
            "surprise, surprised, startled, puzzled, astonishment, amazement, disbelief, "
            "wonder, curiosity, curious, confusion, bewilderment, excitement, uncertainty"
        ),
        "anger": _words(
            "anger, mad, irate, outraged, irritated, irritation, enraged, annoyed, annoyance, "
            "frustration, stern, serious, rage, fury, hostile, hostility, resentment, "
            "agitation, tension, displeased, displeasure"
        ),
        "neutral": _words(
            "neutral, neutrality, calm, contemplative, concerned, thoughtful, focused, "
            "composed, serene, stoic, serious, pensive, attentive, tranquil, unemotional, "
            "expressionless, normal"
        ),
        "disgust": _words(
            "disgust, disgusted, distaste, discomfort, displeasure, displeased, disapproval, "
            "disdain, contempt, revulsion, aversion"
        ),
        "fear": _words(
            "fear, shock, anxiety, apprehension, tension, panic, worry, alarm, terror, "
            "fright, dread, curiosity"
        ),
    }
)

#: The authors' label order: the first label listing a word wins; ties in the
#: counting step go to the earliest label, and no match at all gives the first.
COMPAT_ORDER: tuple[str, ...] = (
    "happiness",
    "sadness",
    "surprise",
    "anger",
    "neutral",
    "disgust",
    "fear",
)

#: Substrings whose presence anywhere in a sentence makes the authors' scorer drop
#: the whole sentence (so ``know``, ``normal``, ``annoyed`` drop it too: ``no``).
COMPAT_NEGATION_SUBSTRINGS: tuple[str, ...] = ("no", "isn't ", "won't", "shouldn't", "neither")


def label_words(label: str) -> frozenset[str]:
    """The word forms naming ``label`` (empty for an unknown label)."""
    return SYNONYMS.get(label, frozenset())


#: MER's discrete labels (MER2023, MER2025), in the challenges' order -> our label names.
MER_CLASSES: dict[str, str] = {
    "neutral": "neutral",
    "angry": "anger",
    "happy": "happiness",
    "sad": "sadness",
    "worried": "worried",
    "surprise": "surprise",
}
