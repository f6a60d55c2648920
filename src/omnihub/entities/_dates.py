"""Dates and times in English requests, resolved against a reference time.

Recognised dates: ISO ``2027-03-05``; numeric ``3/5/2027`` (month first unless the first part
is over 12) and ``5.3.2027`` (day first); month names, full or abbreviated, before or after the
day, with or without a year and ordinal suffixes (``March 3rd, 2027``, ``the 3rd of March``);
``today``, ``tonight``, ``tomorrow``, ``yesterday``, ``the day after tomorrow``, ``in N
days/weeks``, weekday names with optional ``next``/``this``. A date without a year is the
next such day on or after the reference date. Times become 24-hour ``HH:MM``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

_MONTHS: dict[str, int] = {}
for _number in range(1, 13):
    _MONTHS[calendar.month_name[_number].lower()] = _number
    _MONTHS[calendar.month_abbr[_number].lower()] = _number
_MONTHS["sept"] = 9
_WEEKDAYS = {calendar.day_name[i].lower(): i for i in range(7)}

# Longest names first so "september" wins over "sep".
_MONTH_RE = "|".join(sorted(_MONTHS, key=lambda name: (-len(name), name)))
_WEEKDAY_RE = "|".join(sorted(_WEEKDAYS, key=lambda name: (-len(name), name)))
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_DAY2 = r"(?P<day2>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4})"
_YEAR2 = r"(?P<year2>\d{4})"
_B = r"(?<![\w-])"
_E = r"(?![\w])"

_DATE_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(_B + r"(?P<iso>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})" + _E),
    re.compile(_B + r"(?P<n1>\d{1,2})(?P<sep>[/.])(?P<n2>\d{1,2})(?P=sep)(?P<ny>\d{4})" + _E),
    # March 3rd, 2027 / Mar 3 2027 / March 3
    re.compile(_B + rf"(?P<month>{_MONTH_RE})\.?\s+{_DAY}(?:,?\s+{_YEAR})?" + _E, re.IGNORECASE),
    # 3 March 2027 / the 3rd of March, 2027
    re.compile(
        _B + rf"(?:the\s+)?{_DAY2}\s+(?:of\s+)?(?P<month2>{_MONTH_RE})\.?(?:,?\s+{_YEAR2})?" + _E,
        re.IGNORECASE,
    ),
    re.compile(
        _B + r"(?P<rel>(?:the\s+)?day\s+after\s+tomorrow|today|tonight|tomorrow|yesterday)" + _E,
        re.IGNORECASE,
    ),
    re.compile(_B + r"in\s+(?P<count>\d{1,3})\s+(?P<unit>days?|weeks?)" + _E, re.IGNORECASE),
    re.compile(_B + rf"(?:(?P<which>next|this)\s+)?(?P<weekday>{_WEEKDAY_RE})" + _E, re.IGNORECASE),
)

_TIME_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(
        r"(?<![\w:.])(?P<h>[01]?\d)(?::(?P<m>[0-5]\d))?\s*(?P<ampm>[ap])\.?m\.?(?![\w])",
        re.IGNORECASE,
    ),
    re.compile(r"(?<![\w:.-])(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?![\w]|:\d)"),
    re.compile(r"(?<![\w])(?P<word>noon|midday|midnight)(?![\w])", re.IGNORECASE),
)


_DIGIT = re.compile(r"\d")


def _stems(names: list[str]) -> tuple[str, ...]:
    """Names that contain no other name: every text an alternation of ``names`` matches holds
    one of them. ``("",)`` (always held) unless all are ASCII: a case-insensitive pattern may
    match a non-ASCII letter of a name to an ASCII letter of a text (dotless i to "i")."""
    if not all(name.isascii() for name in names):
        return ("",)
    return tuple(n for n in names if not any(o != n and o in n for o in names))


_MONTH_STEMS = _stems(list(_MONTHS))
_WEEKDAY_STEMS = _stems(list(_WEEKDAYS))


def _date_patterns(text: str) -> list[re.Pattern[str]]:
    """The date patterns that can match ``text``, in order: one is left out when the text lacks
    what every match of it holds (a digit, a separator, a month or weekday name, "day"…).

    Words are looked for in the lower-cased text only when it is ASCII: in other text a
    case-insensitive pattern may match letters that ``str.lower`` does not map to its own.
    """
    digit = _DIGIT.search(text) is not None
    if text.isascii():
        low = text.lower()
        day = "day" in low
        relative = day or "tonight" in low or "tomorrow" in low
        span = day or "week" in low
        month = any(stem in low for stem in _MONTH_STEMS)
        weekday = any(stem in low for stem in _WEEKDAY_STEMS)
    else:
        relative = span = month = weekday = True
    out: list[re.Pattern[str]] = []
    if digit and "-" in text:
        out.append(_DATE_PATTERNS[0])
    if digit and ("/" in text or "." in text):
        out.append(_DATE_PATTERNS[1])
    if digit and month:
        out += (_DATE_PATTERNS[2], _DATE_PATTERNS[3])
    if relative:
        out.append(_DATE_PATTERNS[4])
    if digit and span:
        out.append(_DATE_PATTERNS[5])
    if weekday:
        out.append(_DATE_PATTERNS[6])
    return out


def _time_patterns(text: str) -> list[re.Pattern[str]]:
    """The time patterns that can match ``text``, in order (as :func:`_date_patterns`)."""
    digit = _DIGIT.search(text) is not None
    if text.isascii():
        low = text.lower()
        meridiem = "m" in low
        word = "noon" in low or "mid" in low
    else:
        meridiem = word = True
    out: list[re.Pattern[str]] = []
    if digit and meridiem:
        out.append(_TIME_PATTERNS[0])
    if digit and ":" in text:
        out.append(_TIME_PATTERNS[1])
    if word:
        out.append(_TIME_PATTERNS[2])
    return out


@dataclass(frozen=True, slots=True)
class Match:
    """A recognised date or time: its span, raw text and normalised value."""

    start: int
    end: int
    value: str


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _upcoming(month: int, day: int, today: date) -> date | None:
    """The next ``month``/``day`` on or after ``today`` (a date given without a year)."""
    for year in (today.year, today.year + 1, today.year + 4):
        found = _safe_date(year, month, day)
        if found is not None and found >= today:
            return found
    return None


def _resolve(match: re.Match[str], today: date) -> date | None:
    groups = match.groupdict()
    if groups.get("iso"):
        return _safe_date(int(groups["iso"]), int(groups["im"]), int(groups["id"]))
    if groups.get("n1"):
        first, second, year = int(groups["n1"]), int(groups["n2"]), int(groups["ny"])
        day_first = groups["sep"] == "." or first > 12
        return _safe_date(year, second, first) if day_first else _safe_date(year, first, second)
    month_name = groups.get("month") or groups.get("month2")
    if month_name:
        month = _MONTHS[month_name.lower()]
        day = int(groups.get("day") or groups["day2"])
        year_text = groups.get("year") or groups.get("year2")
        if year_text:
            return _safe_date(int(year_text), month, day)
        return _upcoming(month, day, today)
    if groups.get("rel"):
        word = " ".join(groups["rel"].lower().split())
        if word.endswith("after tomorrow"):
            return today + timedelta(days=2)
        offsets = {"today": 0, "tonight": 0, "tomorrow": 1, "yesterday": -1}
        return today + timedelta(days=offsets[word])
    if groups.get("count"):
        count = int(groups["count"])
        return today + timedelta(days=count * (7 if groups["unit"].startswith("week") else 1))
    weekday = _WEEKDAYS[groups["weekday"].lower()]
    ahead = (weekday - today.weekday()) % 7
    if groups.get("which") and groups["which"].lower() == "next" and ahead == 0:
        ahead = 7
    return today + timedelta(days=ahead)


def find_dates(text: str, now: datetime) -> Iterator[Match]:
    """Every date in ``text`` (overlaps resolved by the caller), normalised to ISO."""
    today = now.date()
    for pattern in _date_patterns(text):
        for match in pattern.finditer(text):
            resolved = _resolve(match, today)
            if resolved is not None:
                yield Match(match.start(), match.end(), resolved.isoformat())


def find_times(text: str) -> Iterator[Match]:
    """Every clock time in ``text`` as 24-hour ``HH:MM``."""
    for pattern in _time_patterns(text):
        for match in pattern.finditer(text):
            groups = match.groupdict()
            if groups.get("word"):
                hour, minute = (0, 0) if groups["word"].lower() == "midnight" else (12, 0)
            else:
                hour, minute = int(groups["h"]), int(groups.get("m") or 0)
                if groups.get("ampm"):
                    if not 1 <= hour <= 12:
                        continue
                    hour = hour % 12 + (12 if groups["ampm"].lower() == "p" else 0)
            yield Match(match.start(), match.end(), f"{hour:02d}:{minute:02d}")
