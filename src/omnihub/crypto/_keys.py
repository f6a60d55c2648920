"""The key ring of OmniHub's secrets: AES-256 keys by id, from settings or a 0600 key file.

Keys rotate by id: a new key is added last and encrypts from then on, while every older key
still decrypts what it encrypted. Other secrets (the key of the idempotency hashes sent to
third parties) are derived from the ring's first key with HKDF, so they need no setting of
their own and stay stable across rotations as long as the first key stays.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from omnihub.errors import ConfigurationError

if TYPE_CHECKING:
    from omnihub.config import Settings

KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class KeyRing:
    """AES-256 keys by id, oldest first; the last one is the current (encrypting) key."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigurationError("the key ring has no keys")
        ids = [key_id for key_id, _ in self.keys]
        if len(set(ids)) != len(ids):
            raise ConfigurationError("the key ring names one key id twice")
        for key_id, key in self.keys:
            if not _KEY_ID.match(key_id):
                raise ConfigurationError(f"invalid codec key id {key_id!r}")
            if len(key) != KEY_BYTES:
                raise ConfigurationError(f"codec key {key_id!r} must be {KEY_BYTES} bytes")

    @property
    def current(self) -> tuple[str, bytes]:
        """The id and key that encrypt."""
        return self.keys[-1]

    def get(self, key_id: str) -> bytes | None:
        """The key called ``key_id``, or None when the ring does not know it."""
        return dict(self.keys).get(key_id)

    def derive(self, purpose: str) -> bytes:
        """A 32-byte secret for ``purpose``, derived from the first key (HKDF-SHA256)."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
        return hkdf.derive(self.keys[0][1])

    @classmethod
    def parse(cls, text: str, source: str) -> KeyRing:
        """Keys written as ``id:base64`` items, separated by commas or new lines; ``#``
        starts a comment line."""
        keys: list[tuple[str, bytes]] = []
        for raw in re.split(r"[,\n]", text):
            item = raw.strip()
            if not item or item.startswith("#"):
                continue
            key_id, sep, encoded = item.partition(":")
            try:
                if not sep:
                    raise ValueError("no ':'")
                key = base64.b64decode(encoded.strip(), validate=True)
            except (ValueError, binascii.Error):
                # Never echo the item: it is key material.
                raise ConfigurationError(f"{source}: every key must read 'id:base64'") from None
            keys.append((key_id.strip(), key))
        if not keys:
            raise ConfigurationError(f"{source} holds no keys")
        return cls(tuple(keys))

    @classmethod
    def generate(cls, key_id: str | None = None) -> KeyRing:
        """A ring with one new random key."""
        return cls(((key_id or f"k{secrets.token_hex(4)}", secrets.token_bytes(KEY_BYTES)),))

    def dumps(self) -> str:
        """The ring in the key-file format."""
        lines = [f"{key_id}:{base64.b64encode(key).decode()}" for key_id, key in self.keys]
        return "\n".join(lines) + "\n"


def _read_key_file(path: Path) -> KeyRing:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigurationError(
                f"codec key file {path} is readable by others (mode {stat.S_IMODE(mode):o}); "
                "chmod 600 it"
            )
        return KeyRing.parse(path.read_text(), f"codec key file {path}")
    except OSError as exc:
        raise ConfigurationError(f"cannot read codec key file {path}: {exc}") from exc


def _create_key_file(path: Path) -> KeyRing:
    """Write a new ring to ``path`` (0600, created exclusively: two processes starting at
    once agree on the one file that won)."""
    ring = KeyRing.generate()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    except OSError as exc:
        raise ConfigurationError(f"cannot create codec key file {path}: {exc}") from exc
    with os.fdopen(fd, "w") as file:
        file.write(ring.dumps())
        file.flush()
        os.fsync(file.fileno())
    return ring


def load_key_ring(settings: Settings) -> KeyRing:
    """The ring from ``codec_keys``, else ``codec_key_file``, else ``home/codec.keys``
    (generated on first use). Every process reaching one Temporal must load the same keys."""
    if settings.codec_keys is not None:
        return KeyRing.parse(settings.codec_keys.get_secret_value(), "OMNIHUB_CODEC_KEYS")
    if settings.codec_key_file is not None:
        return _read_key_file(settings.codec_key_file)
    path = settings.home / "codec.keys"
    if path.exists():
        return _read_key_file(path)
    return _create_key_file(path)
