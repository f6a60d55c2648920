"""API keys per tenant with a role, stored hashed in an SQLite file under ``OMNIHUB_HOME``.

A key reads ``omk_<key_id>_<secret>``. Only ``sha256(key)`` is stored: keys carry 256 random
bits, so a fast hash is enough (a slow password hash protects low-entropy secrets, not these),
and the public ``key_id`` makes the lookup one primary-key read. Because the store is a file
under ``OMNIHUB_HOME``, a key created with ``omnihub keys create`` before ``omnihub up`` works
against the server started afterwards.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from omnihub.auth._storage import connect_sqlite
from omnihub.errors import AuthenticationError, ConfigurationError, StoreError, ValidationError

KEY_PREFIX = "omk"
_SIGNING_CONTEXT = b"omnihub-request-signing-v1"


class Role(enum.StrEnum):
    """What a key may do. Each role includes everything the ones below it may do."""

    VIEWER = "viewer"  # read goals, events, stats
    OPERATOR = "operator"  # also submit goals, approve, cancel, pause, resume
    ADMIN = "admin"  # also administer the tenant (cache invalidation, keys)

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, required: Role) -> bool:
        """True when this role may do what ``required`` may do."""
        return self.rank >= required.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    key_id: str
    tenant_id: str
    role: Role
    require_signature: bool
    signing_secret: bytes


@dataclass(frozen=True)
class CreatedKey:
    """A newly created key. ``key`` is shown once and never stored."""

    key: str
    key_id: str
    tenant_id: str
    role: Role
    require_signature: bool
    created_at: datetime


@dataclass(frozen=True)
class KeyInfo:
    """What the store knows about a key (never the key itself)."""

    key_id: str
    tenant_id: str
    role: Role
    require_signature: bool
    created_at: datetime
    revoked_at: datetime | None


def signing_secret_for(key: str) -> bytes:
    """The HMAC secret for signing requests with ``key``.

    Derived from the key, so a client holds one secret; stored by the server (it must verify),
    while the key itself is stored only hashed: a leaked store alone cannot pass authentication.
    """
    return hmac.new(key.encode(), _SIGNING_CONTEXT, hashlib.sha256).digest()


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _parse_key(key: str) -> str:
    """The key id inside ``key``; AuthenticationError when it is not shaped like a key."""
    parts = key.split("_", 2)  # the secret part may itself contain "_"
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 16 or not parts[2]:
        raise AuthenticationError("malformed API key")
    return parts[1]


class KeyStore(Protocol):
    """Where API keys live. Built by :func:`open_key_store` from a URL."""

    def create(self, tenant_id: str, role: Role, *, require_signature: bool = False) -> CreatedKey:
        """Create a key for ``tenant_id`` with ``role``; the returned key is shown once."""
        ...

    def authenticate(self, key: str) -> Principal:
        """The principal of ``key``; AuthenticationError when unknown, revoked or malformed."""
        ...

    def list(self, tenant_id: str | None = None) -> list[KeyInfo]:
        """Every key (of one tenant when given), oldest first."""
        ...

    def revoke(self, key_id: str) -> None:
        """Revoke a key; AuthenticationError when no active key has this id."""
        ...

    def ping(self) -> None:
        """Raise StoreError when the store cannot be read."""
        ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    role TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    signing_secret BLOB NOT NULL,
    require_signature INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)
"""


_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def _validate_tenant(tenant_id: str) -> str:
    # Tenant ids end up in Temporal workflow ids ("goal/<tenant>/<goal>"), Redis keys and
    # metric labels, so they are kept to a plain, separator-free alphabet.
    if not _TENANT.match(tenant_id):
        raise ValidationError(
            f"tenant id {tenant_id!r} must be 1-128 characters of [A-Za-z0-9_.-], "
            "starting with a letter or digit"
        )
    return tenant_id


class SQLiteKeyStore:
    """API keys in one SQLite file (WAL). Safe to share between threads of one process and
    between processes (``omnihub keys create`` next to a running ``omnihub serve``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = connect_sqlite(path, _SCHEMA, "API key store")
        self._lock = threading.Lock()

    def create(self, tenant_id: str, role: Role, *, require_signature: bool = False) -> CreatedKey:
        _validate_tenant(tenant_id)
        role = Role(role)
        key_id = secrets.token_hex(8)
        key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        now = datetime.now(UTC)
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                    (
                        key_id,
                        tenant_id,
                        role.value,
                        _hash_key(key),
                        signing_secret_for(key),
                        int(require_signature),
                        now.isoformat(),
                    ),
                )
            except sqlite3.Error as exc:
                raise StoreError(f"cannot store the API key: {exc}") from exc
        return CreatedKey(key, key_id, tenant_id, role, require_signature, now)

    def authenticate(self, key: str) -> Principal:
        key_id = _parse_key(key)
        with self._lock:
            try:
                row = self._conn.execute(
                    "SELECT tenant_id, role, key_hash, signing_secret, require_signature, "
                    "revoked_at FROM api_keys WHERE key_id = ?",
                    (key_id,),
                ).fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the API key store: {exc}") from exc
        if row is None or not hmac.compare_digest(row[2], _hash_key(key)):
            raise AuthenticationError("unknown API key")
        if row[5] is not None:
            raise AuthenticationError("revoked API key")
        return Principal(key_id, row[0], Role(row[1]), bool(row[4]), bytes(row[3]))

    def list(self, tenant_id: str | None = None) -> list[KeyInfo]:
        sql = (
            "SELECT key_id, tenant_id, role, require_signature, created_at, revoked_at "
            "FROM api_keys"
        )
        params: tuple[str, ...] = ()
        if tenant_id is not None:
            sql += " WHERE tenant_id = ?"
            params = (tenant_id,)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY created_at, key_id", params).fetchall()
        return [
            KeyInfo(
                r[0],
                r[1],
                Role(r[2]),
                bool(r[3]),
                datetime.fromisoformat(r[4]),
                datetime.fromisoformat(r[5]) if r[5] else None,
            )
            for r in rows
        ]

    def revoke(self, key_id: str) -> None:
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(), key_id),
            )
        if cursor.rowcount == 0:
            raise AuthenticationError(f"no active API key with id {key_id!r}")

    def ping(self) -> None:
        with self._lock:
            try:
                self._conn.execute("SELECT 1 FROM api_keys LIMIT 1").fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"API key store unreadable: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def open_key_store(url: str) -> KeyStore:
    """Build the key store named by ``url`` (``sqlite:///PATH``)."""
    if url.startswith("sqlite:///"):
        return SQLiteKeyStore(Path(url.removeprefix("sqlite:///")).expanduser())
    raise ConfigurationError(f"unsupported API key store URL {url!r}; use sqlite:///PATH")
