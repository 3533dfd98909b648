"""The local mail servers behave like the real thing the email channel relies on."""

from __future__ import annotations

import smtplib

import pytest

from fakes.mailservers import SmtpServer, customer_mail


def test_smtp_delivers_plus_addresses_into_the_dovecot_mailbox(dovecot):
    # given an SMTP server delivering into Dovecot
    with SmtpServer(deliver_to=dovecot) as smtp:
        raw = customer_mail(sender="ana@cliente.test", to="buzon500+c1-abc@example.test", subject="Hola", body="x")
        # when a mail is sent to a plus-address of a Dovecot user
        with smtplib.SMTP(smtp.host, smtp.port) as client:
            client.sendmail("ana@cliente.test", ["buzon500+c1-abc@example.test"], raw)
        # then it is captured and lands, unread, in the base mailbox
        assert smtp.messages[0].parsed["Subject"] == "Hola"
        (uid,) = dovecot.uids("buzon500@example.test")
        assert r"\Seen" not in dovecot.flags("buzon500@example.test", uid)


def test_smtp_scripted_failures_answer_with_the_given_code():
    with SmtpServer() as smtp:
        smtp.fail_next = [(451, "4.3.0 later")]
        with smtplib.SMTP(smtp.host, smtp.port) as client, pytest.raises(smtplib.SMTPDataError) as exc:
            client.sendmail("a@b.test", ["c@d.test"], b"Subject: x\r\n\r\ny")
        assert exc.value.smtp_code == 451 and not smtp.messages


def test_dovecot_keeps_uids_and_peek_does_not_mark_seen(dovecot):
    first = dovecot.append("buzon499@example.test", b"Subject: a\r\n\r\nuno\r\n")
    second = dovecot.append("buzon499@example.test", b"Subject: b\r\n\r\ndos\r\n", seen=True)
    assert second > first
    conn = dovecot.client("buzon499@example.test")
    conn.uid("FETCH", str(first), "(BODY.PEEK[])")
    conn.logout()
    assert r"\Seen" not in dovecot.flags("buzon499@example.test", first)
    assert r"\Seen" in dovecot.flags("buzon499@example.test", second)
