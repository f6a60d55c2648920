from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import omnihub.auth
from omnihub.auth import (
    PostgresKeyStore,
    Role,
    SecretCipher,
    SQLiteKeyStore,
    SqlKeyStore,
    open_key_store,
    signing_secret_for,
)
from omnihub.errors import AuthenticationError, ConfigurationError, StoreError, ValidationError


def test_auth_public_names() -> None:
    assert omnihub.auth.__all__ == [
        "NONCE_HEADER",
        "SIGNATURE_HEADER",
        "TIMESTAMP_HEADER",
        "AuthThrottledError",
        "BrowserSession",
        "CreatedKey",
        "FailureThrottle",
        "IdempotencyKeyReusedError",
        "IdempotencyStore",
        "KeyInfo",
        "KeyStore",
        "MemoryFailureThrottle",
        "MemoryNonceStore",
        "MemoryRateLimiter",
        "NonceStore",
        "PostgresIdempotencyStore",
        "PostgresKeyStore",
        "PostgresSessionStore",
        "Principal",
        "RateDecision",
        "RateLimiter",
        "RedisFailureThrottle",
        "RedisNonceStore",
        "RedisRateLimiter",
        "RedisSessionStore",
        "Role",
        "SQLiteIdempotencyStore",
        "SQLiteKeyStore",
        "SQLiteSessionStore",
        "SecretCipher",
        "SessionStore",
        "SignatureVerifier",
        "SqlIdempotencyStore",
        "SqlKeyStore",
        "SqlSessionStore",
        "acquire_for_key",
        "canonical_request",
        "has_signature",
        "open_failure_throttle",
        "open_idempotency_store",
        "open_key_store",
        "open_nonce_store",
        "open_rate_limiter",
        "open_session_store",
        "redis_client",
        "request_hash",
        "sign_request",
        "signing_secret_for",
    ]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlKeyStore]:
    """The key store contract runs on both backends."""
    s: SqlKeyStore
    if request.param == "sqlite":
        s = SQLiteKeyStore(tmp_path / "keys.db")
    else:
        url = request.getfixturevalue("postgres_url")
        s = PostgresKeyStore(url, cipher=SecretCipher(secrets.token_bytes(32)))
    yield s
    s.close()


def test_created_key_authenticates_to_its_tenant_and_role(store: SqlKeyStore) -> None:
    created = store.create("acme", Role.OPERATOR)
    principal = store.authenticate(created.key)
    assert (principal.tenant_id, principal.role, principal.key_id) == (
        "acme",
        Role.OPERATOR,
        created.key_id,
    )
    assert principal.signing_secret == signing_secret_for(created.key)
    assert not principal.require_signature


def _file_bytes(path: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
    )


def test_key_is_stored_only_as_a_hash_and_the_signing_secret_encrypted(tmp_path: Path) -> None:
    store = SQLiteKeyStore(tmp_path / "keys.db")
    created = store.create("acme", Role.ADMIN, require_signature=True)
    raw = _file_bytes(tmp_path / "keys.db")
    store.close()
    assert created.key.encode() not in raw
    secret = created.key.split("_", 2)[2]
    assert secret.encode() not in raw
    assert signing_secret_for(created.key) not in raw
    assert signing_secret_for(created.key).hex().encode() not in raw


def test_postgres_stores_the_signing_secret_encrypted(postgres_url: str) -> None:
    store = PostgresKeyStore(postgres_url, cipher=SecretCipher(secrets.token_bytes(32)))
    try:
        created = store.create("acme", Role.OPERATOR)
        with psycopg.connect(postgres_url) as conn:
            stored = conn.execute(
                "SELECT signing_secret, key_hash FROM omnihub_api_keys"
            ).fetchall()
        assert len(stored) == 1
        assert signing_secret_for(created.key) not in bytes(stored[0][0])
        assert created.key not in stored[0][1]
        assert store.authenticate(created.key).signing_secret == signing_secret_for(created.key)
    finally:
        store.close()


def test_a_postgres_key_works_in_every_process_with_the_same_secret(postgres_url: str) -> None:
    key = secrets.token_bytes(32)
    first = PostgresKeyStore(postgres_url, cipher=SecretCipher(key))
    second = PostgresKeyStore(postgres_url, cipher=SecretCipher(key))
    stranger = PostgresKeyStore(postgres_url, cipher=SecretCipher(secrets.token_bytes(32)))
    try:
        created = first.create("acme", Role.ADMIN)
        assert second.authenticate(created.key).role is Role.ADMIN
        second.revoke(created.key_id)
        with pytest.raises(AuthenticationError, match="revoked"):
            first.authenticate(created.key)
        other = first.create("acme", Role.VIEWER)
        with pytest.raises(ConfigurationError, match="same OMNIHUB_API_KEYS_SECRET"):
            stranger.authenticate(other.key)
    finally:
        first.close()
        second.close()
        stranger.close()


