"""The plan-cache index interface and the entry it stores.

Similarity is always cosine similarity in ``[-1, 1]`` (vectors are L2-normalised) at this
interface; a backend that speaks distances converts internally (see ``_redis.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import orjson

Vector = npt.NDArray[np.float32]

#: The stored fields of an entry (SQLite columns, Redis hash fields), in a stable order.
ENTRY_FIELDS = (
    "id", "tenant", "key", "template", "signature", "plan", "version", "tools",
    "created_at", "expires_at", "bound", "planner_tokens",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cached plan.

    ``plan`` is parameterised (placeholders, see :func:`omnihub.entities.parameterise`);
    ``key`` the canonical template hash (exact fast path); ``signature`` the sorted slots;
    ``bound`` slots whose values must be equal for reuse; ``expires_at`` an absolute UNIX
    time that a hit never extends.
    """

    id: str
    tenant: str
    key: str
    template: str
    signature: tuple[str, ...]
    plan: Any
    version: str
    tools: tuple[str, ...]
    created_at: float
    expires_at: float
    bound: dict[str, str] = field(default_factory=dict)
    planner_tokens: int = 0

    def to_row(self) -> dict[str, str]:
        """Flat string fields (for SQLite rows and Redis hashes)."""
        return {
            "id": self.id,
            "tenant": self.tenant,
            "key": self.key,
            "template": self.template,
            "signature": json.dumps(list(self.signature)),
            "plan": json.dumps(self.plan, sort_keys=True, separators=(",", ":")),
            "version": self.version,
            "tools": ",".join(self.tools),
            "created_at": repr(self.created_at),
            "expires_at": repr(self.expires_at),
            "bound": json.dumps(self.bound, sort_keys=True),
            "planner_tokens": str(self.planner_tokens),
        }

    @classmethod
    def from_row(cls, row: dict[str, str]) -> CacheEntry:
        return cls(
            id=row["id"],
            tenant=row["tenant"],
            key=row["key"],
            template=row["template"],
            signature=tuple(json.loads(row["signature"])),
            plan=json.loads(row["plan"]),
            version=row["version"],
            tools=tuple(t for t in row["tools"].split(",") if t),
            created_at=float(row["created_at"]),
            expires_at=float(row["expires_at"]),
            bound=dict(json.loads(row["bound"])),
            planner_tokens=int(row["planner_tokens"]),
        )

    def pack(self) -> str:
        """The whole entry as one compact JSON array (:data:`PACK_FORMAT` first): one field to
        read and one ``json.loads`` to decode, where :meth:`to_row` takes twelve fields and
        three decodes (a remote index returns eight neighbours per lookup)."""
        return json.dumps(
            [
                PACK_FORMAT, self.id, self.tenant, self.key, self.template, self.signature,
                self.plan, self.version, self.tools, self.created_at, self.expires_at,
                self.bound, self.planner_tokens,
            ],
            sort_keys=True,
            separators=(",", ":"),
        )  # fmt: skip

    @classmethod
    def unpack(cls, packed: str | bytes) -> CacheEntry | None:
        """The entry :meth:`pack` wrote, or None for another format (the caller then reads the
        fields of :meth:`to_row`)."""
        try:
            # orjson reads the eight neighbours of a lookup ~4x faster than json (~5 µs an
            # entry here); what it refuses (an integer past 64 bits, NaN) json reads as written.
            values = orjson.loads(packed)
        except orjson.JSONDecodeError:
            values = json.loads(packed)
        if not isinstance(values, list) or not values or values[0] != PACK_FORMAT:
            return None
        (
            _, entry_id, tenant, key, template, signature, plan, version, tools, created_at,
            expires_at, bound, planner_tokens,
        ) = values  # fmt: skip
        return cls(
            entry_id, tenant, key, template, tuple(signature), plan, version, tuple(tools),
            float(created_at), float(expires_at), bound, int(planner_tokens),
        )  # fmt: skip


#: Layout version of :meth:`CacheEntry.pack`; bump it when the array changes.
PACK_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Candidate:
    """A neighbour returned by an index search, with its cosine similarity."""

    entry: CacheEntry
    similarity: float


class PlanIndex(Protocol):
    """Where cache entries and their vectors live. Every call is scoped to one tenant, and no
    call can see another tenant's entries (separate indexes, or a mandatory filter)."""

    def add(self, entry: CacheEntry, vector: Vector) -> None:
        """Store an entry; it expires at ``entry.expires_at``."""
        ...

    def search(self, tenant: str, vector: Vector, k: int, now: float) -> list[Candidate]:
        """Up to ``k`` live entries nearest to ``vector``, most similar first."""
        ...

    def by_key(self, tenant: str, key: str, now: float) -> list[CacheEntry]:
        """Live entries whose canonical template hash is ``key`` (the exact fast path)."""
        ...

    def by_key_and_search(
        self, tenant: str, key: str, vector: Vector, k: int, now: float
    ) -> tuple[list[CacheEntry], list[Candidate] | None]:
        """:meth:`by_key` and :meth:`search` at once, for a lookup whose vector is already
        known: one round trip where the index is remote. An index for which a search is not
        free may skip it when exact entries exist, and answer ``None`` for the neighbours."""
        ...

    def touch(self, tenant: str, entry_id: str) -> None:
        """Record a hit (LRU order); never extends the entry's lifetime."""
        ...

    def invalidate(self, tenant: str, tool: str | None = None) -> int:
        """Drop the tenant's entries (only those using ``tool`` if given); return how many."""
        ...

    def count(self, tenant: str) -> int:
        """Live entries of the tenant."""
        ...

    def remove(self, tenant: str, entry_id: str) -> bool:
        """Drop one entry; whether it was there."""
        ...

    def record_failure(self, tenant: str, entry_id: str) -> int:
        """Count one goal that failed because of this entry's plan; the new count, or 0 if
        the entry is gone. Shared by every worker that shares the index."""
        ...

    def close(self) -> None: ...
