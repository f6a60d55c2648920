"""The evaluation harness on the shared dev set and on a synthetic held-out set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from heldout_data import generate

from omnihub.cache import MemoryPlanIndex, evaluate, load_dataset, plans_equal
from omnihub.embeddings import Embedder
from omnihub.errors import ValidationError

# The shared dev set sits beside the checkout (or beside the folder of worktrees).
DEV = next(
    (
        folder / "shared" / "data" / "plan_cache_dev.jsonl"
        for folder in Path(__file__).resolve().parents
        if (folder / "shared" / "data" / "plan_cache_dev.jsonl").is_file()
    ),
    Path("shared/data/plan_cache_dev.jsonl"),
)


def write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_plans_compare_numbers_by_value_and_ignore_key_order() -> None:
    assert plans_equal([{"a": 1, "b": [2.0]}], [{"b": [2], "a": 1.0}])
    assert not plans_equal({"a": 1}, {"a": 2})
    assert not plans_equal({"a": True}, {"a": 1})
    assert not plans_equal([1], [1, 2])
    assert not plans_equal({"a": 1}, {"b": 1})


def test_bad_dataset_lines_are_reported_with_their_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"tenant": "a", "query": "q", "plan": [], "now": "2026-01-01T00:00:00Z"}\n\n{', "utf-8"
    )
    with pytest.raises(ValidationError, match=":3:"):
        load_dataset(bad)
    with pytest.raises(ValidationError, match="cannot read"):
        load_dataset(tmp_path / "missing.jsonl")


def test_synthetic_held_out_set_has_no_false_hits(tmp_path: Path, embedder: Embedder) -> None:
    records = load_dataset(write(tmp_path / "heldout.jsonl", generate(count=160, seed=3)))
    report = evaluate(records, MemoryPlanIndex(), embedder)
    assert report["queries"] == 160
    assert report["false_hits"] == 0
    assert report["hit_rate"] >= 0.75
    baseline = report["baseline"]
    assert baseline["queries"] == 160
    assert baseline["false_hit_rate"] > report["false_hit_rate"]
    assert set(report["latency_ms"]) == {"embed", "search", "guards", "total"}


@pytest.mark.skipif(not DEV.is_file(), reason="the shared dev set is not beside the repository")
def test_dev_set_sample_has_no_false_hits(embedder: Embedder) -> None:
    records = load_dataset(DEV)[:200]
    report = evaluate(records, MemoryPlanIndex(), embedder, baseline=False)
    assert report["false_hits"] == 0
    assert report["hit_rate"] >= 0.8
    assert "baseline" not in report


def test_requests_the_cache_refuses_count_as_misses(tmp_path: Path, embedder: Embedder) -> None:
    rows = generate(count=3, seed=5)
    rows.append({**rows[0], "query": "Lock\x07 the account"})
    report = evaluate(load_dataset(write(tmp_path / "x.jsonl", rows)), MemoryPlanIndex(), embedder)
    assert report["queries"] == 4
    assert report["rejected_requests"] == 1
    assert report["hits"] + report["misses"] == 4


def test_report_breaks_down_by_intent_and_miss_reason_and_sweeps_the_baseline(
    tmp_path: Path, embedder: Embedder
) -> None:
    records = load_dataset(write(tmp_path / "heldout.jsonl", generate(count=60, seed=4)))
    report = evaluate(records, MemoryPlanIndex(), embedder)
    intents = report["by_intent"]
    assert sum(row["queries"] for row in intents.values()) == 60
    assert sum(row["hits"] for row in intents.values()) == report["hits"]
    assert all(row["false_hit_rate"] == 0.0 for row in intents.values())
    assert "search_hotels>book_hotel" in intents
    reasons = report["by_miss_reason"]
    assert sum(row["misses"] for row in reasons.values()) == report["misses"]
    assert reasons["empty_index"]["misses"] == 2  # the first request of each tenant
    sweep = report["baseline"]["sweep"]
    assert [row["threshold"] for row in sweep] == sorted(row["threshold"] for row in sweep)
    # A plain semantic cache trades false hits for hits as its threshold falls.
    assert sweep[0]["hits"] >= sweep[-1]["hits"]
    assert sweep[0]["false_hits"] > sweep[-1]["false_hits"]
