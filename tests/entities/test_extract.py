from __future__ import annotations

from datetime import UTC, datetime

import pytest

from omnihub.entities import EntityType, Money, extract_entities

NOW = datetime(2026, 11, 24, 10, tzinfo=UTC)  # a Tuesday


def values(text: str) -> list[tuple[str, object]]:
    return [(e.slot, e.value) for e in extract_entities(text, NOW)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on 2027-03-05", "2027-03-05"),
        ("on 3/5/2027", "2027-03-05"),
        ("on 25/12/2026", "2026-12-25"),
        ("on 5.3.2027", "2027-03-05"),
        ("on March 3rd, 2027", "2027-03-03"),
        ("on Mar 3 2027", "2027-03-03"),
        ("on the 3rd of March", "2027-03-03"),
        ("on 3 March", "2027-03-03"),
        ("on November 30", "2026-11-30"),
        ("on November 20", "2027-11-20"),
        ("today", "2026-11-24"),
        ("tomorrow", "2026-11-25"),
        ("yesterday", "2026-11-23"),
        ("the day after tomorrow", "2026-11-26"),
        ("in 3 days", "2026-11-27"),
        ("in 2 weeks", "2026-12-08"),
        ("on Friday", "2026-11-27"),
        ("next Tuesday", "2026-12-01"),
    ],
)
def test_dates_are_normalised_to_iso_against_the_reference_time(text: str, expected: str) -> None:
    assert values(f"Book it {text}") == [("DATE", expected)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4:15 PM", "16:15"), ("9am", "09:00"), ("12pm", "12:00"), ("12 am", "00:00"),
     ("19:00", "19:00"), ("noon", "12:00"), ("midnight", "00:00")],
)  # fmt: skip
def test_times_become_24_hour_clock(text: str, expected: str) -> None:
    assert values(f"Call at {text}") == [("TIME", expected)]


def test_time_after_a_dated_year_is_not_read_as_numbers() -> None:
    assert values("Remind me January 26, 2027 17:00: ok") == [
        ("DATE", "2027-01-26"),
        ("TIME", "17:00"),
    ]


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [("$1,250.00", 1250.0, "USD"), ("250 EUR", 250.0, "EUR"), ("€75.50", 75.5, "EUR"),
     ("£4,495", 4495.0, "GBP"), ("CHF 80", 80.0, "CHF"), ("30 dollars", 30.0, "USD"),
     ("50€", 50.0, "EUR"), ("1,200.50 $", 1200.5, "USD")],
)  # fmt: skip
def test_money_has_an_amount_and_an_iso_currency(text: str, amount: float, currency: str) -> None:
    assert values(f"Pay {text} now") == [("MONEY", Money(amount, currency))]


def test_unknown_three_letter_words_are_not_currencies() -> None:
    assert values("Buy 250 XYZ") == [("NUMBER", 250)]


def test_contact_details_urls_ids_and_numbers() -> None:
    found = values(
        "Email ana.b@example.org or call +1 415 555 0100 about https://x.example/a?b=1, "
        "order #48213 and ORD-55898, 3 seats"
    )
    assert found == [
        ("EMAIL", "ana.b@example.org"),
        ("PHONE", "+14155550100"),
        ("URL", "https://x.example/a?b=1"),
        ("ID#1", "48213"),
        ("ID#2", "ORD-55898"),
        ("NUMBER", 3),
    ]


def test_locations_come_from_the_gazetteer_including_multi_word_names() -> None:
    assert values("Fly from Ho Chi Minh City to New Orleans") == [
        ("LOCATION:origin", "Ho Chi Minh City"),
        ("LOCATION:destination", "New Orleans"),
    ]
    assert values("Visit France and Zurich") == [("LOCATION#1", "France"), ("LOCATION#2", "Zurich")]


def test_common_words_are_places_only_when_capitalised_mid_sentence() -> None:
    assert values("book a train from lyon to Nice") == [
        ("LOCATION:origin", "Lyon"),
        ("LOCATION:destination", "Nice"),
    ]
    assert values("Nice weather, book it") == []
    assert values("that is a nice split") == []


def test_person_needs_strong_evidence() -> None:
    assert values("Call Dr. Jane Doe") == [("PERSON", "Jane Doe")]
    assert values("Call Jane") == []


@pytest.mark.parametrize(
    ("text", "roles"),
    [
        ("Train from Lyon to Nice", ["LOCATION:origin", "LOCATION:destination"]),
        ("Train to Nice from Lyon", ["LOCATION:destination", "LOCATION:origin"]),
        ("Train Lyon to Nice", ["LOCATION:origin", "LOCATION:destination"]),
        ("Car from 2027-01-02 until 2027-01-05", ["DATE:start", "DATE:end"]),
        ("Car, pick up 2027-01-02, return 2027-01-05", ["DATE:start", "DATE:end"]),
        ("Room, check-in 2027-01-02, check-out 2027-01-05", ["DATE:start", "DATE:end"]),
        ("Send $5 from a@x.io to b@y.io", ["MONEY", "EMAIL:payer", "EMAIL:payee"]),
    ],
)
def test_roles_come_from_the_surrounding_words(text: str, roles: list[str]) -> None:
    assert [slot for slot, _ in values(text)] == roles


def test_extraction_is_deterministic_and_in_reading_order() -> None:
    text = "Meet ana@x.io in Paris on 2027-01-02 at 9am with $5 and order #12345"
    first = extract_entities(text, NOW)
    assert first == extract_entities(text, NOW)
    assert [e.span for e in first] == sorted(e.span for e in first)
    assert [e.type for e in first] == [
        EntityType.EMAIL, EntityType.LOCATION, EntityType.DATE, EntityType.TIME,
        EntityType.MONEY, EntityType.ID,
    ]  # fmt: skip


def test_without_now_relative_dates_use_the_current_time() -> None:
    (entity,) = extract_entities("today")
    assert entity.value == datetime.now(UTC).date().isoformat()
    assert entity.kind == "DATE"
