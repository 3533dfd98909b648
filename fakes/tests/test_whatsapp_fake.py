"""The fake WhatsApp Cloud API speaks the wire contract (/work/shared/contracts/whatsapp.md). Loopback only."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakes.whatsapp import DEFAULT_PHONE_NUMBER_ID, DEFAULT_WABA_ID, FakeWhatsappServer, sign

TOKEN = "tok"
SECRET = "app-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MESSAGES = f"/v23.0/{DEFAULT_PHONE_NUMBER_ID}/messages"


class Receiver:
    """A webhook endpoint that records each POST (headers and raw body) and answers 200."""

    def __init__(self) -> None:
        self.hits: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.cond:
                    receiver.hits.append({"headers": dict(self.headers), "body": body})
                    receiver.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.hits) >= count, timeout)
            return list(self.hits)

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def fake(receiver):
    with FakeWhatsappServer(TOKEN, SECRET, webhook_url=receiver.url, status_delay=0.01) as server:
        yield server


def api(fake, method, path, **kwargs):
    return httpx.request(method, f"{fake.base_url}{path}", headers={**AUTH, **kwargs.pop("headers", {})},
                         timeout=5, **kwargs)


def text(to="573001234567", body="Hola"):
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
            "text": {"preview_url": False, "body": body}}


def test_phone_number_and_bearer_auth(fake):
    ok = api(fake, "GET", f"/v23.0/{DEFAULT_PHONE_NUMBER_ID}")
    assert ok.status_code == 200 and ok.json()["display_phone_number"] == "15550783881"
    bad = httpx.get(f"{fake.base_url}/v23.0/{DEFAULT_PHONE_NUMBER_ID}", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == 190


def test_send_text_answers_the_contracts_shape_and_records_it(fake):
    response = api(fake, "POST", MESSAGES, json=text(to="+57 300 123 4567"))
    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+57 300 123 4567", "wa_id": "573001234567"}]
    assert body["messages"][0]["id"].startswith("wamid.")
    assert fake.state.sent[0]["wamid"] == body["messages"][0]["id"]
    read = api(fake, "POST", MESSAGES, json={"messaging_product": "whatsapp", "status": "read",
                                             "message_id": body["messages"][0]["id"]})
    assert read.json() == {"success": True}


@pytest.mark.parametrize(("payload", "code"), [
    ({"to": "1", "type": "text", "text": {"body": "x"}}, 100),
    ({"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}, 100),
    ({"messaging_product": "whatsapp", "to": "1", "type": "image", "image": {"id": "999"}}, 131053),
    ({"messaging_product": "whatsapp", "to": "1", "type": "template",
      "template": {"name": "nope", "language": {"code": "es"}}}, 132001),
    ({"messaging_product": "whatsapp", "to": "1", "type": "template",
      "template": {"name": "seguimiento_pedido", "language": {"code": "es"}}}, 132000),
])
def test_bad_sends_get_graph_error_envelopes(fake, payload, code):
    response = api(fake, "POST", MESSAGES, json=payload)
    assert response.status_code >= 400
    error = response.json()["error"]
    assert error["code"] == code and error["fbtrace_id"] and "message" in error


def interactive(content, to="573001234567"):
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "interactive",
            "interactive": content}


def buttons(*titles, body="¿Confirmas?"):
    return {"type": "button", "body": {"text": body}, "action": {"buttons": [
        {"type": "reply", "reply": {"id": f"b{i}", "title": t}} for i, t in enumerate(titles)]}}


def listing(*rows, body="¿Qué necesitas?", button="Ver opciones", sections=None):
    return {"type": "list", "body": {"text": body}, "action": {
        "button": button, "sections": sections or [{"title": "Opciones", "rows": list(rows)}]}}


def row(i, title=None, **extra):
    return {"id": f"r{i}", "title": title or f"Opción {i}", **extra}


@pytest.mark.parametrize("content", [
    buttons("Sí"), buttons("Sí", "No", "Hablar con alguien"), buttons("Veinte caracteres ok"),
    buttons("Sí", body="x" * 1024),
    listing(*[row(i) for i in range(10)]), listing(row(1, description="d" * 72)),
    listing(row(1), body="x" * 4096),
    listing(sections=[{"title": "Pedidos", "rows": [row(1)]}, {"title": "Pagos", "rows": [row(2)]}]),
    {"type": "cta_url", "body": {"text": "Sigue tu pedido"},
     "action": {"name": "cta_url", "parameters": {"display_text": "Ver", "url": "https://ejemplo.com"}}},
])
def test_interactive_messages_within_metas_limits_are_accepted(fake, content):
    response = api(fake, "POST", MESSAGES, json=interactive(content))
    assert response.status_code == 200, response.json()
    assert fake.state.sent[-1]["type"] == "interactive"


@pytest.mark.parametrize(("content", "reason"), [
    (buttons(), "Buttons count"),
    (buttons("a", "b", "c", "d"), "Buttons count"),
    (buttons("Veintiún caracteres ok"), "Button title length"),
    (buttons(""), "Button title length"),
    (buttons("Sí", "Sí"), "unique"),
    (buttons("Sí", body=""), "body text is required"),
    (buttons("Sí", body="x" * 1025), "body text is too long"),
    ({"type": "button", "body": {"text": "¿?"}, "action": {"buttons": [
        {"type": "reply", "reply": {"id": "x" * 257, "title": "Sí"}}]}}, "Button id length"),
    (listing(*[row(i) for i in range(11)]), "Total row count"),
    (listing(row(1, "Veinticinco caracteres ok")), "Row title length"),
    (listing(row(1, description="d" * 73)), "Row description length"),
    (listing(row(1), button="Ver todas las opciones"), "Button label length"),
    (listing(row(1), button=""), "Button label length"),
    (listing(row(1), row(1)), "Row id must be unique"),
    (listing(row(1), body="x" * 4097), "body text is too long"),
    (listing(sections=[{"title": "Pedidos", "rows": [row(1)]}, {"rows": [row(2)]}]), "Section title"),
    (listing(sections=[{"title": "Pedidos", "rows": []}]), "Rows count"),
])
def test_interactive_messages_beyond_metas_limits_are_refused_with_131009(fake, content, reason):
    response = api(fake, "POST", MESSAGES, json=interactive(content))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 131009 and error["message"] == "(#131009) Parameter value is not valid"
    assert reason in error["error_data"]["details"]
    assert not fake.state.sent


def test_a_customer_presses_a_button_or_picks_a_row_of_what_they_were_sent(fake, receiver):
    sent = api(fake, "POST", MESSAGES, json=interactive(buttons("Sí", "No"))).json()["messages"][0]["id"]
    status, payload = fake.state.customer_chooses("573001234567", "b1", name="Ana")
    assert status == 200
    (hit,) = receiver.wait(1)
    item = json.loads(hit["body"])["entry"][0]["changes"][0]["value"]["messages"][0]
    assert item["type"] == "interactive" and item["context"] == {"from": "15550783881", "id": sent}
    assert item["interactive"] == {"type": "button_reply", "button_reply": {"id": "b1", "title": "No"}}
    api(fake, "POST", MESSAGES, json=interactive(listing(row(1), row(2, description="Mañana"))))
    httpx.post(f"{fake.base_url}/_fake/choose", json={"wa_id": "573001234567", "option_id": "r2"})
    item = json.loads(receiver.wait(2)[-1]["body"])["entry"][0]["changes"][0]["value"]["messages"][0]
    assert item["interactive"] == {"type": "list_reply",
                                   "list_reply": {"id": "r2", "title": "Opción 2", "description": "Mañana"}}
    assert httpx.post(f"{fake.base_url}/_fake/choose",
                      json={"wa_id": "573001234567", "option_id": "b0"}).status_code == 404  # not in the list
    assert payload["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] == "Ana"


def test_media_upload_info_and_download_need_the_token(fake):
    uploaded = api(fake, "POST", f"/v23.0/{DEFAULT_PHONE_NUMBER_ID}/media",
                   data={"messaging_product": "whatsapp", "type": "image/png"},
                   files={"file": ("a.png", b"\x89PNG-data", "image/png")})
    media_id = uploaded.json()["id"]
    info = api(fake, "GET", f"/v23.0/{media_id}").json()
    assert info["mime_type"] == "image/png" and info["file_size"] == 9
    assert info["sha256"] == hashlib.sha256(b"\x89PNG-data").hexdigest()
    assert httpx.get(info["url"], timeout=5).status_code == 401
    assert httpx.get(info["url"], headers=AUTH, timeout=5).content == b"\x89PNG-data"


def test_templates_are_paged_with_cursors(fake):
    for i in range(30):
        fake.state.add_template({"name": f"t{i:02d}", "language": "es", "components": []})
    first = api(fake, "GET", f"/v23.0/{DEFAULT_WABA_ID}/message_templates", params={"limit": 25}).json()
    assert len(first["data"]) == 25 and "next" in first["paging"]
    second = httpx.get(first["paging"]["next"], headers=AUTH, timeout=5).json()
    assert len(second["data"]) == 11 and "next" not in second["paging"]
    names = [t["name"] for t in first["data"] + second["data"]]
    assert len(set(names)) == 36


def test_scripted_faults_429_500_and_slow(fake):
    fake.state.fail_next(1, status=429, code=130429, path="/messages")
    fake.state.fail_next(1, status=500, path="/messages")
    fake.state.slow(0.3, path="/messages")
    limited = api(fake, "POST", MESSAGES, json=text())
    assert limited.status_code == 429 and limited.json()["error"]["code"] == 130429
    broken = api(fake, "POST", MESSAGES, json=text())
    assert broken.status_code == 500 and broken.json()["error"]["is_transient"] is True
    started = time.monotonic()
    assert api(fake, "POST", MESSAGES, json=text()).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_customer_messages_are_signed_over_the_exact_bytes(fake, receiver):
    status, payload = fake.state.customer_writes("573001234567", "Hola", name="Ana", times=2)
    assert status == 200
    first, second = receiver.wait(2)
    assert first["body"] == second["body"]  # a redelivery is the same body
    expected = "sha256=" + hmac.new(SECRET.encode(), first["body"], hashlib.sha256).hexdigest()
    assert first["headers"]["X-Hub-Signature-256"] == expected == sign(first["body"], SECRET)
    sent = json.loads(first["body"])
    value = sent["entry"][0]["changes"][0]["value"]
    assert sent["object"] == "whatsapp_business_account" and sent["entry"][0]["changes"][0]["field"] == "messages"
    assert value["metadata"]["phone_number_id"] == DEFAULT_PHONE_NUMBER_ID
    assert value["contacts"][0] == {"profile": {"name": "Ana"}, "wa_id": "573001234567"}
    assert value["messages"][0]["timestamp"].isdigit() and value["messages"][0]["text"] == {"body": "Hola"}
    assert sent == payload


def test_statuses_follow_each_send_in_order_or_shuffled_and_duplicated(fake, receiver):
    fake.state.auto_status = ["sent", "delivered", "read"]
    fake.state.shuffle_statuses = fake.state.duplicate_statuses = True
    payload = {**text(), "biz_opaque_callback_data": "centralita:7"}
    wamid = api(fake, "POST", MESSAGES, json=payload).json()["messages"][0]["id"]
    hits = receiver.wait(6)
    items = [json.loads(h["body"])["entry"][0]["changes"][0]["value"]["statuses"][0] for h in hits]
    assert [i["status"] for i in items] == ["read", "read", "delivered", "delivered", "sent", "sent"]
    assert {i["id"] for i in items} == {wamid} and {i["biz_opaque_callback_data"] for i in items} == {"centralita:7"}
    assert "pricing" in items[-1] and "pricing" not in items[0]


def test_window_modes(fake, receiver):
    # sync: a free-form send outside the window is refused at once with 131047
    fake.state.window_mode = "sync"
    refused = api(fake, "POST", MESSAGES, json=text())
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 131047
    # a template passes, and so does text once the customer wrote
    template = {"messaging_product": "whatsapp", "to": "573001234567", "type": "template", "template": {
        "name": "retomar_conversacion", "language": {"code": "es"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]}}
    assert api(fake, "POST", MESSAGES, json=template).json()["messages"][0]["message_status"] == "accepted"
    fake.state.customer_writes("573001234567", "Hola")
    assert api(fake, "POST", MESSAGES, json=text()).status_code == 200
    # async: accepted, then a failed status webhook with 131047
    fake.state.window_mode = "async"
    receiver.hits.clear()
    wamid = api(fake, "POST", MESSAGES, json=text(to="573009999999")).json()["messages"][0]["id"]
    (hit,) = receiver.wait(1)
    status = json.loads(hit["body"])["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert status["id"] == wamid and status["status"] == "failed" and status["errors"][0]["code"] == 131047


def test_control_api(fake, receiver):
    base = fake.base_url
    assert httpx.get(f"{base}/_fake/health").json() == {"ok": True}
    assert httpx.post(f"{base}/_fake/inbound", json={"wa_id": "573001112233", "text": "hola"}).json()["status"] == 200
    httpx.post(f"{base}/_fake/faults", json={"status": 503, "count": 1, "path": "/messages"})
    assert api(fake, "POST", MESSAGES, json=text()).status_code == 503
    assert httpx.get(f"{base}/_fake/state").json()["webhooks"] == 1


def test_cli_serves_and_sends_a_customer_message(receiver):
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "fakes.whatsapp", "--port", "0", "--token", TOKEN],
                            cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("fake whatsapp listening on http://127.0.0.1:")
    finally:
        proc.terminate()
        proc.wait(5)
    sent = subprocess.run([sys.executable, "-m", "fakes.whatsapp", "customer", "--webhook-url", receiver.url,
                           "--app-secret", SECRET, "--from", "573001234567", "--text", "Hola CLI"],
                          cwd=root, capture_output=True, text=True, timeout=30, check=False)
    assert sent.returncode == 0 and sent.stdout.startswith("HTTP 200")
    (hit,) = receiver.wait(1)
    assert hit["headers"]["X-Hub-Signature-256"] == sign(hit["body"], SECRET) and b"Hola CLI" in hit["body"]
