"""What every fake vendor server shares: a loopback HTTP server in a daemon thread, used as a context manager in
tests (`with FakeX(...) as fake: fake.base_url`) or in the foreground from a CLI (`serve_forever`)."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class LoopbackServer:
    """Subclasses set `state` (the fake's data, with a `close()`), `name` and implement `make_httpd`."""

    name = "fake"
    state: Any

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> None:
        self.host, self.port, self.verbose = host, port, verbose
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def make_httpd(self) -> ThreadingHTTPServer:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _bind(self) -> ThreadingHTTPServer:
        self._httpd = self.make_httpd()
        self.port = int(self._httpd.server_address[1])
        return self._httpd

    def start(self) -> Self:
        httpd = self._bind()
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self.name}-{self.port}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (from another thread) or KeyboardInterrupt."""
        httpd = self._httpd or self._bind()
        try:
            httpd.serve_forever(poll_interval=0.2)
        finally:
            httpd.server_close()
            self.state.close()

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.state.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def peer_open(sock: socket.socket) -> bool:
    """False once the client closed its end (a killed process's sockets are closed by its kernel): the socket
    turns readable and a peek reads nothing."""
    try:
        readable, _w, _x = select.select([sock], [], [], 0)
        if not readable:
            return True
        return bool(sock.recv(1, socket.MSG_PEEK))
    except (OSError, ValueError):
        return False


@dataclass
class _HoldRule:
    path: str
    method: str | None
    remaining: int
    on_disconnect: str  # "drop": a request whose client hung up never happens; "complete": it still does


class RequestHolds:
    """Parks matching API requests until the test releases them: the deterministic "slow vendor" that lets a test
    kill a worker while its call is in flight (no sleeps, no timing).

    * ``on_disconnect="drop"``: if the client goes away while parked, the request is dropped unprocessed (the call
      never reached the vendor); if released first, it is processed normally.
    * ``on_disconnect="complete"``: the request waits for the release and is then processed even if its client is
      gone (the vendor did the work but the answer was lost: the case idempotency keys exist for).

    Counters (``held`` now, ``dropped``, ``completed``) let tests poll for each stage."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: list[_HoldRule] = []
        self.released = threading.Event()
        self.held = 0
        self.dropped = 0
        self.completed = 0

    def add(self, *, path: str = "", method: str | None = None, count: int = 1, on_disconnect: str = "drop") -> None:
        if on_disconnect not in ("drop", "complete"):
            raise ValueError("on_disconnect must be 'drop' or 'complete'")
        with self.lock:
            self.released.clear()
            self.rules.append(_HoldRule(path, method.upper() if method else None, int(count), on_disconnect))

    def release(self) -> None:
        with self.lock:
            self.rules.clear()
        self.released.set()

    def reset(self) -> None:
        self.release()
        with self.lock:
            self.held = self.dropped = self.completed = 0

    def _take(self, method: str, path: str) -> _HoldRule | None:
        with self.lock:
            rule = next((r for r in self.rules if r.remaining > 0 and r.path in path
                         and r.method in (None, method.upper())), None)
            if rule is not None:
                rule.remaining -= 1
                self.rules = [r for r in self.rules if r.remaining > 0]
                self.held += 1
            return rule

    def wait(self, method: str, path: str, alive: Callable[[], bool], *, poll: float = 0.02) -> bool:
        """Blocks a matching request until released; False = drop it (its client hung up, "drop" mode)."""
        rule = self._take(method, path)
        if rule is None:
            return True
        try:
            while not self.released.wait(poll):
                if rule.on_disconnect == "drop" and not alive():
                    with self.lock:
                        self.dropped += 1
                    return False
            if rule.on_disconnect == "complete" or alive():
                with self.lock:
                    self.completed += 1
                return True
            with self.lock:
                self.dropped += 1
            return False
        finally:
            with self.lock:
                self.held -= 1

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {"held": self.held, "dropped": self.dropped, "completed": self.completed,
                    "waiting_rules": len(self.rules)}
