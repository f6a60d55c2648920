"""Entity extraction: every recogniser proposes spans, the longest non-overlapping ones win,
then roles come from the words around each entity and slots are numbered in reading order."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import NamedTuple

from omnihub.entities._data import currency_codes
from omnihub.entities._dates import find_dates, find_times
from omnihub.entities._lexicon import LIGHT_WORDS
from omnihub.entities._locations import find_locations
from omnihub.entities._model import Entity, EntityType, Money, Value

_URL = re.compile(r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)]", re.IGNORECASE)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW", "₽": "RUB"}
_CURRENCY_WORDS = {
    "dollar": "USD",
    "dollars": "USD",
    "euro": "EUR",
    "euros": "EUR",
    "pound": "GBP",
    "pounds": "GBP",
    "yen": "JPY",
    "rupee": "INR",
    "rupees": "INR",
    "francs": "CHF",
}
_AMOUNT = r"(?P<amount>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_MONEY_SYMBOL = re.compile(
    r"(?:(?P<code1>[A-Z]{3})\s?)?(?P<symbol>[$€£¥₹₩₽])\s?" + _AMOUNT + r"(?![\w])"
)
_MONEY_SYMBOL_AFTER = re.compile(r"(?<![\w.,])" + _AMOUNT + r"\s?(?P<symbol>[$€£¥₹₩₽])")
_MONEY_CODE_AFTER = re.compile(r"(?<![\w.,])" + _AMOUNT + r"\s?(?P<code>[A-Za-z]{3,7})(?![\w])")
_MONEY_CODE_BEFORE = re.compile(r"(?<![\w])(?P<code>[A-Z]{3})\s?" + _AMOUNT + r"(?![\w])")
_ID = re.compile(
    r"(?<![\w#-])(?:#(?P<hash>[A-Za-z0-9][A-Za-z0-9-]*)"
    r"|(?P<code>(?=[A-Za-z0-9-]*\d)(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+"
    r"|[A-Z]+\d+[A-Z0-9]*))(?![\w-])"
)
_NUMBER = re.compile(r"(?<![\w.,-])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w]|[.,]\d)")
_PERSON = re.compile(
    r"\b(?:Mr|Mrs|Ms|Mx|Dr|Prof)\.?\s+(?P<name>[A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,2})\b"
)
_TITLES = ("Mr", "Ms", "Mx", "Dr", "Prof")  # every _PERSON match holds one ("Mrs" holds "Mr")
_SYMBOL_CHARS = frozenset(_SYMBOLS)

# Higher wins when two spans of equal length overlap.
_PRIORITY = {
    EntityType.URL: 9,
    EntityType.EMAIL: 8,
    EntityType.MONEY: 7,
    EntityType.PHONE: 6,
    EntityType.DATE: 5,
    EntityType.TIME: 4,
    EntityType.ID: 3,
    EntityType.LOCATION: 2,
    EntityType.PERSON: 2,
    EntityType.NUMBER: 1,
}

# Role cues: the words just before an entity (light words skipped), by entity family.
_PLACE_ROLES = {
    "from": "origin",
    "leaving": "origin",
    "departing": "origin",
    "to": "destination",
    "arriving": "destination",
    "towards": "destination",
    "into": "destination",
}
_TIME_ROLES = {
    "from": "start",
    "since": "start",
    "starting": "start",
    "start": "start",
    "pick up": "start",
    "pickup": "start",
    "check in": "start",
    "checkin": "start",
    "to": "end",
    "until": "end",
    "till": "end",
    "through": "end",
    "thru": "end",
    "ending": "end",
    "end": "end",
    "return": "end",
    "drop off": "end",
    "dropoff": "end",
    "check out": "end",
    "checkout": "end",
}
_PARTY_ROLES = {"from": "payer", "by": "payer", "to": "payee"}
_ROLE_CUES = {
    EntityType.LOCATION: _PLACE_ROLES,
    EntityType.DATE: _TIME_ROLES,
    EntityType.TIME: _TIME_ROLES,
    EntityType.EMAIL: _PARTY_ROLES,
    EntityType.PERSON: _PARTY_ROLES,
    EntityType.PHONE: _PARTY_ROLES,
}
_CUE_WORD = re.compile(r"[A-Za-z]+")
_ONLY_TO = re.compile(r"\s*to\s*", re.IGNORECASE)
# Money, phone and number recognisers all need a digit (``\d``, as in their own patterns).
_DIGIT = re.compile(r"\d")


# A named tuple rather than a frozen dataclass: thousands are built per second on the
# lookup path, and a tuple is built several times faster.
class _Candidate(NamedTuple):
    type: EntityType
    start: int
    end: int
    value: Value | Money


def _currency(code: str) -> str | None:
    if code.lower() in _CURRENCY_WORDS:
        return _CURRENCY_WORDS[code.lower()]
    cased = code.isupper() or code.islower()
    if len(code) == 3 and code.isalpha() and cased and code.upper() in currency_codes():
        return code.upper()
    return None


def _amount(text: str) -> float:
    return float(text.replace(",", ""))


def _money(text: str) -> list[_Candidate]:
    out: list[_Candidate] = []
    symbols = not _SYMBOL_CHARS.isdisjoint(text)
    for match in _MONEY_SYMBOL.finditer(text) if symbols else ():
        code = _currency(match["code1"]) if match["code1"] else None
        currency = code or _SYMBOLS[match["symbol"]]
        money = Money(_amount(match["amount"]), currency)
        out.append(_Candidate(EntityType.MONEY, match.start(), match.end(), money))
    for match in _MONEY_SYMBOL_AFTER.finditer(text) if symbols else ():
        money = Money(_amount(match["amount"]), _SYMBOLS[match["symbol"]])
        out.append(_Candidate(EntityType.MONEY, match.start(), match.end(), money))
    for pattern in (_MONEY_CODE_AFTER, _MONEY_CODE_BEFORE):
        for match in pattern.finditer(text):
            found = _currency(match["code"])
            if found is not None:
                money = Money(_amount(match["amount"]), found)
                out.append(_Candidate(EntityType.MONEY, match.start(), match.end(), money))
    return out


# A cheap pre-check: phone parsing is the costliest recogniser, and most requests have no run
# of seven or more digits that could be a phone number.
_PHONE_HINT = re.compile(r"\+?\(?\d(?:[\s().-]?\d){6,}")
_DATE_LIKE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{4}")


def _phones(text: str) -> list[_Candidate]:
    out: list[_Candidate] = []
    text = _DATE_LIKE.sub(lambda m: " " * len(m.group()), text)  # same length, same spans
    if not _PHONE_HINT.search(text):
        return out
    import phonenumbers

    for match in phonenumbers.PhoneNumberMatcher(text, "US"):
        number = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        out.append(_Candidate(EntityType.PHONE, match.start, match.end, number))
    return out


def _number(text: str) -> int | float:
    clean = text.replace(",", "")
    return float(clean) if "." in clean else int(clean)


def _candidates(text: str, now: datetime) -> list[_Candidate]:
    # Each pattern is only run when the text holds what every match of it must contain (a
    # literal or a digit): most requests lack most of them, and the outcome is the same.
    found: list[_Candidate] = []
    if "://" in text:
        found += [
            _Candidate(EntityType.URL, m.start(), m.end(), m.group()) for m in _URL.finditer(text)
        ]
    if "@" in text:
        found += [
            _Candidate(EntityType.EMAIL, m.start(), m.end(), m.group())
            for m in _EMAIL.finditer(text)
        ]
    digits = _DIGIT.search(text) is not None
    if digits:
        found += _money(text)
        found += _phones(text)
    found += [_Candidate(EntityType.DATE, m.start, m.end, m.value) for m in find_dates(text, now)]
    found += [_Candidate(EntityType.TIME, m.start, m.end, m.value) for m in find_times(text)]
    if digits or "#" in text:
        for match in _ID.finditer(text):
            value = match["hash"] or match["code"]
            found.append(_Candidate(EntityType.ID, match.start(), match.end(), value))
    if digits:
        found += [
            _Candidate(EntityType.NUMBER, m.start(), m.end(), _number(m.group()))
            for m in _NUMBER.finditer(text)
        ]
    found += [
        _Candidate(EntityType.LOCATION, m.start, m.end, m.value) for m in find_locations(text)
    ]
    if any(title in text for title in _TITLES):
        found += [
            _Candidate(EntityType.PERSON, m.start("name"), m.end("name"), m["name"])
            for m in _PERSON.finditer(text)
        ]
    return found


def _select(candidates: list[_Candidate]) -> list[_Candidate]:
    """Longest spans first (then priority, then position); drop anything overlapping."""
    ordered = sorted(
        candidates, key=lambda c: (c.start - c.end, -_PRIORITY[c.type], c.start, c.type)
    )
    chosen: list[_Candidate] = []
    for candidate in ordered:
        start, end = candidate.start, candidate.end
        for other in chosen:
            if end > other.start and start < other.end:
                break
        else:
            chosen.append(candidate)
    chosen.sort(key=lambda c: (c.start, c.end))
    return chosen


def _cue(text: str, start: int, floor: int) -> str | None:
    """The one- or two-word cue before ``start`` (light words skipped, not past ``floor``)."""
    found: list[str] = _CUE_WORD.findall(text, floor, start)
    before = [w for w in found if w.lower() not in LIGHT_WORDS]
    if not before:
        return None
    if len(before) >= 2:
        return f"{before[-2].lower()} {before[-1].lower()}"
    return before[-1].lower()


def _role(entity_type: EntityType, cue: str | None) -> str | None:
    cues = _ROLE_CUES.get(entity_type)
    if not cues or cue is None:
        return None
    if cue in cues:
        return cues[cue]
    last = cue.split()[-1]
    joined = cue.replace(" ", "")
    return cues.get(joined) or cues.get(last)


def _assign_roles(text: str, chosen: list[_Candidate]) -> list[str | None]:
    roles: list[str | None] = []
    previous_end = 0
    for candidate in chosen:
        roles.append(_role(candidate.type, _cue(text, candidate.start, previous_end)))
        previous_end = candidate.end
    # "Lyon to Nice": an unmarked place right before a destination is the origin.
    for index in range(len(chosen) - 1):
        here, after = chosen[index], chosen[index + 1]
        if (
            here.type is after.type is EntityType.LOCATION
            and roles[index] is None
            and roles[index + 1] == "destination"
            and _ONLY_TO.fullmatch(text, here.end, after.start)
        ):
            roles[index] = "origin"
    return roles


def extract_entities(text: str, now: datetime | None = None) -> list[Entity]:
    """The entities of ``text`` in reading order, normalised, with roles and unique slots.

    ``now`` resolves relative dates ("tomorrow", "March 3" without a year); it defaults to
    the current UTC time. The result is deterministic: the same text and reference time give
    the same entities in every process.
    """
    reference = now or datetime.now(UTC)
    chosen = _select(_candidates(text, reference))
    roles = _assign_roles(text, chosen)
    # Each entity's kind (``Entity.kind``), computed once.
    kinds = [
        f"{c.type.value}:{role}" if role else c.type.value
        for c, role in zip(chosen, roles, strict=True)
    ]
    totals: dict[str, int] = {}
    for kind in kinds:
        totals[kind] = totals.get(kind, 0) + 1
    seen: dict[str, int] = {}
    numbered: list[Entity] = []
    for candidate, role, kind in zip(chosen, roles, kinds, strict=True):
        seen[kind] = seen.get(kind, 0) + 1
        slot = kind if totals[kind] == 1 else f"{kind}#{seen[kind]}"
        start, end = candidate.start, candidate.end
        numbered.append(
            Entity(candidate.type, text[start:end], candidate.value, (start, end), role, slot)
        )
    return numbered
