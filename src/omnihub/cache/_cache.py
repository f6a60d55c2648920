"""The semantic plan cache: request → entities → template → exact fast path or embedding →
nearest neighbours → guards → injected plan."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from omnihub import telemetry
from omnihub.cache._guards import (
    TODAY,
    bound_guard,
    canonical_value,
    slot_guard,
    version_guard,
    wording_guard,
)
from omnihub.cache._index import CacheEntry, Candidate, PlanIndex, Vector
from omnihub.cache._metrics import CacheMetrics
from omnihub.cache._vectors import VECTOR_MEMO_SIZE, VectorMemo
from omnihub.embeddings import Embedder
from omnihub.entities import (
    Entity,
    EntityType,
    SlotError,
    Template,
    inject,
    literal_types,
    make_template,
    normalise_request,
    parameterise,
)
from omnihub.errors import CacheInputError, OmniHubError, StoreError, ValidationError

log = logging.getLogger(__name__)

MISS_EMPTY = "empty_index"
MISS_THRESHOLD = "below_threshold"
MISS_UNAVAILABLE = "unavailable"
NEIGHBOURS = 8


def cache_version(tool_schemas: Mapping[str, Any], planner_model: str, prompt_version: str) -> str:
    """The version tag of cache entries: a hash of the tool catalog's schemas, the planner
    model and the prompt version. Entries under another tag are never reused."""
    payload = json.dumps(
        {"tools": tool_schemas, "model": planner_model, "prompt": prompt_version},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def validate_request(request: str | bytes, max_chars: int) -> str:
    """Return the request as text or raise :class:`CacheInputError`."""
    if isinstance(request, bytes):
        try:
            request = request.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CacheInputError(f"request is not valid UTF-8: {exc}") from exc
    if not isinstance(request, str):
        raise CacheInputError(f"request must be text, not {type(request).__name__}")
    try:
        request.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CacheInputError(f"request is not valid UTF-8: {exc}") from exc
    if not request.strip():
        raise CacheInputError("request is empty")
    if len(request) > max_chars:
        raise CacheInputError(
            f"request is {len(request)} characters, over the limit of {max_chars}"
        )
    for char in request:
        if char not in "\t\n\r" and unicodedata.category(char) == "Cc":
            raise CacheInputError(f"request contains a control character {char!r}")
    return request


def validate_tenant(tenant: str) -> str:
    if not isinstance(tenant, str) or not tenant.strip() or len(tenant) > 128:
        raise CacheInputError("tenant must be a non-empty string of at most 128 characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zs") for c in tenant):
        raise CacheInputError("tenant must not contain spaces or control characters")
    return tenant


@dataclass
class Lookup:
    """The outcome of :meth:`PlanCache.lookup`. ``plan`` is the injected plan on a hit."""

    hit: bool
    plan: Any = None
    reason: str | None = None
    similarity: float | None = None
    entry_id: str | None = None
    template: Template | None = None
    entities: list[Entity] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    vector: Vector | None = None
    #: Whether the embedding model ran for this lookup (False: exact path, or the template's
    #: vector was remembered from an earlier request).
    embedded: bool = False


#: Why an entry was evicted (recorded with the eviction).
EVICT_FAILURES = "plan_failures"
EVICT_REPORTED = "reported_wrong"


@dataclass(frozen=True, slots=True)
class Demotion:
    """The outcome of :meth:`PlanCache.demote` or :meth:`PlanCache.report_wrong_plan`.

    ``failures`` is the entry's failure count after this one (0 if the entry was already
    gone); ``evicted`` whether the entry was dropped now; ``reason`` why it was dropped
    (``plan_failures`` or ``reported_wrong``) and ``cause`` the caller's account of the failure
    ("validation", "tool rejected arguments", "compensated"…), for the event to record.
    """

    tenant: str
    entry_id: str
    failures: int
    evicted: bool
    reason: str | None = None
    cause: str | None = None


@dataclass(frozen=True, slots=True)
class StoreResult:
    stored: bool
    reason: str | None = None
    entry_id: str | None = None


class _LocalFlights:
    """Per-key in-process locks for single flight (embedded mode)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def flight(self, name: str, ttl_ms: int, wait_s: float) -> Iterator[bool]:
        with self._guard:
            lock, users = self._locks.get(name, (threading.Lock(), 0))
            self._locks[name] = (lock, users + 1)
        owner = lock.acquire(blocking=False)
        try:
            if not owner:
                waited = lock.acquire(timeout=wait_s)
                if waited:
                    lock.release()
                yield False
            else:
                yield True
        finally:
            if owner:
                lock.release()
            with self._guard:
                lock, users = self._locks[name]
                if users <= 1:
                    del self._locks[name]
                else:
                    self._locks[name] = (lock, users - 1)


