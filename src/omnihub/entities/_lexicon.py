"""General English lexical knowledge for the cache's wording guards.

Where the knowledge comes from, so that nothing is tuned to one data set:

- **Princeton WordNet 3.0** (the relations read from its index files, shipped in OmniHub's
  wheel: see :mod:`omnihub.entities._data`): which words can be verbs (so a differing verb is
  reported as an *action* mismatch), and which verbs are synonyms (their most frequent senses
  are the same synset: "buy" ~ "purchase").
- **lemminflect** (data inside its wheel): lemmas, so "booking" and "booked" compare as "book",
  and which words are common English vocabulary (so "Nice" or "Reading" is a place only when
  capitalised; WordNet itself lists many city names, so it cannot tell).
- English grammar's closed classes, written here because they are grammar rather than data:
  articles and possessive determiners, interjections and politeness markers, prepositions, and
  negation markers.
"""

from __future__ import annotations

import re
from functools import cache

from omnihub.entities._data import wordnet

#: How many of a verb's most frequent senses count when deciding synonymy. WordNet lists
#: senses by frequency; rare senses make unrelated verbs look alike ("take" ~ "remove",
#: "cancel" ~ "delete" at four senses), so only the dominant sense counts: "buy" ~ "purchase",
#: "start" ~ "begin", but not "book" ~ "reserve". When in doubt, miss.
SYNONYM_SENSES = 1

#: Words that carry no request meaning: articles, possessive determiners, interjections and
#: politeness markers. Closed grammatical classes, not vocabulary from any data set.
LIGHT_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "my",
        "our",
        "your",
        "his",
        "her",
        "their",
        "its",
        "this",
        "that",
        "these",
        "those",
        "some",
        "any",
        "hey",
        "hi",
        "hello",
        "please",
        "pls",
        "kindly",
        "thanks",
        "thank",
        "ok",
        "okay",
        "just",
    ]
)
#: English prepositions and particles (closed class).
PREPOSITIONS = frozenset(
    [
        "about",
        "above",
        "across",
        "after",
        "against",
        "along",
        "among",
        "around",
        "as",
        "at",
        "before",
        "behind",
        "below",
        "beneath",
        "beside",
        "between",
        "beyond",
        "by",
        "down",
        "during",
        "for",
        "from",
        "in",
        "inside",
        "into",
        "near",
        "of",
        "off",
        "on",
        "onto",
        "out",
        "outside",
        "over",
        "past",
        "per",
        "since",
        "than",
        "through",
        "throughout",
        "till",
        "to",
        "toward",
        "towards",
        "under",
        "until",
        "up",
        "upon",
        "via",
        "with",
        "within",
        "without",
    ]
)
#: Negation markers (closed class); "n't" is split off contractions by :func:`words`.
NEGATIONS = frozenset(
    ["not", "n't", "no", "never", "none", "nothing", "neither", "nor", "cannot", "without", "dont"]
)

#: Conjunctions (closed class).
CONJUNCTIONS = frozenset(["and", "or", "but", "if", "because", "while", "when", "then", "yet"])
#: Every closed-class word above: vocabulary that word lists of open classes may lack.
CLOSED_CLASS = LIGHT_WORDS | PREPOSITIONS | NEGATIONS | CONJUNCTIONS

_WORD_RE = re.compile(r"\{[^{}]+\}|[A-Za-z]+(?:'[A-Za-z]+)?|\d+")


def words(text: str) -> list[str]:
    """Lower-cased word tokens of ``text``; placeholders ``{…}`` stay whole and keep case.

    Contractions are split the way treebanks do ("don't" → "do", "n't"; "I'd" → "i", "'d").
    """
    found: list[str] = _WORD_RE.findall(text)
    if "'" not in text:  # no contraction to split: every token is a placeholder or a word
        return [token if token.startswith("{") else token.lower() for token in found]
    out: list[str] = []
    for token in found:
        if token.startswith("{"):
            out.append(token)
            continue
        low = token.lower()
        if low.endswith("n't"):
            stem = low[:-3]
            out.extend([{"ca": "can", "wo": "will", "sha": "shall"}.get(stem, stem), "n't"])
        elif "'" in low:
            head, tail = low.split("'", 1)
            out.extend([head, "'" + tail])
        else:
            out.append(low)
    return out


def tagged_count(word: str) -> int:
    """How often ``word`` was sense-tagged in WordNet's corpus (SemCor), over all parts of
    speech: a frequency for telling a common word ("seat") from a rare one ("sate")."""
    return wordnet().tagged_counts.get(word.lower(), 0)


@cache
def lemma(word: str) -> str:
    """The word's lemma, preferring the verb reading ("booking" → "book")."""
    from lemminflect import getAllLemmas

    found = getAllLemmas(word)
    for upos in ("VERB", "NOUN", "ADJ", "ADV"):
        if found.get(upos):
            return str(found[upos][0])
    return word


@cache
def is_common_word(word: str) -> bool:
    """Whether ``word`` is common English vocabulary or a closed-class word."""
    from lemminflect import getAllLemmas

    low = word.lower()
    return low in LIGHT_WORDS or low in PREPOSITIONS or low in NEGATIONS or bool(getAllLemmas(low))


def is_verb(word: str) -> bool:
    """Whether ``word`` can be a verb (WordNet verb index)."""
    return lemma(word.lower()) in wordnet().verb_senses


def are_synonyms(first: str, second: str) -> bool:
    """Whether two verbs share a WordNet synset among their most frequent senses."""
    senses = wordnet().verb_senses
    one = senses.get(lemma(first.lower()), ())[:SYNONYM_SENSES]
    two = senses.get(lemma(second.lower()), ())[:SYNONYM_SENSES]
    return bool(set(one) & set(two))
