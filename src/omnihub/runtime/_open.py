"""Settings in, running services out: the event store, Temporal (a cluster, or the embedded
dev server this process starts), the saga client, the goal service and the API's stores."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from temporalio.client import Client

from omnihub.config import Settings, input_limits
from omnihub.errors import ConfigurationError
from omnihub.events import EventStore, open_event_store
from omnihub.goals import GoalService, SagaGoalBackend, StoreCacheStats
from omnihub.runtime._services import Services
from omnihub.runtime._stores import (
    open_failure_throttle,
    open_idempotency_store,
    open_key_store,
    open_nonce_store,
    open_rate_limiter,
    open_session_store,
)
from omnihub.runtime._telemetry import traced_client
from omnihub.saga import SagaClient, TemporalSupervisor, connect_temporal


def open_store(settings: Settings) -> EventStore:
    """The event store of ``settings``."""
    return open_event_store(
        settings.resolved_event_store_url, max_payload_bytes=settings.max_payload_bytes
    )


def temporal_supervisor(settings: Settings) -> TemporalSupervisor | None:
    """The embedded dev server's supervisor, or None when a cluster address is configured."""
    if settings.temporal_address:
        return None
    return TemporalSupervisor(settings.home / "temporal")


@dataclass
class Temporal:
    """A connected Temporal client and, for the embedded server, its supervisor."""

    client: Client
    supervisor: TemporalSupervisor | None


async def open_temporal(settings: Settings, *, start: bool = True) -> Temporal:
    """Connect to the configured cluster, or to the embedded dev server (started when
    ``start``; otherwise ConfigurationError if no OmniHub stack runs for this home)."""
    supervisor = temporal_supervisor(settings)
    if supervisor is not None and not start:
        from omnihub.servers import port_open

        address = supervisor.address
        host, _, port = (address or ":0").rpartition(":")
        if not address or not port_open(host, int(port)):
            raise ConfigurationError(
                f"no OmniHub stack is running for {settings.home}: start one with `omnihub up`"
            )
        supervisor = None  # another process owns the server
    return Temporal(traced_client(await connect_temporal(settings, supervisor)), supervisor)


async def open_core_services(settings: Settings) -> Services:
    """The API's own services (keys, rate limits, nonces, idempotency, console sessions, the
    failed-sign-in throttle), without goals; close with ``aclose()``."""
    keys = await asyncio.to_thread(open_key_store, settings)
    idempotency = await asyncio.to_thread(open_idempotency_store, settings)
    sessions = await asyncio.to_thread(open_session_store, settings)
    limiter = open_rate_limiter(settings)
    nonces = open_nonce_store(settings)
    throttle = open_failure_throttle(settings)
    services = Services(
        keys=keys,
        rate_limiter=limiter,
        nonces=nonces,
        idempotency=idempotency,
        sessions=sessions,
        throttle=throttle,
    )

    async def close_local() -> None:
        keys.close()
        idempotency.close()
        await sessions.aclose()
        await limiter.aclose()
        await nonces.aclose()
        await throttle.aclose()

    async def check_keys() -> None:
        await asyncio.to_thread(keys.ping)

    services.closers.append(close_local)
    services.checks["keys"] = check_keys
    for url, ping in (
        (settings.resolved_api_rate_limit_url, limiter.ping),
        (settings.resolved_api_nonces_url, nonces.ping),
        (settings.resolved_api_throttle_url, throttle.ping),
    ):
        if url != "memory://":
            services.checks.setdefault("redis", ping)
    if settings.resolved_api_sessions_url != settings.resolved_api_keys_url:
        services.checks["sessions"] = sessions.ping
    return services


async def open_services(
    settings: Settings, *, start_temporal: bool = True, temporal: bool = True
) -> Services:
    """Every service: the core ones, the event store, Temporal, goals, cache stats and usage.

    ``start_temporal=False`` joins the embedded server a running stack started (or fails
    clearly); ``temporal=False`` opens goals for reading only (no Temporal at all)."""
    from omnihub.planning import open_ledger

    services = await open_core_services(settings)
    try:
        store = open_store(settings)

        async def close_store() -> None:
            store.close()

        services.closers.append(close_store)
        connected = await open_temporal(settings, start=start_temporal) if temporal else None
        if connected is not None and connected.supervisor is not None:
            supervisor = connected.supervisor

            async def stop_temporal() -> None:
                await asyncio.to_thread(supervisor.stop)

            services.closers.append(stop_temporal)
        ledger = open_ledger(settings.resolved_event_store_url)

        async def close_ledger() -> None:
            ledger.close()

        services.closers.append(close_ledger)
    except BaseException:
        await services.aclose()
        raise

    async def check_store() -> None:
        await asyncio.to_thread(store.stream_version, "-", "-")

    sagas = None
    if connected is not None:
        client = connected.client

        async def check_temporal() -> None:
            await client.service_client.check_health()

        services.checks["temporal"] = check_temporal
        sagas = SagaClient.from_settings(client, settings)
    services.store = store
    services.sagas = sagas
    services.goals = GoalService(
        SagaGoalBackend(store, sagas), services.idempotency, limits=input_limits(settings)
    )
    services.cache_stats = services.usage = StoreCacheStats(store, ledger)
    services.checks["event_store"] = check_store
    return services


@contextlib.asynccontextmanager
async def running_services(
    settings: Settings, *, start_temporal: bool = True, temporal: bool = True
) -> AsyncIterator[Services]:
    """:func:`open_services` as a context manager (closed on the way out)."""
    services = await open_services(settings, start_temporal=start_temporal, temporal=temporal)
    try:
        yield services
    finally:
        await services.aclose()


def goals_of(services: Services) -> GoalService:
    """The goal service of ``services`` (ConfigurationError if none is configured)."""
    if services.goals is None:
        raise ConfigurationError("goals are not available: no goal service is configured")
    return services.goals
