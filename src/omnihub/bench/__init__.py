"""Benchmarks of every capability, kept apart from the runtime packages.

Nothing under ``omnihub`` except the command line imports this package, and the one peer that
needs a dev-only dependency (``eventsourcing``) is imported only when ``--compare`` asks for it.
"""

from omnihub.bench._cache import cache_query_texts, run_cache_benchmark
from omnihub.bench._events import BenchConfig, goal_workload, run_events_benchmark
from omnihub.bench._planning import planning_goals, run_planning_benchmark
from omnihub.bench._planning_memory import run_planning_memory_benchmark
from omnihub.bench._planning_replay import replay_traffic, run_planning_replay
from omnihub.bench._policy import run_policy_benchmark
from omnihub.bench._saga import parse_sizes, run_saga_benchmark, saga_bench_tools
from omnihub.bench._saga_workers import run_saga_workers_benchmark

__all__ = [
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
