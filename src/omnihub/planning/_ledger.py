"""The token and cost ledger: every LLM call and every cache hit's savings, per tenant.

The ledger is a table (``llm_usage``) in the store's database: SQLite by default, PostgreSQL
when the URL says so. Costs come from a :class:`PriceTable` in US dollars per million tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from omnihub.config import parse_backend_url
from omnihub.planning._types import Usage

EntryKind = Literal["llm_call", "cache_hit"]

#: Public list prices in USD per million (prompt, completion) tokens, for a few common models.
#: Override or extend them with the ``llm_prices`` setting; an unknown model costs 0.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-opus-4": (15.00, 75.00),
}


@dataclass(frozen=True)
class PriceTable:
    """Per-model prices; a dated model name (``gpt-4o-mini-2024-07-18``) uses its prefix's."""

    prices: Mapping[str, tuple[float, float]] = field(default_factory=lambda: DEFAULT_PRICES)

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, tuple[float, float]]) -> PriceTable:
        return cls({**DEFAULT_PRICES, **overrides})

    def price(self, model: str | None) -> tuple[float, float] | None:
        if not model:
            return None
        if model in self.prices:
            return self.prices[model]
        # Longest prefix wins, so "gpt-4o-mini-…" is not priced as "gpt-4o".
        matches = [name for name in self.prices if model.startswith(name)]
        return self.prices[max(matches, key=len)] if matches else None

    def cost(self, model: str | None, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.price(model)
        if price is None:
            return 0.0
        return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger row: an LLM call (tokens spent) or a cache hit (tokens saved)."""

    tenant: str
    kind: EntryKind
    model: str | None = None
    provider: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0
    saved_tokens: int = 0
    saved_cost: float = 0.0
    goal_id: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Spend:
    """What a tenant spent since a moment: tokens and cost of LLM calls."""

    tokens: int = 0
    cost: float = 0.0


@dataclass(frozen=True)
class UsageRow:
    """One line of ``omnihub usage``: a day and model with its calls, spend and savings."""

    day: str
    model: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    cache_hits: int
    saved_tokens: int
    saved_cost: float


def usage_row(row: Sequence[Any]) -> UsageRow:
    """A :class:`UsageRow` from a summary query's row (the same columns on every backend)."""
    return UsageRow(
        day=str(row[0]),
        model=str(row[1]),
        calls=int(row[2]),
        prompt_tokens=int(row[3]),
        completion_tokens=int(row[4]),
        cost=float(row[5]),
        cache_hits=int(row[6]),
        saved_tokens=int(row[7]),
        saved_cost=float(row[8]),
    )


def plan_usage_from_row(row: Sequence[Any] | None) -> Usage | None:
    """A cached plan's usage from ``(model, prompt_tokens, completion_tokens, cost)``."""
    if row is None:
        return None
    return Usage(row[0], int(row[1]), int(row[2]), float(row[3]))


class UsageLedger(Protocol):
    """Where planning usage is recorded and summed up."""

    def record(self, entry: LedgerEntry) -> None:
        """Append one entry (atomically)."""

    def spent_since(self, tenant: str, since: datetime) -> Spend:
        """Tokens and cost of the tenant's LLM calls at or after ``since``."""

    def summary(self, tenant: str, since: datetime | None = None) -> list[UsageRow]:
        """The tenant's usage per day and model, oldest first."""

    def remember_plan_usage(self, entry_id: str, tenant: str, usage: Usage) -> None:
        """Keep what planning a cached plan cost, so its cache hits can count the savings."""

    def plan_usage(self, entry_id: str) -> Usage | None:
        """The original usage of a cached plan, or None when unknown."""

    def close(self) -> None:
        """Release the connection."""


def open_ledger(url: str) -> UsageLedger:
    """The ledger for a store URL: ``sqlite:///PATH`` or ``postgresql://…``."""
    backend = parse_backend_url(url, allowed=("sqlite", "postgresql"), purpose="ledger URL")
    if backend.path is not None:
        from omnihub.planning._ledger_sqlite import SQLiteUsageLedger

        return SQLiteUsageLedger(backend.path)
    from omnihub.planning._ledger_postgres import PostgresUsageLedger

    return PostgresUsageLedger(url)


def day_start(moment: datetime) -> datetime:
    """Midnight UTC of ``moment``'s day: budgets are per UTC day."""
    moment = moment.astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)
