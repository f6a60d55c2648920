"""Contract tests of the console session store, written once and run on every backend against
a real server (SQLite, PostgreSQL, Redis): two stores on one backend stand for two API
processes."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from omnihub.auth import (
    BrowserSession,
    PostgresSessionStore,
    Principal,
    RedisSessionStore,
    Role,
    SessionStore,
    SQLiteSessionStore,
    open_session_store,
)
from omnihub.config import load_settings
from omnihub.errors import ConfigurationError, StoreUnavailableError
from omnihub.servers import free_port

Opener = Callable[..., SessionStore]

ALICE = Principal("a1b2c3d4e5f60718", "acme", Role.OPERATOR, False, b"secret-never-stored")
BOB = Principal("0f1e2d3c4b5a6978", "acme", Role.VIEWER, False, b"")


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def session_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'api.db'}"
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
async def opener(session_url: str) -> AsyncIterator[Opener]:
    """Opens stores on the fixture's backend (each one like another API process)."""
    opened: list[SessionStore] = []

    def open_store(**options: float) -> SessionStore:
        store = open_session_store(session_url, **options)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.aclose()


async def test_the_factory_builds_each_backend(session_url: str, opener: Opener) -> None:
    store = opener()
    expected = {
        "sqlite": SQLiteSessionStore,
        "postgresql": PostgresSessionStore,
        "redis": RedisSessionStore,
    }[session_url.split(":")[0]]
    assert isinstance(store, expected)
    await store.ping()


async def test_a_session_opened_in_one_process_is_read_and_ended_in_another(
    opener: Opener,
) -> None:
    first, second = opener(), opener()
    token = await first.open(ALICE)
    session = await second.get(token)
    assert session is not None
    assert (session.key_id, session.tenant_id, session.role) == (
        "a1b2c3d4e5f60718",
        "acme",
        "operator",
    )
    assert isinstance(session, BrowserSession)
    assert await second.get(token + "x") is None
    await second.close(token)
    assert await first.get(token) is None
    await first.close(token)  # closing twice is harmless


async def test_revoking_a_key_ends_only_its_sessions_everywhere(opener: Opener) -> None:
    first, second = opener(), opener()
    alice = [await first.open(ALICE), await second.open(ALICE)]
    bob = await first.open(BOB)
    assert await second.revoke_key(ALICE.key_id) == 2
    assert [await first.get(t) for t in alice] == [None, None]
    assert await first.get(bob) is not None
    assert await first.revoke_key(ALICE.key_id) == 0


async def test_a_session_ends_after_its_lifetime(opener: Opener) -> None:
    store = opener(lifetime=0.5)
    token = await store.open(ALICE)
    session = await store.get(token)
    assert session is not None
    await asyncio.sleep(0.7)
    assert await store.get(token) is None


async def test_the_key_check_falls_due_once_per_interval_across_processes(
    opener: Opener,
) -> None:
    first, second = opener(recheck=0.5), opener(recheck=0.5)
    token = await first.open(ALICE)
    # Just opened: the key was checked at sign-in.
    assert not await first.due_for_check(token)
    await asyncio.sleep(0.7)
    answers = await asyncio.gather(*(s.due_for_check(token) for s in (first, second) * 3))
    assert sorted(answers) == [False] * 5 + [True]
    always = opener(recheck=0.0)
    assert await always.due_for_check(token)


async def test_stores_hold_a_hash_of_the_token_never_the_token(
    session_url: str, opener: Opener
) -> None:
    store = opener()
    token = await store.open(ALICE)
    digest = hashlib.sha256(token.encode()).hexdigest()
    if session_url.startswith("sqlite"):
        assert isinstance(store, SQLiteSessionStore)
        path = session_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT * FROM console_sessions").fetchall()
        held = repr(rows)
    elif session_url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(session_url) as db:
            held = repr(db.execute("SELECT * FROM omnihub_console_sessions").fetchall())
    else:
        import redis

        client = redis.Redis.from_url(session_url)
        try:
            held = repr({k: client.dump(k) for k in client.keys("*")})
        finally:
            client.close()
    assert digest in held
    assert token not in held
    assert "secret-never-stored" not in held


async def test_a_redis_session_store_fails_closed_when_redis_is_down() -> None:
    store = open_session_store(f"redis://127.0.0.1:{free_port()}/0")
    try:
        for call in (
            lambda: store.open(ALICE),
            lambda: store.get("token"),
            lambda: store.due_for_check("token"),
            lambda: store.close("token"),
            lambda: store.revoke_key("k"),
            store.ping,
        ):
            action: Callable[[], Awaitable[object]] = call
            with pytest.raises(StoreUnavailableError):
                await action()
    finally:
        await store.aclose()


def test_the_session_store_url_is_checked_and_defaults_beside_the_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match="session store URL"):
        open_session_store("memory://")
    monkeypatch.setenv("OMNIHUB_HOME", str(tmp_path))
    assert load_settings().resolved_api_sessions_url == f"sqlite:///{tmp_path / 'api.db'}"
    keys = load_settings(api_keys_url="postgresql://db/x")
    assert keys.resolved_api_sessions_url == "postgresql://db/x"
    redis_sessions = load_settings(api_sessions_url="redis://127.0.0.1:1")
    assert redis_sessions.resolved_api_sessions_url == "redis://127.0.0.1:1"
    with pytest.raises(ConfigurationError, match="OMNIHUB_API_SESSIONS_URL"):
        load_settings(api_sessions_url="memory://")
