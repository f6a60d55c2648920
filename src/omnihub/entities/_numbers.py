"""Numbers inside plan text: how they are written, how to write another value the same way.

A plan may carry an entity's amount inside free text ("sent you 11.0 EUR", "€11.00",
"11,00"). Each numeric token is read under every plausible convention (decimal point or
comma, thousands grouping) and remembered as a rendering *mode* such as ``num:2:.,`` (at
least two decimals, ``.`` as decimal point, ``,`` between thousands), so that injection
writes the new value the way the plan wrote the old one.
"""

from __future__ import annotations

import re

from omnihub.entities._extract import _SYMBOLS

#: A number standing on its own: not part of a word, a time ("11:30"), a date or a path.
NUMERIC_TOKEN = re.compile(r"(?<![\w.,:/-])\d+(?:[.,]\d+)*(?![\w:/-]|[.,]\d)")
#: Any run of digits, for the "looks derived from an entity" check.
DIGIT_RUN = re.compile(r"\d+(?:[.,]\d+)*")
SYMBOL_CURRENCY = _SYMBOLS
_CURRENCY_SYMBOL = {code: symbol for symbol, code in _SYMBOLS.items()}
_GROUPED = re.compile(r"\d{1,3}(?:(?P<sep>[.,])\d{3})+(?:(?P<point>[.,])(?P<frac>\d+))?")


def readings(token: str) -> list[tuple[float, str]]:
    """Every (value, mode) a numeric token may stand for."""
    out: list[tuple[float, str]] = []
    plain = re.fullmatch(r"(\d+)(?:([.,])(\d+))?", token)
    if plain:
        frac = plain[3] or ""
        out.append((float(f"{plain[1]}.{frac or 0}"), f"num:{len(frac)}:{plain[2] or '.'}"))
    grouped = _GROUPED.fullmatch(token)
    if grouped and grouped["sep"] != grouped["point"]:
        digits = re.sub(r"\D", "", token[: grouped.start("point")] if grouped["point"] else token)
        frac = grouped["frac"] or ""
        point = grouped["point"] or ("," if grouped["sep"] == "." else ".")
        out.append((float(f"{digits}.{frac or 0}"), f"num:{len(frac)}:{point}{grouped['sep']}"))
    return out


def render(value: float, mode: str) -> str:
    """Write ``value`` in a mode from :func:`readings` (never dropping significant decimals)."""
    _, minimum, seps = mode.split(":")
    point, group = seps[0], seps[1:]
    needed = len(f"{abs(value):.6f}".rstrip("0").split(".")[1])
    text = f"{abs(value):,.{max(int(minimum), needed)}f}"
    if not group:
        text = text.replace(",", "")
    text = text.replace(",", "\0").replace(".", point).replace("\0", group)
    return ("-" if value < 0 else "") + text


def significant(text: str) -> str:
    """The digits of a number without separators and outer zeros ("11.00" and "1,100" → "11")."""
    return re.sub(r"\D", "", text).strip("0")


def symbol(currency: str) -> str:
    """The currency's usual symbol, or its code when it has none."""
    return _CURRENCY_SYMBOL.get(currency, currency)
