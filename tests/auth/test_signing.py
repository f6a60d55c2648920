from __future__ import annotations

import time

import pytest

from omnihub.auth import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    MemoryNonceStore,
    RedisNonceStore,
    SignatureVerifier,
    canonical_request,
    has_signature,
    redis_client,
    sign_request,
)
from omnihub.errors import SignatureError, StoreUnavailableError

SECRET = b"s" * 32


async def _verify(verifier: SignatureVerifier, headers: dict[str, str], **over: object) -> None:
    args: dict[str, object] = {
        "key_id": "k1",
        "secret": SECRET,
        "method": "POST",
        "path": "/v1/goals",
        "body": b'{"goal":"x"}',
        "headers": headers,
    }
    args.update(over)
    await verifier.verify(**args)  # type: ignore[arg-type]


def test_canonical_request_covers_method_path_timestamp_nonce_and_body_hash() -> None:
    text = canonical_request("post", "/v1/goals?a=1", 1700000000, "n" * 16, b"{}").decode()
    lines = text.split("\n")
    assert lines[:5] == ["OMNIHUB-HMAC-SHA256", "POST", "/v1/goals?a=1", "1700000000", "n" * 16]
    assert lines[5] == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


async def test_valid_signature_is_accepted_once_then_replay_is_refused() -> None:
    verifier = SignatureVerifier(MemoryNonceStore())
    headers = sign_request(SECRET, "POST", "/v1/goals", b'{"goal":"x"}')
    assert has_signature(headers)
    await _verify(verifier, headers)
    with pytest.raises(SignatureError, match="replay"):
        await _verify(verifier, headers)


async def test_same_nonce_from_another_key_is_not_a_replay() -> None:
    verifier = SignatureVerifier(MemoryNonceStore())
    headers = sign_request(SECRET, "POST", "/v1/goals", b'{"goal":"x"}', nonce="n" * 20)
    await _verify(verifier, headers)
    await _verify(verifier, headers, key_id="k2")


@pytest.mark.parametrize(
    ("change", "value"),
    [("method", "PUT"), ("path", "/v1/goals/other"), ("body", b'{"goal":"y"}')],
)
async def test_tampered_request_is_refused(change: str, value: object) -> None:
    verifier = SignatureVerifier(MemoryNonceStore())
    headers = sign_request(SECRET, "POST", "/v1/goals", b'{"goal":"x"}')
    with pytest.raises(SignatureError, match="does not match"):
        await _verify(verifier, headers, **{change: value})


async def test_wrong_secret_is_refused() -> None:
    verifier = SignatureVerifier(MemoryNonceStore())
    headers = sign_request(b"other", "POST", "/v1/goals", b'{"goal":"x"}')
    with pytest.raises(SignatureError, match="does not match"):
        await _verify(verifier, headers)


@pytest.mark.parametrize("offset", [-301, 301])
async def test_timestamp_outside_the_skew_window_is_expired(offset: int) -> None:
    verifier = SignatureVerifier(MemoryNonceStore(), skew_seconds=300)
    ts = int(time.time()) + offset
    headers = sign_request(SECRET, "POST", "/v1/goals", b'{"goal":"x"}', timestamp=ts)
    with pytest.raises(SignatureError, match="expired"):
        await _verify(verifier, headers)


async def test_timestamp_inside_the_window_is_accepted() -> None:
    verifier = SignatureVerifier(MemoryNonceStore(), skew_seconds=300)
    ts = int(time.time()) - 290
    await _verify(
        verifier, sign_request(SECRET, "POST", "/v1/goals", b'{"goal":"x"}', timestamp=ts)
    )


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "need"),
        ({TIMESTAMP_HEADER: "soon", NONCE_HEADER: "n" * 16, SIGNATURE_HEADER: "v1=00"}, "Unix"),
        ({TIMESTAMP_HEADER: "1", NONCE_HEADER: "short", SIGNATURE_HEADER: "v1=00"}, "16-128"),
        ({TIMESTAMP_HEADER: "NOW", NONCE_HEADER: "n" * 16, SIGNATURE_HEADER: "00"}, "v1="),
    ],
)
async def test_malformed_signature_headers_are_refused(
    headers: dict[str, str], message: str
) -> None:
    verifier = SignatureVerifier(MemoryNonceStore())
    if headers.get(TIMESTAMP_HEADER) == "NOW":
        headers = {**headers, TIMESTAMP_HEADER: str(int(time.time()))}
    with pytest.raises(SignatureError, match=message):
        await _verify(verifier, headers)


async def test_memory_nonces_expire() -> None:
    store = MemoryNonceStore()
    assert await store.remember("a", ttl_seconds=0)
    store._next_sweep = 0.0
    assert await store.remember("a", ttl_seconds=10)
    assert not await store.remember("a", ttl_seconds=10)
    await store.ping()
    await store.aclose()


async def test_redis_nonce_store_refuses_replays_across_instances(redis_url: str) -> None:
    first = RedisNonceStore(redis_client(redis_url))
    second = RedisNonceStore(redis_client(redis_url))
    try:
        await first.ping()
        assert await first.remember("k:nonce-1", ttl_seconds=60)
        assert not await second.remember("k:nonce-1", ttl_seconds=60)
    finally:
        await first.aclose()
        await second.aclose()


async def test_redis_nonce_store_fails_closed_when_redis_is_down() -> None:
    from omnihub.servers import free_port

    store = RedisNonceStore(redis_client(f"redis://127.0.0.1:{free_port()}/0"))
    try:
        with pytest.raises(StoreUnavailableError):
            await store.remember("k:n", ttl_seconds=60)
        with pytest.raises(StoreUnavailableError):
            await store.ping()
    finally:
        await store.aclose()
