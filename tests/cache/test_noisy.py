"""Figures pinned on requests typed the way people type them (tests/cache/noisy_data.py).

Hit rate and false-hit rate are always asserted together: a hit bought with a false hit is
a wrong action executed.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from devset import DEV
from heldout_data import generate
from noisy_data import noisy, noisy_query

from omnihub.cache import EvalRecord, MemoryPlanIndex, evaluate, load_dataset
from omnihub.embeddings import Embedder


def _records(rows: list[dict[str, object]]) -> list[EvalRecord]:
    return [EvalRecord.model_validate(row) for row in rows]


def test_the_noise_generator_is_deterministic_and_keeps_values() -> None:
    now = datetime(2027, 3, 10, tzinfo=UTC)
    query = "Refund $40 for order INV-2231 to ana@contoso.com."
    first = noisy_query(random.Random(1), query, now)
    assert first == noisy_query(random.Random(1), query, now)
    assert first != query
    assert "INV-2231" in first
    assert "ana@contoso.com" in first
    assert "  " in first
    assert not first.endswith(".")


@pytest.mark.skipif(not DEV.is_file(), reason="the shared dev set is not beside the repository")
def test_dev_set_figures_clean_and_noisy(embedder: Embedder) -> None:
    rows = [record.model_dump(mode="json") for record in load_dataset(DEV)]
    clean = evaluate(_records(rows), MemoryPlanIndex(), embedder, baseline=False)
    assert (clean["hit_rate"], clean["false_hits"]) >= (0.9525, 0)
    assert clean["false_hits"] == 0
    report = evaluate(_records(noisy(rows, seed=7)), MemoryPlanIndex(), embedder, baseline=False)
    # Measured 0.92 (0.0688 before normalisation); false hits 0 both times.
    assert report["false_hits"] == 0
    assert report["hit_rate"] >= 0.91


def test_synthetic_held_out_set_noisy_figures(embedder: Embedder) -> None:
    rows = noisy(generate(count=400, seed=11), seed=3)
    report = evaluate(_records(rows), MemoryPlanIndex(), embedder, baseline=False)
    # Measured 0.8775 (0.0325 before normalisation) with no false hit.
    assert report["false_hits"] == 0
    assert report["hit_rate"] >= 0.87
