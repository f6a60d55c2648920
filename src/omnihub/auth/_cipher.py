"""Encryption of request-signing secrets at rest (AES-256-GCM).

The server must keep each key's signing secret to verify signatures, so the secret cannot be
stored hashed like the key itself. It is stored encrypted under a server key that lives
outside the key store (a setting, or a 0600 file under ``OMNIHUB_HOME``): a copy of the
database alone (a backup, a shared PostgreSQL, a world-readable file) reveals no secret. The
key id is the associated data, so a ciphertext moved to another row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from omnihub.config import private_dir
from omnihub.errors import ConfigurationError

if TYPE_CHECKING:
    from omnihub.config import Settings

_VERSION = b"\x01"  # first byte of every ciphertext: the format, so it can change later
_NONCE_BYTES = 12
KEY_BYTES = 32


def _decode_key(text: str, source: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigurationError(
            f"{source} must hold {KEY_BYTES} bytes as URL-safe base64 "
            '(python -c "import secrets,base64;print(base64.urlsafe_b64encode('
            'secrets.token_bytes(32)).decode())")'
        )
    return key


class SecretCipher:
    """Encrypts and decrypts signing secrets with one 32-byte key."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != KEY_BYTES:
            raise ConfigurationError(f"the signing-secret key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_file(cls, path: Path) -> SecretCipher:
        """The key in ``path``; a new random key written there (0600) when it is missing."""
        try:
            text = path.read_text()
        except FileNotFoundError:
            text = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()
            try:
                private_dir(path.parent)
                # O_EXCL: two processes starting together keep one key (the loser reads it).
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                text = path.read_text()
            except OSError as exc:
                raise ConfigurationError(f"cannot create the key file {path}: {exc}") from exc
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(text + "\n")
        except OSError as exc:
            raise ConfigurationError(f"cannot read the key file {path}: {exc}") from exc
        return cls(_decode_key(text, f"key file {path}"))

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretCipher:
        """The key of ``api_keys_secret``, else of ``api_keys_secret_file`` (created if
        missing)."""
        if settings.api_keys_secret is not None:
            value = settings.api_keys_secret.get_secret_value()
            return cls(_decode_key(value, "OMNIHUB_API_KEYS_SECRET"))
        return cls.from_file(settings.resolved_api_keys_secret_file)

    def encrypt(self, plaintext: bytes, *, key_id: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, key_id.encode())

    def decrypt(self, blob: bytes, *, key_id: str) -> bytes:
        """The plaintext; ConfigurationError when this key did not encrypt ``blob``."""
        from cryptography.exceptions import InvalidTag

        if blob[:1] != _VERSION or len(blob) < 1 + _NONCE_BYTES + 16:
            raise ConfigurationError(f"the signing secret of key {key_id} is not encrypted")
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, key_id.encode())
        except InvalidTag:
            raise ConfigurationError(
                f"cannot decrypt the signing secret of key {key_id}: every API process sharing "
                "a key store needs the same OMNIHUB_API_KEYS_SECRET"
            ) from None

    @staticmethod
    def is_encrypted(blob: bytes) -> bool:
        """True for a ciphertext of this class (False for a plaintext 32-byte secret that an
        older version stored)."""
        return blob[:1] == _VERSION and len(blob) == 1 + _NONCE_BYTES + KEY_BYTES + 16
