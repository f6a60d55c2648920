"""Browser (console) sessions, in SQLite or PostgreSQL (beside the API keys) or in Redis, so a
session opened through one API process is valid, and ends, on every other.

A session is named by a random token that only the browser's cookie holds: stores keep the
token's SHA-256, never the token, and never the API key it was opened with (only the key's id,
tenant and role). Sessions end when signed out, when their lifetime is over, and when their
key is revoked (:meth:`SessionStore.revoke_key`); :meth:`SessionStore.due_for_check` spaces
out re-reading the key's state, across processes, so a key revoked elsewhere (the CLI) ends
its sessions within ``recheck`` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from omnihub.auth._keys import Principal, Role
from omnihub.auth._storage import PostgresRunner, SQLiteRunner, SqlRunner, ping_redis, redis_client
from omnihub.config import parse_backend_url
from omnihub.errors import StoreUnavailableError

if TYPE_CHECKING:
    import redis.asyncio

SESSION_SECONDS = 8 * 3600
# How often a session re-reads its key's state, so a key revoked by another process (the
# CLI) ends the session within this many seconds.
RECHECK_SECONDS = 30.0


@dataclass(frozen=True)
class BrowserSession:
    """One signed-in browser: whose key it was opened with, and when it ends (Unix time)."""

    key_id: str
    tenant_id: str
    role: Role
    expires_at: float


def session_id(token: str) -> str:
    """What a store keeps for ``token``: its SHA-256 (a leaked store holds no usable cookie;
    tokens carry 256 random bits, so a fast hash is enough)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class SessionStore(Protocol):
    """Browser sessions by token. Built by :func:`open_session_store` from a URL."""

    lifetime: float
    recheck: float

    async def open(self, principal: Principal) -> str:
        """A new session of ``principal``'s key; returns its token (the only copy)."""
        ...

    async def get(self, token: str) -> BrowserSession | None:
        """The live session of ``token``, or None (unknown, ended or expired)."""
        ...

    async def due_for_check(self, token: str) -> bool:
        """True at most once per ``recheck`` seconds per session, across every process
        sharing the store: then the caller re-reads the key's state."""
        ...

    async def close(self, token: str) -> None:
        """End the session of ``token`` (sign-out)."""
        ...

    async def revoke_key(self, key_id: str) -> int:
        """End every session opened with the key ``key_id``; how many ended."""
        ...

    async def ping(self) -> None:
        """Raise StoreError when the store cannot be reached."""
        ...

    async def aclose(self) -> None: ...


