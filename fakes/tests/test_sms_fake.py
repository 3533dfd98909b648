"""The fake Twilio Programmable Messaging API speaks the wire contract (/work/shared/contracts/sms.md). Loopback
only; callbacks are taken from the fake ("manual" mode) or posted to a local receiver, never slept on."""

from __future__ import annotations

import email.utils
import re
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import time_machine

from connectors.sms.signing import is_valid
from fakes import sms as fs
from fakes.sms import FakeTwilioServer

SID = "AC" + "1234abcd" * 4
TOKEN = "tok"
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"
NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


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
                    receiver.hits.append({"headers": dict(self.headers), "body": body, "path": self.path})
                    receiver.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?x=1"

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def fake(receiver):
    with FakeTwilioServer(SID, TOKEN, webhook_url=receiver.url, callback_mode="manual") as server:
        yield server


def api(fake, method, path=MESSAGES, *, auth=(SID, TOKEN), **kwargs):
    return httpx.request(method, f"{fake.base_url}{path}", auth=auth, timeout=5, **kwargs)


def send(fake, **form):
    data = {"To": "+573001234567", "From": "+15017122661", "Body": "Hola"} | form
    return api(fake, "POST", data={k: v for k, v in data.items() if v is not None})


def test_basic_auth_is_required(fake):
    assert api(fake, "POST", auth=None, data={"To": "+573001234567"}).status_code == 401
    wrong = api(fake, "POST", auth=(SID, "nope"), data={"To": "+573001234567"})
    assert wrong.status_code == 401
    assert wrong.json() == {"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003",
                            "status": 401}
    other_account = api(fake, "GET", MESSAGES.replace(SID, "AC" + "0" * 32))
    assert other_account.status_code == 401


def test_send_answers_201_with_the_message_resource(fake):
    with time_machine.travel(NOW, tick=False):
        response = send(fake, Body="¿Llegó mi pedido?", StatusCallback="https://c.example/status")
    assert response.status_code == 201
    m = response.json()
    assert re.fullmatch(r"SM[0-9a-f]{32}", m["sid"]) and len(m["sid"]) == 34
    assert (m["status"], m["price"], m["num_segments"], m["direction"]) == ("queued", None, "1", "outbound-api")
    assert (m["to"], m["from"], m["body"], m["account_sid"]) == ("+573001234567", "+15017122661",
                                                                 "¿Llegó mi pedido?", SID)
    assert m["date_created"] == "Mon, 02 Mar 2026 15:30:00 +0000"
    assert email.utils.parsedate_to_datetime(m["date_created"]) == NOW
    assert m["uri"] == f"/2010-04-01/Accounts/{SID}/Messages/{m['sid']}.json"
    # and the log endpoint shows the form as the fake parsed it
    (logged,) = httpx.get(f"{fake.base_url}/_fake/log").json()["requests"]
    assert logged["form"]["Body"] == "¿Llegó mi pedido?" and logged["status"] == 201


def test_messaging_service_sends_are_accepted_and_segments_counted(fake):
    service = "MG" + "f" * 32
    m = send(fake, From=None, MessagingServiceSid=service, Body="á" * 71).json()
    assert (m["status"], m["messaging_service_sid"], m["num_segments"]) == ("accepted", service, "2")


@pytest.mark.parametrize(("form", "code"), [
    ({"To": "3001234567"}, 21211),
    ({"To": ""}, 21604),
    ({"From": None}, 21603),
    ({"Body": ""}, 21602),
    ({"Body": "x" * 1601}, 21617),
])
def test_invalid_sends_get_twilio_errors(fake, form, code):
    response = send(fake, **form)
    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["more_info"].endswith(str(code))


def test_opted_out_recipients_get_21610(fake):
    httpx.post(f"{fake.base_url}/_fake/opt_out", json={"number": "+573001234567"})
    response = send(fake)
    assert (response.status_code, response.json()["code"]) == (400, 21610)
    assert response.json()["message"] == "Attempt to send to unsubscribed recipient"


