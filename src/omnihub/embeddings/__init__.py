"""Sentence embeddings (all-MiniLM-L6-v2, offline) behind one protocol."""

from omnihub.embeddings._factory import BACKENDS, open_embedder
from omnihub.embeddings._onnx import OnnxEmbedder, model_files
from omnihub.embeddings._protocol import Embedder, Vectors
from omnihub.embeddings._sentence_transformers import SentenceTransformersEmbedder

__all__ = [
    "BACKENDS",
    "Embedder",
    "OnnxEmbedder",
    "SentenceTransformersEmbedder",
    "Vectors",
    "model_files",
    "open_embedder",
]
