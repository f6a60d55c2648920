"""The console-script wrapper, run in-process so its branches are covered."""

from __future__ import annotations

import pytest

from omnihub.cli import main


def _run(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr("sys.argv", ["omnihub", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    code = exited.value.code
    return code if isinstance(code, int) else 0


def test_unknown_command_exits_two(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(monkeypatch, "no-such-command") == 2
    assert "No such command" in capsys.readouterr().err


def test_help_returns_normally(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["omnihub", "--help"])
    main()
    assert "durable, auditable runtime" in capsys.readouterr().out
