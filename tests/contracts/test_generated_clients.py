"""Clients generated from the contracts work: a contract change that breaks them fails here.

- openapi-python-client generates a Python client from the live server's ``/openapi.json``,
  and that client drives a goal on the real stack (in the generator's own venv);
- openapi-typescript and json-schema-to-typescript generate types from the OpenAPI document
  and ``schemas/cdm.schema.json``, and ``ts/usage.ts`` compiles against them with
  ``tsc --strict`` (its ``@ts-expect-error`` lines check that what is forbidden stays so).

The tools are installed by ``make contract-tools`` (npm packages in ``.cache/npm-tools``,
openapi-python-client in ``.venv/openapi-python-client``), never at test time.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_goals_stack import Stack, run_stack

from omnihub.api import create_app
from omnihub.config import load_settings
from omnihub.servers import EmbeddedTemporal

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
NPM_BIN = (
    Path(os.environ.get("OMNIHUB_NPM_TOOLS", REPO / ".cache" / "npm-tools"))
    / "node_modules"
    / ".bin"
)
GENERATOR_VENV = Path(
    os.environ.get("OMNIHUB_OPENAPI_CLIENT_VENV", REPO / ".venv" / "openapi-python-client")
)
# What openapi-python-client prints when it leaves a part of the spec out of the client.
_GENERATOR_PROBLEMS = ("Unable to parse", "Cannot parse", "WARNING parsing", "Could not")


def _tool(path: Path) -> str:
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make contract-tools`")
    return str(path)


def _run(args: list[str], cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(args[:2])} failed:\n{output}"
    return output


def test_typescript_types_from_both_contracts_compile_strictly(tmp_path: Path) -> None:
    spec = create_app(load_settings()).openapi()
    (tmp_path / "openapi.json").write_text(json.dumps(spec))
    cdm = json.loads((REPO / "schemas" / "cdm.schema.json").read_text())
    # The audit-export line is a definition of the CDM document; as a root of its own, so the
    # generator emits it (it emits only what the root reaches).
    audit = {k: v for k, v in cdm.items() if k != "oneOf"}
    audit.update({"title": "AuditExportLine", "$ref": "#/$defs/AuditExportLine"})
    (tmp_path / "audit.schema.json").write_text(json.dumps(audit))
    shutil.copy(HERE / "ts" / "usage.ts", tmp_path / "usage.ts")
    _run([_tool(NPM_BIN / "openapi-typescript"), "openapi.json", "-o", "api.d.ts"], tmp_path)
    json2ts = _tool(NPM_BIN / "json2ts")
    _run([json2ts, "-i", str(REPO / "schemas" / "cdm.schema.json"), "-o", "cdm.d.ts"], tmp_path)
    _run([json2ts, "-i", "audit.schema.json", "-o", "audit.d.ts"], tmp_path)
    cdm_types = (tmp_path / "cdm.d.ts").read_text()
    assert "StepId1" not in cdm_types  # no alias per property title
    _run(
        [
            _tool(NPM_BIN / "tsc"),
            "--strict",
            "--noEmit",
            "--target",
            "es2022",
            "--module",
            "es2022",
            "--moduleResolution",
            "bundler",
            "usage.ts",
        ],
        tmp_path,
    )


@pytest.fixture
async def stack(temporal_server: EmbeddedTemporal) -> AsyncIterator[Stack]:
    async with run_stack(temporal_server, planner=False) as built:
        yield built


async def test_python_client_generated_from_the_live_spec_drives_a_goal(
    stack: Stack, tmp_path: Path
) -> None:
    generator = _tool(GENERATOR_VENV / "bin" / "openapi-python-client")
    spec = (await stack.client.get("/openapi.json")).json()
    (tmp_path / "openapi.json").write_text(json.dumps(spec))
    # The admin audit export streams JSON lines; the generator knows no ndjson, so it is told
    # (as an integrator would) to hand that body over as bytes.
    (tmp_path / "config.yaml").write_text(
        "content_type_overrides:\n  application/x-ndjson: application/octet-stream\n"
    )
    generate = await asyncio.create_subprocess_exec(
        generator,
        "generate",
        "--path",
        "openapi.json",
        "--config",
        "config.yaml",
        "--meta",
        "none",
        "--output-path",
        "omnihub_generated",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await generate.communicate())[0].decode()
    assert generate.returncode == 0, output
    problems = [line for line in output.splitlines() if line.startswith(_GENERATOR_PROBLEMS)]
    assert not problems, output
    # The driver runs in another process while this one's event loop keeps serving the API.
    drive = await asyncio.create_subprocess_exec(
        str(GENERATOR_VENV / "bin" / "python"),
        str(HERE / "generated_client_driver.py"),
        "omnihub_generated",
        str(stack.client.base_url),
        stack.keys["operator"],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(drive.communicate(), 120)
    assert drive.returncode == 0, err.decode()
    seen: dict[str, Any] = json.loads(out)
    assert seen["status"] == "completed"
    assert seen["steps"] == ["completed", "completed"]
    assert seen["event_types"][0] == "GoalReceivedEvent"
    assert "ToolExecutedEvent" in seen["event_types"]
    assert (seen["cancel_status"], seen["cancel_code"]) == (409, "goal_ended")
