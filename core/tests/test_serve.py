"""`manage.py serve`: several daphne processes on one listening socket, stopped together."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    return [int(line) for line in out.split()]


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_serve_runs_several_processes_on_one_port_and_stops_them(tmp_path):
    # given the serve command with two processes on a free port (a throwaway SQLite data folder)
    port = _free_port()
    env = {**os.environ, "DEBUG": "1", "DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=REPO, env=env, check=True)
    proc = subprocess.Popen([sys.executable, "manage.py", "serve", "--bind", "127.0.0.1", "--port", str(port),
                             "--processes", "2"], cwd=REPO, env=env)
    try:
        # when it is up
        deadline = time.monotonic() + 60
        answered = 0
        while time.monotonic() < deadline and answered < 20:
            try:
                answered += httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.3)
        children = _children(proc.pid)
        # then two daphne processes answer on the one port
        assert answered == 20
        assert len(children) == 2 and all("daphne" in _cmdline(pid) for pid in children)
        # and a TERM stops the command and its processes
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in children)
    finally:
        if proc.poll() is None:
            proc.kill()
