"""What every fake vendor server shares: a loopback HTTP server in a daemon thread, used as a context manager in
tests (`with FakeX(...) as fake: fake.base_url`) or in the foreground from a CLI (`serve_forever`)."""

from __future__ import annotations

import threading
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
