"""Build an embedder from a setting: ``onnx`` (default) or ``sentence-transformers``."""

from __future__ import annotations

import threading

from omnihub.config import Settings
from omnihub.embeddings._protocol import Embedder
from omnihub.errors import ConfigurationError

BACKENDS = ("onnx", "sentence-transformers")
_shared: dict[tuple[str, int], Embedder] = {}
_lock = threading.Lock()


def open_embedder(
    settings_or_name: Settings | str = "onnx", *, shared: bool = True, threads: int = 1
) -> Embedder:
    """The embedder named by ``settings.embedder`` or by a backend name.

    ``shared`` returns one instance per backend and thread count per process (loading the
    model takes ~0.3 s). ``threads``: ONNX Runtime intra-op threads per query; more than one
    is for a process that does little but lookups, with cores to spare (docs/benchmarks.md).
    """
    name = (
        settings_or_name if isinstance(settings_or_name, str) else settings_or_name.embedder
    ).lower()
    if name not in BACKENDS:
        raise ConfigurationError(f"unknown embedder {name!r}; choose one of {', '.join(BACKENDS)}")
    with _lock:
        if threads < 1:
            raise ConfigurationError(f"threads must be at least 1, not {threads}")
        if shared and (name, threads) in _shared:
            return _shared[name, threads]
        embedder: Embedder
        if name == "onnx":
            from omnihub.embeddings._onnx import OnnxEmbedder

            embedder = OnnxEmbedder(threads)
        else:
            from omnihub.embeddings._sentence_transformers import SentenceTransformersEmbedder

            embedder = SentenceTransformersEmbedder()
        if shared:
            _shared[name, threads] = embedder
        return embedder
