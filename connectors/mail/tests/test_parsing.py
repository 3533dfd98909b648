"""Parsing, classification, quoting and sanitizing: pure functions fed with raw RFC 5322 bytes."""

from __future__ import annotations

import base64
import json

import pytest

from connectors.mail.parsing import classify, message_ids, parse, parse_form, postmark_to_mime
from connectors.mail.quoting import html_to_text, sanitize, split_html, split_text
from fakes.mailservers import customer_mail


def _mail(**headers: str) -> bytes:
    return customer_mail(sender="Ana Pérez <ana@cliente.test>", to="soporte@example.test", subject="Hola",
                         body="Necesito ayuda", headers=headers)


def test_parse_reads_threading_headers_and_addresses():
    # given a reply with In-Reply-To and a folded References chain
    raw = ('From: "Pérez, Ana" <Ana@Cliente.test>\r\nTo: soporte+c5-abc@example.test\r\n'
           "Subject: =?utf-8?q?Re=3A_Pedido_1042?=\r\nMessage-ID: <m3@cliente.test>\r\n"
           "In-Reply-To: <hub.5.9@example.test>\r\nReferences: <m1@cliente.test>\r\n <hub.5.9@example.test>\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\nGracias\r\n").encode()
    # when parsed
    mail = parse(raw)
    # then ids come without brackets, addresses lowercased, display names decoded
    assert mail.message_id == "m3@cliente.test"
    assert mail.in_reply_to == ["hub.5.9@example.test"]
    assert mail.references == ["m1@cliente.test", "hub.5.9@example.test"]
    assert (mail.from_name, mail.from_address) == ("Pérez, Ana", "ana@cliente.test")
    assert mail.to == ["soporte+c5-abc@example.test"]
    assert mail.text.strip() == "Gracias" and mail.subject == "Re: Pedido 1042"


def test_message_ids_accepts_bare_ids_from_broken_clients():
    assert message_ids("<a@b> <c@d>") == ["a@b", "c@d"]
    assert message_ids("a@b") == ["a@b"]
    assert message_ids("") == []


def test_parse_keeps_attachments_and_html():
    # given an HTML mail with a PDF attachment
    raw = customer_mail(sender="ana@cliente.test", to="soporte@example.test", subject="Factura", body="Adjunto",
                        html="<p>Adjunto <b>factura</b></p>", attachments=[("factura.pdf", "application/pdf",
                                                                            b"%PDF-1.4 test")])
    mail = parse(raw)
    assert "<b>factura</b>" in mail.html
    assert [(a.name, a.content_type, a.data) for a in mail.attachments] == [
        ("factura.pdf", "application/pdf", b"%PDF-1.4 test")]


@pytest.mark.parametrize(("headers", "kind", "reason"), [
    ({"Auto-Submitted": "auto-replied"}, "auto_reply", "Auto-Submitted: auto-replied"),
    ({"Auto-Submitted": "auto-generated; type=vacation"}, "auto_reply", "Auto-Submitted: auto-generated"),
    ({"X-Autoreply": "yes"}, "auto_reply", "X-Autoreply"),
    ({"X-Autorespond": "Vacation"}, "auto_reply", "X-Autorespond"),
    ({"Precedence": "bulk"}, "auto_reply", "Precedence: bulk"),
    ({"Precedence": "junk"}, "auto_reply", "Precedence: junk"),
    ({"Precedence": "list"}, "auto_reply", "Precedence: list"),
    ({"Precedence": "auto_reply"}, "auto_reply", "Precedence: auto_reply"),
    ({"Return-Path": "<>"}, "bounce", "Return-Path: <>"),
    ({"X-Failed-Recipients": "bob@cliente.test"}, "bounce", "X-Failed-Recipients"),
    ({"Auto-Submitted": "no"}, "", ""),
    ({"Precedence": "first-class"}, "", ""),
    ({}, "", ""),
])
def test_classify_auto_replies_and_bounces(headers, kind, reason):
    # given a mail with (or without) an auto-reply or bounce marker / then it is classified by the first rule
    assert classify(parse(_mail(**headers))) == (kind, reason)


def test_classify_mailer_daemon_and_delivery_reports():
    daemon = customer_mail(sender="MAILER-DAEMON@mx.cliente.test", to="soporte@example.test",
                           subject="Undelivered Mail", body="x")
    assert classify(parse(daemon))[0] == "bounce"
    report = (b"From: postmaster@cliente.test\r\nTo: soporte@example.test\r\nSubject: fallo\r\n"
              b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
              b"--B\r\nContent-Type: text/plain\r\n\r\nNo se pudo entregar.\r\n"
              b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
              b"Final-Recipient: rfc822; bob@cliente.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
              b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
              b"--B\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <hub.1.2@example.test>\r\nSubject: Re: x\r\n\r\n"
              b"hola\r\n--B--\r\n")
    mail = parse(report)
    assert classify(mail) == ("bounce", "multipart/report delivery-status")
    assert mail.reported_message_ids == ["hub.1.2@example.test"]


