"""The example set: one place for the tools, playbooks and tables that `omnihub up --example`
and the scenario run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import omnihub.examples
from omnihub.config import load_settings
from omnihub.examples import example_settings, prepare_examples
from omnihub.planning import load_playbooks


def test_examples_public_names() -> None:
    assert omnihub.examples.__all__ == [
        "ExampleSet",
        "create_example_tables",
        "example_settings",
        "example_tools",
        "prepare_examples",
    ]


def test_example_settings_add_to_what_the_user_configured(omnihub_home: Path) -> None:
    mine = omnihub_home / "my-playbooks"
    settings = load_settings(tools_allowed_tables=["orders", "seats"], playbook_dirs=[mine])
    examples = example_settings(settings)
    assert examples.tools_allowed_tables == ["orders", "seats", "bookings", "payments"]
    assert examples.playbook_dirs[0] == mine
    assert examples.playbook_dirs[1].is_dir()  # package data, installed with the wheel
    assert examples.playbook_defaults is False
    assert example_settings(examples) == examples  # applying it twice changes nothing


def test_prepare_examples_creates_the_tables_once_and_registers_the_tools(
    omnihub_home: Path,
) -> None:
    settings = load_settings()
    first = prepare_examples(settings)
    with sqlite3.connect(omnihub_home / "events.db") as db:
        db.execute("INSERT INTO bookings (id, tenant_id, kind) VALUES ('b1', 'acme', 'trip')")
    again = prepare_examples(settings)  # a restart: the tables and their rows stay
    with sqlite3.connect(omnihub_home / "events.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        kept = db.execute("SELECT id FROM bookings").fetchall()
    assert {"bookings", "seats", "payments", "payment_failures"} <= tables
    assert kept == [("b1",)]
    names = {entry["name"] for entry in again.registry.catalog()}
    assert {"charge_card", "refund_card", "wire_transfer", "database_write"} <= names
    assert first.settings == again.settings


def test_every_tool_and_table_the_example_playbooks_use_is_in_the_set(
    omnihub_home: Path,
) -> None:
    examples = prepare_examples(load_settings())
    playbooks = load_playbooks(
        examples.settings.playbook_dirs, include_defaults=examples.settings.playbook_defaults
    )
    assert {playbook.name for playbook in playbooks} == {"book_trip", "wire_payment"}
    registered = {entry["name"] for entry in examples.registry.catalog()}
    for playbook in playbooks:
        for step in playbook.steps:
            assert step.tool in registered, (playbook.name, step.tool)
            table = step.args.get("table")
            if table is not None:
                assert table in examples.settings.tools_allowed_tables, (playbook.name, table)
