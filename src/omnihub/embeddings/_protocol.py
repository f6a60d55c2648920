"""The interface every embedding backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, so a dot product is cosine similarity."""

    @property
    def name(self) -> str:
        """Model id, recorded with cached entries (a different model means a different cache)."""
        ...

    @property
    def dimensions(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text, shape ``(len(texts), dimensions)``."""
        ...

    def embed_one(self, text: str) -> Vectors:
        """A single vector of shape ``(dimensions,)``."""
        ...
