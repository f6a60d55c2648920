"""Place names in text: cities (GeoNames, every city over 15,000 people, with their ASCII
alternate names for those over 100,000), US states and countries (ISO 3166 names), from the
gazetteer shipped in ``entities/data/`` (see :mod:`omnihub.entities._data`). Multi-word names
match whole ("Ho Chi Minh City")."""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass

from omnihub.entities._data import place_names
from omnihub.entities._lexicon import is_common_word

MAX_NAME_WORDS = 5
_TOKEN = re.compile(r"[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ.'-]*[A-Za-zÀ-ÿ]|[A-Za-zÀ-ÿ]")

_lock = threading.Lock()
_first_words: list[frozenset[str]] = []
#: The gazetteer's keys sorted, to ask "does any name start with this?" by bisection.
_sorted_keys: list[list[str]] = []


def gazetteer() -> dict[str, str]:
    """Lower-cased place name → its display spelling. Loaded once, on first use."""
    if _first_words:  # filled once, whole, under the lock
        return place_names()
    with _lock:
        if not _first_words:
            names = place_names()
            _sorted_keys.append(sorted(names))
            _first_words.append(frozenset(key.split()[0] for key in names))
    return place_names()


@dataclass(frozen=True, slots=True)
class PlaceMatch:
    start: int
    end: int
    value: str


def find_locations(text: str) -> Iterator[PlaceMatch]:
    """Place names in ``text``, longest match first, left to right.

    A name that is also common English ("Nice", "Split") counts only when written with a
    capital and not as the first word of the sentence; an uncommon one ("lyon") counts in any
    case.
    """
    names = gazetteer()
    first_words = _first_words[0]
    keys = _sorted_keys[0]
    if text.isascii():  # lower-casing keeps every span: tokenise the lower-cased text once
        tokens = list(_TOKEN.finditer(text.lower()))
        hits = [i for i, token in enumerate(tokens) if token.group() in first_words]
    else:
        tokens = list(_TOKEN.finditer(text))
        hits = [i for i, token in enumerate(tokens) if token.group().lower() in first_words]
    count = len(tokens)
    resume = 0  # tokens before this one belong to a place already found
    for index in hits:
        if index < resume:
            continue
        start = tokens[index].start()
        # Widths in increasing order: the text up to a later token's end (spaces collapsed,
        # lower-cased) begins with the text up to an earlier one's, so once no name begins with
        # it no wider name can match. A first word always begins a name: width 2 is always tried.
        named: list[tuple[int, str]] = []
        for width in range(1, min(MAX_NAME_WORDS, count - index) + 1):
            raw = text[start : tokens[index + width - 1].end()]
            key = " ".join(raw.split()).lower()
            if key in names:
                named.append((width, raw))
            elif width > 1:
                at = bisect_left(keys, key)
                if at == len(keys) or not keys[at].startswith(key):
                    break
        # The widest name that is accepted wins, as before.
        for width, raw in reversed(named):
            if "\n" in raw or not _accept(text, raw, start, width):
                continue
            key = " ".join(raw.split()).lower()
            value = raw if raw[:1].isupper() else names[key]
            yield PlaceMatch(start, start + len(raw), " ".join(value.split()))
            resume = index + width
            break


def _accept(text: str, raw: str, start: int, width: int) -> bool:
    # The same decision as "a common word counts only capitalised and not first in a sentence,
    # anything else counts capitalised, in lower case or over several words", asking the
    # lexicon (a lemmatiser call when its memo is cold) only when the answer depends on it.
    if width > 1:
        return True
    parts = raw.split()
    capitalised = parts[0][:1].isupper() and all(w[:1].isupper() for w in parts if len(w) > 3)
    if capitalised:
        before = text[:start]
        sentence_start = before.strip(" ,") == "" or before.rstrip()[-1:] in ".!?"
        return not sentence_start or not is_common_word(raw)
    return raw.islower() and not is_common_word(raw)
