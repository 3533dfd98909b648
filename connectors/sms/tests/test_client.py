"""The one HTTP module for Twilio, against the fake speaking the contract: sends, errors by kind, listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
import time_machine

from connectors.sms.client import SentSms, SmsClient, SmsError, SmsRateLimited, SmsUnavailable
from connectors.sms.tests.helpers import ACCOUNT_SID, AUTH_TOKEN, CUSTOMER, FROM_NUMBER

NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


@pytest.fixture
def client(fake_sms):
    with SmsClient(fake_sms.base_url, ACCOUNT_SID, AUTH_TOKEN, backoff=0.001) as c:
        yield c


def test_send_posts_the_form_with_basic_auth(client, fake_sms):
    sent = client.send(to=CUSTOMER, body="Hola €", from_=FROM_NUMBER, status_callback="https://c.example/s")
    assert isinstance(sent, SentSms) and sent.sid.startswith("SM") and sent.status == "queued"
    assert (sent.num_segments, sent.price) == (1, None)
    (request,) = fake_sms.state.requests
    assert request["form"] == {"To": CUSTOMER, "Body": "Hola €", "From": FROM_NUMBER,
                               "StatusCallback": "https://c.example/s"}
    assert request["authorization"].startswith("Basic ")


def test_send_through_a_messaging_service(client):
    sent = client.send(to=CUSTOMER, body="á" * 80, messaging_service_sid="MG" + "a" * 32)
    assert (sent.status, sent.num_segments) == ("accepted", 2)
    with pytest.raises(ValueError, match="exactly one"):
        client.send(to=CUSTOMER, body="x", from_=FROM_NUMBER, messaging_service_sid="MG" + "a" * 32)


@pytest.mark.parametrize(("to", "code"), [("3001234567", 21211), ("+573001234567", 21610)])
def test_refusals_are_permanent_errors_with_twilio_code(client, fake_sms, to, code):
    fake_sms.state.opted_out.add("+573001234567")
    with pytest.raises(SmsError) as refused:
        client.send(to=to, body="Hola", from_=FROM_NUMBER)
    assert type(refused.value) is SmsError and not refused.value.retryable
    assert (refused.value.code, refused.value.status) == (code, 400)
    assert refused.value.text.startswith(f"{code}: ")


def test_bad_credentials_are_a_permanent_error(fake_sms):
    with SmsClient(fake_sms.base_url, ACCOUNT_SID, "wrong") as c, pytest.raises(SmsError) as refused:
        c.check_credentials()
    assert (refused.value.code, refused.value.status, refused.value.message) == (20003, 401, "Authenticate")


def test_429_is_raised_at_once_with_retry_after(client, fake_sms):
    fake_sms.state.fail_next(status=429, code=20429, retry_after=7)
    with pytest.raises(SmsRateLimited) as limited:
        client.send(to=CUSTOMER, body="Hola", from_=FROM_NUMBER)
    assert limited.value.retry_after == 7.0 and limited.value.code == 20429
    assert isinstance(limited.value, SmsUnavailable) and not limited.value.unknown_outcome
    assert len(fake_sms.state.requests) == 1  # never slept on, never retried in the call


def test_429_without_retry_after_waits_one_second(client, fake_sms):
    fake_sms.state.fail_next(status=429, code=20429)
    with pytest.raises(SmsRateLimited) as limited:
        client.send(to=CUSTOMER, body="Hola", from_=FROM_NUMBER)
    assert limited.value.retry_after == 1.0


def test_a_5xx_after_the_send_arrived_is_an_unknown_outcome(client, fake_sms):
    fake_sms.state.fail_next(status=503)
    with pytest.raises(SmsUnavailable) as down:
        client.send(to=CUSTOMER, body="Hola", from_=FROM_NUMBER)
    assert down.value.unknown_outcome and down.value.status == 503


def test_a_send_that_never_reached_twilio_is_retried_once_in_the_call():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(201, json={"sid": "SM" + "b" * 32, "status": "queued", "num_segments": "3",
                                         "price": "-0.0079"})

    with SmsClient("https://api.example", ACCOUNT_SID, AUTH_TOKEN, backoff=0.001,
                   transport=httpx.MockTransport(handler)) as c:
        sent = c.send(to=CUSTOMER, body="Hola", from_=FROM_NUMBER)
    assert len(calls) == 2 and (sent.num_segments, sent.price) == (3, Decimal("-0.0079"))


def test_a_read_timeout_on_send_is_an_unknown_outcome_never_retried():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("slow", request=request)

    with SmsClient("https://api.example", ACCOUNT_SID, AUTH_TOKEN, backoff=0.001,
                   transport=httpx.MockTransport(handler)) as c, pytest.raises(SmsUnavailable) as lost:
        c.send(to=CUSTOMER, body="Hola", from_=FROM_NUMBER)
    assert lost.value.unknown_outcome and len(calls) == 1


def test_reads_retry_5xx_then_give_up(client, fake_sms):
    fake_sms.state.fail_next(3, status=500, method="GET")
    with pytest.raises(SmsUnavailable):
        client.check_credentials()
    assert len(fake_sms.state.requests) == 3  # the first try and two in-call retries
    client.check_credentials()


def test_list_messages_filters_by_recipient_and_time_across_pages(client):
    with time_machine.travel(NOW - timedelta(hours=2), tick=False):
        client.send(to=CUSTOMER, body="antes", from_=FROM_NUMBER)
    with time_machine.travel(NOW, tick=False):
        for i in range(3):
            client.send(to=CUSTOMER, body=f"después {i}", from_=FROM_NUMBER)
        client.send(to="+573005550101", body="a otro", from_=FROM_NUMBER)
        found = client.list_messages(to=CUSTOMER, date_sent_after=NOW - timedelta(minutes=5), page_size=2)
    assert [m["body"] for m in found] == ["después 2", "después 1", "después 0"]
