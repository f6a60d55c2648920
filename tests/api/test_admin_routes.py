"""Admin routes: keys, cache invalidation and audit export of the admin's own tenant, each
recorded as a hash-chained event in the system stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from api_support import Api, ApiFactory

from omnihub.auth import Role
from omnihub.events import GoalReceived, NewEvent, verify_store
from omnihub.runtime import open_store


@pytest.fixture
async def admin_api(api_factory: ApiFactory) -> AsyncIterator[Api]:
    api: Api = await api_factory()
    store = open_store(api.settings)
    api.services.store = store
    yield api
    store.close()


def admin_events(api: Api, tenant: str) -> list[tuple[str, dict[str, object]]]:
    assert api.services.store is not None
    events = api.services.store.read_stream("_system", f"admin.{tenant}")
    return [(e.event_type, e.payload.model_dump(mode="json")) for e in events]


async def test_only_admins_reach_the_admin_routes(admin_api: Api) -> None:
    for role in (Role.VIEWER, Role.OPERATOR):
        headers = admin_api.auth(admin_api.key("acme", role))
        assert (await admin_api.client.get("/v1/admin/keys", headers=headers)).status_code == 403
    assert (await admin_api.client.get("/v1/admin/keys")).status_code == 401
    assert admin_events(admin_api, "acme") == []


async def test_admin_creates_lists_and_revokes_keys_of_its_tenant_only(admin_api: Api) -> None:
    api = admin_api
    admin_key = api.key("acme", Role.ADMIN)
    headers = api.auth(admin_key)
    created = await api.client.post("/v1/admin/keys", json={"role": "viewer"}, headers=headers)
    assert created.status_code == 201
    body = created.json()
    assert body["tenant_id"] == "acme"
    assert body["role"] == "viewer"
    new_key = body["key"]
    assert (await api.client.get("/v1/goals", headers=api.auth(new_key))).status_code == 200
    listed = (await api.client.get("/v1/admin/keys", headers=headers)).json()
    assert body["key_id"] in {k["key_id"] for k in listed}
    assert all(k["tenant_id"] == "acme" for k in listed)
    assert new_key not in json.dumps(listed)
    # Another tenant's key is invisible: 404, and it keeps working.
    other = api.services.keys.create("globex", Role.OPERATOR)
    foreign = await api.client.delete(f"/v1/admin/keys/{other.key_id}", headers=headers)
    assert foreign.status_code == 404
    assert (await api.client.get("/v1/goals", headers=api.auth(other.key))).status_code == 200
    revoked = await api.client.delete(f"/v1/admin/keys/{body['key_id']}", headers=headers)
    assert revoked.status_code == 204
    assert (await api.client.get("/v1/goals", headers=api.auth(new_key))).status_code == 401
    recorded = admin_events(api, "acme")
    assert [t for t, _ in recorded] == ["AdminKeyCreated", "AdminKeysListed", "AdminKeyRevoked"]
    assert recorded[0][1]["key_id"] == body["key_id"]
    assert new_key not in json.dumps(recorded)
    assert api.services.store is not None
    assert verify_store(api.services.store, "_system").ok


async def test_admin_invalidates_the_tenants_cache_and_exports_its_audit_trail(
    admin_api: Api,
) -> None:
    api = admin_api
    assert api.services.store is not None
    api.services.store.append(
        "acme", "goal-1", [NewEvent(payload=GoalReceived(goal="g", user_id="u"))]
    )
    api.services.store.append(
        "globex", "goal-2", [NewEvent(payload=GoalReceived(goal="secret", user_id="u"))]
    )
    headers = api.auth(api.key("acme", Role.ADMIN))
    dropped = await api.client.post(
        "/v1/admin/cache/invalidate", json={"tool": None}, headers=headers
    )
    assert dropped.status_code == 200
    assert dropped.json() == {"tenant_id": "acme", "tool": None, "removed": 0}
    exported = await api.client.get("/v1/admin/audit/export", headers=headers)
    assert exported.status_code == 200
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert [line["event"]["stream_id"] for line in lines] == ["goal-1"]
    assert all(line["event"]["tenant_id"] == "acme" for line in lines)
    assert "secret" not in exported.text
    assert [t for t, _ in admin_events(api, "acme")] == [
        "AdminCacheInvalidated",
        "AdminAuditExported",
    ]
