"""A bounded memo of template embeddings: requests that differ only in their values share a
template, so the model runs once per template, not once per request."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from omnihub.cache._index import Vector

#: Templates remembered per cache. 4,096 vectors of 384 float32 take 6 MB; the bench's 1,000
#: distinct requests have 217 templates.
VECTOR_MEMO_SIZE = 4096


class VectorMemo:
    """Template text → its embedding, least recently used dropped first.

    The model is called outside the lock: two threads missing on one template at once both
    embed it (the same vector), rather than one waiting for the other.
    """

    def __init__(self, size: int = VECTOR_MEMO_SIZE) -> None:
        self._size = size
        self._vectors: OrderedDict[str, Vector] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, text: str) -> Vector | None:
        """The remembered vector of ``text``, or None (without running the model)."""
        with self._lock:
            vector = self._vectors.get(text)
            if vector is not None:
                self._vectors.move_to_end(text)
            return vector

    def get(self, text: str, embed: Callable[[str], Vector]) -> tuple[Vector, bool]:
        """``(vector, computed)``: ``computed`` is True when the model ran for this call."""
        vector = self.peek(text)
        if vector is not None:
            return vector, False
        vector = embed(text)
        vector.setflags(write=False)  # shared by every later caller: nobody may change it
        if self._size > 0:
            with self._lock:
                self._vectors[text] = vector
                self._vectors.move_to_end(text)
                while len(self._vectors) > self._size:
                    self._vectors.popitem(last=False)
        return vector, True

    def clear(self) -> None:
        with self._lock:
            self._vectors.clear()

    def __len__(self) -> int:
        return len(self._vectors)
