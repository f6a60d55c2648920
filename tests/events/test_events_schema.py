"""The committed JSON Schema of the CDM must match the models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from omnihub.cli import app
from omnihub.events import cdm_json_schema

COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "cdm.schema.json"


def test_committed_schema_is_up_to_date(tmp_path: Path) -> None:
    # A fresh interpreter running the real command: event types that other tests register in
    # this process must not leak into the comparison.
    out = tmp_path / "cdm.schema.json"
    subprocess.run(
        [sys.executable, "-m", "omnihub", "schema", "export", "--output", str(out)],
        check=True,
        capture_output=True,
    )
    assert COMMITTED.read_text(encoding="utf-8") == out.read_text(encoding="utf-8"), (
        "schemas/cdm.schema.json is stale: run `make schema` and commit the result"
    )


def test_schema_covers_every_event_type_and_old_versions() -> None:
    schema = cdm_json_schema()
    titles = {variant["$ref"].rsplit("/", 1)[1] for variant in schema["oneOf"]}
    assert {"GoalReceivedEvent", "ToolExecutedEvent", "GoalResumedEvent"} <= titles
    # Historic payload versions are reachable from the oneOf, not only listed under $defs.
    assert "ToolExecutedV1Event" in titles
    assert "ToolExecutedV1" in schema["$defs"]
    assert schema["$defs"]["ToolExecuted"]["x-schema-version"] == 2
    assert "duration_ms" in schema["$defs"]["ToolExecuted"]["properties"]


def test_schema_export_command_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "cdm.json"
    result = CliRunner().invoke(app, ["schema", "export", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["title"].startswith("OmniHub")
