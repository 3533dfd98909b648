"""Private, throwaway PostgreSQL and Redis servers for fault-injection and scale-out tests.

The machine's shared PostgreSQL and Redis serve every other test; a test that restarts a database or cuts Redis off
must do it to servers of its own. These are the real Debian binaries (`initdb`/`pg_ctl`, `redis-server`) on free
ports in a temporary directory — not mocks:

    with TempPostgres() as pg, TempRedis() as redis:
        pg.url            # postgres://postgres@127.0.0.1:<port>/centralita
        pg.restart()      # a real restart: every connection is cut
        redis.stop(); redis.start()   # an outage and a recovery on the same port
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from fakes.mailservers import free_port, wait_for_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root; on these machines the tests run as root."""
    if os.getuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


class TempPostgres:
    """A PostgreSQL cluster of its own (trust auth, fsync off) on a free port, with a `centralita` database."""

    def __init__(self, *, database: str = "centralita") -> None:
        self.database = database
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="centralita-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self._running = False

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    def __enter__(self) -> TempPostgres:
        if os.getuid() == 0:
            shutil.chown(self.dir, user="postgres")
        initdb = [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync"]
        subprocess.run(_as_postgres_user(initdb), check=True, capture_output=True)  # noqa: S603
        self.start()
        createdb = [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", self.database]
        subprocess.run(_as_postgres_user(createdb), check=True, capture_output=True)  # noqa: S603
        return self

    def _ctl(self, *args: str) -> None:
        pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", *args]
        subprocess.run(_as_postgres_user(pg_ctl), check=True, capture_output=True)  # noqa: S603

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off " \
               f"-c unix_socket_directories={self.dir} -c max_connections=100"
        self._ctl("-o", opts, "start")
        wait_for_port(self.port)
        self._running = True

    def stop(self, mode: str = "fast") -> None:
        """`fast` cuts every client off as a restart does; `immediate` is a crash."""
        if self._running:
            self._ctl("-m", mode, "stop")
            self._running = False

    def restart(self) -> None:
        self.stop()
        self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class TempRedis:
    """A Redis of its own (no persistence) on a free port, which can be stopped and started again on that port."""

    def __init__(self) -> None:
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._proc = subprocess.Popen(  # noqa: S603
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(10)
            self._proc = None

    def __enter__(self) -> TempRedis:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

