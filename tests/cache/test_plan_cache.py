"""PlanCache behaviour on both index backends (real Redis from the session fixture)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

import omnihub.cache
from omnihub.cache import CacheInputError, MemoryPlanIndex, PlanCache, PlanIndex, cache_version
from omnihub.embeddings import Embedder
from omnihub.errors import ValidationError

NOW = datetime(2026, 11, 24, 10, tzinfo=UTC)
TRIP = {"origin": "Lyon", "destination": "Nice", "date": "2027-03-03"}
TRAIN = [{"tool": "search_trains", "args": TRIP}, {"tool": "book_train", "args": TRIP}]


@pytest.fixture
def cache(index: PlanIndex, embedder: Embedder) -> PlanCache:
    return PlanCache(index, embedder, version="v1")


def remember(cache: PlanCache, tenant: str, request: str, plan: Any) -> None:
    miss = cache.lookup(tenant, request, NOW)
    assert not miss.hit
    assert cache.store(tenant, request, plan, now=NOW, lookup=miss).stored


def test_public_names_are_pinned() -> None:
    assert omnihub.cache.__all__ == sorted(omnihub.cache.__all__)


def test_same_request_with_new_values_hits_and_injects(cache: PlanCache) -> None:
    remember(cache, "acme", "Book a train from Lyon to Nice on 3 March", TRAIN)
    hit = cache.lookup("acme", "Hey, book the train from Turin to Bern on Nov 25 please", NOW)
    assert hit.hit
    assert hit.similarity == pytest.approx(1.0)  # exact-template fast path
    assert hit.timings["embed"] == 0.0
    assert hit.plan[1]["args"] == {"origin": "Turin", "destination": "Bern", "date": "2026-11-25"}
    relative = cache.lookup("acme", "Book a train from Turin to Bern tomorrow", NOW)
    assert relative.hit, relative.reason
    assert relative.plan == hit.plan
    swapped = cache.lookup("acme", "Book a train to Oslo from Rome on 2027-01-05", NOW)
    assert swapped.hit, swapped.reason
    assert swapped.plan[0]["args"] == {
        "origin": "Rome",
        "destination": "Oslo",
        "date": "2027-01-05",
    }
    assert cache.metrics.snapshot()["hits"] == 3


@pytest.mark.parametrize(
    ("request_text", "reason"),
    [
        ("Cancel a train from Turin to Bern on 4 March", "action"),
        ("Don't book a train from Turin to Bern on 4 March", "polarity"),
        ("Book a train from Turin to Bern", "slots"),
        ("Book a first class train from Turin to Bern on 4 March", "action"),
    ],
)
def test_guards_turn_near_neighbours_into_misses(
    index: PlanIndex, embedder: Embedder, request_text: str, reason: str
) -> None:
    # A low threshold lets every one of these through the similarity check, so the miss is
    # the guard's doing (at the default 0.85 "Cancel …" is already below the threshold).
    cache = PlanCache(index, embedder, version="v1", threshold=0.5)
    remember(cache, "acme", "Book a train from Lyon to Nice on 3 March", TRAIN)
    result = cache.lookup("acme", request_text, NOW)
    assert not result.hit
    assert result.reason == reason
    assert sum(cache.metrics.misses.values()) == 2


def test_synonyms_hit_across_phrasings(cache: PlanCache) -> None:
    remember(cache, "acme", "Buy a train ticket from Lyon to Nice on 3 March", TRAIN)
    result = cache.lookup("acme", "Purchase a train ticket from Turin to Bern on 4 March", NOW)
    assert result.hit, result.reason
    assert result.similarity is not None
    assert result.similarity < 1.0


def test_lock_and_unlock_are_different_actions(cache: PlanCache) -> None:
    remember(
        cache, "acme", "Lock the account of ana@x.io", [{"tool": "lock", "args": {"e": "ana@x.io"}}]
    )
    result = cache.lookup("acme", "Unlock the account of ben@x.io", NOW)
    assert not result.hit
    assert result.reason == "action"
    assert cache.metrics.snapshot()["rejections"] == {"action": 1}


def test_tenants_and_versions_are_partitions(index: PlanIndex, embedder: Embedder) -> None:
    cache = PlanCache(index, embedder, version="v1")
    remember(cache, "acme", "Book a train from Lyon to Nice on 3 March", TRAIN)
    assert cache.lookup("globex", "Book a train from Turin to Bern on 3 March", NOW).reason == (
        "empty_index"
    )
    newer = PlanCache(index, embedder, version="v2")
    assert newer.lookup("acme", "Book a train from Turin to Bern on 3 March", NOW).reason == (
        "version"
    )


def test_ttl_is_absolute_and_hits_do_not_extend_it(index: PlanIndex, embedder: Embedder) -> None:
    clock = [time.time()]
    cache = PlanCache(index, embedder, version="v1", ttl_seconds=100, clock=lambda: clock[0])
    remember(cache, "acme", "Book a train from Lyon to Nice on 3 March", TRAIN)
    clock[0] += 90
    assert cache.lookup("acme", "Book a train from Turin to Bern on 3 March", NOW).hit
    clock[0] += 20
    assert not cache.lookup("acme", "Book a train from Turin to Bern on 3 March", NOW).hit


def test_ambiguous_plans_are_not_stored(cache: PlanCache) -> None:
    result = cache.store(
        "acme", "Car from 2027-01-02 to 2027-01-02", {"pickup": "2027-01-02"}, now=NOW
    )
    assert (result.stored, result.reason) == (False, "ambiguous")


def test_unused_entities_stay_bound_until_the_planner_shows_they_are_free(
    cache: PlanCache,
) -> None:
    # The plan holds the city as an airport code the cache cannot recognise.
    lyon = [{"tool": "fly", "args": {"from": "LYS", "to": "ana@x.io"}}]
    assert cache.store("acme", "Fly ana@x.io from Lyon", lyon, now=NOW).stored
    assert cache.lookup("acme", "Fly ben@x.io from Lyon", NOW).plan == [
        {"tool": "fly", "args": {"from": "LYS", "to": "ben@x.io"}}
    ]
    assert cache.lookup("acme", "Fly ben@x.io from Nice", NOW).reason == "bound_value"
    assert cache.store("acme", "Fly ana@x.io from Lyon", lyon, now=NOW).reason == "duplicate"
    # A plan that really ignores the entity: after a second value it is free.
    nothing = [{"tool": "respond", "args": {"template": "no_action"}}]
    assert cache.store("acme", "Don't fly from Lyon", nothing, now=NOW).stored
    assert not cache.lookup("acme", "Don't fly from Nice", NOW).hit
    assert cache.store("acme", "Don't fly from Nice", nothing, now=NOW).stored
    assert cache.lookup("acme", "Don't fly from Porto", NOW).plan == nothing


def test_plans_with_unattributed_dates_are_reused_on_the_same_day_only(cache: PlanCache) -> None:
    plan = [{"tool": "book", "args": {"from": "Lyon", "to": "Nice", "date": "2026-12-01"}}]
    assert cache.store("acme", "Book a train from Lyon to Nice next week", plan, now=NOW).stored
    same_day = cache.lookup("acme", "Book a train from Turin to Bern next week", NOW)
    assert same_day.plan == [
        {"tool": "book", "args": {"from": "Turin", "to": "Bern", "date": "2026-12-01"}}
    ]
    later = NOW.replace(day=27)
    assert cache.lookup("acme", "Book a train from Turin to Bern next week", later).reason == (
        "bound_value"
    )


def test_invalidate_by_tool(cache: PlanCache) -> None:
    remember(cache, "acme", "Book a train from Lyon to Nice on 3 March", TRAIN)
    assert cache.invalidate("acme", "pay_invoice") == 0
    assert cache.invalidate("acme", "book_train") == 1
    assert not cache.lookup("acme", "Book a train from Turin to Bern on 3 March", NOW).hit


@pytest.mark.parametrize(
    ("request_text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 50, "over the limit"),
        ("book\x00 a train", "control character"),
        ("book \ud800", "UTF-8"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_bad_requests_get_clear_errors(
    index: PlanIndex, embedder: Embedder, request_text: str | bytes, message: str
) -> None:
    cache = PlanCache(index, embedder, version="v1", max_request_chars=40)
    with pytest.raises(CacheInputError, match=message):
        cache.lookup("acme", request_text, NOW)
    with pytest.raises(CacheInputError):
        cache.store("acme", request_text, [], now=NOW)
    assert index.count("acme") == 0


def test_bad_tenant_plan_and_threshold_are_rejected(cache: PlanCache, index: PlanIndex) -> None:
    with pytest.raises(CacheInputError, match="tenant"):
        cache.lookup("a b", "book it", NOW)
    with pytest.raises(ValidationError, match="not JSON"):
        cache.store("acme", "book it", {"x": object()}, now=NOW)
    with pytest.raises(ValidationError, match="threshold"):
        PlanCache(index, cache.embedder, version="v", threshold=1.5)
    assert cache.lookup("acme", b"Book a train from Lyon to Nice", NOW).template is not None
    assert not cache.lookup("acme", "Book a train for \U0001f469\u200d\U0001f4bb", NOW).hit


def test_single_flight_calls_the_planner_once(cache: PlanCache) -> None:
    calls: list[int] = []
    gate = threading.Event()

    def planner() -> Any:
        calls.append(1)
        gate.wait(5)
        return TRAIN

    results: list[Any] = []

    def worker(city: str) -> None:
        text = f"Book a train from {city} to Nice on 3 March"
        results.append(cache.get_or_plan("acme", text, planner, now=NOW))

    threads = [threading.Thread(target=worker, args=(c,)) for c in ("Lyon", "Lyon", "Lyon")]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    gate.set()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1
    assert len(results) == 3
    assert all(r == TRAIN for r in results)
    assert cache.metrics.snapshot()["planner_calls"] == 1


def test_cache_version_hashes_catalog_model_and_prompt() -> None:
    base = cache_version({"pay": {"type": "object"}}, "model-a", "p1")
    assert base == cache_version({"pay": {"type": "object"}}, "model-a", "p1")
    assert base != cache_version({"pay": {"type": "string"}}, "model-a", "p1")
    assert base != cache_version({"pay": {"type": "object"}}, "model-b", "p1")
    assert base != cache_version({"pay": {"type": "object"}}, "model-a", "p2")


def test_an_amount_inside_plan_text_is_never_replayed_for_another_amount(
    cache: PlanCache,
) -> None:
    plan = [
        {"tool": "pay_bill", "args": {"payer": "bob@x.org", "amount": 11.0, "currency": "EUR"}},
        {"tool": "notify", "args": {"text": "bob@x.org sent you 11.0 EUR"}},
    ]
    remember(cache, "acme", "Pay the 11 EUR bill from bob@x.org", plan)
    result = cache.lookup("acme", "Pay the 250 GBP bill from bob@x.org", NOW)
    assert result.hit, result.reason
    assert result.plan[1]["args"]["text"] == "bob@x.org sent you 250.0 GBP"
    assert result.plan[0]["args"]["amount"] == 250.0


def test_a_number_derived_from_the_amount_turns_other_amounts_into_misses(
    cache: PlanCache,
) -> None:
    plan = [{"tool": "pay_bill", "args": {"amount": 11.0, "memo": "1100 cents from bob@x.org"}}]
    remember(cache, "acme", "Pay the 11 EUR bill from bob@x.org", plan)
    other = cache.lookup("acme", "Pay the 250 EUR bill from bob@x.org", NOW)
    assert not other.hit
    assert other.reason == "bound_value"
    same = cache.lookup("acme", "Pay the 11 EUR bill from bob@x.org", NOW)
    assert same.hit, same.reason
    assert same.plan == plan


def test_a_plan_that_keeps_failing_is_demoted_then_evicted(
    index: PlanIndex, embedder: Embedder
) -> None:
    cache = PlanCache(index, embedder, version="v1", max_plan_failures=2)
    remember(cache, "acme", "Book a train from Lyon to Nice on 3 March", TRAIN)
    hit = cache.lookup("acme", "Book a train from Turin to Bern on 4 March", NOW)
    assert hit.hit
    assert hit.entry_id is not None
    first = cache.demote("acme", hit.entry_id, "tool rejected its arguments")
    assert (first.failures, first.evicted, first.reason) == (1, False, None)
    assert cache.lookup("acme", "Book a train from Turin to Bern on 4 March", NOW).hit
    second = cache.demote("acme", hit.entry_id, "compensated")
    assert (second.failures, second.evicted, second.reason) == (2, True, "plan_failures")
    assert second.cause == "compensated"
    assert not cache.lookup("acme", "Book a train from Turin to Bern on 4 March", NOW).hit
    snapshot = cache.metrics.snapshot()
    assert snapshot["plan_failures"] == 2
    assert snapshot["evictions"] == {"plan_failures": 1}


def test_a_reported_wrong_plan_is_evicted_and_counted_as_a_false_hit(cache: PlanCache) -> None:
    remember(cache, "acme", "Book a train from Lyon to Nice on 3 March", TRAIN)
    hit = cache.lookup("acme", "Book a train from Turin to Bern on 4 March", NOW)
    assert hit.entry_id is not None
    report = cache.report_wrong_plan("acme", hit.entry_id, "user: wrong train")
    assert report.evicted
    assert report.reason == "reported_wrong"
    assert not cache.lookup("acme", "Book a train from Turin to Bern on 4 March", NOW).hit
    assert not cache.report_wrong_plan("acme", hit.entry_id).evicted
    assert cache.metrics.snapshot()["false_hit_reports"] == 2
    with pytest.raises(ValidationError):
        PlanCache(cache.index, cache.embedder, version="v1", max_plan_failures=0)


class CountingEmbedder:
    """The real model, counting the texts it is asked to embed one at a time."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name, self.dimensions = inner.name, inner.dimensions
        self.calls: list[str] = []

    def embed(self, texts: Any) -> Any:
        return self.inner.embed(texts)

    def embed_one(self, text: str) -> Any:
        self.calls.append(text)
        return self.inner.embed_one(text)


