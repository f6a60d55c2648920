"""The API's boundary against a hostile tenant or a careless client: per-key rate limits
within the tenant's budget, backoff after failed keys, private metrics, security headers."""

from __future__ import annotations

import pytest
from api_support import Api, ApiFactory

from omnihub.auth import MemoryFailureThrottle, Role
from omnihub.errors import RateLimitedError


async def test_one_key_cannot_starve_the_other_keys_of_its_tenant(api_factory: ApiFactory) -> None:
    api: Api = await api_factory(api_rate_limit_per_second=0.01, api_rate_limit_burst=10)
    viewer, operator = api.key("acme", Role.VIEWER), api.key("acme", Role.OPERATOR)
    flood = [
        (await api.client.get("/v1/goals", headers=api.auth(viewer))).status_code for _ in range(10)
    ]
    # The viewer's key holds half the tenant's burst; then only it is refused.
    assert flood == [200] * 5 + [429] * 5
    for _ in range(4):
        answer = await api.client.get("/v1/goals", headers=api.auth(operator))
        assert answer.status_code == 200
    # The tenant's budget still caps all its keys together.
    third = api.key("acme", Role.VIEWER)
    assert (await api.client.get("/v1/goals", headers=api.auth(third))).status_code == 200
    assert (await api.client.get("/v1/goals", headers=api.auth(third))).status_code == 429


async def test_wrong_keys_from_one_address_are_throttled_with_backoff(
    api_factory: ApiFactory,
) -> None:
    api: Api = await api_factory(api_auth_free_failures=3)
    good = api.key()
    wrong = {"Authorization": "Bearer omk_" + "x" * 43}
    codes = [(await api.client.get("/v1/goals", headers=wrong)).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 401]
    throttled = await api.client.get("/v1/goals", headers=api.auth(good))
    assert throttled.status_code == 429
    assert "too many failed sign-ins" in throttled.json()["error"]["message"]
    assert int(throttled.headers["retry-after"]) >= 1
    # A request with no key at all is not a guess and costs nothing.
    assert (await api.client.get("/healthz")).status_code == 200


async def test_the_backoff_doubles_and_a_success_clears_it() -> None:
    now = [0.0]
    throttle = MemoryFailureThrottle(free=2, base=1.0, ceiling=8.0, clock=lambda: now[0])
    waits = []
    for _ in range(7):
        await throttle.failed("10.0.0.1")
        try:
            await throttle.check("10.0.0.1")
            waits.append(0.0)
        except RateLimitedError as exc:
            waits.append(exc.retry_after)
    assert waits == [0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 8.0]
    await throttle.check("10.0.0.2")  # other addresses are not affected
    await throttle.succeeded("10.0.0.1")
    await throttle.check("10.0.0.1")


async def test_metrics_need_an_admin_key_and_show_no_tenant_names(api: Api) -> None:
    await api.client.get("/v1/goals", headers=api.auth(api.key("acme-secret-customer")))
    assert (await api.client.get("/metrics")).status_code == 401
    viewer = api.key("acme-secret-customer", Role.VIEWER)
    assert (await api.client.get("/metrics", headers=api.auth(viewer))).status_code == 403
    admin = api.key("ops", Role.ADMIN)
    response = await api.client.get("/metrics", headers=api.auth(admin))
    assert response.status_code == 200
    assert 'route="/v1/goals",status="200",tenant="-"' in response.text
    assert "acme-secret-customer" not in response.text


@pytest.mark.parametrize("path", ["/v1/goals", "/healthz", "/nope"])
async def test_api_responses_carry_security_headers(api: Api, path: str) -> None:
    response = await api.client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert (
        response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
