"""API keys per tenant with a role, stored hashed in SQLite (under ``OMNIHUB_HOME``) or
PostgreSQL (shared by every API process).

A key reads ``omk_<key_id>_<secret>``. Only ``sha256(key)`` is stored: keys carry 256 random
bits, so a fast hash is enough (a slow password hash protects low-entropy secrets, not these),
and the public ``key_id`` makes the lookup one primary-key read. Because the store is a file
under ``OMNIHUB_HOME``, a key created with ``omnihub keys create`` before ``omnihub up`` works
against the server started afterwards. Signing secrets are stored encrypted
(:class:`~omnihub.auth.SecretCipher`). The SQL is written once here, with ``?`` placeholders;
each backend module only connects and runs it.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from omnihub.auth._cipher import SecretCipher
from omnihub.auth._storage import PostgresRunner, SQLiteRunner, SqlRunner
from omnihub.config import parse_backend_url
from omnihub.errors import AuthenticationError, ConfigurationError, ValidationError

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


# {table} and {blob} differ per backend; SQLite keeps the table name of earlier versions.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    key_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    role TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    signing_secret {blob} NOT NULL,
    require_signature INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS {table}_tenant ON {table} (tenant_id);
"""


class SqlKeyStore:
    """Everything a key store does, written once over an :class:`SqlRunner`, so every
    backend stores the same rows; the backends below only say where the table lives."""

    def __init__(self, runner: SqlRunner, cipher: SecretCipher, *, table: str) -> None:
        self._runner = runner
        self._cipher = cipher
        self._table = table
        self._query = runner.query
        self._execute = runner.execute

    def create(self, tenant_id: str, role: Role, *, require_signature: bool = False) -> CreatedKey:
        _validate_tenant(tenant_id)
        role = Role(role)
        key_id = secrets.token_hex(8)
        key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        now = datetime.now(UTC)
        self._execute(
            f"INSERT INTO {self._table} (key_id, tenant_id, role, key_hash, signing_secret, "
            "require_signature, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            (
                key_id,
                tenant_id,
                role.value,
                _hash_key(key),
                self._cipher.encrypt(signing_secret_for(key), key_id=key_id),
                int(require_signature),
                now.isoformat(),
            ),
        )
        return CreatedKey(key, key_id, tenant_id, role, require_signature, now)

    def authenticate(self, key: str) -> Principal:
        key_id = _parse_key(key)
        rows = self._query(
            "SELECT tenant_id, role, key_hash, signing_secret, require_signature, revoked_at "
            f"FROM {self._table} WHERE key_id = ?",
            (key_id,),
        )
        if not rows or not hmac.compare_digest(rows[0][2], _hash_key(key)):
            raise AuthenticationError("unknown API key")
        row = rows[0]
        if row[5] is not None:
            raise AuthenticationError("revoked API key")
        secret = self._cipher.decrypt(bytes(row[3]), key_id=key_id)
        return Principal(key_id, row[0], Role(row[1]), bool(row[4]), secret)

    def list(self, tenant_id: str | None = None) -> list[KeyInfo]:
        sql = (
            "SELECT key_id, tenant_id, role, require_signature, created_at, revoked_at "
            f"FROM {self._table}"
        )
        params: tuple[str, ...] = ()
        if tenant_id is not None:
            sql += " WHERE tenant_id = ?"
            params = (tenant_id,)
        rows = self._query(sql + " ORDER BY created_at, key_id", params)
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
        changed = self._execute(
            f"UPDATE {self._table} SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (datetime.now(UTC).isoformat(), key_id),
        )
        if changed == 0:
            raise AuthenticationError(f"no active API key with id {key_id!r}")

    def ping(self) -> None:
        self._query(f"SELECT 1 FROM {self._table} LIMIT 1")

    def _encrypt_plaintext_secrets(self) -> int:
        """Encrypt secrets an older version stored in plain text; how many were."""
        rows = self._query(f"SELECT key_id, signing_secret FROM {self._table}")
        done = 0
        for key_id, blob in rows:
            if not SecretCipher.is_encrypted(bytes(blob)):
                sealed = self._cipher.encrypt(bytes(blob), key_id=key_id)
                done += self._execute(
                    f"UPDATE {self._table} SET signing_secret = ? WHERE key_id = ? "
                    "AND signing_secret = ?",
                    (sealed, key_id, bytes(blob)),
                )
        return done

    def close(self) -> None:
        self._runner.close()


class SQLiteKeyStore(SqlKeyStore):
    """API keys in one SQLite file (WAL). Safe to share between threads of one process and
    between processes (``omnihub keys create`` next to a running ``omnihub serve``).

    Without a ``cipher``, the signing secrets are encrypted with the key in ``api-keys.key``
    next to the database (created 0600 when missing). Secrets an older version stored in
    plain text are encrypted when the store opens, and their old copies overwritten.
    """

    def __init__(self, path: Path, *, cipher: SecretCipher | None = None) -> None:
        self.path = path
        runner = SQLiteRunner(path, _SCHEMA.format(table="api_keys", blob="BLOB"), "API key store")
        super().__init__(
            runner, cipher or SecretCipher.from_file(path.parent / "api-keys.key"), table="api_keys"
        )
        if self._encrypt_plaintext_secrets():
            # secure_delete zeroed the replaced cells; the WAL still holds the old pages.
            self._query("PRAGMA wal_checkpoint(TRUNCATE)")


class PostgresKeyStore(SqlKeyStore):
    """API keys in PostgreSQL's ``omnihub_api_keys`` table: every API process sharing the
    database (and the same ``cipher`` key) accepts a key created through any of them."""

    def __init__(self, url: str, *, cipher: SecretCipher) -> None:
        schema = _SCHEMA.format(table="omnihub_api_keys", blob="bytea")
        super().__init__(
            PostgresRunner(url, schema, "API key store"), cipher, table="omnihub_api_keys"
        )


def open_key_store(url: str, *, cipher: SecretCipher | None = None) -> KeyStore:
    """The key store ``url`` names: ``sqlite:///PATH`` or ``postgresql://…``.

    ``cipher`` encrypts the signing secrets (build it with ``SecretCipher.from_settings``).
    Without one, an SQLite store keeps its key in ``api-keys.key`` next to the database (the
    default settings' file, too); a PostgreSQL store needs one, since every API process
    sharing the store must use the same key.
    """
    backend = parse_backend_url(url, allowed=("sqlite", "postgresql"), purpose="API key store URL")
    if backend.path is not None:
        return SQLiteKeyStore(backend.path, cipher=cipher)
    if cipher is None:
        raise ConfigurationError(
            "a PostgreSQL API key store needs OMNIHUB_API_KEYS_SECRET (or "
            "OMNIHUB_API_KEYS_SECRET_FILE), the same in every API process"
        )
    return PostgresKeyStore(url, cipher=cipher)