def test_any_error_on_demand_including_429_with_retry_after(fake):
    fake.state.fail_next(status=429, code=20429, retry_after=7)
    fake.state.fail_next(status=503)
    limited = send(fake)
    assert (limited.status_code, limited.json()["code"], limited.headers["Retry-After"]) == (429, 20429, "7")
    assert send(fake).status_code == 503
    assert send(fake).status_code == 201


def test_an_answer_lost_after_the_message_was_taken(fake):
    # given Twilio stores the message but the answer the client gets is a 500
    fake.state.fail_next(status=500, after_accept=True)
    assert send(fake, Body="¿llegó?").status_code == 500
    # then the message exists all the same (the list shows it)
    assert [m["body"] for m in api(fake, "GET").json()["messages"]] == ["¿llegó?"]


def test_rate_limit_per_second_answers_429(fake):
    fake.state.rate_per_second = 2
    with time_machine.travel(NOW, tick=False):
        statuses = [send(fake).status_code for _ in range(3)]
        third = send(fake)
    assert statuses == [201, 201, 429]
    assert third.json()["code"] == 20429 and third.headers["Retry-After"] == "1"
    with time_machine.travel(NOW + timedelta(seconds=1), tick=False):
        assert send(fake).status_code == 201


def test_status_callbacks_are_signed_like_twilio_in_order(fake):
    url = "https://c.example/integrations/sms/1/status/"
    sid = send(fake, StatusCallback=url).json()["sid"]
    callbacks = fake.state.take_callbacks()
    assert [c.fields["MessageStatus"] for c in callbacks] == ["sent", "delivered"]
    for c in callbacks:
        assert c.url == url and c.fields["MessageSid"] == sid and c.fields["AccountSid"] == SID
        assert "ErrorCode" not in c.fields
        assert is_valid(TOKEN, url, c.params, c.headers["X-Twilio-Signature"])
    assert fake.state.take_callbacks() == []


def test_callbacks_reversed_shuffled_and_duplicated(fake):
    fake.state.configure({"auto_status": ["queued", "sent", "delivered"], "status_order": "reverse",
                          "duplicate_statuses": True})
    send(fake, StatusCallback="https://c.example/s")
    assert [c.fields["MessageStatus"] for c in fake.state.take_callbacks()] == [
        "delivered", "delivered", "sent", "sent", "queued", "queued"]
    fake.state.configure({"status_order": "shuffle", "duplicate_statuses": False})
    send(fake, StatusCallback="https://c.example/s")
    assert sorted(c.fields["MessageStatus"] for c in fake.state.take_callbacks()) == ["delivered", "queued", "sent"]


def test_a_failed_delivery_with_30003_on_demand(fake):
    fake.state.fail_delivery_next()
    sid = send(fake, StatusCallback="https://c.example/s").json()["sid"]
    (failed,) = fake.state.take_callbacks()
    assert failed.fields | {} == failed.fields and failed.fields["MessageStatus"] == "failed"
    assert failed.fields["ErrorCode"] == "30003"
    assert api(fake, "GET", MESSAGES.replace(".json", f"/{sid}.json")).json()["error_code"] == 30003
    # undelivered (the carrier got it) comes after "sent"
    fake.state.configure({"failure_status": "undelivered"})
    fake.state.unreachable.add("+573009999999")
    send(fake, To="+573009999999", StatusCallback="https://c.example/s")
    assert [c.fields["MessageStatus"] for c in fake.state.take_callbacks()] == ["sent", "undelivered"]


