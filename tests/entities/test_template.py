from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

import omnihub.entities
from omnihub.entities import (
    SlotError,
    are_synonyms,
    extract_entities,
    inject,
    is_verb,
    literal_types,
    make_template,
    parameterise,
    words,
)
from omnihub.entities._data import wordnet
from omnihub.errors import ConfigurationError

NOW = datetime(2026, 11, 24, 10, tzinfo=UTC)


def test_public_names_are_pinned() -> None:
    assert omnihub.entities.__all__ == sorted(omnihub.entities.__all__)
    assert {"extract_entities", "make_template", "parameterise", "inject"} <= set(
        omnihub.entities.__all__
    )


def template(text: str) -> str:
    return make_template(text, extract_entities(text, NOW)).text


def test_template_replaces_entities_by_typed_role_qualified_placeholders() -> None:
    assert (
        template("book a train from Lyon to Nice on 3 March")
        == "book a train from {LOCATION:origin} to {LOCATION:destination} on {DATE}"
    )


def test_template_key_ignores_case_punctuation_and_light_words_but_not_negation() -> None:
    def key(text: str) -> str:
        return make_template(text, extract_entities(text, NOW)).key

    assert key("Hey, book the train from Lyon to Nice please!") == key(
        "book a train from Turin to Bern"
    )
    assert key("don't cancel my train from Lyon to Nice") != key(
        "cancel my train from Lyon to Nice"
    )


