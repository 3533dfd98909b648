"""What every fake vendor server shares: a loopback HTTP server in a daemon thread, used as a context manager in
tests (`with FakeX(...) as fake: fake.base_url`) or in the foreground from a CLI (`run_until_signalled`), and the HTTP
plumbing under it (`FakeHTTPServer`, `FakeHandler`, `Request`, `Response`): each fake brings its state, its vendor
API router, its `/_fake` control router and the vendor's answers to a bad or crashing request."""

from __future__ import annotations

import contextlib
import json
import select
import signal
import socket
import sys
import threading
import traceback
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Protocol, Self


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

    def run_until_signalled(self, label: str) -> int:
        """A CLI's foreground mode: binds, prints "<label> listening on <base_url>" once the port is known, serves
        until SIGTERM or SIGINT and returns the exit status. Both handlers are installed explicitly: a fake started
        as a background job inherits SIGINT ignored."""
        self._bind()

        def stop(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        print(f"{label} listening on {self.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            self.serve_forever()
        return 0


# --------------------------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Response:
    """One HTTP answer of a fake: JSON unless `content_type` says otherwise (None: no Content-Type header)."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload, ensure_ascii=False).encode(), headers=headers or {})


@dataclass
class Request:
    """One request as a fake's routers see it: the query as a dict (the last value of a repeated key wins) and
    `base`, the public URL the fake builds links with ("" for a fake that answers no links)."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes
    headers: Any
    base: str = ""

    def form(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(self.body.decode("utf-8", errors="replace"), keep_blank_values=True)

    def json(self) -> dict[str, Any]:
        """The body's JSON object ({} for no body); ValueError (the vendor's 400, see FakeHandler.rejected) else."""
        try:
            data = json.loads(self.body or b"{}")
        except ValueError as exc:
            raise ValueError("body is not JSON") from exc
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        return data


class Router[RequestT](Protocol):
    """A fake's API or control routes: one answer per request (raising is answered by FakeHandler.safely)."""

    def handle(self, req: RequestT, /) -> Response: ...


class FakeHTTPServer[FakeT, RequestT](ThreadingHTTPServer):
    """The threaded HTTP server of one fake: its state (`fake`) and the two routers its handler dispatches to, the
    vendor's API (`api`) and the `/_fake` control routes (`control`). `verbose` logs every request to stderr."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[FakeHandler[FakeT, RequestT]], fake: FakeT, *,
                 api: Router[RequestT], control: Router[RequestT], verbose: bool = False) -> None:
        super().__init__(address, handler)
        self.fake = fake
        self.api = api
        self.control = control
        self.verbose = verbose

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client hung up (e.g. it timed out during a scripted delay): not the fake's problem
        super().handle_error(request, client_address)


class FakeHandler[FakeT, RequestT](BaseHTTPRequestHandler):
    """One fake's request handler: reads the request (`build_request`), sends `/_fake…` to the control router and
    everything else to `serve_api`, and writes the answer. A router that raises never drops the connection: it is
    answered by `rejected` (bad input) or `crashed` (a bug; the traceback goes to stderr).

    Subclasses set `server_version` (the vendor's Server header) and implement `build_request`, `serve_api` and
    `crashed`; GET, POST and DELETE are served (a fake serving more adds `do_PUT` and the like, calling `_handle`)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid the 40 ms delayed-ACK stall
    sys_version = ""
    timeout = 120

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    @property
    def fake_server(self) -> FakeHTTPServer[FakeT, RequestT]:
        server = self.server
        assert isinstance(server, FakeHTTPServer)
        return server

    @property
    def fake(self) -> FakeT:
        return self.fake_server.fake

    def log_message(self, format: str, *args: Any) -> None:
        server = self.server
        if isinstance(server, FakeHTTPServer) and server.verbose:
            super().log_message(format, *args)

    # --- hooks ---

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def build_request(self, path: str, query: str, body: bytes) -> RequestT:
        raise NotImplementedError

    def is_control(self, path: str) -> bool:
        """The fake's own routes: answered by the control router, never gated, held or logged."""
        return path.startswith("/_fake")

    def serve_api(self, req: RequestT) -> Response | None:
        """The vendor API's answer, with whatever the fake wraps around `route_api` (scripted faults, holds, the
        request log); None closes the connection without an answer."""
        raise NotImplementedError

    def rejected(self, exc: Exception) -> Response | None:
        """The vendor's answer to a request a router refused by raising `exc`; None: a crash (see `crashed`)."""
        return None

    def crashed(self) -> Response:
        """The vendor's answer to a router's bug (its 500)."""
        raise NotImplementedError

    # --- the request cycle ---

    def route_api(self, req: RequestT) -> Response:
        return self.safely(lambda: self.fake_server.api.handle(req))

    def safely(self, call: Callable[[], Response]) -> Response:
        try:
            return call()
        except Exception as exc:
            answer = self.rejected(exc)
            if answer is not None:
                return answer
            traceback.print_exc()
            return self.crashed()

    def _handle(self) -> None:
        body = self.read_body()
        split = urllib.parse.urlsplit(self.path)
        req = self.build_request(split.path, split.query, body)
        if self.is_control(split.path):
            self.write_response(self.safely(lambda: self.fake_server.control.handle(req)))
            return
        response = self.serve_api(req)
        if response is None:
            self.close_connection = True
            return
        self.write_response(response)

    def write_response(self, response: Response) -> None:
        """No body (nor Content-Length) for a 1xx or 204 answer, as HTTP requires; none either for HEAD."""
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for key, value in response.headers.items():
            self.send_header(key, value)
        if response.status != 204 and not 100 <= response.status < 200:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.status != 204 and self.command != "HEAD":
            self.wfile.write(response.body)


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