def test_split_text_collapses_attribution_and_quoted_lines():
    # given a top-posted reply in Spanish with the quoted history below
    text = ("Sí, el martes me sirve.\n\nSaludos,\nAna\n\n"
            "El lun, 3 nov 2026 a las 10:00, Soporte <soporte@example.test>\nescribió:\n"
            "> ¿Le sirve el martes?\n> Gracias\n")
    reply, quoted = split_text(text)
    assert reply == "Sí, el martes me sirve.\n\nSaludos,\nAna"
    assert quoted.startswith("El lun, 3 nov") and "> ¿Le sirve el martes?" in quoted


@pytest.mark.parametrize("text", [
    "Thanks!\n\nOn Mon, Nov 3, 2026 at 10:00 AM Soporte <s@e.test> wrote:\n> hello\n",
    "Thanks!\n\n-----Original Message-----\nFrom: Soporte\nSent: Monday\n\nhello\n",
    "Thanks!\n\nDe: Soporte <s@e.test>\nEnviado: lunes\nPara: Ana\n\nhola\n",
    "Thanks!\n> hello\n> again\n",
])
def test_split_text_knows_common_clients(text):
    reply, quoted = split_text(text)
    assert reply == "Thanks!" and quoted


def test_split_text_leaves_inline_answers_and_all_quoted_mail_alone():
    inline = "> ¿Qué talla?\nM\n> ¿Qué color?\nAzul"
    assert split_text(inline) == (inline, "")
    assert split_text("> solo cita\n") == ("> solo cita", "")


def test_split_html_gmail_quote_and_sanitizes_both_parts():
    html = ('<div dir="ltr">Gracias <script>alert(1)</script><b onclick="x()">Ana</b></div>'
            '<div class="gmail_quote"><div>El lun escribió:</div>'
            '<blockquote>antes <img src="https://t/x.gif"></blockquote></div>')
    reply, quoted = split_html(html)
    assert reply == '<div>Gracias <b>Ana</b></div>'
    assert "escribió" in quoted and "<img" not in quoted and "gmail_quote" not in quoted


def test_sanitize_removes_scripts_handlers_styles_and_dangerous_urls():
    dirty = ('<html><head><title>T</title><style>p{color:red}</style></head><body>'
             '<p style="color:red" onmouseover="steal()">Hola</p><a href="javascript:alert(1)">x</a>'
             '<a href="https://ok.test/">ok</a><iframe src="https://evil"></iframe><form><input></form></body></html>')
    clean = sanitize(dirty)
    assert "<p>Hola</p>" in clean
    assert "script" not in clean and "onmouseover" not in clean and "style" not in clean and "iframe" not in clean
    assert "javascript" not in clean and "<title>" not in clean and "T<" not in clean
    assert '<a href="https://ok.test/" target="_blank" rel="noopener noreferrer nofollow">ok</a>' in clean


def test_html_to_text_for_html_only_mail():
    assert html_to_text("<p>Hola &amp; gracias</p><div>Línea 2<br>Línea 3</div>") == "Hola & gracias\nLínea 2\nLínea 3"


def test_postmark_json_becomes_mime_with_threading_headers_and_attachments():
    # given Postmark's inbound JSON (contract §2)
    payload = {
        "FromFull": {"Email": "ana@cliente.test", "Name": "Ana Pérez", "MailboxHash": ""},
        "ToFull": [{"Email": "soporte@example.test", "Name": "", "MailboxHash": ""}],
        "CcFull": [], "Subject": "Re: Pedido", "MessageID": "22c74902-a0c1-4511-804f-341342852c90",
        "Date": "Thu, 5 Nov 2026 10:00:00 -0500", "TextBody": "Gracias", "HtmlBody": "<p>Gracias</p>",
        "Headers": [{"Name": "Message-ID", "Value": "<pm1@cliente.test>"},
                    {"Name": "In-Reply-To", "Value": "<hub.4.8@example.test>"},
                    {"Name": "References", "Value": "<hub.4.8@example.test>"}],
        "Attachments": [{"Name": "foto.png", "Content": base64.b64encode(b"PNG").decode(),
                         "ContentType": "image/png", "ContentID": ""}],
    }
    mail = parse(postmark_to_mime(json.loads(json.dumps(payload))))
    assert mail.message_id == "pm1@cliente.test" and mail.in_reply_to == ["hub.4.8@example.test"]
    assert (mail.from_name, mail.from_address, mail.subject) == ("Ana Pérez", "ana@cliente.test", "Re: Pedido")
    assert mail.text.strip() == "Gracias" and "<p>Gracias</p>" in mail.html
    assert [(a.name, a.data) for a in mail.attachments] == [("foto.png", b"PNG")]


def test_parse_form_reads_multipart_and_urlencoded_bodies():
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nabc\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"body-mime\"\r\n\r\n"
            b"From: a@b.c\r\n\r\nhola\r\n--XyZ--\r\n")
    fields = parse_form(body, "multipart/form-data; boundary=XyZ")
    assert fields["token"] == "abc" and "hola" in fields["body-mime"]
    assert parse_form(b"a=1&b=%C3%B1", "application/x-www-form-urlencoded") == {"a": "1", "b": "ñ"}
    with pytest.raises(ValueError, match="unexpected content type"):
        parse_form(b"{}", "application/json")
