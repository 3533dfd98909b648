"""Owner-only permissions for what Centralita keeps on disk: data/ (0700) and SQLite files (0600).

The SQLite file holds customers' data and the encrypted vendor secrets; its -wal/-shm/-journal companions hold
recent pages of it. SQLite creates the companions with the main file's mode, so making the main file 0600 when a
connection opens covers them from then on; companions that already exist are fixed at the same time.

Importable from the settings: standard library only.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Any

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def _restrict(path: Path, mode: int) -> None:
    """chmod `path` to `mode` when it is ours and more open; someone else's file (a mounted volume) is left alone."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        info = path.stat()
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) != mode:
            path.chmod(mode)


def make_private_dir(path: Path) -> None:
    """Creates `path` (and parents) and makes it 0700."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    _restrict(path, PRIVATE_DIR)


def make_sqlite_private(name: str) -> None:
    """Makes a SQLite database file and its companions 0600. Runs on every new connection (a few stat calls, well
    under the cost of opening SQLite), so a file deleted and re-created, as test databases are, is covered too."""
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    for suffix in SQLITE_COMPANIONS:
        _restrict(Path(name + suffix), PRIVATE_FILE)


def secure_sqlite_on_connect(sender: Any, connection: Any, **kwargs: Any) -> None:
    """`connection_created` receiver (core.apps): every SQLite file the app opens becomes owner-only."""
    if connection.vendor == "sqlite":
        make_sqlite_private(str(connection.settings_dict.get("NAME") or ""))
