from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import omnihub.auth
from omnihub.auth import Role, SQLiteKeyStore, open_key_store, signing_secret_for
from omnihub.errors import AuthenticationError, ConfigurationError, StoreError, ValidationError


def test_auth_public_names() -> None:
    assert omnihub.auth.__all__ == [
        "NONCE_HEADER",
        "SIGNATURE_HEADER",
        "TIMESTAMP_HEADER",
        "AuthThrottledError",
        "CreatedKey",
        "FailureThrottle",
        "KeyInfo",
        "KeyStore",
        "MemoryNonceStore",
        "NonceStore",
        "Principal",
        "RedisNonceStore",
        "Role",
        "SQLiteKeyStore",
        "SignatureVerifier",
        "acquire_for_key",
        "canonical_request",
        "has_signature",
        "open_key_store",
        "redis_client",
        "sign_request",
        "signing_secret_for",
    ]


@pytest.fixture
def store(tmp_path: Path) -> SQLiteKeyStore:
    s = SQLiteKeyStore(tmp_path / "keys.db")
    yield s  # type: ignore[misc]
    s.close()


def test_created_key_authenticates_to_its_tenant_and_role(store: SQLiteKeyStore) -> None:
    created = store.create("acme", Role.OPERATOR)
    principal = store.authenticate(created.key)
    assert (principal.tenant_id, principal.role, principal.key_id) == (
        "acme",
        Role.OPERATOR,
        created.key_id,
    )
    assert principal.signing_secret == signing_secret_for(created.key)
    assert not principal.require_signature


def test_key_is_stored_only_as_a_hash(store: SQLiteKeyStore, tmp_path: Path) -> None:
    created = store.create("acme", Role.ADMIN)
    raw = (tmp_path / "keys.db").read_bytes()
    wal = tmp_path / "keys.db-wal"
    if wal.exists():
        raw += wal.read_bytes()
    assert created.key.encode() not in raw
    secret = created.key.split("_", 2)[2]
    assert secret.encode() not in raw


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "malformed"),
        ("not-a-key", "malformed"),
        ("omk_0123456789abcdef_", "malformed"),
        ("omk_0123456789abcdef_wrongsecret", "unknown"),
    ],
)
def test_bad_keys_are_refused(store: SQLiteKeyStore, key: str, message: str) -> None:
    store.create("acme", Role.VIEWER)
    with pytest.raises(AuthenticationError, match=message):
        store.authenticate(key)


def test_a_right_id_with_a_wrong_secret_is_unknown(store: SQLiteKeyStore) -> None:
    created = store.create("acme", Role.VIEWER)
    forged = created.key[:-4] + ("AAAA" if not created.key.endswith("AAAA") else "BBBB")
    with pytest.raises(AuthenticationError, match="unknown"):
        store.authenticate(forged)


def test_revoked_key_is_refused_and_listed_as_revoked(store: SQLiteKeyStore) -> None:
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
def test_bad_tenant_ids_are_refused(store: SQLiteKeyStore, tenant: str) -> None:
    with pytest.raises(ValidationError, match="tenant id"):
        store.create(tenant, Role.VIEWER)


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR)
    assert Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert not Role.OPERATOR.allows(Role.ADMIN)


def test_open_key_store_accepts_sqlite_urls_only(tmp_path: Path) -> None:
    store = open_key_store(f"sqlite:///{tmp_path / 'x.db'}")
    store.ping()
    store.close()
    with pytest.raises(ConfigurationError, match="unsupported"):
        open_key_store("postgresql://localhost/db")


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