def test_plaintext_secrets_of_an_older_store_are_encrypted_on_open(tmp_path: Path) -> None:
    path = tmp_path / "api.db"
    key = "omk_0123456789abcdef_" + secrets.token_urlsafe(32)
    legacy_secret = signing_secret_for(key)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE api_keys (key_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, "
            "role TEXT NOT NULL, key_hash TEXT NOT NULL, signing_secret BLOB NOT NULL, "
            "require_signature INTEGER NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT)"
        )
        conn.execute(
            "INSERT INTO api_keys VALUES (?, 'acme', 'viewer', ?, ?, 1, "
            "'2026-01-01T00:00:00+00:00', NULL)",
            ("0123456789abcdef", hashlib.sha256(key.encode()).hexdigest(), legacy_secret),
        )
    assert legacy_secret in _file_bytes(path)
    store = SQLiteKeyStore(path)
    try:
        assert store.authenticate(key).signing_secret == legacy_secret
        assert legacy_secret not in _file_bytes(path)
    finally:
        store.close()


def test_a_wrong_secret_setting_is_a_configuration_error() -> None:
    from omnihub.config import load_settings

    with pytest.raises(ConfigurationError, match="URL-safe base64"):
        SecretCipher.from_settings(load_settings(api_keys_secret="too-short"))


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "malformed"),
        ("not-a-key", "malformed"),
        ("omk_0123456789abcdef_", "malformed"),
        ("omk_0123456789abcdef_wrongsecret", "unknown"),
    ],
)
def test_bad_keys_are_refused(store: SqlKeyStore, key: str, message: str) -> None:
    store.create("acme", Role.VIEWER)
    with pytest.raises(AuthenticationError, match=message):
        store.authenticate(key)


def test_a_right_id_with_a_wrong_secret_is_unknown(store: SqlKeyStore) -> None:
    created = store.create("acme", Role.VIEWER)
    forged = created.key[:-4] + ("AAAA" if not created.key.endswith("AAAA") else "BBBB")
    with pytest.raises(AuthenticationError, match="unknown"):
        store.authenticate(forged)


def test_revoked_key_is_refused_and_listed_as_revoked(store: SqlKeyStore) -> None:
    created = store.create("acme", Role.VIEWER)
    other = store.create("globex", Role.ADMIN, require_signature=True)
    store.revoke(created.key_id)
    with pytest.raises(AuthenticationError, match="revoked"):
        store.authenticate(created.key)
    with pytest.raises(AuthenticationError, match="no active API key"):
        store.revoke(created.key_id)
    infos = {i.key_id: i for i in store.list()}
    assert infos[created.key_id].revoked_at is not None
    assert infos[other.key_id].revoked_at is None
    assert infos[other.key_id].require_signature
    assert [i.key_id for i in store.list("globex")] == [other.key_id]
    assert store.authenticate(other.key).require_signature


def test_a_key_created_by_another_process_is_seen(tmp_path: Path) -> None:
    first = SQLiteKeyStore(tmp_path / "k.db")
    second = SQLiteKeyStore(tmp_path / "k.db")
    try:
        created = first.create("acme", Role.ADMIN)
        assert second.authenticate(created.key).role is Role.ADMIN
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("tenant", ["", "x" * 129, "bad\ntenant", "a/b", "-lead"])
def test_bad_tenant_ids_are_refused(store: SqlKeyStore, tenant: str) -> None:
    with pytest.raises(ValidationError, match="tenant id"):
        store.create(tenant, Role.VIEWER)


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR)
    assert Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert not Role.OPERATOR.allows(Role.ADMIN)


def test_open_key_store_builds_each_backend_from_its_url(tmp_path: Path, postgres_url: str) -> None:
    store = open_key_store(f"sqlite:///{tmp_path / 'x.db'}")
    assert isinstance(store, SQLiteKeyStore)
    store.ping()
    store.close()
    shared = open_key_store(postgres_url, cipher=SecretCipher(secrets.token_bytes(32)))
    assert isinstance(shared, PostgresKeyStore)
    shared.ping()
    shared.close()
    with pytest.raises(ConfigurationError, match="OMNIHUB_API_KEYS_SECRET"):
        open_key_store(postgres_url)
    with pytest.raises(ConfigurationError, match="unsupported backend 'redis'"):
        open_key_store("redis://127.0.0.1:6379")


def test_sqlite_errors_become_store_errors(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match="cannot open"):
        SQLiteKeyStore(tmp_path / "dir.db")
    store = SQLiteKeyStore(tmp_path / "k.db")
    conn = sqlite3.connect(tmp_path / "k.db")
    conn.execute("DROP TABLE api_keys")
    conn.commit()
    conn.close()
    try:
        with pytest.raises(StoreError):
            store.ping()
        with pytest.raises(StoreError):
            store.create("acme", Role.VIEWER)
        with pytest.raises(StoreError):
            store.authenticate("omk_0123456789abcdef_secret")
    finally:
        store.close()
