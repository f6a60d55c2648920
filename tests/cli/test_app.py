from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from omnihub import __version__
from omnihub.cli import app


def test_version_command_prints_the_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == __version__


def test_console_script_reports_errors_on_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "omnihub", "no-such-command"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "No such command" in proc.stderr


def test_omnihub_error_becomes_one_line_and_exit_one(tmp_path: object) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "omnihub", "version"],
        capture_output=True,
        text=True,
        check=False,
        env={"OMNIHUB_CONFIG_FILE": "/nonexistent/omnihub.toml", "PATH": "/usr/bin"},
    )
    # `version` does not read settings, so a bad config file does not matter to it.
    assert proc.returncode == 0
