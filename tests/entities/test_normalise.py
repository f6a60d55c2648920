"""Normalising requests as people type them: edges, spacing, spelling — never values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from omnihub.entities import (
    EntityType,
    correct_word,
    is_vocabulary,
    make_template,
    normalise_request,
    strip_edges,
)

NOW = datetime(2026, 11, 24, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("hi, could you book a train to Lyon thanks!", "book a train to Lyon"),
        ("Hello team, please lock the account asap", "lock the account"),
        ("good morning - unlock it :)", "unlock it"),
        ("thank you so much", "thank you so much"),  # nothing left: unchanged
        ("  book   a  train. ", "book a train"),
        ("Hey, don't cancel my train!!", "don't cancel my train"),
        ("dear support, disable two-factor auth", "disable two-factor auth"),
        ("refund order #123 (ref A1)", "refund order #123 (ref A1)"),
        ("pay $5 please", "pay $5"),
    ],
)
def test_edges_carry_no_meaning_and_are_stripped(typed: str, meant: str) -> None:
    assert strip_edges(typed) == meant


def test_a_form_of_address_is_stripped_once_and_only_after_a_greeting() -> None:
    assert strip_edges("hi team, book it") == "book it"
    assert strip_edges("dear support, disable two-factor auth") == "disable two-factor auth"
    assert strip_edges("book it, then pay") == "book it, then pay"


@pytest.mark.parametrize(
    ("slip", "word"),
    [("unlcok", "unlock"), ("canecl", "cancel"), ("trian", "train"), ("saet", "seat")],
)
def test_a_misspelt_ordinary_word_is_corrected(slip: str, word: str) -> None:
    assert correct_word(slip) == word
    assert correct_word(slip.capitalize()) == word.capitalize()


def test_known_words_names_and_negations_are_left_alone() -> None:
    assert correct_word("lock") is None  # a word already
    assert correct_word("sate") is None  # rare, but a verb: what its writer meant
    assert correct_word("nto") is None  # "not" or "to": a guess could flip polarity
    assert correct_word("CDG") is None  # capitals: an acronym or code
    assert correct_word("svne") is None  # no English neighbour
    assert not is_vocabulary("denver")  # the vocabulary holds no place names


def test_entity_values_are_never_corrected_and_keep_their_canonical_form() -> None:
    clean, entities = normalise_request("hi book a tarin form denver to lyno thx", NOW)
    assert clean == "book a train from denver to lyno"
    places = [e for e in entities if e.type is EntityType.LOCATION]
    assert [(e.value, e.role) for e in places] == [("Denver", "origin")]


def test_identifiers_keep_their_case() -> None:
    _, entities = normalise_request("pls refund order ORD-Ab12 asap", NOW)
    assert [e.value for e in entities] == ["ORD-Ab12"]


def test_a_preposition_slip_before_an_entity_only() -> None:
    clean, _ = normalise_request("fill in the form INV-223", NOW)
    assert clean == "fill in the form INV-223"
    clean, entities = normalise_request("book a train form Lyon to Nice", NOW)
    assert clean == "book a train from Lyon to Nice"
    assert [e.role for e in entities] == ["origin", "destination"]


def test_noisy_and_clean_requests_share_one_template() -> None:
    clean_text, clean = normalise_request("Unlock the account of ana@contoso.com.", NOW)
    noisy_text, noisy = normalise_request("hey  unlcok the account of ana@contoso.com thanks!", NOW)
    assert make_template(clean_text, clean).key == make_template(noisy_text, noisy).key
