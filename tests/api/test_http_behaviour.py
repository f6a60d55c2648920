from __future__ import annotations

import pytest
from api_support import Api, ApiFactory, MemoryStats

from omnihub.auth import Role


async def test_healthz_and_readyz(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"keys": "ok"}}


async def test_readyz_reports_a_failing_dependency_with_503(api: Api) -> None:
    async def broken() -> None:
        raise ConnectionError("temporal down")

    api.services.checks["temporal"] = broken
    ready = await api.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["temporal"] == "ConnectionError: temporal down"
    assert ready.json()["status"] == "unavailable"


async def test_readyz_includes_redis_when_configured(
    api_factory: ApiFactory, redis_url: str
) -> None:
    api: Api = await api_factory(api_redis_url=redis_url)
    ready = await api.client.get("/readyz")
    assert ready.json()["checks"] == {"keys": "ok", "redis": "ok"}


async def test_validation_errors_are_422_with_clear_messages(api: Api) -> None:
    headers = api.auth(api.key())
    response = await api.client.post("/v1/goals", json={"goal": ""}, headers=headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"].startswith("body.goal: String should have at least 1 character")
    assert error["details"][0]["loc"] == ["body", "goal"]
    extra = await api.client.post("/v1/goals", json={"goal": "x", "evil": 1}, headers=headers)
    assert "body.evil: Extra inputs are not permitted" in extra.json()["error"]["message"]
    broken = await api.client.post(
        "/v1/goals",
        content=b"{not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert broken.status_code == 422
    assert "JSON" in broken.json()["error"]["message"]
    bad_query = await api.client.get("/v1/goals?limit=0", headers=headers)
    assert bad_query.status_code == 422
    assert "query.limit" in bad_query.json()["error"]["message"]


async def test_body_over_the_limit_is_413(api_factory: ApiFactory) -> None:
    api: Api = await api_factory(api_max_body_bytes=1000)
    headers = api.auth(api.key())
    response = await api.client.post("/v1/goals", json={"goal": "x" * 2000}, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "content_too_large"
    assert api.goals.submits == 0


async def test_streamed_body_over_the_limit_is_413(api_factory: ApiFactory) -> None:
    api: Api = await api_factory(api_max_body_bytes=1000)
    headers = {**api.auth(api.key()), "Content-Type": "application/json"}

    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"goal": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}'

    response = await api.client.post("/v1/goals", content=chunks(), headers=headers)
    assert response.status_code == 413
    assert "over the limit of 1000 bytes" in response.json()["error"]["message"]


async def test_unexpected_errors_are_a_generic_500_without_traceback(api: Api) -> None:
    async def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    api.goals.list_goals = explode  # type: ignore[method-assign]
    response = await api.client.get("/v1/goals", headers=api.auth(api.key()))
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal server error", "details": None}
    }
    assert "Traceback" not in response.text


async def test_unknown_route_and_method_use_the_error_shape(api: Api) -> None:
    missing = await api.client.get("/v1/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = await api.client.delete("/v1/goals")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


async def test_missing_services_answer_503(api: Api) -> None:
    api.services.goals = None
    headers = api.auth(api.key())
    goals = await api.client.get("/v1/goals", headers=headers)
    assert goals.status_code == 503
    assert "no goal service" in goals.json()["error"]["message"]
    stats = await api.client.get("/v1/cache/stats", headers=headers)
    assert stats.status_code == 503
    usage = await api.client.get("/v1/usage", headers=headers)
    assert usage.status_code == 503


async def test_cache_stats_and_usage_are_scoped_to_the_callers_tenant(api: Api) -> None:
    stats = MemoryStats()
    api.services.cache_stats = api.services.usage = stats
    headers = api.auth(api.key("globex", role=Role.VIEWER))
    assert (await api.client.get("/v1/cache/stats", headers=headers)).json()["tenant"] == "globex"
    usage = await api.client.get("/v1/usage?since=2026-01-01T00:00:00Z", headers=headers)
    assert (usage.json()["tenant"], usage.json()["since"]) == ("globex", "2026-01-01T00:00:00Z")
    assert [t for t, _ in stats.asked] == ["globex", "globex"]


async def test_metrics_count_requests_by_route_status_and_tenant(api_factory: ApiFactory) -> None:
    api: Api = await api_factory(api_metrics_public=True, api_metrics_tenant_labels=True)
    headers = api.auth(api.key("acme"))
    await api.client.get("/v1/goals", headers=headers)
    await api.client.get("/v1/goals")
    response = await api.client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'omnihub_http_requests_total{method="GET",route="/v1/goals",status="200",tenant="acme"} 1.0'
        in text
    )
    assert 'route="/v1/goals",status="401",tenant="-"' in text
    assert 'omnihub_auth_failures_total{code="AuthenticationError"} 1.0' in text
    assert "omnihub_http_request_duration_seconds_bucket" in text


async def test_openapi_and_docs_are_served(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    assert {"/v1/goals", "/v1/goals/{goal_id}/stream", "/healthz", "/v1/usage"} <= set(
        spec["paths"]
    )
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    docs = await api.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


@pytest.mark.parametrize("path", ["/v1/goals/bad%20id", "/v1/goals/" + "x" * 200])
async def test_bad_goal_ids_are_422(api: Api, path: str) -> None:
    response = await api.client.get(path, headers=api.auth(api.key()))
    assert response.status_code == 422
