"""Secrets at rest and in flight: the key ring and the Temporal payload codec."""

from omnihub.crypto._codec import EncryptionCodec, encrypted_data_converter
from omnihub.crypto._keys import KeyRing, load_key_ring

__all__ = ["EncryptionCodec", "KeyRing", "encrypted_data_converter", "load_key_ring"]
