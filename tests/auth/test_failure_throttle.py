"""Contract tests of the failed-sign-in throttle, written once and run in memory and on a real
Redis; with Redis, a lockout earned through one API process holds on another."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from omnihub.auth import (
    AuthThrottledError,
    FailureThrottle,
    MemoryFailureThrottle,
    RedisFailureThrottle,
    open_failure_throttle,
    redis_client,
)
from omnihub.config import load_settings
from omnihub.errors import ConfigurationError, StoreUnavailableError
from omnihub.servers import free_port

Opener = Callable[..., FailureThrottle]


@pytest.fixture
async def opener(kv_url: str) -> AsyncIterator[Opener]:
    opened: list[FailureThrottle] = []

    def open_throttle(**options: Any) -> FailureThrottle:
        throttle = open_failure_throttle(kv_url, **options)
        opened.append(throttle)
        return throttle

    yield open_throttle
    for throttle in opened:
        await throttle.aclose()


async def wait_of(throttle: FailureThrottle, address: str) -> float:
    """The lockout left for ``address`` (0 when it may try)."""
    try:
        await throttle.check(address)
    except AuthThrottledError as exc:
        return exc.retry_after
    return 0.0


async def test_the_factory_builds_each_backend(kv_url: str, opener: Opener) -> None:
    throttle = opener()
    expected = MemoryFailureThrottle if kv_url == "memory://" else RedisFailureThrottle
    assert isinstance(throttle, expected)
    await throttle.ping()


async def test_free_failures_then_a_doubling_lockout_up_to_the_ceiling(opener: Opener) -> None:
    throttle = opener(free=2, base=0.2, ceiling=0.4)
    waits = []
    for _ in range(5):
        await throttle.failed("10.0.0.1")
        waits.append(await wait_of(throttle, "10.0.0.1"))
    assert waits[:2] == [0.0, 0.0]
    assert 0.1 < waits[2] <= 0.2
    assert 0.3 < waits[3] <= 0.4
    assert 0.3 < waits[4] <= 0.4  # the ceiling
    assert await wait_of(throttle, "10.0.0.2") == 0.0  # other addresses are not affected
    with pytest.raises(AuthThrottledError, match=r"too many failed sign-ins from 10\.0\.0\.1"):
        await throttle.check("10.0.0.1")
    await asyncio.sleep(0.45)
    assert await wait_of(throttle, "10.0.0.1") == 0.0  # the lockout ran out


async def test_a_success_clears_the_address(opener: Opener) -> None:
    throttle = opener(free=1, base=5.0)
    for _ in range(2):
        await throttle.failed("10.0.0.1")
    assert await wait_of(throttle, "10.0.0.1") > 4.0
    await throttle.succeeded("10.0.0.1")
    assert await wait_of(throttle, "10.0.0.1") == 0.0
    await throttle.failed("10.0.0.1")  # the free failures are back
    assert await wait_of(throttle, "10.0.0.1") == 0.0


async def test_failures_are_forgotten_after_a_quiet_while(opener: Opener) -> None:
    throttle = opener(free=1, base=0.1, forget=0.3)
    await throttle.failed("10.0.0.1")
    await asyncio.sleep(0.5)
    await throttle.failed("10.0.0.1")  # a first failure again, so still free
    assert await wait_of(throttle, "10.0.0.1") == 0.0


async def test_redis_lockouts_are_shared_between_processes(redis_url: str) -> None:
    first = open_failure_throttle(redis_url, free=1, base=30.0)
    second = open_failure_throttle(redis_url, free=1, base=30.0)
    try:
        await first.failed("10.0.0.1")
        await second.failed("10.0.0.1")
        assert await wait_of(first, "10.0.0.1") > 29.0
        await second.succeeded("10.0.0.1")
        assert await wait_of(first, "10.0.0.1") == 0.0
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_redis_throttle_lets_sign_ins_through_when_redis_is_down() -> None:
    throttle = RedisFailureThrottle(redis_client(f"redis://127.0.0.1:{free_port()}/0"), free=0)
    try:
        await throttle.failed("10.0.0.1")
        await throttle.check("10.0.0.1")
        await throttle.succeeded("10.0.0.1")
        assert throttle.failures == 3
        with pytest.raises(StoreUnavailableError):
            await throttle.ping()
    finally:
        await throttle.aclose()


def test_the_throttle_url_is_checked_and_defaults_to_the_api_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match="failed-sign-in throttle URL"):
        open_failure_throttle("sqlite:///x.db")
    assert isinstance(open_failure_throttle(None), MemoryFailureThrottle)
    monkeypatch.setenv("OMNIHUB_HOME", str(tmp_path))
    assert load_settings().resolved_api_throttle_url == "memory://"
    shared = load_settings(api_redis_url="redis://127.0.0.1:1")
    assert shared.resolved_api_throttle_url == "redis://127.0.0.1:1"
    own = load_settings(api_redis_url="redis://127.0.0.1:1", api_throttle_url="memory://")
    assert own.resolved_api_throttle_url == "memory://"
    with pytest.raises(ConfigurationError, match="OMNIHUB_API_THROTTLE_URL"):
        load_settings(api_throttle_url="postgresql://db/x")
