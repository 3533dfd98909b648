"""Property-based fuzzing of the webhook intakes (issue 12): Kommo form bodies, WhatsApp JSON and raw MIME.

Every generated input, stored the way the intake stores it, ends either processed or recorded as failed/rejected
with a reason: none stays `received`, and none stops the batch it was stored with (the batch task returns an
outcome for every delivery). Bounded and derandomized so CI runs the same examples in a few seconds; raise
FUZZ_EXAMPLES to search harder.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes.whatsapp import DEFAULT_PHONE_NUMBER_ID, sign

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
WA_ID = "573001234567"

pytestmark = pytest.mark.django_db

# --- Kommo: application/x-www-form-urlencoded with PHP bracket keys --------------------------------------------

INDEXES = st.one_of(st.integers(0, 3).map(str), st.sampled_from(["²", "٣", "\uff11", "", "-1", "99999999999", " 1"]),
                    st.text(max_size=4))
FIELDS = st.sampled_from(["id", "name", "status_id", "pipeline_id", "old_status_id", "price", "updated_at",
                          "last_modified", "responsible_user_id", "tags", "custom_fields", "values", "value", "enum"])
KOMMO_VALUES = st.one_of(st.text(max_size=20), st.integers().map(str),
                         st.sampled_from(["67548611", "8572511", "15318175", "NaN", "1e999", "-0", "", "9" * 40]))
KOMMO_KEYS = st.builds(lambda entity, action, path: f"{entity}[{action}]" + "".join(f"[{p}]" for p in path),
                       st.sampled_from(["leads", "contacts", "account", "unsorted", "léads"]),
                       st.sampled_from(["add", "update", "status", "delete", "restore", "responsible", "note"]),
                       st.lists(st.one_of(INDEXES, FIELDS), max_size=6))
ACCOUNT = [("account[subdomain]", "demo"), ("account[id]", "32720107")]
KOMMO_BODIES = st.one_of(
    st.lists(st.tuples(KOMMO_KEYS, KOMMO_VALUES), max_size=12).map(lambda pairs: urlencode(pairs + ACCOUNT)),
    st.integers(1, 5000).map(lambda n: "leads[add][0][id]=1&leads[add][0][x]" + "[y]" * n + "=1&" + urlencode(ACCOUNT)),
    st.text(max_size=120).map(lambda text: text + "&" + urlencode(ACCOUNT)),
    st.text(max_size=120),
)


@given(bodies=st.lists(KOMMO_BODIES, min_size=1, max_size=4))
@FUZZ
def test_kommo_bodies_are_processed_or_failed_with_a_reason(bodies: list[str], kommo_account: Any,
                                                            fake_kommo: Any) -> None:
    from crm import intake
    from crm.models import WebhookDelivery
    from crm.tasks import process_kommo_webhooks

    fake_kommo.state.configure(rate_limit=None)  # the fuzz calls Kommo faster than 7 rps
    # given the bodies arrive at the same moment (one batch, as the fast route stores them)
    account = intake.current_account()
    decisions = [intake.decide(account, account.webhook_secret, body) for body in bodies]
    assert {d.status for d in decisions} <= {200, 400, 403}
    ids = intake.store_batch([intake.Incoming(b, "application/x-www-form-urlencoded", "127.0.0.1", d)
                              for b, d in zip(bodies, decisions, strict=True)])
    accepted = [pk for pk, d in zip(ids, decisions, strict=True) if pk is not None and d.status == 200]
    # when the batch's task runs / then it returns an outcome for each, and none stays received without a reason
    counts = process_kommo_webhooks.call(accepted)
    assert sum(counts.values()) == len(accepted) and set(counts) <= {"processed", "failed"}
    for delivery in WebhookDelivery.objects.filter(pk__in=[pk for pk in ids if pk is not None]):
        assert delivery.state in {"processed", "failed", "rejected"}
        assert delivery.state == "processed" or delivery.error.strip()


# --- WhatsApp: signed JSON --------------------------------------------------------------------------------------

LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                   st.text(max_size=12))
JSON = st.recursive(LEAVES, lambda children: st.lists(children, max_size=3)
                    | st.dictionaries(st.text(max_size=8), children, max_size=3), max_leaves=8)
MESSAGE = st.fixed_dictionaries(
    {"from": st.one_of(st.just(WA_ID), st.text(max_size=16), JSON),
     "id": st.one_of(st.text(min_size=1, max_size=24).map(lambda s: f"wamid.{s}"), JSON),
     "type": st.one_of(st.sampled_from(["text", "image", "document", "location", "contacts", "interactive",
                                        "button", "reaction", "order", "system", "unsupported", "nuevo"]), JSON),
     "timestamp": st.one_of(st.integers().map(str), JSON)},
    optional={key: st.one_of(JSON, st.dictionaries(st.sampled_from(["body", "id", "type", "emoji", "mime_type",
                                                                   "product_items", "phones", "caption"]), JSON))
              for key in ("text", "image", "document", "location", "contacts", "interactive", "button", "reaction",
                          "order", "system", "context", "errors", "referral")})
STATUS = st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=20), JSON),
     "status": st.one_of(st.sampled_from(["sent", "delivered", "read", "played", "failed", "deleted"]), JSON)},
    optional={"recipient_id": JSON, "timestamp": JSON, "errors": JSON, "biz_opaque_callback_data": JSON})
VALUE = st.fixed_dictionaries(
    {"messaging_product": st.just("whatsapp"),
     "metadata": st.one_of(st.just({"phone_number_id": DEFAULT_PHONE_NUMBER_ID}), JSON)},
    optional={"messages": st.one_of(st.lists(MESSAGE, max_size=2), JSON),
              "statuses": st.one_of(st.lists(STATUS, max_size=2), JSON),
              "contacts": st.one_of(st.just([{"wa_id": WA_ID, "profile": {"name": "Ana"}}]), JSON),
              "errors": JSON})
ENVELOPE = st.builds(lambda value, field: {"object": "whatsapp_business_account",
                                           "entry": [{"id": "1", "changes": [{"field": field, "value": value}]}]},
                     VALUE, st.sampled_from(["messages", "messages", "account_update"]))
WHATSAPP_BODIES = st.one_of(
    ENVELOPE.map(lambda payload: json.dumps(payload).encode()),
    JSON.map(lambda payload: json.dumps(payload).encode()),
    st.integers(1, 60_000).map(lambda n: b"[" * n + b"]" * n),
    st.binary(max_size=80),
)


@given(bodies=st.lists(WHATSAPP_BODIES, min_size=1, max_size=4))
@FUZZ
def test_whatsapp_bodies_are_processed_or_failed_with_a_reason(bodies: list[bytes], whatsapp_number: Any) -> None:
    from connectors.whatsapp import intake
    from connectors.whatsapp.models import WebhookDelivery
    from connectors.whatsapp.tasks import process_whatsapp_webhooks

    # given signed bodies arriving at the same moment (one batch)
    key = intake.lookup(whatsapp_number.phone_number_id)
    items = [intake.Incoming(whatsapp_number.pk, body, "127.0.0.1",
                             intake.decide(key, sign(body, "wa-test-app-secret"), body)) for body in bodies]
    assert all(item.decision.status == 200 for item in items)
    ids = [pk for pk in intake.store_batch(items) if pk is not None]
    assert len(ids) == len(bodies)
    # when the batch's task runs / then every delivery has an outcome, and none stays received without a reason
    counts = process_whatsapp_webhooks.call(ids)
    assert sum(counts.values()) == len(ids) and set(counts) <= {"processed", "ignored", "failed"}
    for delivery in WebhookDelivery.objects.filter(pk__in=ids):
        assert delivery.state in {"processed", "failed"}
        assert delivery.state == "processed" or delivery.error.strip()


# --- Email: raw MIME posted to /integrations/mail/raw/<token>/ ---------------------------------------------------

HEADER_NAMES = st.sampled_from(["From", "To", "Cc", "Reply-To", "Subject", "Message-ID", "In-Reply-To", "References",
                                "Date", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
                                "Auto-Submitted", "Precedence", "Return-Path", "X-Failed-Recipients"])
HEADER_VALUES = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
    st.sampled_from(["Ana <ana@cliente.test>", "multipart/mixed; boundary=b", "multipart/report; report-type="
                     "delivery-status; boundary=b", "text/plain; charset=no-such-charset", "message/rfc822",
                     "message/delivery-status", "base64", "quoted-printable", "=?utf-8?b?!!?=", "<a@b>",
                     "attachment; filename*=x''%ff", "auto-replied", "Mon, 99 Foo 99999 99:99:99 +9999"]))
MIME_BODIES = st.one_of(st.binary(max_size=120), st.text(max_size=120).map(lambda text: text.encode()),
                        st.just(b"--b\r\nContent-Type: text/plain\r\n\r\nhola\r\n--b--\r\n"))
MIME = st.builds(lambda headers, body: b"\r\n".join(f"{k}: {v}".encode("utf-8", "surrogatepass") for k, v in headers)
                 + b"\r\n\r\n" + body, st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8), MIME_BODIES)
RAW_MAIL = st.one_of(
    MIME.map(lambda raw: b"From: Ana <ana@cliente.test>\r\n" + raw),
    MIME,
    st.integers(1, 4000).map(lambda n: b"From: ana@cliente.test\r\n" + b"Content-Type: message/rfc822\r\n\r\n" * n),
    st.binary(max_size=200),
)


@given(raw=RAW_MAIL)
@FUZZ
def test_raw_mime_is_stored_or_failed_with_a_reason(raw: bytes, fuzz_mailbox: Any) -> None:
    from connectors.mail import webhook
    from connectors.mail.models import InboundMail
    from connectors.mail.tasks import process_inbound_mail

    decision, pk = webhook.receive(provider="raw", token=fuzz_mailbox.webhook_token, body=raw,
                                   content_type="message/rfc822")
    assert decision.status == 200 and pk is not None
    with contextlib.suppress(Exception):  # a failing delivery re-raises for the task log; its row says why
        process_inbound_mail.call(pk)
    log = InboundMail.objects.get(pk=pk)
    assert log.status != InboundMail.Status.RECEIVED
    assert log.status != InboundMail.Status.FAILED or log.error.strip()


@pytest.fixture
def fuzz_mailbox(db: Any) -> Any:
    from connectors.mail.actions import check_save_mailbox

    return check_save_mailbox(None, address="fuzz@entrada.example.test")