def test_template_is_identical_across_processes() -> None:
    code = (
        "from datetime import datetime, UTC;"
        "from omnihub.entities import extract_entities, make_template;"
        "t='Rent a car in San Diego from Dec 1, 2026 to 2026-12-05 for $99';"
        "print(make_template(t, extract_entities(t, datetime(2026,11,24,tzinfo=UTC))))"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert len(runs) == 1
    assert "{DATE:start}" in runs.pop()


def test_parameterise_and_inject_round_trip_with_new_values() -> None:
    old = "Send €75.50 from ana@x.io to ben@y.io on 2027-01-02"
    plan = [
        {"tool": "transfer", "args": {"from": "ana@x.io", "to": "ben@y.io", "amount": 75.5}},
        {"tool": "notify", "args": {"text": "Sent EUR to ben@y.io on 2027-01-02", "n": [2027]}},
        {"tool": "log", "args": {"currency": "EUR", "literal": "welcome"}},
    ]
    stored = parameterise(plan, extract_entities(old, NOW))
    assert not stored.ambiguous
    assert stored.used == ("DATE", "EMAIL:payee", "EMAIL:payer", "MONEY")
    new = extract_entities("Send £10 from cy@z.io to di@w.io on 2027-02-03", NOW)
    assert inject(stored.plan, new) == [
        {"tool": "transfer", "args": {"from": "cy@z.io", "to": "di@w.io", "amount": 10.0}},
        {"tool": "notify", "args": {"text": "Sent GBP to di@w.io on 2027-02-03", "n": [2027]}},
        {"tool": "log", "args": {"currency": "GBP", "literal": "welcome"}},
    ]


def test_numbers_keep_the_plan_s_type_and_raw_text_is_supported() -> None:
    old = extract_entities("Return order 62153 for #ab-1 in lyon", NOW)
    plan = {"order": "62153", "qty": 62153, "city": "lyon", "code": "ab-1"}
    stored = parameterise(plan, old)
    new = extract_entities("Return order 777 for #zz-9 in nantes", NOW)
    assert inject(stored.plan, new) == {
        "order": "777",
        "qty": 777,
        "city": "nantes",
        "code": "zz-9",
    }


def test_one_value_for_two_slots_is_ambiguous() -> None:
    entities = extract_entities("Car from 2027-01-02 to 2027-01-02", NOW)
    assert parameterise({"a": "2027-01-02"}, entities).ambiguous


def test_marker_shaped_dicts_in_plans_survive() -> None:
    entities = extract_entities("to ana@x.io", NOW)
    plan = {"$slot": "not a marker", "to": "ana@x.io", "t": "{braces} ana@x.io"}
    stored = parameterise(plan, entities)
    assert inject(stored.plan, entities) == plan


def test_inject_without_the_slot_raises_slot_error() -> None:
    stored = parameterise({"to": "ana@x.io"}, extract_entities("to ana@x.io", NOW))
    with pytest.raises(SlotError) as caught:
        inject(stored.plan, extract_entities("to Paris", NOW))
    assert caught.value.slot == "EMAIL:payee"


def test_literal_types_finds_entity_like_literals() -> None:
    assert [t.value for t in literal_types(["2027-01-02", 5, True, None, "plain"], NOW)] == [
        "DATE",
        "NUMBER",
    ]


def test_lexicon_uses_wordnet_synonyms_and_lemmas() -> None:
    assert are_synonyms("buy", "purchase")
    assert not are_synonyms("cancel", "delete")
    assert not are_synonyms("lock", "unlock")
    assert not are_synonyms("book", "cancel")
    assert is_verb("booking")
    assert not is_verb("the")
    assert words("Don't go, I'd say {DATE}") == ["do", "n't", "go", "i", "'d", "say", "{DATE}"]
    assert wordnet().verb_senses["buy"][0] == wordnet().verb_senses["purchase"][0]
    json.dumps(words("can't"))  # plain strings


def test_missing_entity_data_file_is_a_configuration_error() -> None:
    from omnihub.entities._data import _read

    with pytest.raises(ConfigurationError, match=r"no-such-file\.txt is missing"):
        _read("no-such-file.txt")


BILL_PLAN = {
    "tool": "pay",
    "args": {"from": "bob@x.org", "amount": 11.0, "currency": "EUR"},
    "notes": ["sent you 11.0 EUR", "11 EUR", "€11.00", "11,00", "paid 11 EUR."],
}


def test_amounts_inside_strings_are_slots_in_their_own_rendering() -> None:
    old = extract_entities("Pay the 11 EUR bill from bob@x.org", NOW)
    stored = parameterise(BILL_PLAN, old)
    assert not stored.ambiguous
    assert stored.suspect == ()
    new = extract_entities("Pay the 250.5 GBP bill from cy@z.io", NOW)
    assert inject(stored.plan, new) == {
        "tool": "pay",
        "args": {"from": "cy@z.io", "amount": 250.5, "currency": "GBP"},
        "notes": ["sent you 250.5 GBP", "250.5 GBP", "£250.50", "250,50", "paid 250.5 GBP."],
    }
    assert inject(stored.plan, old) == BILL_PLAN


def test_numbers_inside_strings_follow_the_entity() -> None:
    old = extract_entities("Order 1250 boxes for ana@x.io", NOW)
    plan = {"n": 1250, "text": "1,250 boxes (1250.00 units), ref 12:50", "to": "ana@x.io"}
    stored = parameterise(plan, old)
    assert "NUMBER" in stored.used
    injected = inject(stored.plan, extract_entities("Order 30000 boxes for ana@x.io", NOW))
    assert injected["text"].startswith("30,000 boxes (30000.00 units)")


def test_digits_that_only_look_derived_make_the_value_bound() -> None:
    old = extract_entities("Pay the 11 EUR bill from bob@x.org", NOW)
    stored = parameterise({"amount": 11.0, "cents": 1100, "memo": "ref 11/2026"}, old)
    assert stored.suspect == ("MONEY",)
    plain = parameterise({"amount": 11.0, "memo": "ref 42"}, old)
    assert plain.suspect == ()


def test_iso_and_raw_dates_inside_strings_are_slots() -> None:
    old = extract_entities("Book a table on 3 March 2027", NOW)
    stored = parameterise({"t": "table on 3 March 2027 (2027-03-03)"}, old)
    new = extract_entities("Book a table on 4 April 2027", NOW)
    assert inject(stored.plan, new) == {"t": "table on 4 April 2027 (2027-04-04)"}


def test_symbol_after_the_amount_and_clashing_values_in_text() -> None:
    old = extract_entities("Pay 50€ to ana@x.io", NOW)
    stored = parameterise({"t": "paid 50 € to ana@x.io"}, old)
    new = extract_entities("Pay 7.5£ to ana@x.io", NOW)
    assert inject(stored.plan, new) == {"t": "paid 7.5 £ to ana@x.io"}
    twice = extract_entities("Pay 11 EUR for 11 items", NOW)
    assert parameterise({"t": "total 11.0"}, twice).ambiguous
    dates = extract_entities("Car from 2027-01-02 to 2027-01-02", NOW)
    assert parameterise({"t": "car on 2027-01-02"}, dates).ambiguous
