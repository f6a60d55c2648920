"""The Temporal payload codec: every payload AES-256-GCM encrypted, so Temporal stores
ciphertext and nobody without the keys can read a goal or forge an update a worker accepts.

A payload becomes ``nonce || ciphertext+tag`` with the key id in its metadata; the key id and
a version tag are authenticated too. Anything not encrypted by a known key decodes to a
*refused* payload that no converter accepts: an update or query a client without the keys
sends is then rejected by the workflow like bad arguments, and a signal is dropped. (Raising
in the codec instead would fail the whole workflow task, and a forged update would stall the
goal until it went away.)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from omnihub.crypto._keys import KeyRing
from omnihub.errors import IntegrityError

ENCODING = b"binary/encrypted"
REFUSED = b"binary/omnihub-refused"
KEY_ID = "encryption-key-id"
_NONCE_BYTES = 12
_AAD = b"omnihub-codec-v1:"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM with the ring's current key; decrypts with any key of the ring."""

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in ring.keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        key_id, _ = self._ring.current
        cipher = self._ciphers[key_id]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(_NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), _AAD + key_id.encode())
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: key_id.encode()},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decode_one(payload) for payload in payloads]

    def _decode_one(self, payload: Payload) -> Payload:
        try:
            return self.open(payload)
        except IntegrityError as exc:
            return Payload(metadata={"encoding": REFUSED}, data=str(exc).encode())

    def open(self, payload: Payload) -> Payload:
        """The plaintext payload of ``payload``; raises IntegrityError when it is not
        encrypted, encrypted with an unknown key, or altered."""
        if payload.metadata.get("encoding") != ENCODING:
            raise IntegrityError("refused a Temporal payload that is not encrypted")
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise IntegrityError(f"a Temporal payload is encrypted with unknown key {key_id!r}")
        nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, _AAD + key_id.encode())
        except InvalidTag:
            raise IntegrityError("a Temporal payload failed authentication") from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded


def encrypted_data_converter(ring: KeyRing) -> DataConverter:
    """Pydantic conversion, then encryption of every payload, failure messages and stack
    traces included (they carry tool errors and arguments)."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(ring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
