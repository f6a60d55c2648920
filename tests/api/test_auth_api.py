from __future__ import annotations

import json
import time

import pytest
from api_support import Api, ApiFactory

from omnihub.auth import Role, sign_request, signing_secret_for

GOAL = {"goal": "book a train from Lyon to Nice"}


async def test_requests_without_a_key_get_401_with_the_error_shape(api: Api) -> None:
    response = await api.client.get("/v1/goals")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["error"]["code"] == "unauthenticated"
    assert "Authorization: Bearer" in body["error"]["message"]


async def test_unknown_and_revoked_keys_get_401(api: Api) -> None:
    created = api.services.keys.create("acme", Role.VIEWER)
    ok = await api.client.get("/v1/goals", headers=api.auth(created.key))
    assert ok.status_code == 200
    api.services.keys.revoke(created.key_id)
    revoked = await api.client.get("/v1/goals", headers=api.auth(created.key))
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["error"]["message"]
    bogus = await api.client.get("/v1/goals", headers=api.auth("omk_0123456789abcdef_nope"))
    assert bogus.status_code == 401


async def test_another_tenants_goal_answers_404(api: Api) -> None:
    acme, globex = api.key("acme"), api.key("globex")
    created = await api.client.post("/v1/goals", json=GOAL, headers=api.auth(acme))
    goal_id = created.json()["goal_id"]
    for path in (f"/v1/goals/{goal_id}", f"/v1/goals/{goal_id}/events"):
        assert (await api.client.get(path, headers=api.auth(acme))).status_code == 200
        other = await api.client.get(path, headers=api.auth(globex))
        assert other.status_code == 404
        assert other.json()["error"]["code"] == "not_found"
    cancel = await api.client.post(f"/v1/goals/{goal_id}/cancel", headers=api.auth(globex))
    assert cancel.status_code == 404
    listed = await api.client.get("/v1/goals", headers=api.auth(globex))
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v1/goals", GOAL, 202),
        ("POST", "/v1/goals/{id}/approvals/approve-me", {"decision": "approve"}, 200),
        ("POST", "/v1/goals/{id}/cancel", None, 202),
        ("POST", "/v1/goals/{id}/pause", None, 202),
        ("POST", "/v1/goals/{id}/resume", None, 202),
    ],
)
async def test_viewers_cannot_submit_approve_or_cancel(
    api: Api, method: str, path: str, body: dict[str, str] | None, status: int
) -> None:
    operator, viewer = api.key(role=Role.OPERATOR), api.key(role=Role.VIEWER)
    goal_id = (await api.client.post("/v1/goals", json=GOAL, headers=api.auth(operator))).json()[
        "goal_id"
    ]
    response = await api.client.request(
        method, path.format(id=goal_id), json=body, headers=api.auth(viewer)
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    allowed = await api.client.request(
        method, path.format(id=goal_id), json=body, headers=api.auth(operator)
    )
    assert allowed.status_code == status, allowed.text


async def test_viewer_can_read(api: Api) -> None:
    viewer = api.key(role=Role.VIEWER)
    response = await api.client.get("/v1/goals", headers=api.auth(viewer))
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


def _signed(
    api: Api, key: str, method: str, path: str, body: bytes, **kw: object
) -> dict[str, str]:
    headers = sign_request(signing_secret_for(key), method, path, body, **kw)  # type: ignore[arg-type]
    return {**api.auth(key), **headers, "Content-Type": "application/json"}


async def test_signed_key_accepts_a_valid_signature_once(api: Api) -> None:
    key = api.key(signed=True)
    body = json.dumps(GOAL).encode()
    headers = _signed(api, key, "POST", "/v1/goals", body)
    first = await api.client.post("/v1/goals", content=body, headers=headers)
    assert first.status_code == 202
    replay = await api.client.post("/v1/goals", content=body, headers=headers)
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "invalid_signature"
    assert "replay" in replay.json()["error"]["message"]
    assert api.goals.submits == 1


async def test_signed_key_refuses_unsigned_expired_and_tampered_requests(api: Api) -> None:
    key = api.key(signed=True)
    body = json.dumps(GOAL).encode()
    unsigned = await api.client.post("/v1/goals", content=body, headers=api.auth(key))
    assert unsigned.status_code == 401
    old = _signed(api, key, "POST", "/v1/goals", body, timestamp=int(time.time()) - 301)
    expired = await api.client.post("/v1/goals", content=body, headers=old)
    assert "expired" in expired.json()["error"]["message"]
    good = _signed(api, key, "POST", "/v1/goals", body)
    tampered_body = json.dumps({"goal": "book a train to Paris"}).encode()
    tampered = await api.client.post("/v1/goals", content=tampered_body, headers=good)
    assert tampered.status_code == 401
    assert "does not match" in tampered.json()["error"]["message"]
    assert api.goals.submits == 0


async def test_signature_covers_the_query_string(api: Api) -> None:
    key = api.key(signed=True, role=Role.VIEWER)
    headers = _signed(api, key, "GET", "/v1/goals?limit=5", b"")
    ok = await api.client.get("/v1/goals?limit=5", headers=headers)
    assert ok.status_code == 200
    headers = _signed(api, key, "GET", "/v1/goals?limit=5", b"")
    changed = await api.client.get("/v1/goals?limit=6", headers=headers)
    assert changed.status_code == 401


async def test_a_signature_sent_with_an_unsigned_key_must_still_be_valid(api: Api) -> None:
    key = api.key(signed=False)
    body = json.dumps(GOAL).encode()
    headers = _signed(api, key, "POST", "/v1/goals", body)
    headers["X-OmniHub-Signature"] = "v1=" + "0" * 64
    response = await api.client.post("/v1/goals", content=body, headers=headers)
    assert response.status_code == 401


async def test_rate_limit_answers_429_with_retry_after_per_tenant(api_factory: ApiFactory) -> None:
    api: Api = await api_factory(
        api_rate_limit_per_second=0.5,
        api_rate_limit_burst=3,
        api_rate_limit_key_share=1.0,
        api_metrics_public=True,
        api_metrics_tenant_labels=True,
    )
    acme, globex = api.key("acme", Role.VIEWER), api.key("globex", Role.VIEWER)
    statuses = [
        (await api.client.get("/v1/goals", headers=api.auth(acme))).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    limited = await api.client.get("/v1/goals", headers=api.auth(acme))
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 2
    other = await api.client.get("/v1/goals", headers=api.auth(globex))
    assert other.status_code == 200
    metrics = (await api.client.get("/metrics")).text
    assert 'omnihub_rate_limited_requests_total{tenant="acme"} 2.0' in metrics


async def test_rate_limit_in_redis_is_shared_by_two_apps(
    api_factory: ApiFactory, redis_url: str
) -> None:
    settings = {
        "api_redis_url": redis_url,
        "api_rate_limit_per_second": 0.5,
        "api_rate_limit_key_share": 1.0,
    }
    first: Api = await api_factory(api_rate_limit_burst=2, **settings)
    second: Api = await api_factory(api_rate_limit_burst=2, **settings)
    key = first.key("acme", Role.VIEWER)
    a = await first.client.get("/v1/goals", headers=first.auth(key))
    b = await second.client.get("/v1/goals", headers=second.auth(key))
    c = await first.client.get("/v1/goals", headers=first.auth(key))
    assert [a.status_code, b.status_code, c.status_code] == [200, 200, 429]
    assert int(c.headers["retry-after"]) >= 1


async def test_replayed_signature_is_refused_across_apps_sharing_redis(
    api_factory: ApiFactory, redis_url: str
) -> None:
    first: Api = await api_factory(api_redis_url=redis_url)
    second: Api = await api_factory(api_redis_url=redis_url)
    key = first.key(signed=True)
    body = json.dumps(GOAL).encode()
    headers = _signed(first, key, "POST", "/v1/goals", body)
    assert (await first.client.post("/v1/goals", content=body, headers=headers)).status_code == 202
    replay = await second.client.post("/v1/goals", content=body, headers=headers)
    assert replay.status_code == 401
