from __future__ import annotations

from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from omnihub.errors import ServerError
from omnihub.servers import EmbeddedPostgres, EmbeddedRedis, EmbeddedTemporal, ServerProcess
from omnihub.servers._process import port_open


def test_postgres_server_answers_queries(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    assert row is not None
    assert row[0] >= 180000


def test_redis_server_has_the_search_module(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        modules = {m[b"name"].decode().lower() for m in client.module_list()}
    finally:
        client.close()
    assert "search" in modules


def test_temporal_server_listens_on_loopback(temporal_server: EmbeddedTemporal) -> None:
    assert temporal_server.address.startswith("127.0.0.1:")
    assert port_open(temporal_server.host, temporal_server.port)


def test_server_that_exits_at_once_reports_its_log(tmp_path: Path) -> None:
    process = ServerProcess("false", ["/bin/sh", "-c", "echo boom; exit 3"], tmp_path / "x.log")
    process.start()
    with pytest.raises(ServerError, match="exited with status 3"):
        process.wait_for_port("127.0.0.1", 1, timeout=5)
    assert "boom" in process.log_tail()


def test_missing_binary_is_a_server_error(tmp_path: Path) -> None:
    process = ServerProcess("nothing", [str(tmp_path / "missing")], tmp_path / "x.log")
    with pytest.raises(ServerError, match="cannot start nothing"):
        process.start()


def test_postgres_url_before_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match="not started"):
        EmbeddedPostgres(tmp_path).url()


def test_redis_server_stops_cleanly(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path).start()
    assert port_open(server.host, server.port)
    server.stop()
    assert not port_open(server.host, server.port)


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_postgres_restarted_in_immediate_mode_still_stops(tmp_path: Path) -> None:
    # The chaos suite restarts PostgreSQL mid-run; the restarted server must not outlive stop().
    data_dir = tmp_path / "pg"
    server = EmbeddedPostgres(data_dir).start()
    first = _postmaster_pid(data_dir)
    server.restart_immediate()
    restarted = _postmaster_pid(data_dir)
    assert restarted != first
    # The library stops only the postmaster it remembers. Where init reaps the old one at once
    # (tini, systemd; not this sandbox, whose init leaves it a zombie that still "runs") a stale
    # pid would leave the restarted server running after stop().
    assert server._server.get_pid() == restarted
    with psycopg.connect(server.url()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    server.stop()
    assert not _running(restarted)
    assert not (data_dir / "postmaster.pid").exists()
