"""Builds the API's services from settings: the one place that knows every backend."""

from __future__ import annotations

import asyncio

from omnihub.api._goals import SagaGoalService
from omnihub.api._services import ApiServices
from omnihub.api._stats import StoreCacheStats
from omnihub.auth import (
    SecretCipher,
    open_idempotency_store,
    open_key_store,
    open_nonce_store,
    open_rate_limiter,
)
from omnihub.config import Settings
from omnihub.events import open_event_store


async def open_core_services(settings: Settings) -> ApiServices:
    """The API's own services (keys, rate limits, nonces, idempotency), without the goal
    stack; close with ``aclose()``."""
    # Each store is named by a URL; with PostgreSQL and Redis URLs this process keeps no state.
    keys = await asyncio.to_thread(
        open_key_store,
        settings.resolved_api_keys_url,
        cipher=SecretCipher.from_settings(settings),
    )
    idempotency = await asyncio.to_thread(
        open_idempotency_store, settings.resolved_api_idempotency_url
    )
    limiter = open_rate_limiter(
        settings.resolved_api_rate_limit_url,
        settings.api_rate_limit_per_second,
        settings.api_rate_limit_burst,
    )
    nonces = open_nonce_store(settings.resolved_api_nonces_url)
    services = ApiServices(keys=keys, rate_limiter=limiter, nonces=nonces, idempotency=idempotency)

    async def close_local() -> None:
        keys.close()
        idempotency.close()
        await limiter.aclose()
        await nonces.aclose()

    async def check_keys() -> None:
        await asyncio.to_thread(keys.ping)

    services.closers.append(close_local)
    services.checks["keys"] = check_keys
    if settings.resolved_api_rate_limit_url != "memory://":
        services.checks["redis"] = limiter.ping
    elif settings.resolved_api_nonces_url != "memory://":
        services.checks["redis"] = nonces.ping
    return services


async def open_services(settings: Settings) -> ApiServices:
    """Every service the API uses: its own, plus goals on Temporal (the configured cluster,
    or the embedded dev server, started if none runs) and the event store."""
    from omnihub.saga import SagaClient, TemporalSupervisor, connect_temporal

    services = await open_core_services(settings)
    try:
        store = open_event_store(
            settings.resolved_event_store_url, max_payload_bytes=settings.max_payload_bytes
        )

        async def close_store() -> None:
            store.close()

        services.closers.append(close_store)
        supervisor = (
            None if settings.temporal_address else TemporalSupervisor(settings.home / "temporal")
        )
        if supervisor is not None:

            async def stop_temporal() -> None:
                await asyncio.to_thread(supervisor.stop)

            services.closers.append(stop_temporal)
        client = await connect_temporal(settings, supervisor)
    except BaseException:
        await services.aclose()
        raise

    async def check_store() -> None:
        await asyncio.to_thread(store.stream_version, "-", "-")

    async def check_temporal() -> None:
        await client.service_client.check_health()

    from omnihub.planning import open_ledger

    ledger = open_ledger(settings.resolved_event_store_url)

    async def close_ledger() -> None:
        ledger.close()

    services.closers.append(close_ledger)
    services.goals = SagaGoalService(store, SagaClient.from_settings(client, settings))
    services.cache_stats = services.usage = StoreCacheStats(store, ledger)
    services.checks["event_store"] = check_store
    services.checks["temporal"] = check_temporal
    return services
