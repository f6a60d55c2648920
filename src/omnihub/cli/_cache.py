"""``omnihub cache …``: evaluate, benchmark and invalidate the semantic plan cache."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from omnihub.cli._app import app, state
from omnihub.errors import ConfigurationError, NotFoundError, StoreError, ValidationError

if TYPE_CHECKING:
    from omnihub.cache import PlanIndex

# The backends ``--backend`` offers, spelled out here so that help needs no import of the cache
# (numpy, the HNSW index); a test pins it to ``omnihub.cache._factory.INDEX_BACKENDS``.
INDEX_BACKENDS = ("memory", "redis")

cache_app = typer.Typer(help="The semantic plan cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")

BackendOption = Annotated[
    str, typer.Option("--backend", help=f"Index backend: {' or '.join(INDEX_BACKENDS)}.")
]
RedisOption = Annotated[
    str | None,
    typer.Option("--redis-url", help="Redis URL; unset starts an embedded Redis 8.2."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@contextmanager
def _scratch_index(backend: str, redis_url: str | None) -> Iterator[PlanIndex]:
    """A fresh, empty index: in memory, or a throw-away namespace in Redis (embedded if no
    URL), dropped afterwards."""
    from omnihub.cache import MemoryPlanIndex, RedisPlanIndex

    if backend == "memory":
        index = MemoryPlanIndex()
        try:
            yield index
        finally:
            index.close()
        return
    if backend != "redis":
        raise ConfigurationError(
            f"unknown plan cache backend {backend!r}; choose one of {', '.join(INDEX_BACKENDS)}"
        )
    with _redis(redis_url) as url:
        index_r = RedisPlanIndex(url, namespace=f"omnihub:plancache-scratch-{uuid.uuid4().hex[:8]}")
        try:
            yield index_r
        finally:
            try:
                index_r.drop()
            except StoreError as exc:  # the results stand; say what was left behind
                typer.echo(f"warning: scratch namespace not dropped: {exc}", err=True)
            finally:
                index_r.close()


@contextmanager
def _redis(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from omnihub.servers import EmbeddedRedis

    with (
        tempfile.TemporaryDirectory(prefix="omnihub-redis-") as folder,
        EmbeddedRedis(Path(folder)) as server,
    ):
        yield server.url


def _emit(report: dict[str, Any], as_json: bool) -> None:
    typer.echo(json.dumps(report, sort_keys=False) if as_json else json.dumps(report, indent=2))


@cache_app.command("eval")
def eval_command(
    ctx: typer.Context,
    dataset: Annotated[Path, typer.Option("--dataset", help="JSONL file to replay.")],
    backend: BackendOption = "memory",
    redis_url: RedisOption = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Cosine similarity (default: setting).")
    ] = None,
    baseline: Annotated[
        bool, typer.Option("--baseline/--no-baseline", help="Also run the plain baseline.")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Replay a dataset against an empty cache; print hit and false-hit rates."""
    from omnihub.cache import evaluate, load_dataset
    from omnihub.embeddings import open_embedder

    records = load_dataset(dataset)
    if not records:
        raise ValidationError(f"{dataset} has no records")
    chosen = threshold if threshold is not None else state(ctx).settings.cache_threshold
    embedder = open_embedder("onnx")
    with _scratch_index(backend, redis_url) as index:
        report = evaluate(records, index, embedder, threshold=chosen, baseline=baseline)
    report = {"backend": backend, **report}
    _emit(report, as_json)


@cache_app.command("bench")
def bench_command(
    entries: Annotated[int, typer.Option("--entries", min=1, help="Synthetic entries.")] = 100_000,
    backend: BackendOption = "memory",
    redis_url: RedisOption = None,
    queries: Annotated[
        int, typer.Option("--queries", min=1, help="Timed lookups, each of a distinct text.")
    ] = 1000,
    threads: Annotated[
        int, typer.Option("--threads", min=1, help="ONNX Runtime intra-op threads per query.")
    ] = 1,
    as_json: JsonOption = False,
) -> None:
    """Fill an index with synthetic entries and time real lookups (p50/p99 per stage)."""
    from omnihub.bench import run_cache_benchmark
    from omnihub.embeddings import open_embedder

    embedder = open_embedder("onnx", threads=threads)
    with _scratch_index(backend, redis_url) as index:
        report = run_cache_benchmark(
            index, embedder, entries=entries, backend=backend, queries=queries
        )
    _emit(report, as_json)


def _configured_index(ctx: typer.Context, backend: str | None, redis_url: str | None) -> PlanIndex:
    """The configured index (the operator's real cache), with command-line overrides."""
    from omnihub.cache import open_index

    settings = state(ctx).settings
    return open_index(
        backend or settings.resolved_cache_url,
        settings=settings,
        redis_url=redis_url,
        path=str(settings.resolved_cache_path),
        max_entries=settings.cache_max_entries,
    )


@cache_app.command("invalidate")
def invalidate_command(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant whose entries to drop.")],
    tool: Annotated[
        str | None, typer.Option("--tool", help="Only entries whose plan uses this tool.")
    ] = None,
    all_entries: Annotated[bool, typer.Option("--all", help="Every entry of the tenant.")] = False,
    backend: Annotated[
        str | None, typer.Option("--backend", help="Override the configured backend.")
    ] = None,
    redis_url: Annotated[str | None, typer.Option("--redis-url", help="Redis URL.")] = None,
) -> None:
    """Drop cached plans of a tenant: those using one tool, or all of them."""
    if (tool is None) == (not all_entries):
        raise ValidationError("give exactly one of --tool NAME or --all")
    index = _configured_index(ctx, backend, redis_url)
    try:
        removed = index.invalidate(tenant, tool)
    finally:
        index.close()
    typer.echo(json.dumps({"tenant": tenant, "tool": tool, "removed": removed}))


@cache_app.command("report-wrong")
def report_wrong_command(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant the plan was served to.")],
    entry: Annotated[
        str, typer.Option("--entry", help="Cache entry id (the goal's PlanGenerated event).")
    ],
    reason: Annotated[
        str, typer.Option("--reason", help="What was wrong, for the log.")
    ] = "reported by an operator",
    backend: Annotated[
        str | None, typer.Option("--backend", help="Override the configured backend.")
    ] = None,
    redis_url: Annotated[str | None, typer.Option("--redis-url", help="Redis URL.")] = None,
) -> None:
    """Report a cached plan as wrong: the entry is evicted, and the report recorded (a
    PlanReportedWrong event) and counted as a false hit, as the API and the console do."""
    from omnihub.events import open_event_store
    from omnihub.goals import PlanReports, WrongPlanReport

    settings = state(ctx).settings
    body = WrongPlanReport(entry_id=entry, reason=reason)
    url = settings.resolved_event_store_url
    with open_event_store(url, max_payload_bytes=settings.max_payload_bytes) as store:
        reports = PlanReports(
            store, settings, index=lambda: _configured_index(ctx, backend, redis_url)
        )
        try:
            done = reports.report_now(tenant, body, "cli")
        except NotFoundError:
            evicted, why = False, None
        else:
            evicted, why = done.evicted, done.reason
    typer.echo(json.dumps({"tenant": tenant, "entry": entry, "evicted": evicted, "reason": why}))
    if not evicted:
        raise typer.Exit(1)
