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
from omnihub.entities._lexicon import wordnet_dir
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
    assert (wordnet_dir() / "index.verb").is_file()
    json.dumps(words("can't"))  # plain strings


def test_missing_wordnet_package_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import omnihub.entities._lexicon as lexicon

    monkeypatch.setattr(lexicon, "WORDNET_DISTRIBUTION", "omnihub-no-such-package")
    with pytest.raises(ConfigurationError, match="not installed"):
        lexicon.wordnet_dir()
