"""A real plan-cache entry for tests that report wrong plans (API and console)."""

from __future__ import annotations

import time
import uuid

import numpy as np

from omnihub.cache import CacheEntry, open_index
from omnihub.config import Settings


def remember_entry(settings: Settings, tenant: str) -> str:
    """Store one entry in the configured plan cache of ``settings``; return its id."""
    index = open_index(settings.resolved_cache_url, max_entries=settings.cache_max_entries)
    now = time.time()
    entry = CacheEntry(
        id=uuid.uuid4().hex,
        tenant=tenant,
        key="k",
        template="book a train from LOCATION to LOCATION",
        signature=("LOCATION", "LOCATION"),
        plan=[{"tool": "book_train", "args": {}}],
        version="v1",
        tools=("book_train",),
        created_at=now,
        expires_at=now + 600,
    )
    index.add(entry, np.ones(384, dtype=np.float32) / np.sqrt(384))
    index.close()
    return entry.id
