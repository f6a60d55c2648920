"""POST /v1/cache/reports: a wrong plan is evicted from the caller's tenant's cache."""

from __future__ import annotations

import time
import uuid

import numpy as np
from api_support import Api, ApiFactory

from omnihub.auth import Role
from omnihub.cache import CacheEntry, open_index


def _remember(api: Api, tenant: str) -> str:
    settings = api.settings
    index = open_index("memory", path=str(settings.resolved_cache_path))
    now = time.time()
    entry = CacheEntry(
        id=uuid.uuid4().hex,
        tenant=tenant,
        key="k",
        template="book a train from LOCATION to LOCATION",
        signature=("LOCATION", "LOCATION"),
        plan=[{"tool": "book_train", "args": {}}],
        version="v1",
        tools=("book_train",),
        created_at=now,
        expires_at=now + 60,
    )
    index.add(entry, np.ones(384, dtype=np.float32) / np.sqrt(384))
    index.close()
    return entry.id


async def test_a_reported_wrong_plan_is_evicted_and_counted(api_factory: ApiFactory) -> None:
    api = await api_factory()
    entry_id = _remember(api, "acme")
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
