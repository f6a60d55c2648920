"""The span exporter's own protobuf encoder writes what the SDK's encoder writes (both parsed
by the real OTLP protobuf and compared), and its export reaches a loopback collector."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from omnihub.telemetry._otlp import (
    EncodedSpan,
    EncodingBatchSpanProcessor,
    FastOTLPSpanExporter,
    encode_spans,
)
from omnihub.telemetry._tracing import _batch_processor

if TYPE_CHECKING:
    from conftest import Receiver


def _spans(also: SpanProcessor | None = None) -> tuple[ReadableSpan, ...]:
    """Spans using every field the encoder writes: all attribute types, events, links,
    statuses, kinds, a remote parent with a trace state, and two instrumentation scopes;
    ``also`` receives them too."""
    kept = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "omnihub-test"}))
    provider.add_span_processor(SimpleSpanProcessor(kept))
    if also is not None:
        provider.add_span_processor(also)
    ours = provider.get_tracer("omnihub")
    other = provider.get_tracer("other", "1.2", schema_url="https://example.invalid/schema")
    remote = SpanContext(
        0xABC,
        0xDEF,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("k", "v"), ("a", "b")]),
    )
    attributes = {
        "text": "é ünïcode",
        "empty": "",
        "yes": True,
        "no": False,
        "negative": -5,
        "large": 2**62,
        "zero": 0,
        "ratio": 1.5,
        "names": ("a", "b"),
        "numbers": [1, 2, 3],
    }
    with ours.start_as_current_span("root", kind=SpanKind.SERVER, attributes=attributes) as root:
        root.add_event("checkpoint", {"rows": 1})
        root.add_event("bare")
        with other.start_as_current_span(
            "child", kind=SpanKind.CLIENT, links=[Link(remote, {"why": "retry"}), Link(remote)]
        ) as child:
            child.set_status(Status(StatusCode.ERROR, "refused"))
        with ours.start_as_current_span("", kind=SpanKind.CONSUMER) as unnamed:
            unnamed.set_status(Status(StatusCode.OK))
    joined = trace.set_span_in_context(NonRecordingSpan(remote))
    with ours.start_as_current_span("remote child", context=joined, kind=SpanKind.PRODUCER):
        pass
    provider.shutdown()
    return kept.get_finished_spans()


def _parsed(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return request


def test_the_encoder_writes_what_the_sdk_encoder_writes() -> None:
    spans = _spans()
    ours = _parsed(encode_spans(spans))
    assert ours == _parsed(sdk_encode(spans).SerializePartialToString())
    assert sorted(len(s.spans) for s in ours.resource_spans[0].scope_spans) == [1, 3]
    # Twice: the second pass reads encoded attributes from the cache.
    assert _parsed(encode_spans(spans)) == ours


def test_the_exporter_sends_the_batch_to_the_collector(otlp_receiver: Receiver) -> None:
    exporter = FastOTLPSpanExporter(endpoint=f"{otlp_receiver.endpoint}/v1/traces")
    # The fast path sends through the SDK exporter's own client; without it (a renamed
    # attribute in a new SDK release) export falls back to the SDK's slower encoder.
    assert hasattr(exporter, "_client")
    assert hasattr(exporter, "_metrics")
    spans = _spans()
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    received = otlp_receiver.snapshot()
    assert [s.name for s in received] == [s.name for s in spans]
    assert {s.service for s in received} == {"omnihub-test"}
    (root,) = [s for s in received if s.name == "root"]
    assert root.attributes["text"] == "é ünïcode"
    assert root.attributes["negative"] == -5


def test_spans_encoded_at_their_end_are_the_bytes_of_the_sdk_encoder() -> None:
    spans = _spans()
    sdk = _parsed(sdk_encode(spans).SerializePartialToString())
    assert _parsed(encode_spans([EncodedSpan(s) for s in spans])) == sdk
    # Mixed (a span the encoder refused at its end is queued as itself).
    assert _parsed(encode_spans([spans[0], *(EncodedSpan(s) for s in spans[1:])])) == sdk


def test_the_encoding_processor_exports_every_span_through_the_collector(
    otlp_receiver: Receiver,
) -> None:
    exporter = FastOTLPSpanExporter(endpoint=f"{otlp_receiver.endpoint}/v1/traces")
    processor = _batch_processor(exporter)
    # Our OTLP/HTTP exporter gets the encoding processor (the SDK's for any other exporter).
    assert isinstance(processor, EncodingBatchSpanProcessor)
    spans = _spans(also=processor)  # ends its provider: flushes and shuts the processor down
    received = otlp_receiver.snapshot()
    assert [s.name for s in received] == [s.name for s in spans]
    (root,) = [s for s in received if s.name == "root"]
    assert root.attributes["ratio"] == 1.5