class PlanCache:
    """Reuse plans for requests that differ only in their values.

    ``version`` is the tag from :func:`cache_version`; ``threshold`` a cosine similarity;
    ``vector_memo_size`` template embeddings are remembered (requests differing only in their
    values share a template, and the model is most of a lookup's time; 0 remembers none).
    Index failures never fail the caller: a lookup answers "miss" (reason ``unavailable``)
    and a store is skipped, both logged and counted.
    """

    def __init__(
        self,
        index: PlanIndex,
        embedder: Embedder,
        *,
        version: str,
        threshold: float = 0.85,
        ttl_seconds: float = 7 * 24 * 3600,
        max_request_chars: int = 2000,
        neighbours: int = NEIGHBOURS,
        metrics: CacheMetrics | None = None,
        clock: Callable[[], float] = time.time,
        flight_ttl_ms: int = 60_000,
        max_plan_failures: int = 2,
        vector_memo_size: int = VECTOR_MEMO_SIZE,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValidationError(
                f"threshold must be a cosine similarity in [0, 1], not {threshold}"
            )
        self.index = index
        self.embedder = embedder
        self.version = version
        self.threshold = threshold
        self.ttl_seconds = ttl_seconds
        self.max_request_chars = max_request_chars
        self.neighbours = neighbours
        if max_plan_failures < 1:
            raise ValidationError(f"max_plan_failures must be at least 1, not {max_plan_failures}")
        self.max_plan_failures = max_plan_failures
        self.metrics = metrics or CacheMetrics()
        self._clock = clock
        self._flight_ttl_ms = flight_ttl_ms
        self._local = _LocalFlights()
        self._vectors = VectorMemo(vector_memo_size)

    # -- lookup ----------------------------------------------------------------------
    def _check(
        self, entities: list[Entity], template: Template, entry: CacheEntry, today: str
    ) -> str | None:
        for reason in (
            version_guard(self.version, entry.version),
            slot_guard(template.slots, entry.signature),
            wording_guard(template.text, entry.template),
            bound_guard(entities, entry.bound, today),
        ):
            if reason is not None:
                self.metrics.reject(reason)
                return reason
        return None

    def _first_passing(
        self,
        entities: list[Entity],
        template: Template,
        candidates: list[Candidate],
        today: str,
    ) -> tuple[Candidate | None, str | None]:
        first_reason: str | None = None
        for candidate in candidates:
            reason = self._check(entities, template, candidate.entry, today)
            if reason is None:
                return candidate, None
            first_reason = first_reason or reason
        return None, first_reason

    def lookup(self, tenant: str, request: str | bytes, now: datetime | None = None) -> Lookup:
        """Find a cached plan for ``request`` and fill in its values, or say why not."""
        # obs hook: the lookup's span, with the decision, the guard's reason and the scores
        with telemetry.span("plan_cache.lookup", {"omnihub.tenant": tenant}):
            result = self._lookup(tenant, request, now)
            telemetry.set_attributes(
                {
                    "omnihub.cache.decision": "hit" if result.hit else "miss",
                    "omnihub.cache.reason": result.reason,
                    "omnihub.cache.similarity": result.similarity,
                    "omnihub.cache.threshold": self.threshold,
                    "omnihub.cache.entry_id": result.entry_id,
                }
            )
            return result

    def _lookup(self, tenant: str, request: str | bytes, now: datetime | None) -> Lookup:
        tenant = validate_tenant(tenant)
        text = validate_request(request, self.max_request_chars)
        started = time.perf_counter()
        reference = now or datetime.now(UTC)
        entities, template = _understand(text, reference)
        result = Lookup(hit=False, template=template, entities=entities)
        timings = {"embed": 0.0, "search": 0.0, "guards": 0.0}
        try:
            self._find(tenant, entities, template, result, timings, reference.date().isoformat())
        except (StoreError, OSError) as exc:
            log.warning("plan cache unavailable, answering miss: %s", exc)
            self.metrics.add("errors")
            result.hit, result.reason = False, MISS_UNAVAILABLE
        timings["total"] = time.perf_counter() - started
        result.timings = timings
        self.metrics.record(tenant, result.hit, result.reason, timings)
        return result

    def _find(
        self,
        tenant: str,
        entities: list[Entity],
        template: Template,
        result: Lookup,
        timings: dict[str, float],
        today: str,
    ) -> None:
        now = self._clock()
        # A template seen before has its vector remembered: the exact path and the neighbour
        # search then go to the index together (one round trip on Redis). Otherwise the exact
        # path goes first, and an exact hit never pays for the model.
        remembered = self._vectors.peek(template.text)
        found: list[Candidate] | None = None
        tick = time.perf_counter()
        if remembered is None:
            keyed = self.index.by_key(tenant, template.key, now)
        else:
            keyed, found = self.index.by_key_and_search(
                tenant, template.key, remembered, self.neighbours, now
            )
        exact = [Candidate(e, 1.0) for e in keyed]
        timings["search"] += time.perf_counter() - tick
        tick = time.perf_counter()
        chosen, reason = self._first_passing(entities, template, exact, today)
        timings["guards"] += time.perf_counter() - tick
        if chosen is None:
            result.vector = remembered
            if result.vector is None:
                tick = time.perf_counter()
                result.vector, result.embedded = self._vectors.get(
                    template.text, self.embedder.embed_one
                )
                timings["embed"] = time.perf_counter() - tick
            if found is None:
                tick = time.perf_counter()
                found = self.index.search(tenant, result.vector, self.neighbours, now)
                timings["search"] += time.perf_counter() - tick
            seen = {c.entry.id for c in exact}  # already judged on the exact path
            close = [c for c in found if c.similarity >= self.threshold and c.entry.id not in seen]
            tick = time.perf_counter()
            chosen, near_reason = self._first_passing(entities, template, close, today)
            timings["guards"] += time.perf_counter() - tick
            if chosen is None:
                if not found and not exact:
                    result.reason = MISS_EMPTY
                elif not close and reason is None:
                    result.reason = MISS_THRESHOLD
                else:
                    result.reason = reason or near_reason or MISS_THRESHOLD
                return
        tick = time.perf_counter()
        try:
            plan = inject(chosen.entry.plan, entities)
        except SlotError:
            self.metrics.reject("unfilled_slot")
            result.reason = "unfilled_slot"
            return
        finally:
            timings["guards"] += time.perf_counter() - tick
        self.index.touch(tenant, chosen.entry.id)
        result.hit, result.plan = True, plan
        result.similarity, result.entry_id = chosen.similarity, chosen.entry.id
        self.metrics.add("tokens_saved", chosen.entry.planner_tokens)

    # -- store -----------------------------------------------------------------------
    def store(
        self,
        tenant: str,
        request: str | bytes,
        plan: Any,
        *,
        now: datetime | None = None,
        lookup: Lookup | None = None,
        planner_tokens: int = 0,
    ) -> StoreResult:
        """Parameterise ``plan`` with the request's entities and cache it.

        Pass the miss's :class:`Lookup` to reuse its entities and embedding. A plan whose
        values cannot be attributed unambiguously is not stored.
        """
        tenant = validate_tenant(tenant)
        text = validate_request(request, self.max_request_chars)
        try:
            json.dumps(plan)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"plan is not JSON: {exc}") from exc
        if lookup is not None and lookup.template is not None:
            entities, template = lookup.entities, lookup.template
        else:
            entities, template = _understand(text, now or datetime.now(UTC))
        parameterised = parameterise(plan, entities)
        if parameterised.ambiguous:
            return StoreResult(False, "ambiguous")
        unused = [
            e
            for e in entities
            if e.slot not in parameterised.used or e.slot in parameterised.suspect
        ]
        # An entity the plan does not use may still shape it in a form we cannot see (an
        # airport code for a city, "05:00" for "at 5"), and so may one whose digits the plan
        # still holds literally ("1100" cents for 11 EUR). So it starts bound to its value; once
        # the planner has returned the same plan for a different value, it is known to be free.
        bound = {e.slot: canonical_value(e) for e in unused}
        # A date or time left literal in the plan may be relative to the request's day
        # ("next week"): such a plan is reused on the same reference day only.
        reference = now or datetime.now(UTC)
        if {EntityType.DATE, EntityType.TIME} & set(
            literal_types(parameterised.literals, reference)
        ):
            bound[TODAY] = reference.date().isoformat()
        created = self._clock()
        entry = CacheEntry(
            id=uuid.uuid4().hex,
            tenant=tenant,
            key=template.key,
            template=template.text,
            signature=template.signature,
            plan=parameterised.plan,
            version=self.version,
            tools=_tools(plan),
            created_at=created,
            expires_at=created + self.ttl_seconds,
            bound=bound,
            planner_tokens=planner_tokens,
        )
        try:
            for existing in self.index.by_key(tenant, template.key, created):
                if (existing.plan, existing.signature, existing.version) != (
                    entry.plan,
                    entry.signature,
                    entry.version,
                ):
                    continue
                if existing.bound == entry.bound:
                    return StoreResult(False, "duplicate", existing.id)
                if existing.bound.keys() == entry.bound.keys():
                    # Same plan for other values: the slots whose values differ are free.
                    same = {k: v for k, v in entry.bound.items() if existing.bound[k] == v}
                    entry = replace(entry, bound=same)
            vector = lookup.vector if lookup is not None and lookup.vector is not None else None
            if vector is None:
                vector, _ = self._vectors.get(template.text, self.embedder.embed_one)
            self.index.add(entry, vector)
        except (StoreError, OSError) as exc:
            log.warning("plan cache unavailable, plan not stored: %s", exc)
            self.metrics.add("errors")
            return StoreResult(False, MISS_UNAVAILABLE)
        return StoreResult(True, None, entry.id)

    # -- single flight ---------------------------------------------------------------
    def get_or_plan(
        self,
        tenant: str,
        request: str | bytes,
        planner: Callable[[], Any],
        *,
        now: datetime | None = None,
        wait_s: float = 30.0,
    ) -> Any:
        """The cached plan, or ``planner()``'s plan (then cached).

        Concurrent misses with the same template call the planner once: the first caller
        holds a lock (in process, or a token-checked Redis lock shared by all workers), the
        others wait for it and then find its plan in the cache.
        """
        first = self.lookup(tenant, request, now)
        if first.hit:
            return first.plan
        assert first.template is not None
        name = f"{tenant}:{first.template.key}"
        flights = getattr(self.index, "flight", None) or self._local.flight
        try:
            with flights(name, self._flight_ttl_ms, wait_s) as owner:
                if not owner:
                    again = self.lookup(tenant, request, now)
                    if again.hit:
                        return again.plan
                return self._plan_and_store(tenant, request, planner, now, first)
        except StoreError as exc:
            log.warning("single-flight lock unavailable, planning without it: %s", exc)
            self.metrics.add("errors")
            return self._plan_and_store(tenant, request, planner, now, first)

    def _plan_and_store(
        self,
        tenant: str,
        request: str | bytes,
        planner: Callable[[], Any],
        now: datetime | None,
        lookup: Lookup,
    ) -> Any:
        self.metrics.add("planner_calls")
        plan = planner()
        try:
            self.store(tenant, request, plan, now=now, lookup=lookup)
        except OmniHubError as exc:
            log.warning("plan not cached: %s", exc)
        return plan

    # -- learning from goals ---------------------------------------------------------
    def demote(self, tenant: str, entry_id: str, cause: str) -> Demotion:
        """A goal served by entry ``entry_id`` failed because of the plan (validation, a tool
        rejecting its arguments, a compensation): count it, and evict the entry once it has
        failed ``max_plan_failures`` times. Failures of the world (a tool timing out) are not
        the plan's and should not be reported here.

        Raises :class:`StoreError` when the index cannot be reached: unlike a lookup, losing
        this signal silently would keep serving a bad plan.
        """
        tenant = validate_tenant(tenant)
        failures = self.index.record_failure(tenant, entry_id)
        self.metrics.add("plan_failures")
        if failures == 0:
            return Demotion(tenant, entry_id, 0, False, None, cause)
        if failures < self.max_plan_failures:
            log.info("plan cache entry %s demoted (%d failures): %s", entry_id, failures, cause)
            return Demotion(tenant, entry_id, failures, False, None, cause)
        evicted = self.index.remove(tenant, entry_id)
        if evicted:
            self.metrics.evict(EVICT_FAILURES)
            log.warning(
                "plan cache entry %s evicted after %d failures: %s", entry_id, failures, cause
            )
        return Demotion(tenant, entry_id, failures, evicted, EVICT_FAILURES, cause)

    def report_wrong_plan(self, tenant: str, entry_id: str, cause: str = "reported") -> Demotion:
        """A user or operator says entry ``entry_id`` served a wrong plan: evict it at once
        and count a false hit in the metrics (``false_hit_reports``)."""
        return report_wrong_plan(self.index, tenant, entry_id, cause, metrics=self.metrics)

    def invalidate(self, tenant: str, tool: str | None = None) -> int:
        """Drop a tenant's entries (only those using ``tool`` when given)."""
        return self.index.invalidate(validate_tenant(tenant), tool)

    def close(self) -> None:
        self.index.close()


