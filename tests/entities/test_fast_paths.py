"""The extractor's shortcuts change nothing: each fast path gives what the plain way gives.

Entity extraction runs on every plan-cache lookup, so it skips work it can prove useless (a
pattern whose every match needs a character the text lacks, name widths no place name begins
with, edge phrases starting with another word). These properties pin that the skipped work
would never have found anything, against plain re-implementations written here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from omnihub.entities import _dates, _extract, _lexicon, _locations, _normalise
from omnihub.entities._lexicon import is_common_word
from omnihub.entities._locations import MAX_NAME_WORDS, PlaceMatch, gazetteer

NOW = datetime(2026, 11, 24, 10, tzinfo=UTC)

# Pieces that make the recognisers fire, and characters that case-insensitive matching treats
# specially (long s, Kelvin sign, dotless and dotted i), so both ASCII and other text is drawn.
_PIECES = [
    "Lyon", "lyon", "Nice", "nice", "New York", "new  york", "San Jose", "Ho Chi Minh City",
    "Reading", "Split", "to", "from", "on", "the", "a", "in", "at", "Washington, D.C.",
    "March", "mar.", "Sept", "3rd", "March 3rd, 2027", "3 march", "Mar. 3", "\u017fept 9",
    "the 3rd of", "2027", "2027-03-05", "3/5/2027", "5.3.2027",
    "today", "TONIGHT", "Tomorrow", "day after tomorrow", "in 3 days", "in 2 weeks",
    "next Friday", "monday", "4:15 PM", "9am", "12 a.m.", "19:00", "noon", "Midnight",
    "$5", "€11", "11€", "EUR 40", "40 eur", "12 dollars", "#abc-12", "ORD-12345", "AB12",
    "bob@example.org", "https://example.com/x", "Mr. Smith", "Dr Jane Doe", "+1 415 555 2671",
    "hi", "hello team,", "good morning", "thank you so much", "could you", "please", "asap",
    "\u017fept", "\u212a", "\u0131", "\u0130", "Zürich", "São Paulo", "\n", ",", ".", "!", "٣",
]  # fmt: skip
_texts = st.lists(
    st.one_of(st.sampled_from(_PIECES), st.text(max_size=6)), min_size=0, max_size=12
).flatmap(lambda parts: st.sampled_from([" ", "", "  ", ", "]).map(lambda sep: sep.join(parts)))


def _plain_locations(text: str) -> Iterator[PlaceMatch]:
    """Every width from the widest down, for every token (the unoptimised search)."""
    names = gazetteer()
    tokens = list(_locations._TOKEN.finditer(text))
    index = 0
    while index < len(tokens):
        found = None
        for width in range(min(MAX_NAME_WORDS, len(tokens) - index), 0, -1):
            first, last = tokens[index], tokens[index + width - 1]
            raw = text[first.start() : last.end()]
            if " ".join(raw.split()).lower() not in names or "\n" in raw:
                continue
            if _plain_accept(text, raw, first.start(), width):
                found = (first.start(), last.end(), raw, width)
                break
        if found is None:
            index += 1
            continue
        start, end, raw, width = found
        value = raw if raw[:1].isupper() else names[" ".join(raw.split()).lower()]
        yield PlaceMatch(start, end, " ".join(value.split()))
        index += width


def _plain_accept(text: str, raw: str, start: int, width: int) -> bool:
    parts = raw.split()
    capitalised = parts[0][:1].isupper() and all(w[:1].isupper() for w in parts if len(w) > 3)
    if not (width == 1 and is_common_word(raw)):
        return capitalised or width > 1 or raw.islower()
    sentence_start = text[:start].strip(" ,") == "" or text[:start].rstrip()[-1:] in ".!?"
    return capitalised and not sentence_start


def _plain_phrase_at(words: list[str], at: int, backwards: bool) -> int:
    best = 0
    for phrase in _normalise.EDGE_PHRASES:
        size = len(phrase)
        part = words[at : at + size] if not backwards else words[at - size + 1 : at + 1]
        if tuple(part) == phrase and size > best and (at - size + 1 >= 0 or not backwards):
            best = size
    if not best and 0 <= at < len(words) and words[at] in _normalise.EDGE_WORDS:
        best = 1
    return best


@settings(max_examples=400, deadline=None)
@given(_texts)
def test_place_search_finds_what_trying_every_width_finds(text: str) -> None:
    assert list(_locations.find_locations(text)) == list(_plain_locations(text))


@settings(max_examples=400, deadline=None)
@given(_texts)
def test_date_and_time_patterns_left_out_never_match(text: str) -> None:
    dates = _dates._date_patterns(text)
    times = _dates._time_patterns(text)
    for pattern in _dates._DATE_PATTERNS:
        assert pattern in dates or pattern.search(text) is None, pattern.pattern
    for pattern in _dates._TIME_PATTERNS:
        assert pattern in times or pattern.search(text) is None, pattern.pattern
    assert [p for p in _dates._DATE_PATTERNS if p in dates] == dates  # order kept


@settings(max_examples=400, deadline=None)
@given(_texts)
def test_recognisers_skipped_for_a_missing_character_never_match(text: str) -> None:
    if "://" not in text:
        assert _extract._URL.search(text) is None
    if "@" not in text:
        assert _extract._EMAIL.search(text) is None
    if not any(title in text for title in _extract._TITLES):
        assert _extract._PERSON.search(text) is None
    if _extract._SYMBOL_CHARS.isdisjoint(text):
        assert _extract._MONEY_SYMBOL.search(text) is None
        assert _extract._MONEY_SYMBOL_AFTER.search(text) is None
    if _extract._DIGIT.search(text) is None:
        assert _extract._money(text) == []
        assert _extract._phones(text) == []
        assert _extract._NUMBER.search(text) is None
        if "#" not in text:
            assert _extract._ID.search(text) is None


@settings(max_examples=400, deadline=None)
@given(_texts)
def test_edge_phrase_lookup_equals_trying_every_phrase(text: str) -> None:
    words = [token for token, _, _ in _normalise._tokens(text)]
    for at in range(len(words)):
        for backwards in (False, True):
            assert _normalise._phrase_at(words, at, backwards) == _plain_phrase_at(
                words, at, backwards
            )


@settings(max_examples=400, deadline=None)
@given(_texts.map(lambda t: t.replace(" a ", " {DATE} ")))
def test_word_split_without_apostrophes_equals_the_contraction_aware_split(text: str) -> None:
    # A lone apostrophe is no word but sends words() down its contraction-aware path.
    assert _lexicon.words(text) == _lexicon.words(text + " '")
