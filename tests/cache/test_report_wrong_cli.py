"""`omnihub cache report-wrong`: an operator evicts a wrong plan (both backends)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from omnihub.cache import MemoryPlanIndex, PlanCache, RedisPlanIndex
from omnihub.cli import app
from omnihub.config import load_settings
from omnihub.embeddings import Embedder
from omnihub.events import PLAN_CACHE_STREAM, PlanReportedWrong, open_event_store

NOW = datetime(2026, 11, 24, tzinfo=UTC)
PLAN = [{"tool": "pay", "args": {"to": "ana@x.io", "amount": 11, "currency": "EUR"}}]


def test_report_wrong_evicts_the_entry(
    omnihub_home: Path, redis_url: str, embedder: Embedder
) -> None:
    local = PlanCache(MemoryPlanIndex(omnihub_home / "plan_cache.db"), embedder, version="v")
    stored = local.store("acme", "Pay the €11 bill from ana@x.io", PLAN, now=NOW)
    local.close()
    assert stored.entry_id is not None
    args = ["cache", "report-wrong", "--tenant", "acme", "--entry", stored.entry_id]
    result = CliRunner().invoke(app, [*args, "--reason", "paid the wrong person"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "tenant": "acme", "entry": stored.entry_id, "evicted": True, "reason": "reported_wrong",
    }  # fmt: skip
    reopened = MemoryPlanIndex(omnihub_home / "plan_cache.db")
    assert reopened.count("acme") == 0
    reopened.close()
    # Recorded as the API and the console record it: every process's stats count it.
    with open_event_store(load_settings().resolved_event_store_url) as store:
        recorded = [e.payload for e in store.read_stream("acme", PLAN_CACHE_STREAM)]
    assert recorded == [
        PlanReportedWrong(entry_id=stored.entry_id, reason="paid the wrong person", by="cli")
    ]
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1  # nothing to evict: said, not silently accepted
    assert json.loads(again.output)["evicted"] is False

    shared = PlanCache(RedisPlanIndex(redis_url), embedder, version="v")
    on_redis = shared.store("acme", "Pay the €11 bill from ana@x.io", PLAN, now=NOW)
    assert on_redis.entry_id is not None
    result = CliRunner().invoke(
        app,
        ["cache", "report-wrong", "--tenant", "acme", "--entry", on_redis.entry_id,
         "--backend", "redis", "--redis-url", redis_url],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert shared.index.count("acme") == 0
    shared.close()
