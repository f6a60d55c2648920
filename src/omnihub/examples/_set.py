"""The example set as one unit: settings that load its playbooks and allow its tables, a tool
registry with its tools, and its tables created in the tools' database.

``omnihub up --example`` and the ``make demo`` scenario both start from :func:`prepare_examples`,
so the README's first run and the demo cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omnihub.config import Settings
from omnihub.examples._tools import SCHEMA, TABLES, example_tools
from omnihub.tools import ToolRegistry

PLAYBOOKS = Path(__file__).parent / "playbooks"


@dataclass(frozen=True)
class ExampleSet:
    """What a stack needs to run the example goals: its settings and its tool registry."""

    settings: Settings
    registry: ToolRegistry


def example_settings(settings: Settings) -> Settings:
    """``settings`` plus the example set: its playbooks, its tables allowed.

    The built-in playbooks are turned off: they write other columns of the same table names
    and send e-mail through an SMTP server the embedded default does not run.
    """
    allowed = [*settings.tools_allowed_tables]
    allowed += [table for table in TABLES if table not in allowed]
    dirs = [*settings.playbook_dirs]
    if PLAYBOOKS not in dirs:
        dirs.append(PLAYBOOKS)
    # model_copy skips validation: every value here is already of the field's type.
    return settings.model_copy(
        update={
            "tools_allowed_tables": allowed,
            "playbook_dirs": dirs,
            "playbook_defaults": False,
        }
    )


def create_example_tables(settings: Settings) -> None:
    """Create the example tables in the tools' database; a no-op when they exist."""
    from omnihub.tools import open_database

    database = open_database(settings.resolved_tools_database_url)
    try:
        with database.transaction() as cursor:
            for statement in SCHEMA:
                cursor.execute(statement)
    finally:
        database.close()


def prepare_examples(settings: Settings) -> ExampleSet:
    """Create the example tables (idempotently) and return the settings and registry that
    run the example goals. Blocking I/O: call it before the event loop, or in a thread."""
    from omnihub.tools import default_registry

    with_examples = example_settings(settings)
    create_example_tables(with_examples)
    return ExampleSet(with_examples, default_registry(example_tools()))
