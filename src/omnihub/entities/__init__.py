"""Entities in natural-language requests: extraction with roles and normalisation, request
templates, and plan parameterisation / injection (used by the plan cache and the planner)."""

from omnihub.entities._extract import extract_entities
from omnihub.entities._lexicon import are_synonyms, is_common_word, is_verb, lemma, words
from omnihub.entities._model import Entity, EntityType, Money, Template
from omnihub.entities._normalise import (
    correct_word,
    is_vocabulary,
    normalise_request,
    strip_edges,
)
from omnihub.entities._template import (
    Parameterised,
    canonical_words,
    inject,
    literal_types,
    make_template,
    parameterise,
)
from omnihub.errors import SlotError

__all__ = [
    "Entity",
    "EntityType",
    "Money",
    "Parameterised",
    "SlotError",
    "Template",
    "are_synonyms",
    "canonical_words",
    "correct_word",
    "extract_entities",
    "inject",
    "is_common_word",
    "is_verb",
    "is_vocabulary",
    "lemma",
    "literal_types",
    "make_template",
    "normalise_request",
    "parameterise",
    "strip_edges",
    "words",
]
