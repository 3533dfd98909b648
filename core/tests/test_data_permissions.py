"""Issue 12: what Centralita keeps on disk is owner-only: data/ 0700, SQLite files (and -wal/-shm) 0600."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db.utils import ConnectionHandler

from core.fileperms import make_private_dir

REPO = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common default umask (022), so files would be world-readable unless the app restricts them."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_the_data_folder_is_created_and_kept_owner_only(tmp_path, open_umask):
    # given no folder / when the app starts / then it is created 0700
    folder = tmp_path / "data"
    make_private_dir(folder)
    assert mode(folder) == 0o700
    # given a folder that was opened up / when the app starts again / then it is closed again
    folder.chmod(0o755)
    make_private_dir(folder)
    assert mode(folder) == 0o700


@pytest.mark.django_db  # pytest-django only lets tests with this mark open database connections
def test_sqlite_files_are_owner_only_as_soon_as_a_connection_opens(tmp_path, open_umask):
    # given a SQLite database in WAL mode, as the settings configure it
    name = tmp_path / "centralita.sqlite3"
    handler = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(name),
                                          "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;"}}})
    wrapper = handler["default"]  # a connection of its own, not the test database's
    try:
        # when the app opens it and writes
        with wrapper.cursor() as cursor:
            cursor.execute("CREATE TABLE t (x text)")
            cursor.execute("INSERT INTO t VALUES ('secret')")
        # then the database and its write-ahead log and shared memory are readable by the owner only
        for suffix in ("", "-wal", "-shm"):
            path = Path(f"{name}{suffix}")
            assert path.exists() and mode(path) == 0o600, suffix
    finally:
        wrapper.close()


def test_settings_create_data_dir_owner_only(tmp_path):
    folder = tmp_path / "fresh-data"
    env = {**os.environ, "DEBUG": "1", "DATA_DIR": str(folder), "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=REPO, env=env, check=True,
                   timeout=60)
    assert mode(folder) == 0o700


def test_make_run_bootstrap_locks_down_an_existing_data_folder(tmp_path):
    # given a data folder from before, world-readable, with a database and its companions
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    for name in ("centralita.sqlite3", "centralita.sqlite3-wal", "centralita.sqlite3-shm", "web.log"):
        (folder / name).write_text("x")
        (folder / name).chmod(0o644)
    # when `make run` starts (bootstrap.sh runs this first)
    subprocess.run([str(REPO / "scripts" / "secure_data_dir.sh")], env={**os.environ, "DATA_DIR": str(folder)},
                   check=True, timeout=30)
    # then the folder is 0700 and the database files 0600
    assert mode(folder) == 0o700
    for name in ("centralita.sqlite3", "centralita.sqlite3-wal", "centralita.sqlite3-shm"):
        assert mode(folder / name) == 0o600, name
