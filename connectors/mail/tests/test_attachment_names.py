"""Attachment names as mail clients show them: RFC 2231 (`filename*=UTF-8''…`, Latin-1 too), quoted RFC 2047,
and the bare encoded-word (`filename==?UTF-8?Q?This_is_a_test.pdf?=`) that PHP's mail() and old servlets write
and Python's policy parser drops (issue 12: it showed as "adjunto-2.pdf")."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.mail.parsing import parse
from connectors.mail.tests.helpers import run_queued
from inbox.models import Message

FIXTURE = Path(__file__).parent / "corpus" / "own" / "attachment_names.eml"


def _with_attachment(content_type: str, disposition: str) -> bytes:
    return ("From: ana@cliente.test\r\nTo: soporte@example.test\r\nSubject: Adjunto\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nVer adjunto\r\n"
            f"--B\r\nContent-Type: {content_type}\r\nContent-Disposition: {disposition}\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--B--\r\n").encode("latin-1")


def test_unquoted_encoded_word_attachment_name_is_decoded_not_adjunto_2():
    # given the raw MIME fixture with one attachment per way of writing a name
    mail = parse(FIXTURE.read_bytes())
    # then every name is what the customer's mail client shows
    assert [a.name for a in mail.attachments] == [
        "This is a test.pdf", "Cotización junio.pdf", "Informe año.pdf", "Factura nº 12.pdf", "Presupuesto año.xlsx"]
    assert all(a.data == b"%PDF-1.4 test\n" for a in mail.attachments)


@pytest.mark.parametrize(("content_type", "disposition", "name"), [
    ("application/pdf", "attachment; filename==?UTF-8?Q?This_is_a_test.pdf?=", "This is a test.pdf"),
    ("application/pdf", 'attachment; filename="=?UTF-8?Q?This_is_a_test.pdf?="', "This is a test.pdf"),
    ("application/pdf; name==?utf-8?B?VGhpcyBpcyBhIHRlc3QucGRm?=", "attachment", "This is a test.pdf"),
    ("application/pdf", "attachment; filename*=UTF-8''This%20is%20a%20test.pdf", "This is a test.pdf"),
    ("application/pdf", "attachment; filename*=iso-8859-1''Informe%20a%F1o.pdf", "Informe año.pdf"),
    ("application/pdf", "attachment; filename==?ISO-8859-1?Q?Informe_a=F1o.pdf?= ; size=5", "Informe año.pdf"),
    # a charset nobody knows, or no name at all: a readable placeholder rather than a lost file
    ("application/pdf", "attachment; filename==?x-unknown?Q?x.pdf?=", "adjunto-2.pdf"),
    ("application/pdf", "attachment", "adjunto-2.pdf"),
])
def test_attachment_name_forms(content_type, disposition, name):
    assert [a.name for a in parse(_with_attachment(content_type, disposition)).attachments] == [name]


@pytest.mark.django_db
def test_unquoted_encoded_word_name_reaches_the_stored_message(client, django_capture_on_commit_callbacks):
    from connectors.mail.actions import check_save_mailbox

    # given a webhook mailbox and the fixture posted as raw MIME
    mailbox = check_save_mailbox(None, address="ayuda@entrada.example.test")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/integrations/mail/raw/{mailbox.webhook_token}/", data=FIXTURE.read_bytes(),
                               content_type="message/rfc822")
    assert response.status_code == 200
    # when the worker processes it
    assert run_queued("process_inbound_mail") == ["stored"]
    # then the agent sees the real names
    message = Message.objects.get()
    assert [a["name"] for a in message.attachments][:1] == ["This is a test.pdf"]
    assert "Cotización junio.pdf" in [a["name"] for a in message.attachments]
