"""`manage.py serve`: the web tier on every core of one host.

One daphne process runs Python on one core at a time (the GIL). This command binds the listening socket once and
starts N daphne processes that all adopt it (`daphne --fd`): the kernel hands each new connection to one of them,
the pre-fork model of gunicorn or of systemd socket activation, with no proxy between them. Websockets work as
with one process because events travel through the channel layer (Redis, PostgreSQL or SQLite), not memory.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Serve HTTP and websockets with N daphne processes sharing one listening socket."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=os.environ.get("WEB_BIND", "0.0.0.0"))  # noqa: S104 - a server
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--processes", type=int, default=int(os.environ.get("WEB_PROCESSES", "0")),
                            help="daphne processes (default: WEB_PROCESSES, else one per CPU)")
        parser.add_argument("--access-log", default=os.environ.get("WEB_ACCESS_LOG", ""),
                            help="file for the HTTP access log (core.access_log; default: the normal log output)")

    def handle(self, *args: Any, **options: Any) -> None:
        count = options["processes"] or os.cpu_count() or 1
        listener = socket.socket(socket.AF_INET6 if ":" in options["bind"] else socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((options["bind"], options["port"]))
        except OSError as exc:
            raise CommandError(f"cannot listen on {options['bind']}:{options['port']}: {exc}") from exc
        listener.listen(2048)
        listener.set_inheritable(True)
        # No --proxy-headers: daphne would replace the peer with the left-most (client-written) X-Forwarded-For
        # entry. The app resolves the client itself, trusting only TRUSTED_PROXIES (core.request_context).
        # -v 0: no daphne access log, which would write secret webhook paths; core.access_log writes a redacted one.
        command = [sys.executable, "-m", "daphne", "-v", "0", "--fd", str(listener.fileno())]
        env = {**os.environ, "ACCESS_LOG_FILE": options["access_log"]} if options["access_log"] else None
        command.append("config.asgi:application")

        def spawn() -> subprocess.Popen[bytes]:
            # Our own interpreter and arguments, no shell: nothing here comes from outside.
            return subprocess.Popen(command, pass_fds=(listener.fileno(),), env=env)  # noqa: S603

        children = [spawn() for _ in range(count)]
        self.stdout.write(f"centralita: {count} web process(es) on {options['bind']}:{options['port']}")

        stopping = False

        def stop(signum: int, _frame: Any) -> None:
            nonlocal stopping
            stopping = True
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            # A child that dies is restarted (a crash must not halve the capacity silently).
            while not stopping:
                for index, child in enumerate(children):
                    if child.poll() is not None and not stopping:
                        self.stderr.write(f"centralita: web process {child.pid} exited ({child.returncode}); "
                                          "restarting")
                        children[index] = spawn()
                time.sleep(0.5)
        finally:
            for child in children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
            listener.close()
