"""POST /v1/cache/reports: a wrong plan is evicted from the caller's tenant's cache and
recorded as an event, so every API process counts the same false hits."""

from __future__ import annotations

from api_support import Api, ApiFactory

from cache_entries import remember_entry
from omnihub.auth import Role
from omnihub.cache import open_index
from omnihub.events import PLAN_CACHE_STREAM, PlanReportedWrong, open_event_store
from omnihub.goals import StoreCacheStats
from omnihub.planning import open_ledger


async def _with_store(api: Api) -> Api:
    """Give ``api`` (one API process) its own connection to the shared event store."""
    url = api.settings.resolved_event_store_url
    store, ledger = open_event_store(url), open_ledger(url)

    async def close() -> None:
        store.close()
        ledger.close()

    api.services.closers.append(close)
    api.services.store = store
    api.services.cache_stats = StoreCacheStats(store, ledger)
    return api


async def test_a_reported_wrong_plan_is_evicted_and_counted(api_factory: ApiFactory) -> None:
    api = await _with_store(await api_factory())
    other_process = await _with_store(await api_factory())
    entry_id = remember_entry(api.settings, "acme")
    body = {"entry_id": entry_id, "reason": "booked the wrong day", "goal_id": "g-1"}
    viewer = await api.client.post(
        "/v1/cache/reports", json=body, headers=api.auth(api.key("acme", Role.VIEWER))
    )
    assert viewer.status_code == 403
    other = await api.client.post(
        "/v1/cache/reports", json=body, headers=api.auth(api.key("globex"))
    )
    assert other.status_code == 404  # another tenant's entry is not theirs to report
    reply = await api.client.post("/v1/cache/reports", json=body, headers=api.auth(api.key()))
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "tenant": "acme",
        "entry_id": entry_id,
        "evicted": True,
        "reason": "reported_wrong",
        "cause": "booked the wrong day (goal g-1)",
        "false_hit_reports": 1,
    }
    index = open_index("memory", path=str(api.settings.resolved_cache_path))
    assert index.count("acme") == 0
    index.close()
    again = await api.client.post("/v1/cache/reports", json=body, headers=api.auth(api.key()))
    assert again.status_code == 404
    assert api.services.store is not None
    recorded = api.services.store.read_stream("acme", PLAN_CACHE_STREAM)
    assert [e.payload for e in recorded] == [
        PlanReportedWrong(
            entry_id=entry_id,
            reason="booked the wrong day",
            goal_id="g-1",
            by=recorded[0].payload.by,
        )
    ]
    # Both processes report the same figure, folded from the events (not kept in memory).
    for process in (api, other_process):
        stats = await process.client.get(
            "/v1/cache/stats", headers=process.auth(process.key("acme", Role.VIEWER))
        )
        assert stats.status_code == 200, stats.text
        assert stats.json()["false_hit_reports"] == 1
        assert stats.json()["evicted_after_failures"] == 0
    second = remember_entry(api.settings, "acme")
    reply = await other_process.client.post(
        "/v1/cache/reports", json={"entry_id": second}, headers=api.auth(api.key())
    )
    assert reply.json()["false_hit_reports"] == 2
