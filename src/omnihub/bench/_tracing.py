"""Tracing overhead of AgentSaga: the same goals with tracing off and on, in interleaved rounds.

OpenTelemetry's tracer provider can be installed once per process, and a Temporal server's
history grows as a run goes on, so the two halves of one process (off, then on) never ran on
equal terms. Here every round is a fresh process (driver and worker, as in the timed saga run)
with tracing off (no ``OTEL_*`` variable: the product's default) or on, and the rounds go in
pairs whose order alternates (off-on, on-off, off-on, ...), so a drift of the server or the
machine over the run falls on both halves alike. Each round warms its process with a few
untimed goals first. The overhead is the median of the pairs' overheads, reported with every
round.

On exports over real OTLP/HTTP (so the figure includes encoding and sending every span) to a
collector stand-in in a process of its own, as a real collector is, unless the ``OTEL_*``
variables name a collector. The stand-in decodes each export and counts its spans and
traces: proof that every goal was traced, and how many spans a goal costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from temporalio.client import Client

from omnihub.crypto import KeyRing, encrypted_data_converter
from omnihub.errors import ServerError
from omnihub.telemetry import configure_tracing, flush_tracing, tracing_requested

# Untimed goals that warm each round's fresh process (imports, the workflow sandbox's module
# cache, connections) so that the timed goals measure a running worker, not its start.
_WARMUP_GOALS = 20


class _Sink(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP exports, keeps what they carry, and answers an empty 200 (a valid
    OTLP/HTTP success)."""

    lock = threading.Lock()
    received: Counter[str] = Counter()  # exports, bytes, spans
    # Per trace: (name, span id, parent span id) of each span.
    traces: defaultdict[bytes, list[tuple[str, bytes, bytes]]] = defaultdict(list)

    def do_POST(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
        with _Sink.lock:
            _Sink.received.update(exports=1, bytes=len(body), spans=len(spans))
            for s in spans:
                _Sink.traces[s.trace_id].append((s.name, s.span_id, s.parent_span_id))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _received() -> dict[str, Any]:
    """What the sink was sent. A goal's trace is one that holds its ``StartWorkflow`` span;
    it is connected when it has one root and every other span's parent is in it."""
    with _Sink.lock:
        goals = [
            t for t in _Sink.traces.values() if any(n.startswith("StartWorkflow") for n, *_ in t)
        ]
        names: Counter[str] = Counter(n for t in goals for n, *_ in t)

        def connected(spans: list[tuple[str, bytes, bytes]]) -> bool:
            ids = {span_id for _, span_id, _ in spans}
            return sum(1 for _, _, parent in spans if parent not in ids) == 1

        return {
            "exports": _Sink.received["exports"],
            "bytes": _Sink.received["bytes"],
            "spans": _Sink.received["spans"],
            "traces": len(_Sink.traces),
            "goal_traces": len(goals),
            "connected_goal_traces": sum(1 for t in goals if connected(t)),
            "spans_per_goal": round(sum(names.values()) / len(goals), 2) if goals else None,
            "span_names": dict(sorted(names.items())),
        }


def _serve_sink() -> None:
    """The collector stand-in's process: print its URL, serve until stdin closes, then print
    what it received as one JSON line."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    print(f"http://{host!s}:{port}", flush=True)
    sys.stdin.read()
    server.shutdown()
    server.server_close()
    # Its own CPU: on one machine a collector takes cores the worker and Temporal also need.
    print(json.dumps({**_received(), "cpu_s": round(time.process_time(), 2)}), flush=True)


@contextlib.contextmanager
def _sink(received: dict[str, Any]) -> Iterator[str]:
    """The collector stand-in in a child process; its URL. On leaving, ``received`` holds
    what it was sent."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnihub.bench._tracing"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        received.update(json.loads(proc.stdout.readline() or "{}"))
        proc.stdout.close()
        proc.wait(10)


def _order(pairs: int) -> list[bool]:
    """Tracing on (True) or off per round: pairs in alternating order, off-on then on-off."""
    return [on for n in range(pairs) for on in ((False, True) if n % 2 == 0 else (True, False))]


def _round_env(on: bool, sink_url: str | None, keys: str) -> dict[str, str]:
    """A round's environment: off has no ``OTEL_*`` variable at all (the product's default);
    on keeps the operator's collector or points at the stand-in."""
    env = {k: v for k, v in os.environ.items() if on or not k.startswith("OTEL_")}
    if on and sink_url is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink_url
    env["OMNIHUB_CODEC_KEYS"] = keys
    return env


def _run_round(spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """One round in a process of its own; its figures (the last line it prints)."""
    result = subprocess.run(
        [sys.executable, "-m", "omnihub.bench._tracing", "round", json.dumps(spec)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        timeout=900,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise ServerError(f"a tracing round failed (exit {result.returncode})")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def _pct(part: float, whole: float) -> float:
    return round(part / whole * 100, 2) if whole else 0.0


async def compare_tracing(
    keys: KeyRing,
    address: str,
    db_url: str,
    goals: int,
    steps: int,
    rate: float | None,
    *,
    pairs: int = 5,
) -> dict[str, Any]:
    """``pairs`` pairs of rounds of ``goals`` goals, tracing off and on, each round in a
    fresh process on the same server and store; every round's figures, the overhead of each
    pair and their median (the headline figure), with the spread."""
    warmup = min(goals, _WARMUP_GOALS)
    spec = {"address": address, "db_url": db_url, "goals": goals, "steps": steps}
    spec |= {"rate": rate, "warmup": warmup}
    received: dict[str, Any] = {}
    rounds: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        sink_url = None if tracing_requested() else stack.enter_context(_sink(received))
        for traced in _order(pairs):
            env = _round_env(traced, sink_url, keys.dumps())
            figures = await asyncio.to_thread(_run_round, {**spec, "tracing": traced}, env)
            rounds.append({"tracing": "on" if traced else "off", **figures})
    # Per pair (its two rounds ran back to back): throughput lost and CPU added per goal, in
    # percent of the round with tracing off.
    lost, added = [], []
    for i in range(0, len(rounds), 2):
        pair = {r["tracing"]: r for r in rounds[i : i + 2]}
        off, on = pair["off"], pair["on"]
        lost.append(_pct(off["goals_per_s"] - on["goals_per_s"], off["goals_per_s"]))
        added.append(_pct(on["cpu_ms_per_goal"] - off["cpu_ms_per_goal"], off["cpu_ms_per_goal"]))

    def half(name: str) -> dict[str, Any]:
        mine = [r for r in rounds if r["tracing"] == name]
        return {
            "rounds": len(mine),
            "completed": sum(r["completed"] for r in mine),
            "failed": sum(r["failed"] for r in mine),
            "median_goals_per_s": statistics.median(r["goals_per_s"] for r in mine),
            "median_cpu_ms_per_goal": statistics.median(r["cpu_ms_per_goal"] for r in mine),
        }

    return {
        "design": "pairs of rounds in alternating order (off-on, on-off, ...), each round a "
        f"fresh process with {warmup} untimed warm-up goals",
        "rounds": rounds,
        "off": half("off"),
        "on": half("on"),
        "pair_throughput_overhead_pct": lost,
        "pair_cpu_overhead_pct": added,
        # The headline: the median pair, and the spread around it.
        "throughput_overhead_pct": statistics.median(lost),
        "throughput_overhead_range_pct": [min(lost), max(lost)],
        "cpu_overhead_pct": statistics.median(added),
        "exporter": "otlp/http to "
        + ("a collector stand-in process" if received else "the configured collector"),
        # The SDK's default samples every trace; an operator may choose a ratio instead.
        "sampler": os.environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
        # Counted by the sink (None with a collector of the operator's): every goal of every
        # traced round, warm-up goals too, one connected trace, and what each trace holds.
        "sink": received or None,
        "traced_goals": pairs * (goals + warmup),
    }


async def _round(spec: dict[str, Any]) -> dict[str, Any]:
    """One round, in this fresh process: tracing as the environment says (asserted against
    ``spec``), ``warmup`` untimed goals, then ``goals`` timed ones; throughput, latency and
    this process's CPU per timed goal (driver and worker, every thread, the export of its
    spans included: the flush at the end is counted)."""
    from omnihub.bench._saga import _bench_resources, _saga
    from omnihub.events import open_event_store
    from omnihub.runtime import traced_client

    on = configure_tracing("omnihub-bench")
    if on != spec["tracing"]:
        raise ServerError(f"tracing is {'on' if on else 'off'} in a round meant to be the other")
    ring = KeyRing.parse(os.environ["OMNIHUB_CODEC_KEYS"], "OMNIHUB_CODEC_KEYS")
    client = traced_client(
        await Client.connect(spec["address"], data_converter=encrypted_data_converter(ring))
    )
    store = open_event_store(spec["db_url"])
    resources = _bench_resources(spec["db_url"])
    try:
        goals, steps, rate = spec["goals"], spec["steps"], spec["rate"]
        await _saga(client, store, resources, spec["warmup"], steps, None)
        flush_tracing()
        cpu = time.process_time()
        figures = await _saga(client, store, resources, goals, steps, rate)
        flush_tracing()
        cpu = time.process_time() - cpu
    finally:
        resources.close()
        store.close()
    figures.pop("duplicate_side_effects", None)
    return {**figures, "cpu_ms_per_goal": round(cpu * 1000 / max(1, figures["completed"]), 2)}


def _main(argv: list[str]) -> int:
    if argv[:1] == ["round"]:
        print(json.dumps(asyncio.run(_round(json.loads(argv[1])))), flush=True)
        return 0
    _serve_sink()
    return 0


if __name__ == "__main__":
    # Guarded: the workflow sandbox imports workflow modules again, never this entry point.
    status = _main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # temporalio/sdk-python#300: a process that ran many workflows can abort at exit.
    os._exit(status)
