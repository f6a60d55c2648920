"""Values produced by entity extraction: typed, role-qualified, normalised entities."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class EntityType(StrEnum):
    """The kinds of value the extractor recognises (the placeholder prefix in templates)."""

    DATE = "DATE"
    TIME = "TIME"
    MONEY = "MONEY"
    NUMBER = "NUMBER"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    URL = "URL"
    ID = "ID"
    LOCATION = "LOCATION"
    PERSON = "PERSON"


#: A normalised value: ISO date/time strings, numbers, or a money pair.
Value = str | int | float


@dataclass(frozen=True, slots=True)
class Money:
    """An amount and its ISO 4217 currency code."""

    amount: float
    currency: str


@dataclass(frozen=True, slots=True)
class Entity:
    """One value found in a request.

    ``value`` is the normalised form (ISO date ``YYYY-MM-DD``, ``HH:MM`` time, E.164 phone,
    a number, a :class:`Money`…); ``text`` the raw text; ``span`` its character range; ``role``
    the part it plays in the sentence (``origin``/``destination``, ``start``/``end``,
    ``payer``/``payee``) or ``None``. ``slot`` names the entity's placeholder and is unique in
    one request: ``TYPE`` or ``TYPE:role``, with ``#n`` appended when the same type and role
    occur more than once (numbered in reading order).
    """

    type: EntityType
    text: str
    value: Value | Money
    span: tuple[int, int]
    role: str | None = None
    slot: str = field(default="")

    @property
    def kind(self) -> str:
        """``TYPE`` or ``TYPE:role``: what the slot signature guard compares."""
        return f"{self.type.value}:{self.role}" if self.role else self.type.value


@dataclass(frozen=True, slots=True)
class Template:
    """A request with its entities replaced by placeholders, e.g.
    ``book a train from {LOCATION:origin} to {LOCATION:destination} on {DATE}``.

    ``key`` is a stable hash of ``text`` (the exact-template fast path) and ``signature`` the
    sorted slot names, compared by the slot-signature guard.
    """

    text: str
    key: str
    slots: tuple[str, ...]

    @property
    def signature(self) -> tuple[str, ...]:
        return tuple(sorted(self.slots))
