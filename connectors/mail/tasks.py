"""Email channel tasks: thin, idempotent shims over the actions (STYLE §8)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from connectors.mail import notifications, outbound
from connectors.mail.imap import do_poll_mailbox
from connectors.mail.intake import MAX_ATTEMPTS, WEBHOOK_SOURCES, do_process_inbound
from connectors.mail.models import InboundMail, Mailbox


@task(queue_name="messaging")
def poll_mailbox(mailbox_id: int) -> dict[str, Any]:
    """One bounded poll; a full batch re-enqueues itself so a backlog drains without waiting for the schedule."""

    result = do_poll_mailbox(mailbox_id)
    if result.more and not result.error:
        poll_mailbox.enqueue(mailbox_id)
    return asdict(result)


@task()
def poll_due_mailboxes() -> int:
    """Enqueues a poll of every enabled IMAP mailbox whose interval has passed (compare-and-set per mailbox, so
    two schedulers never enqueue the same slot twice)."""

    now = timezone.now()
    enqueued = 0
    due = (Mailbox.objects.filter(enabled=True).exclude(imap_host="")
           .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now)).values_list("pk", "next_poll_at",
                                                                                       "poll_interval"))
    for pk, slot, interval in due:
        if Mailbox.objects.filter(pk=pk, next_poll_at=slot).update(
                next_poll_at=now + timedelta(seconds=max(interval, 10))):
            poll_mailbox.enqueue(pk)
            enqueued += 1
    return enqueued


@task(queue_name="messaging")
def process_inbound_mail(inbound_id: int) -> str:
    log = do_process_inbound(inbound_id)
    return log.status if log is not None else "skipped"


@task(queue_name="messaging")
def send_email(message_id: int) -> str:
    """A retry of an outbound email (the first attempt comes from inbox.tasks.deliver_outbound)."""

    return outbound.do_send_email(message_id)


@task()
def retry_mail() -> int:
    """Safety net: outbound mails whose retry time came or whose sender died mid-send (its lease expired), and
    webhook posts whose processing failed or whose task was lost (left `received` for more than a minute)."""

    count = 0
    for message_id in outbound.due_retries():
        send_email.enqueue(message_id)
        count += 1
    stale = timezone.now() - timedelta(minutes=1)
    inbound = (InboundMail.objects.filter(source__in=WEBHOOK_SOURCES, attempts__lt=MAX_ATTEMPTS, created_at__lt=stale)
               .filter(status__in=[InboundMail.Status.RECEIVED, InboundMail.Status.FAILED])
               .values_list("pk", flat=True)[:200])
    for inbound_id in inbound:
        process_inbound_mail.enqueue(inbound_id)
        count += 1
    return count


@task()
def notify_due_tasks() -> int:
    return notifications.do_notify_due_tasks()


@task(queue_name="messaging")
def send_notification(event: str, user_id: int, data: dict[str, Any]) -> bool:
    return notifications.do_send_notification(event, user_id, data)


@task()
def prune_mail_log(raw_days: int = 7, log_days: int = 90) -> int:
    """Webhook bodies are kept a week to debug and replay; log rows three months."""

    now = timezone.now()
    InboundMail.objects.filter(created_at__lt=now - timedelta(days=raw_days)).exclude(raw=b"").exclude(
        status__in=[InboundMail.Status.RECEIVED, InboundMail.Status.FAILED]).update(raw=b"")
    deleted, _rows = InboundMail.objects.filter(created_at__lt=now - timedelta(days=log_days)).delete()
    return deleted
