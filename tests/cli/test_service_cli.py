from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from omnihub.cli import app
from omnihub.servers import free_port


def test_keys_create_json_prints_the_key_once_and_list_shows_it(omnihub_home: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["keys", "create", "--tenant", "acme", "--role", "viewer", "--json"]
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["tenant"] == "acme"
    assert created["role"] == "viewer"
    assert created["key"].startswith("omk_")
    listed = runner.invoke(app, ["keys", "list", "--tenant", "acme"])
    key_id = created["key"].split("_")[1]
    assert key_id in listed.stdout
    assert created["key"] not in listed.stdout
    revoked = runner.invoke(app, ["keys", "revoke", key_id])
    assert revoked.exit_code == 0
    assert f"revoked {key_id}" in revoked.stdout


def test_keys_create_plain_prints_only_the_key_on_stdout() -> None:
    result = CliRunner().invoke(
        app, ["keys", "create", "--tenant", "acme", "--role", "admin", "--signed"]
    )
    assert result.exit_code == 0
    assert result.stdout.strip().startswith("omk_")
    assert "signed requests only" in result.stderr


def test_keys_create_refuses_an_unknown_role() -> None:
    result = CliRunner().invoke(app, ["keys", "create", "--tenant", "acme", "--role", "root"])
    assert result.exit_code == 2
    assert "root" in result.output


def test_a_key_created_before_serve_works_against_it(omnihub_home: Path) -> None:
    env = {**os.environ, "OMNIHUB_HOME": str(omnihub_home)}
    created = subprocess.run(
        [sys.executable, "-m", "omnihub", "keys", "create", "--tenant", "t1", "--role", "viewer"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = created.stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "omnihub", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60  # it starts the embedded Temporal server too
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "omnihub serve did not become ready"
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            time.sleep(0.1)
        assert httpx.get(f"{base}/v1/usage").status_code == 401
        authed = httpx.get(f"{base}/v1/usage", headers={"Authorization": f"Bearer {key}"})
        assert authed.status_code == 200, authed.text
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0
        if server.stdout:
            server.stdout.close()
        if server.stderr:
            server.stderr.close()
