"""Everything OmniHub creates under OMNIHUB_HOME is private: directories 0700, files 0600
(SQLite's -wal and -shm files and the embedded Temporal server's files included), whatever
the process umask."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from omnihub.auth import Role, SecretCipher, open_idempotency_store, open_key_store
from omnihub.cache import open_index
from omnihub.config import load_settings, private_dir, private_file
from omnihub.events import open_event_store
from omnihub.planning import LedgerEntry, open_ledger
from omnihub.saga import TemporalSupervisor


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The common default umask (files 0644, directories 0755)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _modes(home: Path) -> dict[str, str]:
    found = {".": oct(stat.S_IMODE(home.stat().st_mode))}
    for path in home.rglob("*"):
        found[str(path.relative_to(home))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def test_private_file_creates_0600_in_0700_directories(tmp_path: Path, loose_umask: None) -> None:
    tmp_path.chmod(0o755)
    target = private_file(tmp_path / "a" / "b" / "f.db")
    assert oct(stat.S_IMODE(target.stat().st_mode)) == "0o600"
    assert oct(stat.S_IMODE((tmp_path / "a").stat().st_mode)) == "0o700"
    assert oct(stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode)) == "0o700"
    assert oct(stat.S_IMODE(tmp_path.stat().st_mode)) == "0o755"  # existing parents untouched
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    private_file(shared / "g.db")  # a file put in an existing directory leaves it as it was
    assert oct(stat.S_IMODE(shared.stat().st_mode)) == "0o755"
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    assert oct(stat.S_IMODE(private_dir(loose).stat().st_mode)) == "0o700"


def test_every_file_under_home_is_private(tmp_path: Path, loose_umask: None) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)  # a home made by an earlier version is tightened, too
    settings = load_settings(home=home)
    events = open_event_store(settings.resolved_event_store_url)
    keys = open_key_store(
        settings.resolved_api_keys_url, cipher=SecretCipher.from_settings(settings)
    )
    idempotency = open_idempotency_store(settings.resolved_api_idempotency_url)
    ledger = open_ledger(settings.resolved_event_store_url)
    index = open_index(settings.resolved_cache_url)
    supervisor = TemporalSupervisor(home / "temporal")
    try:
        keys.create("acme", Role.ADMIN)
        idempotency.claim("acme", "k", "h", "g")
        ledger.record(LedgerEntry(tenant="acme", kind="llm_call", model="m"))
        supervisor.ensure()
    finally:
        supervisor.stop()
        for closeable in (events, keys, idempotency, ledger, index):
            closeable.close()
    modes = _modes(home)
    for name in ("events.db", "api.db", "api-keys.key", "plan_cache.db", "temporal/server.json"):
        assert name in modes
    assert any(name.endswith("-wal") for name in modes)
    assert "temporal/temporal.db" in modes
    wrong = {
        name: mode
        for name, mode in modes.items()
        if mode != ("0o700" if (home / name).is_dir() else "0o600")
    }
    assert wrong == {}


def test_private_file_keeps_the_sqlite_locks_this_process_holds(tmp_path: Path) -> None:
    """Closing any descriptor of a database drops the process's POSIX locks on it; making an
    existing file private must not open it, or another process could write mid-transaction."""
    path = tmp_path / "shared.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    try:
        private_file(path)
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys\n"
                "c = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n"
                "c.execute('BEGIN IMMEDIATE')\n",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert other.returncode != 0
    assert "database is locked" in other.stderr


def test_a_directory_given_as_a_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    """A database URL naming a directory is refused before any mode changes: neither the
    directory nor its parent is tightened (the parent may be shared, as pytest's basetemp is
    with the embedded PostgreSQL server's user)."""
    parent = tmp_path / "shared"
    target = parent / "dir"
    target.mkdir(parents=True)
    parent.chmod(0o755)
    target.chmod(0o755)
    with pytest.raises(IsADirectoryError):
        private_file(target)
    assert oct(stat.S_IMODE(parent.stat().st_mode)) == "0o755"
    assert oct(stat.S_IMODE(target.stat().st_mode)) == "0o755"
