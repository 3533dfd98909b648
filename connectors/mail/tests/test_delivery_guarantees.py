"""Issue 12, "nothing lost, nothing stranded", for email: an answer whose worker died mid-send is sent again once
its lease expired (same Message-ID), a raw post left `received` is re-queued after a minute, and a mail whose own
bytes cannot be stored does not hold the mail behind it in the IMAP batch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.tasks import default_task_backend
from django.utils import timezone

from connectors.mail.imap import MAX_ATTEMPTS, do_poll_mailbox
from connectors.mail.models import InboundMail, OutboundMail
from connectors.mail.outbound import LEASE
from connectors.mail.tasks import retry_mail
from connectors.mail.tests.helpers import run_queued
from fakes.mailservers import customer_mail
from inbox import actions
from inbox.models import Message

pytestmark = pytest.mark.django_db


def test_an_email_send_interrupted_by_a_worker_crash_is_sent_once_its_lease_expires(mailbox, supervisor,
                                                                                   smtp_server, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    conversation, _m, _new = actions.do_receive_inbound(
        channel="email", body="¿Tienen la talla M?", customer_name="Ana", emails=["ana@cliente.test"],
        subject="Talla", external_id=f"mail:{mailbox.pk}:q1@cliente.test", channel_ref=f"mail:{mailbox.pk}:abc",
        meta={"message_id": "q1@cliente.test", "from": "ana@cliente.test"})
    message = actions.check_send_reply(supervisor, conversation.pk, body="Sí, la tenemos.")
    # given a worker that prepared the send record, claimed it (attempt 1, leased) and died before SMTP answered
    OutboundMail.objects.create(message=message, mailbox=mailbox, rfc_message_id="hub.1.2@example.test",
                                recipients="ana@cliente.test", attempts=1, lease_until=timezone.now() + LEASE)
    default_task_backend.clear()
    # when the periodic retry runs while the lease holds / then nothing is queued
    assert retry_mail.call() == 0
    # when the lease expired / then it is sent once, with the Message-ID chosen the first time, the attempt counted
    time_machine.shift(LEASE + timedelta(seconds=1))
    assert retry_mail.call() == 1
    assert run_queued("send_email") == ["sent"]
    out = OutboundMail.objects.get(message=message)
    assert (out.state, out.attempts) == ("sent", 2)
    (sent,) = smtp_server.messages
    assert sent.parsed["Message-ID"] == "<hub.1.2@example.test>"


def test_a_raw_post_left_received_is_requeued_after_a_minute(mailbox, time_machine):
    time_machine.move_to("2026-11-20 10:00:00-05:00", tick=False)
    raw = customer_mail(sender="ana@cliente.test", to=mailbox.address, subject="Hola", body="¿Siguen abiertos?")
    log = InboundMail.objects.create(mailbox=mailbox, source="raw", raw=raw)
    default_task_backend.clear()
    time_machine.shift(59)
    assert retry_mail.call() == 0
    time_machine.shift(2)
    assert retry_mail.call() == 1
    assert run_queued("process_inbound_mail") == ["stored"]
    assert InboundMail.objects.get(pk=log.pk).status == "stored"


def test_an_unparseable_imap_mail_does_not_hold_the_mail_behind_it(mailbox, dovecot):
    # given a mail whose bytes the parser cannot read (an attached message nested thousands of levels deep: a
    # RecursionError), and a good mail after it
    do_poll_mailbox(mailbox.pk)  # baseline: the folder is known
    nested = b"From: ana@cliente.test\r\nSubject: Anidado\r\n" + b"Content-Type: message/rfc822\r\n\r\n" * 3000
    bad = dovecot.append(mailbox.address, nested + b"hola\r\n")
    dovecot.append(mailbox.address, customer_mail(sender="Ana <ana@cliente.test>", to=mailbox.address,
                                                  subject="Buena", body="Hola"))
    # when polled
    result = do_poll_mailbox(mailbox.pk)
    # then the bad one is recorded as failed with the reason and given up (left unseen for a person), and the good
    # one is stored in the same poll
    assert (result.failed, result.stored) == (1, 1)
    failed = InboundMail.objects.get(imap_uid=bad)
    assert failed.status == "failed" and "RecursionError" in failed.error and failed.attempts == MAX_ATTEMPTS
    assert list(Message.objects.values_list("conversation__subject", flat=True)) == ["Buena"]
    # and the next poll does not fetch it again
    assert do_poll_mailbox(mailbox.pk).fetched == 0


def test_given_a_post_whose_processing_kills_the_worker_when_the_safety_net_runs_then_it_gives_up_after_the_limit(
        mailbox, time_machine):
    from django.db import connection

    from connectors.mail.intake import MAX_ATTEMPTS as WEBHOOK_MAX_ATTEMPTS
    from connectors.mail.intake import do_process_inbound

    time_machine.move_to("2026-11-20 10:00:00-05:00", tick=False)
    # given a raw post, and a worker that dies outright while storing it (SystemExit from Django's execute hook:
    # nothing of ours gets to record the failure, as with a worker killed by the OOM killer)
    raw = customer_mail(sender="ana@cliente.test", to=mailbox.address, subject="Hola", body="¿Siguen abiertos?")
    log = InboundMail.objects.create(mailbox=mailbox, source="raw", raw=raw)

    def killed(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("INSERT") and Message._meta.db_table in sql:
            raise SystemExit("worker killed")
        return execute(sql, params, many, context)

    # when it is tried again and again, each attempt killing the worker
    for attempt in range(1, WEBHOOK_MAX_ATTEMPTS + 1):
        with connection.execute_wrapper(killed), pytest.raises(SystemExit):
            do_process_inbound(log.pk)
        # then every attempt is counted although the worker never recorded an outcome
        assert InboundMail.objects.get(pk=log.pk).attempts == attempt
    # and the safety net stops re-queuing it once the attempts are used up (instead of every minute forever)
    time_machine.shift(120)
    default_task_backend.clear()
    assert retry_mail.call() == 0
    assert do_process_inbound(log.pk) is None


def test_a_post_processed_on_its_first_try_counts_one_attempt(mailbox):
    from connectors.mail.intake import do_process_inbound

    raw = customer_mail(sender="ana@cliente.test", to=mailbox.address, subject="Hola", body="¿Siguen abiertos?")
    log = InboundMail.objects.create(mailbox=mailbox, source="raw", raw=raw)
    assert do_process_inbound(log.pk).status == "stored"
    assert InboundMail.objects.get(pk=log.pk).attempts == 1
