"""One goal, traced end to end across real processes: ``omnihub worker`` and ``omnihub
serve`` export OTLP/HTTP to a loopback receiver; the goal is planned through the plan cache
by a scripted LLM, writes a row, calls a loopback webhook that refuses (so the step fails),
and the row is compensated. The same run is scraped for metrics and its logs are read."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from llm_wire import Reply, openai_content

from omnihub.servers import free_port, port_open

if TYPE_CHECKING:  # annotations only: "conftest" names several modules in one session
    from conftest import ReceivedSpan, Receiver, Webhook

SECRETS = ("sk-obs-provider-secret-0123456789", "smtp-obs-password-98765")
SERVER, CLIENT = 2, 3  # OTLP span kinds


def _omnihub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnihub", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _wait(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.communicate(timeout=60)


@pytest.fixture
def stack_env(
    omnihub_home: Path, otlp_receiver: Receiver, webhook: Webhook, scripted_llm: Any
) -> dict[str, str]:
    import sqlite3

    with sqlite3.connect(omnihub_home / "events.db") as db:
        db.execute(
            "CREATE TABLE bookings (id TEXT NOT NULL, tenant_id TEXT NOT NULL, name TEXT,"
            " PRIMARY KEY (tenant_id, id))"
        )
    return {
        **os.environ,
        "OMNIHUB_HOME": str(omnihub_home),
        "OMNIHUB_PLANNER": "openai",
        "OMNIHUB_LLM_BASE_URL": scripted_llm.base_url,
        "OMNIHUB_LLM_MODEL": "gpt-4o",
        "OMNIHUB_LLM_API_KEY": SECRETS[0],
        "OMNIHUB_LLM_MAX_RETRIES": "0",
        "OMNIHUB_SMTP_PASSWORD": SECRETS[1],
        "OMNIHUB_HTTP_ALLOWED_HOSTS": '["127.0.0.1"]',
        "OMNIHUB_TOOLS_ALLOWED_TABLES": '["bookings"]',
        "OMNIHUB_WORKER_METRICS_PORT": str(free_port()),
        "OMNIHUB_TEMPORAL_METRICS_PORT": str(free_port()),
        "OMNIHUB_LOG_FORMAT": "json",
        # Prometheus scrapes the API without a key here (it needs an admin key by default).
        "OMNIHUB_API_METRICS_PUBLIC": "true",
        "OMNIHUB_LOG_LEVEL": "INFO",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


@pytest.fixture
def processes(stack_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """A worker (which starts the embedded Temporal server) and an API, as users run them."""
    key = json.loads(
        _omnihub(
            stack_env, "keys", "create", "--tenant", "default", "--role", "operator", "--json"
        ).stdout
    )["key"]
    worker = subprocess.Popen(
        [sys.executable, "-m", "omnihub", "worker"],
        env=stack_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    api = None
    logs: dict[str, Any] = {"key": key}
    stopped: list[str] = []

    def stop() -> list[str]:
        """Stop the API, then the worker: their (stdout, stderr), API first."""
        if not stopped:
            if api is not None:
                stopped.extend(_stop(api))
            else:
                stopped.extend(("", ""))
            stopped.extend(_stop(worker))
        return stopped

    logs["stop"] = stop
    try:
        assert worker.stdout is not None
        ready = worker.stdout.readline()
        assert "worker ready" in ready, _stop(worker)
        port = free_port()
        api = subprocess.Popen(
            [sys.executable, "-m", "omnihub", "serve", "--port", str(port)],
            env=stack_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait("the API", lambda: api.poll() is not None or port_open("127.0.0.1", port))
        assert api.poll() is None, _stop(api)
        logs["api_url"] = f"http://127.0.0.1:{port}"
        yield logs
    finally:
        stop()


def _plan(webhook_url: str) -> dict[str, Any]:
    return {
        "reasoning": "book, then tell the restaurant",
        "steps": [
            {
                "id": "book",
                "tool": "database_write",
                "args": {"table": "bookings", "values": {"name": "Ada"}},
                "depends_on": [],
            },
            {
                "id": "notify",
                "tool": "http_request",
                "args": {"method": "POST", "url": webhook_url, "json_body": {"name": "Ada"}},
                "depends_on": ["book"],
            },
        ],
    }


def _one(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def _ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[str]:
    names = []
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        names.append(span.name)
    return names


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus exposition ``text``."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels}")


@pytest.mark.slow
def test_a_goal_is_one_connected_trace_with_metrics_and_clean_logs(
    processes: dict[str, Any],
    stack_env: dict[str, str],
    otlp_receiver: Receiver,
    webhook: Webhook,
    scripted_llm: Any,
) -> None:
    webhook.status = 400  # refused: the step fails without retries, the booking is undone
    scripted_llm.script(Reply(body=openai_content(json.dumps(_plan(webhook.url)), model="gpt-4o")))
    api, auth = processes["api_url"], {"Authorization": f"Bearer {processes['key']}"}
    submitted = httpx.post(
        f"{api}/v1/goals", json={"goal": "Book a table for Ada and notify the venue"}, headers=auth
    )
    assert submitted.status_code == 202, submitted.text
    goal_id = submitted.json()["goal_id"]
    state: dict[str, Any] = {}

    def finished() -> bool:
        state.update(httpx.get(f"{api}/v1/goals/{goal_id}", headers=auth).json())
        return state["status"] in ("completed", "failed", "cancelled")

    _wait("the goal", finished, 120)
    assert state["status"] == "failed"

    def traced() -> bool:
        names = {s.name for s in otlp_receiver.snapshot()}
        return {"compensate.database_delete", "StartWorkflow:AgentSaga"} <= names and any(
            s.kind == SERVER and s.service == "omnihub-api" for s in otlp_receiver.snapshot()
        )

    _wait("the spans", traced, 30)
    time.sleep(0.5)  # the API's request span ends after its response
    start = _one(otlp_receiver.snapshot(), "StartWorkflow:AgentSaga")
    spans = [s for s in otlp_receiver.snapshot() if s.trace_id == start.trace_id]
    by_id = {s.span_id: s for s in spans}

    # One connected trace, rooted at the API request that submitted the goal.
    roots = [s for s in spans if s.parent_id not in by_id]
    assert len(roots) == 1, [(s.name, s.service) for s in roots]
    assert roots[0].kind == SERVER
    assert roots[0].service == "omnihub-api"
    assert start.service == "omnihub-api"
    assert _ancestors(start, by_id)[-1] == roots[0].name

    run = _one(spans, "RunWorkflow:AgentSaga")
    assert run.service == "omnihub-worker"
    assert run.parent_id == start.span_id
    lookup = _one(spans, "plan_cache.lookup")
    assert lookup.attributes["omnihub.cache.decision"] == "miss"
    assert lookup.attributes["omnihub.cache.reason"]
    assert lookup.attributes["omnihub.cache.threshold"] == pytest.approx(0.85)
    assert "RunActivity:prepare_goal" in _ancestors(lookup, by_id)
    chat = _one(spans, "chat gpt-4o")
    assert chat.attributes["gen_ai.system"] == "openai"
    assert chat.attributes["gen_ai.request.model"] == "gpt-4o"
    assert chat.attributes["gen_ai.usage.input_tokens"] == 100
    assert chat.attributes["gen_ai.usage.output_tokens"] == 20
    assert chat.attributes["omnihub.cost_usd"] > 0
    assert _ancestors(chat, by_id)[0] == "RunActivity:prepare_goal"

    write = _one(spans, "tool.database_write")
    assert by_id[write.parent_id].name == "RunActivity:execute_step"
    statements = [s for s in spans if s.name == "db.sql" and s.parent_id == write.span_id]
    assert any('INSERT INTO "bookings"' in s.attributes["db.statement"] for s in statements)
    # The idempotency ledger's bookkeeping is timed by the tool's span, not a span of its own.
    assert not any(
        "omnihub_idempotency" in s.attributes["db.statement"] for s in spans if s.name == "db.sql"
    )
    call = _one(spans, "tool.http_request")
    assert call.status_code == 2  # ERROR: the webhook refused
    request = _one(spans, "http.request")
    assert request.parent_id == call.span_id
    assert request.attributes["http.response.status_code"] == 400
    # The webhook joined the trace: its traceparent names the client span.
    assert webhook.headers, "the webhook was never called"
    _version, trace_id, parent_id, _ = webhook.headers[0]["traceparent"].split("-")
    assert (trace_id, parent_id) == (start.trace_id, request.span_id)
    undo = _one(spans, "compensate.database_delete")
    assert by_id[undo.parent_id].name == "RunActivity:compensate_step"
    assert any(s.name == "db.sql" and s.parent_id == undo.span_id for s in spans)
    # Every activity ran once, so each has one span: nothing was duplicated by a replay.
    assert len([s for s in spans if s.name == "RunActivity:execute_step"]) == 2
    assert len([s for s in spans if s.name == "RunActivity:compensate_step"]) == 1

    # The trace id is on the goal's first event.
    events = httpx.get(f"{api}/v1/goals/{goal_id}/events", headers=auth).json()
    assert start.trace_id in json.dumps(events)

    # Metrics: the worker counts the goal; the API counts its requests; Temporal's own.
    env = stack_env
    worker = httpx.get(f"http://127.0.0.1:{env['OMNIHUB_WORKER_METRICS_PORT']}/metrics").text
    assert _sample(worker, "omnihub_goals_total", tenant="default", outcome="started") == 1
    assert _sample(worker, "omnihub_goals_total", tenant="default", outcome="compensated") == 1
    assert _sample(worker, "omnihub_compensations_total", outcome="executed") == 1
    assert _sample(worker, "omnihub_step_failures_total", tool="http_request") == 1
    assert (
        _sample(worker, "omnihub_step_duration_seconds_count", tool="database_write", kind="do")
        == 1
    )
    assert _sample(worker, "omnihub_cache_lookups_total", tenant="default", outcome="miss") == 1
    tokens = _sample(
        worker, "omnihub_llm_tokens_total", tenant="default", model="gpt-4o", direction="input"
    )
    assert tokens == 100
    assert _sample(worker, "omnihub_event_append_batch_size_count") >= 6
    assert goal_id not in worker  # bounded labels: never a goal id
    temporal = httpx.get(f"http://127.0.0.1:{env['OMNIHUB_TEMPORAL_METRICS_PORT']}/metrics")
    assert "temporal_" in temporal.text
    served = httpx.get(f"{api}/metrics").text
    assert _sample(served, "omnihub_http_requests_total", method="POST", status="202") == 1
    assert "omnihub_goals" in served  # the runtime metrics are served by the API too

    # Logs: JSON lines carrying the goal and its trace, and never a secret.
    outputs = processes["stop"]()
    text = "\n".join(outputs)
    for secret in (*SECRETS, processes["key"]):
        assert secret not in text
    lines = [json.loads(line) for line in outputs[3].splitlines() if line.startswith("{")]
    received = [line for line in lines if line.get("event_type") == "GoalReceived"]
    assert len(received) == 1
    assert received[0]["goal_id"] == goal_id
    assert received[0]["tenant"] == "default"
    assert received[0]["trace_id"] == start.trace_id
    assert re.fullmatch(r"[0-9a-f]{16}", received[0]["span_id"])