def report_wrong_plan(
    index: PlanIndex,
    tenant: str,
    entry_id: str,
    cause: str = "reported",
    *,
    metrics: CacheMetrics | None = None,
) -> Demotion:
    """Evict entry ``entry_id`` of ``tenant`` because it served a wrong plan, and count the
    report as a false hit in ``metrics``. Needs only the index (no embedding model): the CLI,
    API and console call this, a worker calls :meth:`PlanCache.report_wrong_plan`."""
    tenant = validate_tenant(tenant)
    evicted = index.remove(tenant, entry_id)
    telemetry.record_false_hit(tenant)  # obs hook
    if metrics is not None:
        metrics.add("false_hit_reports")
        if evicted:
            metrics.evict(EVICT_REPORTED)
    log.warning("plan cache entry %s reported wrong (%s); evicted=%s", entry_id, cause, evicted)
    return Demotion(tenant, entry_id, 0, evicted, EVICT_REPORTED, cause)


def _understand(text: str, now: datetime) -> tuple[list[Entity], Template]:
    """Entities and template of a request, after stripping what carries no meaning."""
    clean, entities = normalise_request(text, now)
    return entities, make_template(clean, entities)


def _tools(plan: Any) -> tuple[str, ...]:
    """Tool names a plan calls (``{"tool": name}`` anywhere), sorted and unique."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("tool"), str):
                found.add(node["tool"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(plan)
    return tuple(sorted(found))
