"""The PlanIndex contract, run against the in-process index and real Redis."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from omnihub.cache import CacheEntry, PlanIndex

Make = Callable[..., CacheEntry]


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_search_returns_nearest_with_cosine_similarity(index: PlanIndex, make_entry: Make) -> None:
    first, second = make_entry("acme", "k1"), make_entry("acme", "k2")
    index.add(first, unit(1))
    index.add(second, unit(2))
    found = index.search("acme", unit(1), 2, time.time())
    assert [c.entry for c in found] == [first, second]
    assert found[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert found[1].similarity < 0.5
    assert index.count("acme") == 2


def test_exact_key_lookup(index: PlanIndex, make_entry: Make) -> None:
    stored = make_entry("acme", "key-a")
    index.add(stored, unit(3))
    assert index.by_key("acme", "key-a", time.time()) == [stored]
    assert index.by_key("acme", "key-b", time.time()) == []


def test_key_and_search_together_match_the_two_calls(index: PlanIndex, make_entry: Make) -> None:
    keyed, other = make_entry("acme", "key-a"), make_entry("acme", "key-b")
    index.add(keyed, unit(11))
    index.add(other, unit(12))
    now = time.time()
    exact, near = index.by_key_and_search("acme", "key-a", unit(12), 2, now)
    assert exact == [keyed]
    # The in-process index skips the search when an exact entry exists; Redis answers both.
    assert near is None or near == index.search("acme", unit(12), 2, now)
    exact, near = index.by_key_and_search("acme", "key-c", unit(12), 2, now)
    assert exact == []
    assert near is not None
    assert [c.entry for c in near] == [other, keyed]
    assert index.by_key_and_search("globex", "key-a", unit(11), 2, now) == ([], [])


def test_tenants_never_see_each_other(index: PlanIndex, make_entry: Make) -> None:
    index.add(make_entry("acme", "k"), unit(4))
    assert index.search("globex", unit(4), 5, time.time()) == []
    assert index.by_key("globex", "k", time.time()) == []
    assert index.count("globex") == 0


def test_expired_entries_are_not_returned(index: PlanIndex, make_entry: Make) -> None:
    stale = make_entry("acme", "old", ttl=1.0)
    index.add(stale, unit(5))
    later = time.time() + 5
    assert index.search("acme", unit(5), 3, later) == []
    assert index.by_key("acme", "old", later) == []


def test_invalidate_by_tool_or_all(index: PlanIndex, make_entry: Make) -> None:
    index.add(make_entry("acme", "a", tools=("pay",)), unit(6))
    index.add(make_entry("acme", "b", tools=("book",)), unit(7))
    index.add(make_entry("globex", "c", tools=("pay",)), unit(8))
    index.touch("acme", "no-such-id")
    assert index.invalidate("acme", "pay") == 1
    assert [c.entry.key for c in index.search("acme", unit(6), 5, time.time())] == ["b"]
    assert index.invalidate("acme") == 1
    assert index.count("acme") == 0
    assert index.count("globex") == 1
    assert index.invalidate("nobody") == 0


def test_remove_drops_one_entry_and_its_exact_key(index: PlanIndex, make_entry: Make) -> None:
    kept, gone = make_entry("acme", "k1"), make_entry("acme", "k1")
    index.add(kept, unit(1))
    index.add(gone, unit(2))
    assert index.remove("acme", gone.id)
    assert not index.remove("acme", gone.id)
    assert not index.remove("globex", kept.id)  # another tenant cannot reach it
    assert [e.id for e in index.by_key("acme", "k1", time.time())] == [kept.id]
    assert [c.entry.id for c in index.search("acme", unit(2), 5, time.time())] == [kept.id]


def test_failures_are_counted_per_entry_and_forgotten_with_it(
    index: PlanIndex, make_entry: Make
) -> None:
    entry = make_entry("acme", "k1")
    index.add(entry, unit(1))
    assert index.record_failure("acme", entry.id) == 1
    assert index.record_failure("acme", entry.id) == 2
    assert index.record_failure("acme", "no-such-entry") == 0
    assert index.remove("acme", entry.id)
    assert index.record_failure("acme", entry.id) == 0  # never recreates the entry
    assert index.count("acme") == 0


def test_packed_entry_reads_back_whatever_json_wrote(make_entry: Make) -> None:
    entry = make_entry("acme", "k")
    odd = replace(entry, plan=[{"n": 2**70, "x": 0.1, "big": 1e300, "s": "é\u2028"}])
    assert CacheEntry.unpack(odd.pack()) == odd  # past orjson's 64-bit integers: json reads it
    assert CacheEntry.unpack(entry.pack().encode()) == entry
    nan = CacheEntry.unpack(replace(entry, plan=[float("nan")]).pack())
    assert nan is not None
    assert math.isnan(nan.plan[0])
