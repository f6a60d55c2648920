"""Private files under ``OMNIHUB_HOME``: directories 0700, files 0600.

The home holds key hashes, encrypted signing secrets, every tenant's events and the embedded
Temporal server's address; other local users must not read any of it. SQLite creates its
``-wal`` and ``-shm`` files with the permissions of the database file, so creating the
database file 0600 before SQLite opens it covers all three.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; tighten it if it exists.

    Only directories this call creates and ``path`` itself are changed: an existing parent
    such as ``/tmp`` or the user's home keeps its mode. Raises OSError; callers translate it
    into their own store error.
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        directory.chmod(PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask
    if path.is_dir() and (path.stat().st_mode & 0o777) != PRIVATE_DIR_MODE:
        path.chmod(PRIVATE_DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if missing (a missing directory 0700), else 0600.

    Call it before a library (sqlite3, a server) opens the file, so the file is never
    readable by others, not even for a moment. Existing ``-wal``/``-shm`` files are tightened
    too (an install made before files were private). Raises OSError, before changing any
    mode, when ``path`` exists but is not a regular file (a directory given as a database
    path must not be chmod-ed 0600, nor its parent 0700).
    """
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(path.stat().st_mode):
            code = errno.EISDIR if path.is_dir() else errno.EINVAL
            raise OSError(code, "exists but is not a regular file", str(path))
    # A missing directory is created 0700; an existing one keeps its mode. A database path
    # outside OMNIHUB_HOME may sit in a directory other services share (a server's data
    # directory under it, pytest's basetemp): tightening it would lock them out. The home
    # itself is tightened by load_settings.
    if not path.parent.is_dir():
        private_dir(path.parent)
    # Never open an existing file: closing any descriptor of an SQLite database drops every
    # POSIX lock this process holds on it, through other connections too (a "disk I/O
    # error" or corruption follows). Only a file that does not exist yet is opened, to
    # create it; an existing one is only chmod-ed.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists() and (candidate.stat().st_mode & 0o777) != PRIVATE_FILE_MODE:
            candidate.chmod(PRIVATE_FILE_MODE)
    return path
