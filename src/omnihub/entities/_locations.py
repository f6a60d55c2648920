"""Place names in text: cities (GeoNames, every city over 15,000 people, with their ASCII
alternate names for those over 100,000), US states and countries (ISO 3166 names), from the
gazetteer shipped in ``entities/data/`` (see :mod:`omnihub.entities._data`). Multi-word names
match whole ("Ho Chi Minh City")."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from omnihub.entities._data import place_names
from omnihub.entities._lexicon import is_common_word

MAX_NAME_WORDS = 5
_TOKEN = re.compile(r"[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ.'-]*[A-Za-zÀ-ÿ]|[A-Za-zÀ-ÿ]")

_lock = threading.Lock()
_first_words: list[frozenset[str]] = []


def gazetteer() -> dict[str, str]:
    """Lower-cased place name → its display spelling. Loaded once, on first use."""
    with _lock:
        if not _first_words:
            _first_words.append(frozenset(key.split()[0] for key in place_names()))
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
    tokens = list(_TOKEN.finditer(text))
    index = 0
    while index < len(tokens):
        if tokens[index].group().lower() not in first_words:
            index += 1
            continue
        found = None
        for width in range(min(MAX_NAME_WORDS, len(tokens) - index), 0, -1):
            first, last = tokens[index], tokens[index + width - 1]
            raw = text[first.start() : last.end()]
            if " ".join(raw.split()).lower() not in names or "\n" in raw:
                continue
            if _accept(text, raw, first.start(), width):
                found = (first.start(), last.end(), raw, width)
                break
        if found is None:
            index += 1
            continue
        start, end, raw, width = found
        key = " ".join(raw.split()).lower()
        value = raw if raw[:1].isupper() else names[key]
        yield PlaceMatch(start, end, " ".join(value.split()))
        index += width


def _accept(text: str, raw: str, start: int, width: int) -> bool:
    parts = raw.split()
    capitalised = parts[0][:1].isupper() and all(w[:1].isupper() for w in parts if len(w) > 3)
    common = width == 1 and is_common_word(raw)
    if not common:
        return capitalised or width > 1 or raw.islower()
    sentence_start = text[:start].strip(" ,") == "" or text[:start].rstrip()[-1:] in ".!?"
    return capitalised and not sentence_start
