"""The configuration reference is generated from the settings model, one row per setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnihub.cli import app
from omnihub.config import Settings, render_settings_table, settings_table
from omnihub.errors import ConfigurationError


def _rows() -> list[list[str]]:
    lines = settings_table().splitlines()[2:]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def test_the_table_has_one_row_per_setting_in_model_order() -> None:
    names = [row[0] for row in _rows()]
    assert names == [f"`OMNIHUB_{name.upper()}`" for name in Settings.model_fields]
    assert len(set(names)) == len(names)


def test_each_row_gives_type_default_and_meaning() -> None:
    rows = {row[0]: row[1:] for row in _rows()}
    assert rows["`OMNIHUB_API_PORT`"] == ["int", "`8700`", "Port of the HTTP API."]
    assert rows["`OMNIHUB_HOME`"][:2] == ["path", "`~/.omnihub`"]
    assert rows["`OMNIHUB_TEMPORAL_ADDRESS`"][:2] == ["str", "unset"]
    assert rows["`OMNIHUB_TOOLS_ALLOWED_TABLES`"][:2] == ["JSON list of str", "`[]`"]
    assert rows["`OMNIHUB_PLAYBOOK_DEFAULTS`"][:2] == ["bool", "`true`"]
    assert rows["`OMNIHUB_BUDGET_ACTION`"][:2] == ["`reject` / `hold`", "`reject`"]
    assert rows["`OMNIHUB_LLM_API_KEY`"][:2] == ["secret", "unset"]
    assert all(len(cells) == 3 and cells[2] for cells in rows.values()), (
        "a setting lacks a description"
    )


def test_render_replaces_only_the_text_between_the_markers() -> None:
    from omnihub.config._reference import TABLE_END, TABLE_START

    stale = f"# Doc\n\nbefore\n{TABLE_START}\n| old | table |\n{TABLE_END}\nafter\n"
    rendered = render_settings_table(stale)
    assert rendered == f"# Doc\n\nbefore\n{TABLE_START}\n{settings_table()}{TABLE_END}\nafter\n"
    assert render_settings_table(rendered) == rendered
    with pytest.raises(ConfigurationError, match="no settings table markers"):
        render_settings_table("# a document without the table\n")


def test_config_docs_checks_and_rewrites_a_readme(tmp_path: Path) -> None:
    from omnihub.config._reference import TABLE_END, TABLE_START

    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{TABLE_START}\n| stale |\n{TABLE_END}\n", encoding="utf-8")
    runner = CliRunner()
    stale = runner.invoke(app, ["config", "docs", "--readme", str(readme), "--check"])
    assert stale.exit_code == 1
    assert "stale" in stale.output
    assert runner.invoke(app, ["config", "docs", "--readme", str(readme)]).exit_code == 0
    assert settings_table() in readme.read_text(encoding="utf-8")
    current = runner.invoke(app, ["config", "docs", "--readme", str(readme), "--check"])
    assert current.exit_code == 0
    printed = runner.invoke(app, ["config", "docs"])
    assert printed.stdout == settings_table()
