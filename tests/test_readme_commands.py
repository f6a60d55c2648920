"""Every shell example in the README runs as written, against a fresh ``omnihub up``.

Each ``sh`` block carries a marker on the line above it, and this test refuses a block
without one:

- ``<!-- readme-test: run -->``: run with bash (``set -euo pipefail``), in README order, in one
  scratch directory; exported variables carry over to the next block, as in one terminal.
- ``<!-- readme-test: stack -->``: the one block that starts the stack; it runs in the
  background until every block after it has run, then gets SIGTERM (Ctrl-C).
- ``<!-- readme-test: not run: REASON -->``: not run here, for the reason given (the blocks
  that install the environment, need a placeholder filled in, or are run by another test).

The environment is a newcomer's: no ``OMNIHUB_*`` setting but a fresh ``OMNIHUB_HOME`` and a
free ``OMNIHUB_API_PORT`` (the README's commands read it), and ``omnihub`` on the PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from omnihub.auth import Role, open_key_store
from omnihub.servers import free_port

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(
    r"(?:<!-- readme-test: (?P<marker>[^>]*?) -->\n)?```(?:sh|bash|shell)\n(.*?)```", re.S
)
_STACK_TIMEOUT_S = 120.0
_GOAL_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Block:
    line: int
    kind: str  # run, stack or not run
    reason: str
    text: str


def readme_blocks(text: str) -> list[Block]:
    """The README's shell blocks with their markers (a missing marker reads as kind "")."""
    blocks = []
    for match in _BLOCK.finditer(text):
        marker = match.group("marker") or ""
        kind, _, reason = (
            marker.partition(":") if marker.startswith("not run") else (marker, "", "")
        )
        line = text.count("\n", 0, match.start(2))
        blocks.append(Block(line, kind.strip(), reason.strip(), match.group(2)))
    return blocks


def test_every_shell_block_says_whether_it_runs() -> None:
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    unmarked = [b.line for b in blocks if b.kind not in ("run", "stack", "not run")]
    assert unmarked == [], "README shell blocks without a readme-test marker (at these lines)"
    assert all(b.reason for b in blocks if b.kind == "not run"), "a 'not run' block gives no reason"
    assert [b.kind for b in blocks].count("stack") == 1
    assert sum(b.kind == "run" for b in blocks) >= 3


def test_readme_blocks_parse_markers_and_refuse_unmarked_ones() -> None:
    text = (
        "<!-- readme-test: not run: needs a plan -->\n```sh\nx\n```\n"
        "<!-- readme-test: run -->\n```sh\ny\n```\n"
        "```bash\nz\n```\n"
    )
    assert readme_blocks(text) == [
        Block(2, "not run", "needs a plan", "x\n"),
        Block(6, "run", "", "y\n"),
        Block(9, "", "", "z\n"),
    ]


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("OMNIHUB_")}
    # `omnihub` as the README writes it: the console script next to this interpreter.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["OMNIHUB_HOME"] = str(tmp_path / "home")
    env["OMNIHUB_API_PORT"] = str(free_port())
    return env


def _run_block(block: Block, env: dict[str, str], cwd: Path) -> None:
    exported = cwd / ".readme-env"
    script = (
        "set -euo pipefail\n"
        f"if [ -f {exported} ]; then . {exported}; fi\n"
        f"{block.text}\n"
        f"export -p > {exported}\n"
    )
    result = subprocess.run(
        ["bash", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=_GOAL_TIMEOUT_S * 2,
        check=False,
    )
    assert result.returncode == 0, (
        f"README block at line {block.line} failed ({result.returncode}):\n{block.text}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


def _start_stack(block: Block, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    log = (cwd / "stack.log").open("w")
    stack = subprocess.Popen(
        ["bash", "-c", block.text],
        env=env,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so the test can stop all of it
    )
    log.close()
    deadline = time.monotonic() + _STACK_TIMEOUT_S
    while "OmniHub is up" not in (cwd / "stack.log").read_text():
        assert stack.poll() is None, (cwd / "stack.log").read_text()
        assert time.monotonic() < deadline, "the README's stack did not come up"
        time.sleep(0.2)
    return stack


def _wait_for_goals(env: dict[str, str], tenant: str) -> list[dict[str, object]]:
    """Every goal of ``tenant``, once none is running any more."""
    keys = open_key_store(f"sqlite:///{env['OMNIHUB_HOME']}/api.db")
    try:
        viewer = keys.create(tenant, Role.VIEWER).key
    finally:
        keys.close()
    url = f"http://127.0.0.1:{env['OMNIHUB_API_PORT']}"
    headers = {"Authorization": f"Bearer {viewer}"}
    deadline = time.monotonic() + _GOAL_TIMEOUT_S
    with httpx.Client(base_url=url, headers=headers, timeout=30) as api:
        while True:
            goals: list[dict[str, object]] = api.get("/v1/goals").json()["items"]
            if goals and all(g["status"] in ("completed", "failed", "cancelled") for g in goals):
                return goals
            assert time.monotonic() < deadline, f"goals still running: {goals}"
            time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_readme_commands_run_as_written_against_a_fresh_stack(tmp_path: Path) -> None:
    assert shutil.which("curl"), "the README's examples use curl"
    env = _environment(tmp_path)
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    stack: subprocess.Popen[str] | None = None
    try:
        for block in blocks:
            if block.kind == "stack":
                stack = _start_stack(block, env, tmp_path)
            elif block.kind == "run":
                _run_block(block, env, tmp_path)
        goals = _wait_for_goals(env, "acme")
    finally:
        if stack is not None:
            os.killpg(stack.pid, signal.SIGTERM)  # Ctrl-C, as the README says
            stack.wait(timeout=60)
    assert stack is not None
    log = (tmp_path / "stack.log").read_text()
    assert "OmniHub stopped." in log, log
    # The README submits three example goals for tenant acme (curl, the CLI, the Python
    # client): all complete.
    assert sorted((g["goal"], g["status"]) for g in goals) == [
        ("Book a trip from Lyon to Nice on 3 March 2027", "completed"),
        ("Book a trip from Paris to Berlin on 14 May 2027", "completed"),
        ("Book a trip from Turin to Bern on 4 April 2027", "completed"),
    ]
