"""The usage ledger's contract, run on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from omnihub.errors import ConfigurationError, StoreError, StoreUnavailableError
from omnihub.planning import (
    LedgerEntry,
    PostgresUsageLedger,
    PriceTable,
    SQLiteUsageLedger,
    Usage,
    UsageLedger,
    open_ledger,
)

DAY1 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
DAY2 = datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UsageLedger]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = open_ledger(url)
    yield opened
    opened.close()  # closing twice is harmless


def _call(
    tenant: str, at: datetime, model: str = "gpt-4o", p: int = 100, c: int = 10
) -> LedgerEntry:
    cost = PriceTable().cost(model, p, c)
    return LedgerEntry(
        tenant=tenant, kind="llm_call", model=model, provider="openai",
        prompt_tokens=p, completion_tokens=c, cost=cost, latency_ms=12.5, at=at,
    )  # fmt: skip


def test_ledger_sums_a_tenants_calls_since_a_moment(ledger: UsageLedger) -> None:
    ledger.record(_call("acme", DAY1))
    ledger.record(_call("acme", DAY2, p=1000, c=100))
    ledger.record(_call("other", DAY2, p=5000, c=0))
    ledger.record(LedgerEntry(tenant="acme", kind="cache_hit", model="gpt-4o",
                              saved_tokens=110, saved_cost=0.001, at=DAY2))  # fmt: skip
    spent = ledger.spent_since("acme", datetime(2026, 3, 2, tzinfo=UTC))
    assert spent.tokens == 1100  # cache hits spend nothing; the other tenant is not counted
    assert spent.cost == pytest.approx((1000 * 2.5 + 100 * 10) / 1e6)
    everything = ledger.spent_since("acme", DAY1 - timedelta(days=1))
    assert everything.tokens == 1210


def test_ledger_summary_groups_calls_and_savings_by_day_and_model(ledger: UsageLedger) -> None:
    ledger.record(_call("acme", DAY1))
    ledger.record(_call("acme", DAY1 + timedelta(hours=1), p=200, c=20))
    ledger.record(_call("acme", DAY1, model="claude-sonnet-4"))
    ledger.record(LedgerEntry(tenant="acme", kind="cache_hit", model="gpt-4o",
                              saved_tokens=330, saved_cost=0.5, at=DAY2))  # fmt: skip
    rows = ledger.summary("acme")
    assert [(r.day, r.model) for r in rows] == [
        ("2026-03-01", "claude-sonnet-4"),
        ("2026-03-01", "gpt-4o"),
        ("2026-03-02", "gpt-4o"),
    ]
    day1_gpt = rows[1]
    assert (day1_gpt.calls, day1_gpt.prompt_tokens, day1_gpt.completion_tokens) == (2, 300, 30)
    assert day1_gpt.cost == pytest.approx((300 * 2.5 + 30 * 10) / 1e6)
    assert (rows[2].calls, rows[2].cache_hits, rows[2].saved_tokens) == (0, 1, 330)
    assert rows[2].saved_cost == pytest.approx(0.5)
    assert [r.day for r in ledger.summary("acme", since=DAY2)] == ["2026-03-02"]
    assert ledger.summary("nobody") == []


def test_entries_without_a_model_are_grouped_under_a_dash(ledger: UsageLedger) -> None:
    ledger.record(LedgerEntry(tenant="t", kind="cache_hit", saved_tokens=5, at=DAY1))
    assert [r.model for r in ledger.summary("t")] == ["-"]


def test_open_ledger_picks_the_backend_from_the_url(tmp_path: Path, postgres_url: str) -> None:
    sqlite = open_ledger(f"sqlite:///{tmp_path / 'x' / 'store.db'}")
    postgres = open_ledger(postgres_url)
    try:
        assert isinstance(sqlite, SQLiteUsageLedger)
        assert isinstance(postgres, PostgresUsageLedger)
    finally:
        sqlite.close()
        postgres.close()
    with pytest.raises(
        ConfigurationError, match="ledger URL 'mysql://x' names an unsupported backend"
    ):
        open_ledger("mysql://x")


def test_unopenable_sqlite_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreUnavailableError, match="cannot open the usage ledger"):
        SQLiteUsageLedger(blocker / "store.db")


def test_price_table_prefix_matching_and_overrides() -> None:
    prices = PriceTable.with_overrides({"my-local-model": (1.0, 2.0), "gpt-4o": (5.0, 20.0)})
    assert prices.cost("gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
    assert prices.cost("gpt-4o-2024-08-06", 1_000_000, 1_000_000) == pytest.approx(25.0)
    assert prices.cost("my-local-model", 500_000, 500_000) == pytest.approx(1.5)
    assert prices.cost("unknown", 10**6, 10**6) == 0.0
    assert prices.cost(None, 10, 10) == 0.0


def test_cached_plan_usage_is_kept_once_per_entry(ledger: UsageLedger) -> None:
    ledger.remember_plan_usage("e1", "acme", Usage("gpt-4o", 100, 20, 0.0005))
    ledger.remember_plan_usage("e1", "acme", Usage("other", 1, 1, 1.0))  # a duplicate store
    assert ledger.plan_usage("e1") == Usage("gpt-4o", 100, 20, 0.0005)
    assert ledger.plan_usage("missing") is None


def test_database_errors_become_store_errors(ledger: UsageLedger) -> None:
    ledger.close()
    entry = _call("acme", DAY1)
    calls = [
        lambda: ledger.record(entry),
        lambda: ledger.spent_since("acme", DAY1),
        lambda: ledger.summary("acme"),
        lambda: ledger.remember_plan_usage("e", "acme", Usage()),
        lambda: ledger.plan_usage("e"),
    ]
    for call in calls:
        with pytest.raises(StoreError):
            call()
