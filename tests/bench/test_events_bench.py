"""`omnihub bench events` on a small workload: the JSON it prints has the agreed keys."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from omnihub.bench import BenchConfig, goal_workload, run_events_benchmark
from omnihub.cli import app
from omnihub.errors import ConfigurationError

KEYS = {
    "backend",
    "events",
    "writers",
    "batch",
    "append_events_per_s",
    "read_events_per_s",
    "replay_events_per_s",
    "verify_events_per_s",
    "bytes_per_event",
    "limit_append_events_per_s",
}


def test_goal_workload_is_twelve_events_with_idempotency_keys() -> None:
    events = goal_workload(7)
    assert len(events) == 12
    assert len({e.idempotency_key for e in events}) == 12


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_bench_prints_one_json_object_with_peer_and_ratio(backend: str, store_url: str) -> None:
    result = CliRunner().invoke(
        app,
        [
            "bench", "events", "--backend", backend, "--events", "130", "--writers", "3",
            "--store-url", store_url, "--compare", "eventsourcing", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) >= KEYS | {"peer", "ratio"}
    assert (data["backend"], data["events"], data["writers"], data["batch"]) == (
        backend, 130, 3, 4,
    )  # fmt: skip
    for key in KEYS - {"backend", "events", "writers", "batch"}:
        assert data[key] > 0
    assert data["rounds"] == 3  # each part three times, interleaved; medians reported
    assert data["peer"]["library"] == "eventsourcing"
    assert data["peer"]["same_database"] is True
    expected = "sqlite WAL, synchronous=FULL" if backend == "sqlite" else "synchronous_commit=on"
    assert data["peer"]["durability"].endswith(expected)
    assert data["ratio"]["append_events_per_s"] > 0


def test_bench_table_output_and_default_sqlite_file() -> None:
    result = CliRunner().invoke(app, ["bench", "events", "--events", "24", "--writers", "2"])
    assert result.exit_code == 0, result.output
    assert "append_events_per_s" in result.output


def test_bench_rejects_bad_configuration() -> None:
    for cfg in (
        BenchConfig("mysql", 10, 1),
        BenchConfig("sqlite", 0, 1),
        BenchConfig("sqlite", 10, 1, compare="axon"),
        BenchConfig("sqlite", 10, 1, rounds=0),
        BenchConfig("postgres", 10, 1, store_url="sqlite:///x.db"),
    ):
        with pytest.raises(ConfigurationError):
            run_events_benchmark(cfg)
