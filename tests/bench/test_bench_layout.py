"""The benchmarks' front door, and their separation from the runtime packages."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import omnihub
import omnihub.bench

SRC = Path(omnihub.__file__).parent


def test_bench_public_names() -> None:
    assert omnihub.bench.__all__ == [
        "BenchConfig",
        "cache_query_texts",
        "goal_workload",
        "parse_sizes",
        "planning_goals",
        "replay_traffic",
        "run_cache_benchmark",
        "run_events_benchmark",
        "run_planning_benchmark",
        "run_planning_memory_benchmark",
        "run_planning_replay",
        "run_policy_benchmark",
        "run_saga_benchmark",
        "run_saga_workers_benchmark",
        "saga_bench_tools",
    ]
    for name in omnihub.bench.__all__:
        assert getattr(omnihub.bench, name) is not None


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_runtime_package_imports_benchmark_code_or_dev_dependencies() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        package = path.relative_to(SRC).parts[0]
        if package in {"bench", "cli"}:  # the command line is the benchmarks' only caller
            continue
        for name in _imported_modules(path):
            if name.startswith(("omnihub.bench", "eventsourcing", "dbos")) or "_bench" in name:
                offenders.append(f"{path.relative_to(SRC)} imports {name}")
    assert offenders == []
    assert not [p.name for p in SRC.rglob("_bench*.py")]


def test_the_peer_library_is_imported_only_when_asked_for() -> None:
    probe = (
        "import sys, omnihub.bench, omnihub.cli; "
        "print('eventsourcing' in sys.modules, 'omnihub.bench._events_peer' in sys.modules, "
        "'dbos' in sys.modules, 'omnihub.bench._saga_peer' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert out.split() == ["False", "False", "False", "False"]
