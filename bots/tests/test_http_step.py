"""The flow's HTTP step against a real local HTTP server: the JSON answer mapped into variables, a failing or slow
service and a private address take the "error" port. No network beyond 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bots.tests.helpers import bot_said, global_inbox, published, write

pytestmark = pytest.mark.django_db


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/fail"):
            self.send_response(503)
            self.end_headers()
            return
        body = json.dumps({"envio": {"estado": "En camino", "guias": [{"numero": "GU-77"}]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def flow_calling(url: str) -> dict[str, Any]:
    return {"start": "call", "steps": {
        "call": {"type": "http", "method": "GET", "url": url, "timeout": 2,
                 "map": {"estado": "envio.estado", "guia": "envio.guias.0.numero"},
                 "next": {"ok": "tell", "error": "sorry"}},
        "tell": {"type": "end", "text": "Tu envío está {{var.estado}} (guía {{var.guia}})."},
        "sorry": {"type": "handoff", "text": "No pude consultarlo; te paso con una persona."}}}


def test_the_answer_is_mapped_into_variables(service, settings):
    settings.BOT_HTTP_ALLOW_PRIVATE = True
    published(flow_calling(service + "/envios?cliente={{var.ultima_respuesta}}"), inbox_code=global_inbox().code)
    c = write("hola", phone="3005553001")
    assert bot_said(c) == ["Tu envío está En camino (guía GU-77)."]


def test_a_failing_service_takes_the_error_port(service, settings):
    settings.BOT_HTTP_ALLOW_PRIVATE = True
    published(flow_calling(service + "/fail"), inbox_code=global_inbox().code)
    c = write("hola", phone="3005553002")
    assert bot_said(c) == ["No pude consultarlo; te paso con una persona."]


def test_a_private_address_is_refused_unless_allowed(service, settings):
    settings.BOT_HTTP_ALLOW_PRIVATE = False
    published(flow_calling(service + "/envios"), inbox_code=global_inbox().code)
    c = write("hola", phone="3005553003")
    assert bot_said(c) == ["No pude consultarlo; te paso con una persona."]