# {table} and {real} differ per backend (PostgreSQL's REAL is 4 bytes: too coarse for times).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    session_hash TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    role TEXT NOT NULL,
    expires_at {real} NOT NULL,
    checked_at {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS {table}_key ON {table} (key_id);
"""


class SqlSessionStore:
    """The session store written once over an :class:`SqlRunner`; each call runs in a thread
    (the runners are synchronous)."""

    def __init__(
        self,
        runner: SqlRunner,
        *,
        table: str,
        lifetime: float = SESSION_SECONDS,
        recheck: float = RECHECK_SECONDS,
    ) -> None:
        self.lifetime = lifetime
        self.recheck = recheck
        self._runner = runner
        self._table = table

    async def _execute(self, sql: str, *params: object) -> int:
        return await asyncio.to_thread(self._runner.execute, sql, params)

    async def open(self, principal: Principal) -> str:
        token = new_session_token()
        now = time.time()
        # Logins are rare: sweeping ended sessions here keeps the table small without a timer.
        await self._execute(f"DELETE FROM {self._table} WHERE expires_at <= ?", now)
        await self._execute(
            f"INSERT INTO {self._table} (session_hash, key_id, tenant_id, role, expires_at, "
            "checked_at) VALUES (?, ?, ?, ?, ?, ?)",
            session_id(token),
            principal.key_id,
            principal.tenant_id,
            principal.role.value,
            now + self.lifetime,
            now,
        )
        return token

    async def get(self, token: str) -> BrowserSession | None:
        rows = await asyncio.to_thread(
            self._runner.query,
            f"SELECT key_id, tenant_id, role, expires_at FROM {self._table} "
            "WHERE session_hash = ? AND expires_at > ?",
            (session_id(token), time.time()),
        )
        if not rows:
            return None
        key_id, tenant_id, role, expires_at = rows[0]
        return BrowserSession(key_id, tenant_id, Role(role), float(expires_at))

    async def due_for_check(self, token: str) -> bool:
        now = time.time()
        # One conditional update: of several processes asking at once, one is told to check.
        changed = await self._execute(
            f"UPDATE {self._table} SET checked_at = ? WHERE session_hash = ? AND checked_at <= ?",
            now,
            session_id(token),
            now - self.recheck,
        )
        return changed > 0

    async def close(self, token: str) -> None:
        await self._execute(f"DELETE FROM {self._table} WHERE session_hash = ?", session_id(token))

    async def revoke_key(self, key_id: str) -> int:
        return await self._execute(f"DELETE FROM {self._table} WHERE key_id = ?", key_id)

    async def ping(self) -> None:
        await asyncio.to_thread(self._runner.query, f"SELECT 1 FROM {self._table} LIMIT 1")

    async def aclose(self) -> None:
        await asyncio.to_thread(self._runner.close)


class SQLiteSessionStore(SqlSessionStore):
    """Sessions in an SQLite file (by default the API key store's ``api.db``): shared by the
    processes of one machine."""

    def __init__(
        self, path: Path, *, lifetime: float = SESSION_SECONDS, recheck: float = RECHECK_SECONDS
    ) -> None:
        schema = _SCHEMA.format(table="console_sessions", real="REAL")
        runner = SQLiteRunner(path, schema, "session store")
        super().__init__(runner, table="console_sessions", lifetime=lifetime, recheck=recheck)


class PostgresSessionStore(SqlSessionStore):
    """Sessions in PostgreSQL's ``omnihub_console_sessions`` table, shared by every API
    process."""

    def __init__(
        self, url: str, *, lifetime: float = SESSION_SECONDS, recheck: float = RECHECK_SECONDS
    ) -> None:
        schema = _SCHEMA.format(table="omnihub_console_sessions", real="DOUBLE PRECISION")
        runner = PostgresRunner(url, schema, "session store")
        super().__init__(
            runner, table="omnihub_console_sessions", lifetime=lifetime, recheck=recheck
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisSessionStore:
    """Sessions as Redis hashes that expire with the session (``PX``), plus one set of
    session ids per key so revoking a key finds its sessions; shared by every API process.

    When Redis cannot be reached a session cannot be read (StoreUnavailableError): sign-in
    fails closed.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        lifetime: float = SESSION_SECONDS,
        recheck: float = RECHECK_SECONDS,
        prefix: str = "omnihub:session:",
    ) -> None:
        self.lifetime = lifetime
        self.recheck = recheck
        self._client = client
        self._prefix = prefix

    def _key(self, sid: str) -> str:
        return f"{self._prefix}{sid}"

    def _of_key(self, key_id: str) -> str:
        return f"{self._prefix}key:{key_id}"

    def _checked(self, sid: str) -> str:
        return f"{self._prefix}checked:{sid}"

    async def open(self, principal: Principal) -> str:
        import redis.exceptions

        token = new_session_token()
        sid = session_id(token)
        ttl_ms = max(1, int(self.lifetime * 1000))
        fields = [  # field, value, field, value, ...
            "key_id",
            principal.key_id,
            "tenant_id",
            principal.tenant_id,
            "role",
            principal.role.value,
            "expires_at",
            repr(time.time() + self.lifetime),
        ]
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hset(self._key(sid), items=fields)
                pipe.pexpire(self._key(sid), ttl_ms)
                pipe.sadd(self._of_key(principal.key_id), sid)
                # Each new session outlives the older ones: the set lives as long as the newest.
                pipe.pexpire(self._of_key(principal.key_id), ttl_ms)
                if self.recheck > 0:
                    pipe.set(self._checked(sid), b"1", px=max(1, int(self.recheck * 1000)))
                await pipe.execute()
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailableError(f"session store (Redis) unavailable: {exc}") from exc
        return token

    async def get(self, token: str) -> BrowserSession | None:
        import redis.exceptions

        try:
            found = await self._client.hgetall(self._key(session_id(token)))
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailableError(f"session store (Redis) unavailable: {exc}") from exc
        if not found:
            return None
        fields = {_text(k): _text(v) for k, v in found.items()}
        return BrowserSession(
            fields["key_id"], fields["tenant_id"], Role(fields["role"]), float(fields["expires_at"])
        )

    async def due_for_check(self, token: str) -> bool:
        import redis.exceptions

        if self.recheck <= 0:
            return True
        try:
            # SET NX: of several processes asking at once, one is told to check.
            claimed = await self._client.set(
                self._checked(session_id(token)),
                b"1",
                nx=True,
                px=max(1, int(self.recheck * 1000)),
            )
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailableError(f"session store (Redis) unavailable: {exc}") from exc
        return bool(claimed)

    async def close(self, token: str) -> None:
        import redis.exceptions

        sid = session_id(token)
        try:
            found = await self._client.hget(self._key(sid), "key_id")
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(self._key(sid), self._checked(sid))
                if found is not None:
                    pipe.srem(self._of_key(_text(found)), sid)
                await pipe.execute()
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailableError(f"session store (Redis) unavailable: {exc}") from exc

    async def revoke_key(self, key_id: str) -> int:
        import redis.exceptions

        try:
            sids = [_text(m) for m in await self._client.smembers(self._of_key(key_id))]
            if not sids:
                return 0
            # SREM only these members: a session opened meanwhile stays findable (and its key
            # check, within ``recheck`` seconds, ends it).
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(*(self._key(s) for s in sids))
                pipe.delete(*(self._checked(s) for s in sids))
                pipe.srem(self._of_key(key_id), *sids)
                ended, _, _ = await pipe.execute()
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailableError(f"session store (Redis) unavailable: {exc}") from exc
        return int(ended)

    async def ping(self) -> None:
        await ping_redis(self._client)

    async def aclose(self) -> None:
        await self._client.aclose()


def open_session_store(
    url: str, *, lifetime: float = SESSION_SECONDS, recheck: float = RECHECK_SECONDS
) -> SessionStore:
    """The session store ``url`` names: ``sqlite:///PATH``, ``postgresql://…`` or
    ``redis://`` / ``rediss://`` (the URL reaches the client unchanged). Sessions last
    ``lifetime`` seconds; their key is re-read at most every ``recheck`` seconds."""
    backend = parse_backend_url(
        url, allowed=("sqlite", "postgresql", "redis"), purpose="session store URL"
    )
    if backend.path is not None:
        return SQLiteSessionStore(backend.path, lifetime=lifetime, recheck=recheck)
    if backend.kind == "postgresql":
        return PostgresSessionStore(url, lifetime=lifetime, recheck=recheck)
    return RedisSessionStore(redis_client(url), lifetime=lifetime, recheck=recheck)