def test_requests_sharing_a_template_run_the_model_once(embedder: Embedder) -> None:
    counting = CountingEmbedder(embedder)
    cache = PlanCache(MemoryPlanIndex(), counting, version="v1", vector_memo_size=2)
    first = cache.lookup("acme", "Book a train from Lyon to Nice on 3 March", NOW)
    second = cache.lookup("acme", "Book a train from Turin to Bern on 4 May", NOW)
    assert (first.embedded, second.embedded) == (True, False)
    assert first.template is not None
    assert first.template == second.template
    assert counting.calls == [first.template.text]
    assert first.vector is second.vector
    assert first.vector is not None
    assert not first.vector.flags.writeable  # shared by every lookup: read-only
    assert cache.store("acme", "Book a train from Oslo to Rome on 5 May", TRAIN, now=NOW).stored
    assert len(counting.calls) == 1  # the store found the template's vector remembered too
    # Least recently used templates are dropped beyond the memo's size (2 here).
    cache.lookup("acme", "Cancel my order ORD-12345", NOW)
    cache.lookup("acme", "Delete the account ACC-12345", NOW)
    again = cache.lookup("globex", "Book a train from Lyon to Nice on 3 March", NOW)
    assert again.embedded
    assert len(counting.calls) == 4
    unremembered = PlanCache(MemoryPlanIndex(), counting, version="v1", vector_memo_size=0)
    for _ in range(2):
        assert unremembered.lookup("acme", "Cancel my order ORD-12345", NOW).embedded
    assert len(counting.calls) == 6


def test_wording_guard_compares_numbers_as_words_without_looking_them_up() -> None:
    from omnihub.cache._guards import _content, _wording
    from omnihub.entities._lexicon import lemma

    for memo in (_content, _wording, lemma):
        memo.cache_clear()
    assert omnihub.cache.wording_guard("book room 101 on {DATE}", "book room 101 {DATE}") is None
    assert omnihub.cache.wording_guard("book room 101 {DATE}", "book room 102 {DATE}") == "wording"
    assert omnihub.cache.wording_guard("book room 7", "cancel room 7") == "action"
    # lemminflect knows no number: none is looked up, so none is remembered one by one
    assert lemma.cache_info().currsize == 3  # book, room, cancel
