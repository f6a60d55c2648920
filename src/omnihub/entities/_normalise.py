"""Strip what carries no meaning from a request before it is templated and guarded.

People type "hi, could you book a tarin to denver on friday thanks!" for "Book a train to
Denver on Friday". Three kinds of noise are removed, all with general English knowledge only:

- **edges**: greetings, politeness, discourse and urgency markers at either end ("hi team,",
  "could you", "thanks in advance", "asap"), and the punctuation around them. Only the ends are
  touched: in the middle such words are already ignored by the guards (``LIGHT_WORDS``), and a
  word in the middle may matter.
- **spacing**: runs of white space become one space.
- **spelling**: a word that is not English vocabulary (lemminflect's word list plus the closed
  classes of :mod:`omnihub.entities._lexicon`), outside every entity, is corrected when exactly
  one vocabulary word is one transposition away (else, for longer words, exactly one word one
  insertion, deletion or substitution away). Entity values are never corrected and never a
  correction target (the vocabulary holds no proper names), and a correction never produces a
  negation: "nto" may be "not" or "to", and a wrong guess would flip polarity.

Casing needs no step here: templates, keys and guards compare lower-cased words, and each
recogniser decides what case means for its values (a lower-case "denver" is the place Denver;
an identifier keeps its case).
"""

from __future__ import annotations

import gzip
import importlib.resources
import re
import string
import threading
import unicodedata
from bisect import bisect_left
from datetime import UTC, datetime
from itertools import accumulate

from omnihub.entities._extract import extract_entities
from omnihub.entities._lexicon import (
    CLOSED_CLASS,
    NEGATIONS,
    PREPOSITIONS,
    is_verb,
    tagged_count,
)
from omnihub.entities._model import Entity, EntityType

#: Greetings and forms of address that open a message.
GREETINGS = ("hi", "hello", "hey", "heya", "hiya", "howdy", "yo", "greetings", "dear")
#: Interjections, greetings, politeness, discourse and urgency markers: closed classes of
#: English that say how something is asked, never what. Only stripped at either end.
EDGE_WORDS = frozenset(
    [
        *GREETINGS,
        "please",
        "pls",
        "plz",
        "kindly",
        "thanks",
        "thank",
        "thx",
        "ty",
        "tyvm",
        "cheers",
        "ok",
        "okay",
        "alright",
        "so",
        "well",
        "um",
        "uh",
        "oh",
        "hmm",
        "asap",
        "urgently",
        "immediately",
        "promptly",
        "quickly",
    ]
)
#: Multi-word edge markers, as word sequences (the single words above also match alone).
EDGE_PHRASES: tuple[tuple[str, ...], ...] = tuple(
    tuple(phrase.split())
    for phrase in (
        "good morning",
        "good afternoon",
        "good evening",
        "good day",
        "thank you",
        "thank you so much",
        "thank you very much",
        "thanks so much",
        "thanks a lot",
        "in advance",
        "much appreciated",
        "as soon as possible",
        "right away",
        "right now",
        "if possible",
        "if you can",
        "when you can",
        "can you",
        "could you",
        "would you",
        "will you",
        "i need you to",
        "i want you to",
        "i would like you to",
        "i 'd like you to",
    )
)
_GREETINGS = frozenset([*GREETINGS, "good"])
#: Punctuation and pictographs may surround edge words; a value's own marks ("#", "@", "%",
#: "&", brackets, currency symbols) stay.
_VALUE_MARKS = frozenset("#@%&()[]{}")
_TOKEN = re.compile(r"[A-Za-z]+|'[A-Za-z]+|\S")
_VOCATIVE_WORDS = 2  # "hi team," / "dear support team,"
_VOCATIVE_CLOSE = frozenset(",:!")


