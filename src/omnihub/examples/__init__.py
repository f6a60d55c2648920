"""The example set that ``omnihub up --example`` and ``make demo`` run: a small travel-and-payments
domain with its tools, playbooks (package data) and the tables they write."""

from omnihub.examples._set import (
    ExampleSet,
    create_example_tables,
    example_settings,
    prepare_examples,
)
from omnihub.examples._tools import example_tools

__all__ = [
    "ExampleSet",
    "create_example_tables",
    "example_settings",
    "example_tools",
    "prepare_examples",
]
