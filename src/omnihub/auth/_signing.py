"""HMAC-SHA256 request signing for machine clients and inbound webhooks.

The signature covers a canonical string of the request::

    OMNIHUB-HMAC-SHA256
    <METHOD>
    <path, with "?query" when there is one>
    <timestamp: Unix seconds>
    <nonce>
    <hex SHA-256 of the body>

sent as ``X-OmniHub-Timestamp``, ``X-OmniHub-Nonce`` and ``X-OmniHub-Signature: v1=<hex>``.
A timestamp outside the skew window (default 300 s) is expired; a nonce seen before for the
same key within twice that window is a replay. The nonce is recorded only after the signature
checks out, so a forger cannot burn a legitimate client's nonces.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from omnihub.auth._nonces import NonceStore
from omnihub.errors import SignatureError

TIMESTAMP_HEADER = "X-OmniHub-Timestamp"
NONCE_HEADER = "X-OmniHub-Nonce"
SIGNATURE_HEADER = "X-OmniHub-Signature"
_ALGORITHM = "OMNIHUB-HMAC-SHA256"
_NONCE = re.compile(r"^[A-Za-z0-9_\-]{16,128}$")


def canonical_request(method: str, path: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    """The exact bytes a request signature covers."""
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join([_ALGORITHM, method.upper(), path, str(timestamp), nonce, digest]).encode()


def sign_request(
    secret: bytes,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The signature headers for a request (what a client adds to it).

    ``secret`` is :func:`omnihub.auth.signing_secret_for` of the client's API key; ``path``
    includes the query string when the request has one.
    """
    ts = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_urlsafe(18)
    mac = hmac.new(secret, canonical_request(method, path, ts, nonce, body), hashlib.sha256)
    return {
        TIMESTAMP_HEADER: str(ts),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: f"v1={mac.hexdigest()}",
    }


def has_signature(headers: Mapping[str, str]) -> bool:
    """True when the request carries any signature header (then it must verify)."""
    return any(h in headers for h in (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER))


@dataclass
class SignatureVerifier:
    """Checks signed requests against a key's secret, with replay protection by nonce."""

    nonces: NonceStore
    skew_seconds: int = 300

    async def verify(
        self,
        *,
        key_id: str,
        secret: bytes,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        now: float | None = None,
    ) -> None:
        """Return when the request's signature is valid; raise SignatureError otherwise."""
        ts_text = headers.get(TIMESTAMP_HEADER)
        nonce = headers.get(NONCE_HEADER)
        signature = headers.get(SIGNATURE_HEADER)
        if ts_text is None or nonce is None or signature is None:
            raise SignatureError(
                f"signed requests need {TIMESTAMP_HEADER}, {NONCE_HEADER} and {SIGNATURE_HEADER}"
            )
        try:
            timestamp = int(ts_text)
        except ValueError:
            raise SignatureError(f"{TIMESTAMP_HEADER} must be Unix seconds") from None
        if not _NONCE.match(nonce):
            raise SignatureError(f"{NONCE_HEADER} must be 16-128 characters of [A-Za-z0-9_-]")
        current = time.time() if now is None else now
        if abs(current - timestamp) > self.skew_seconds:
            raise SignatureError(
                f"request timestamp is outside the {self.skew_seconds} s window (expired)"
            )
        if not signature.startswith("v1="):
            raise SignatureError(f"{SIGNATURE_HEADER} must read v1=<hex>")
        expected = hmac.new(
            secret, canonical_request(method, path, timestamp, nonce, body), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature.removeprefix("v1=")):
            raise SignatureError("request signature does not match")
        if not await self.nonces.remember(f"{key_id}:{nonce}", ttl_seconds=2 * self.skew_seconds):
            raise SignatureError("request nonce was already used (replay)")