def _tokens(text: str) -> list[tuple[str, int, int]]:
    if text.isascii():  # lower-casing keeps every span: tokenise the lower-cased text once
        return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text.lower())]
    return [(m.group().lower(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def _is_punct(token: str) -> bool:
    if len(token) != 1 or token in _VALUE_MARKS:
        return False
    category = unicodedata.category(token)
    return category.startswith("P") or category == "So"


def _phrases_by(end: int) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Edge phrases by their first (``end=0``) or last (``end=-1``) word."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for phrase in EDGE_PHRASES:
        out.setdefault(phrase[end], []).append(phrase)
    return {word: tuple(phrases) for word, phrases in out.items()}


#: Only a phrase whose first (last) word is the word at ``at`` can start (end) there.
_OPENING = _phrases_by(0)
_CLOSING = _phrases_by(-1)


def _phrase_at(words: list[str], at: int, backwards: bool) -> int:
    """Length of the longest edge phrase starting (or, backwards, ending) at ``at``, where
    ``0 <= at < len(words)``."""
    if not 0 <= at < len(words):
        return 0
    best = 0
    word = words[at]
    if backwards:
        for phrase in _CLOSING.get(word, ()):
            size = len(phrase)
            if (
                size > best
                and at - size + 1 >= 0
                and tuple(words[at - size + 1 : at + 1]) == phrase
            ):
                best = size
    else:
        for phrase in _OPENING.get(word, ()):
            size = len(phrase)
            if size > best and tuple(words[at : at + size]) == phrase:
                best = size
    if not best and word in EDGE_WORDS:
        best = 1
    return best


def strip_edges(text: str) -> str:
    """``text`` without edge markers and their punctuation, with single spaces."""
    tokens = _tokens(text)
    words = [t[0] for t in tokens]
    start, end = 0, len(tokens)
    greeted = addressed = False
    while start < end:
        if _is_punct(words[start]):
            start += 1
            continue
        size = _phrase_at(words, start, backwards=False)
        if size and start + size <= end:
            greeted = greeted or words[start] in _GREETINGS
            start += size
            continue
        # "hi team," / "dear support:" — a short form of address right after the greeting,
        # closed by a comma, colon or exclamation mark; only once.
        if greeted and not addressed:
            addressed = True
            stop = next(
                (
                    i
                    for i in range(start, min(end, start + _VOCATIVE_WORDS + 1))
                    if not words[i].isalpha()
                ),
                None,
            )
            if (
                stop is not None
                and stop > start
                and words[stop] in _VOCATIVE_CLOSE
                and all(w in _vocabulary() for w in words[start:stop])
            ):
                start = stop
                continue
        break
    while end > start:
        if _is_punct(words[end - 1]):
            end -= 1
            continue
        if words[end - 1] in ("(", ")") and end >= 2 and words[end - 2] in (":", ";", "="):
            end -= 2  # an emoticon, not a value's bracket
            continue
        size = _phrase_at(words, end - 1, backwards=True)
        if size and end - size >= start:
            end -= size
            continue
        break
    if start >= end:
        return " ".join(text.split())  # nothing but edge words: leave it to the caller
    core = text[tokens[start][1] : tokens[end - 1][2]]
    return " ".join(core.split())


# -- spelling -------------------------------------------------------------------------------

_lock = threading.Lock()
_loaded: list[frozenset[str]] = []
_LETTERS = string.ascii_lowercase
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_SPACES = re.compile(" *")
#: Below this length only a transposition is tried: short words have too many neighbours.
MIN_EDIT_LENGTH = 5
CLOSED_FREQUENCY = 1_000_000
_CUED = frozenset({EntityType.LOCATION, EntityType.DATE, EntityType.TIME})


def _vocabulary() -> frozenset[str]:
    """Lower-case English word forms: lemminflect's lemma table (proper names, which it writes
    capitalised, are left out) and the closed classes."""
    if _loaded:  # filled once, whole, under the lock: no need to take it again (per word)
        return _loaded[0]
    with _lock:
        if _loaded:
            return _loaded[0]
        resource = importlib.resources.files("lemminflect") / "resources" / "lemma_lu.csv.gz"
        forms: set[str] = set(CLOSED_CLASS)
        with resource.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as handle:
            for line in handle:
                word = line.split(",", 1)[0]
                if word.isalpha() and word.islower():
                    forms.add(word)
        _loaded.append(frozenset(forms))
        return _loaded[0]


def is_vocabulary(word: str) -> bool:
    """Whether the lower-cased ``word`` is an English word form."""
    return word.lower() in _vocabulary()


def _transpositions(word: str) -> set[str]:
    return {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}


def _edits(word: str) -> set[str]:
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    substitutes = {a + c + b[1:] for a, b in splits if b for c in _LETTERS if c != b[0]}
    inserts = {a + c + b for a, b in splits for c in _LETTERS}
    return deletes | substitutes | inserts


def _frequency(word: str) -> int:
    # Closed-class words are the most frequent of all but are not in WordNet.
    return CLOSED_FREQUENCY if word in CLOSED_CLASS else tagged_count(word)


def _pick(candidates: set[str]) -> str | None:
    """The one candidate, or the only one that WordNet's corpus has ever seen."""
    if len(candidates) == 1:
        return next(iter(candidates))
    seen = [c for c in candidates if _frequency(c) > 0]
    return seen[0] if len(seen) == 1 else None


def correct_word(word: str) -> str | None:
    """The one vocabulary word ``word`` is a slip of, or ``None`` (a common word already, or
    no single candidate). Case is kept for a capitalised word.

    A word outside the vocabulary is corrected to its one neighbour (transpositions first).
    A vocabulary word is corrected only if it is rare (never sense-tagged in WordNet's corpus),
    cannot be a verb, and is one transposition from exactly one word that has been ("rial" →
    "rail"): a common word is what its writer meant.
    """
    low = word.lower()
    if not low.isalpha() or len(low) < 2 or (word.isupper() and len(word) > 1):
        return None
    vocabulary = _vocabulary()
    if low in vocabulary:
        if len(low) < 4 or low in CLOSED_CLASS or tagged_count(low) > 0:
            return None
        found = {c for c in _transpositions(low) if c in vocabulary and _frequency(c) > 0}
        # Only one candidate can be picked: ask whether the word is a verb (the lemmatiser,
        # slow while its memo is cold) only then.
        if len(found) != 1 or is_verb(low):
            return None
    else:
        found = {c for c in _transpositions(low) if c in vocabulary}
        if not found and len(low) >= MIN_EDIT_LENGTH:
            found = {c for c in _edits(low) if c in vocabulary}
    fixed = _pick(found)
    if fixed is None or fixed in NEGATIONS:
        return None
    return fixed.capitalize() if word[:1].isupper() else fixed


def _preposition_slip(word: str) -> str | None:
    """The preposition a common word before a place, date or time is a transposition of
    ("form Lyon" → "from Lyon"): there the word can only be a role cue."""
    low = word.lower()
    if low in CLOSED_CLASS:
        return None
    found = {c for c in _transpositions(low) if c in PREPOSITIONS}
    return next(iter(found)) if len(found) == 1 else None


def _correct_outside(text: str, entities: list[Entity]) -> str:
    # A word overlaps an entity when some entity starting before the word's end ends after its
    # start: with spans sorted by start, the furthest end among those starting early enough.
    spans = sorted(e.span for e in entities)
    starts = [start for start, _ in spans]
    furthest = list(accumulate((end for _, end in spans), max))
    cued = {e.span[0] for e in entities if e.type in _CUED}
    out: list[str] = []
    cursor = 0
    for match in _WORD.finditer(text):
        before = bisect_left(starts, match.end())
        if before and furthest[before - 1] > match.start():
            continue
        if "'" in match.group():
            continue
        fixed = correct_word(match.group())
        if cued:
            spaces = _SPACES.match(text, match.end())
            following = spaces.end() - match.end() if spaces else 0
            if match.end() + following in cued and following:
                fixed = _preposition_slip(match.group()) or fixed
        if fixed is None:
            continue
        out.append(text[cursor : match.start()])
        out.append(fixed)
        cursor = match.end()
    out.append(text[cursor:])
    return "".join(out)


def normalise_request(text: str, now: datetime | None = None) -> tuple[str, list[Entity]]:
    """The request without edge noise, extra spaces or misspelt ordinary words, and its
    entities (spans refer to the returned text)."""
    reference = now or datetime.now(UTC)
    clean = strip_edges(text)
    entities = extract_entities(clean, reference)
    corrected = _correct_outside(clean, entities)
    if corrected != clean:
        clean = corrected
        entities = extract_entities(clean, reference)
    return clean, entities
