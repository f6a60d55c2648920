"""OpenTelemetry tracing, configured by the standard ``OTEL_*`` variables and off unless they
ask for it.

Off, every span below is the API's non-recording span (a few hundred nanoseconds) and no
exporter, thread or interceptor exists. On, spans go through a batch processor to OTLP over
HTTP (``http/protobuf``, the default) or gRPC (``OTEL_EXPORTER_OTLP_PROTOCOL=grpc``, with the
``otlp-grpc`` extra installed). Layers add spans with :func:`span` and carry the context
through OpenTelemetry's context, never by passing objects down.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import INVALID_SPAN, Span, Status, StatusCode, Tracer

from omnihub.errors import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

TRACER_NAME = "omnihub"
Attributes = Mapping[str, str | bool | int | float | None]

_lock = threading.Lock()
_provider: TracerProvider | None = None
_tracer_on: Tracer | None = None


def tracing_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the ``OTEL_*`` variables ask for traces: ``OTEL_TRACES_EXPORTER`` other than
    ``none``, or an OTLP endpoint, and ``OTEL_SDK_DISABLED`` not ``true``."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def tracing_enabled() -> bool:
    """Whether this process configured tracing (:func:`configure_tracing` returned True)."""
    return _provider is not None


def _exporter(env: Mapping[str, str]) -> SpanExporter:
    kind = env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if kind != "otlp":
        raise ConfigurationError(f"OTEL_TRACES_EXPORTER={kind!r}: use otlp, console or none")
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError as exc:
            raise ConfigurationError(
                "OTLP over gRPC needs the otlp-grpc extra: pip install 'omnihub[otlp-grpc]'"
            ) from exc
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        exporter: SpanExporter = GrpcExporter(endpoint=endpoint)
        return exporter
    if protocol != "http/protobuf":
        raise ConfigurationError(f"OTLP protocol {protocol!r}: use http/protobuf or grpc")
    from omnihub.telemetry._otlp import FastOTLPSpanExporter

    # The endpoint is resolved from ``env`` (the exporter itself reads only os.environ); the
    # headers, timeout and compression it reads from the same OTEL_* variables.
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if not endpoint and env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        endpoint = env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
    return FastOTLPSpanExporter(endpoint=endpoint)


def _batch_processor(exporter: SpanExporter) -> SpanProcessor:
    """The SDK's batch processor, or for our OTLP/HTTP exporter the one that queues spans
    already encoded (same batches and bytes, fewer long-lived objects: see ``_otlp``)."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from omnihub.telemetry._otlp import EncodingBatchSpanProcessor, FastOTLPSpanExporter

    if isinstance(exporter, FastOTLPSpanExporter) and exporter.fast():
        return EncodingBatchSpanProcessor(exporter)
    return BatchSpanProcessor(exporter)


def configure_tracing(service_name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Install the SDK's tracer provider for this process when the ``OTEL_*`` variables ask
    for traces; True when tracing is on. Idempotent: the first call wins (OpenTelemetry's
    global provider can be set once per process)."""
    global _provider, _tracer_on
    env = os.environ if environ is None else environ
    if not tracing_requested(env):
        return False
    with _lock:
        if _provider is not None:
            return True
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
        except ImportError as exc:
            raise ConfigurationError(
                "OTEL_* asks for tracing, which needs the OpenTelemetry SDK: "
                "pip install 'omnihub[otlp]'"
            ) from exc

        # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over our default name.
        attributes = {} if env.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
        provider = TracerProvider(resource=Resource.create(attributes))
        exporter = _exporter(env)
        provider.add_span_processor(_batch_processor(exporter))
        trace.set_tracer_provider(provider)
        _provider = provider
        _tracer_on = provider.get_tracer(TRACER_NAME)
        return True


def flush_tracing(timeout_s: float = 5.0) -> None:
    """Export the spans still buffered (before a process leaves with ``os._exit``)."""
    if _provider is not None:
        _provider.force_flush(int(timeout_s * 1000))


class _SpanScope:
    """The context manager :func:`span` returns: a class rather than a generator, because it
    wraps every tool call and SQL statement (measured here: about 8 µs a span less when off,
    where it now costs a fraction of a microsecond, and a few µs less when on)."""

    __slots__ = ("_attributes", "_name", "_span", "_token")

    def __init__(self, name: str, attributes: Attributes | None) -> None:
        self._name = name
        self._attributes = attributes
        self._span: Span | None = None
        self._token: object = None

    def __enter__(self) -> Span:
        tracer = _tracer()
        if tracer is None:
            return INVALID_SPAN
        current = tracer.start_span(
            self._name,
            attributes={k: v for k, v in (self._attributes or {}).items() if v is not None},
        )
        self._token = otel_context.attach(trace.set_span_in_context(current))
        self._span = current
        return current

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        current = self._span
        if current is None:
            return
        otel_context.detach(self._token)  # type: ignore[arg-type]
        # As the SDK's use_span: only an Exception is an error (not a cancellation).
        if isinstance(exc, Exception) and current.is_recording():
            current.record_exception(exc)
            current.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        current.end()


def _tracer() -> Tracer | None:
    """The tracer spans go to: ours when tracing is configured, else the global provider's
    when the embedding application installed one, else None (tracing is off)."""
    if _tracer_on is not None:
        return _tracer_on
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider.get_tracer(TRACER_NAME)


def span(
    name: str, attributes: Attributes | None = None
) -> contextlib.AbstractContextManager[Span]:
    """A child span of the current one, named ``name`` with ``attributes`` (None values are
    left out); an exception leaving it is recorded and marks it as an error."""
    return _SpanScope(name, attributes)


def set_attributes(attributes: Attributes) -> None:
    """Add ``attributes`` (None values left out) to the current span, e.g. a decision known
    only at the end of the work it measures."""
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes({k: v for k, v in attributes.items() if v is not None})


def mark_error(description: str) -> None:
    """Mark the current span as failed without an exception (a refused or failed result)."""
    current = trace.get_current_span()
    if current.is_recording():
        current.set_status(Status(StatusCode.ERROR, description))


def inject_traceparent(headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Add the W3C ``traceparent`` (and ``tracestate``) of the current span to outgoing
    ``headers``, so the remote server joins the trace; nothing when no span is recording."""
    if trace.get_current_span().get_span_context().is_valid:
        propagate.inject(headers)
    return headers


def current_ids() -> tuple[str | None, str | None]:
    """The current ``(trace_id, span_id)`` in hex, or ``(None, None)`` outside a trace."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def current_trace_id() -> str | None:
    """The current trace id in hex (32 digits), or None outside a trace."""
    return current_ids()[0]


def temporal_interceptors(tracer: Tracer | None = None) -> list[Any]:
    """Temporal's OpenTelemetry interceptor (without its zero-length bookkeeping spans, see
    ``_temporal``) when tracing is on or ``tracer`` is given (for the client; workers built
    from that client use it too), else none. It creates workflow spans only when a workflow
    task is not replaying, so a replayed workflow never duplicates spans."""
    if _provider is None and tracer is None:
        return []
    from omnihub.telemetry._temporal import GoalTracingInterceptor

    return [GoalTracingInterceptor(tracer)]