def test_timer_mode_posts_callbacks_to_the_url(receiver):
    with FakeTwilioServer(SID, TOKEN, status_delay=0.01) as server:
        httpx.post(f"{server.base_url}{MESSAGES}", auth=(SID, TOKEN), timeout=5,
                   data={"To": "+573001234567", "From": "+15017122661", "Body": "Hola",
                         "StatusCallback": receiver.url})
        with receiver.cond:
            receiver.cond.wait_for(lambda: len(receiver.hits) >= 2, 5)
    hits = sorted(receiver.hits, key=lambda h: h["body"])
    assert len(hits) == 2
    for hit in hits:
        params = parse_qsl(hit["body"].decode())
        assert hit["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
        assert is_valid(TOKEN, receiver.url, params, hit["headers"]["X-Twilio-Signature"])


def test_inbound_sms_is_posted_signed_to_the_webhook(fake, receiver):
    status, params = fake.state.customer_writes("+573001234567", "Hola, ¿tienen envíos? 😀", times=2)
    assert status == 200
    assert len(receiver.hits) == 2 and receiver.hits[0]["body"] == receiver.hits[1]["body"]  # a redelivery
    hit = receiver.hits[0]
    form = parse_qsl(hit["body"].decode())
    assert hit["path"] == "/hook?x=1"
    assert is_valid(TOKEN, receiver.url, form, hit["headers"]["X-Twilio-Signature"])
    assert dict(form)["Body"] == "Hola, ¿tienen envíos? 😀" and dict(form)["NumSegments"] == "1"
    assert params["To"] == fs.DEFAULT_FROM and re.fullmatch(r"SM[0-9a-f]{32}", params["MessageSid"])
    # the control API does the same
    answer = httpx.post(f"{fake.base_url}/_fake/inbound", json={"from": "+573005550101", "body": "Hola"}).json()
    assert answer["status"] == 200 and answer["params"]["From"] == "+573005550101"


def test_list_messages_filters_and_pages(fake):
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        send(fake, Body="ayer")
    with time_machine.travel(NOW, tick=False):
        for i in range(3):
            send(fake, Body=f"hoy {i}")
        send(fake, To="+573005550101", Body="a otro")
    after = (NOW - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    page = api(fake, "GET", params={"To": "+573001234567", "DateSent>": after, "PageSize": 2}).json()
    assert [m["body"] for m in page["messages"]] == ["hoy 2", "hoy 1"]  # newest first
    assert (page["page"], page["page_size"], page["start"], page["end"]) == (0, 2, 0, 1)
    assert page["previous_page_uri"] is None and page["next_page_uri"].startswith(MESSAGES)
    second = api(fake, "GET", page["next_page_uri"]).json()
    assert [m["body"] for m in second["messages"]] == ["hoy 0"] and second["next_page_uri"] is None
    day = api(fake, "GET", params={"DateSent": (NOW - timedelta(days=1)).date().isoformat()}).json()
    assert [m["body"] for m in day["messages"]] == ["ayer"]
    before = api(fake, "GET", params={"DateSent<": (NOW - timedelta(days=1)).date().isoformat()}).json()
    assert [m["body"] for m in before["messages"]] == ["ayer"]
    assert api(fake, "GET", params={"From": "+15017122661"}).json()["end"] == 4


def test_control_api_health_state_reset_and_config(fake):
    assert httpx.get(f"{fake.base_url}/_fake/health").json() == {"ok": True}
    httpx.post(f"{fake.base_url}/_fake/config", json={"rate_per_second": 5, "auto_status": ["sent"]})
    send(fake)
    state = httpx.get(f"{fake.base_url}/_fake/state").json()
    assert state["rate_per_second"] == 5 and state["auto_status"] == ["sent"] and len(state["messages"]) == 1
    httpx.post(f"{fake.base_url}/_fake/faults", json={"status": 500})
    assert send(fake).status_code == 500
    httpx.post(f"{fake.base_url}/_fake/reset")
    assert httpx.get(f"{fake.base_url}/_fake/state").json()["messages"] == []


def test_cli_customer_posts_one_signed_inbound(receiver):
    assert fs.main(["customer", "--webhook-url", receiver.url, "--auth-token", TOKEN, "--account-sid", SID,
                    "--from", "+573001234567", "--body", "Hola"]) == 0
    form = parse_qsl(receiver.hits[0]["body"].decode())
    assert is_valid(TOKEN, receiver.url, form, receiver.hits[0]["headers"]["X-Twilio-Signature"])
