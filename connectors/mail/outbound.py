"""Agents' answers leave by SMTP through the conversation's mailbox (registered with inbox.outbound).

Each message gets one OutboundMail row holding the headers we chose, so every retry carries the same
Message-ID (`<hub.{conversation}.{message}@domain>`): if a crash after the server accepted the mail makes us
send it again, the customer's client can tell it is the same mail. Temporary failures (connection, 4xx) are
retried with backoff; permanent ones (5xx) and the last attempt mark the message failed.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import timedelta
from email.utils import formataddr
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from connectors.mail import tasks
from connectors.mail.imap import tls_context
from connectors.mail.intake import mailbox_id_of
from connectors.mail.models import Mailbox, MailProfile, OutboundMail, Security
from connectors.mail.outbox import OUTBOX
from connectors.mail.threads import external_id, hub_message_id, reply_address
from core.errors import ActionError
from core.tasks import enqueue_later
from inbox.actions import do_update_delivery_status
from inbox.attachments import read_attachment
from inbox.choices import MessageKind
from inbox.models import Message

if TYPE_CHECKING:
    from inbox.models import Conversation, Message

logger = logging.getLogger(__name__)

# Retries after 2, 4, 8, 16, 32 minutes, then 1 h, 2 h (±20 %): a mail server's outage of a few hours is ridden
# out, as a mail server would; the 8th failure is final.
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)
SMTP_TIMEOUT = 30
FINAL = {"sent", "delivered", "read", "failed"}


def mailbox_for(conversation: Conversation) -> Mailbox | None:
    """The mailbox the customer wrote to; for email conversations started elsewhere (API), the inbox's."""
    pk = mailbox_id_of(conversation.channel_ref)
    sending = Mailbox.objects.filter(enabled=True).exclude(smtp_host="")
    if pk is not None:
        return sending.filter(pk=pk).first()
    return sending.filter(inbox=conversation.inbox_id).first() or sending.order_by("pk").first()


def _last_inbound(conversation: Conversation) -> Message | None:
    return (Message.objects.filter(conversation=conversation, kind=MessageKind.INBOUND)
            .order_by("-created_at", "-id").first())


def recipient_for(conversation: Conversation) -> str:
    """Who gets the answer: the Reply-To or From of the customer's last mail, else their first known email."""
    last = _last_inbound(conversation)
    meta = last.meta if last is not None else {}
    for candidate in [*(meta.get("reply_to") or []), meta.get("from") or ""]:
        if candidate and "@" in candidate:
            return str(candidate)
    email = conversation.customer.emails.order_by("pk").values_list("email", flat=True).first()
    return email or ""


def guard(conversation: Conversation, body: str, meta: dict[str, Any]) -> None:
    """Refuses an answer that could not leave, before it is stored (inbox.outbound guard)."""
    if mailbox_for(conversation) is None:
        raise ActionError("no_mailbox", _("No hay un buzón de correo activo con SMTP para responder."))
    if not recipient_for(conversation):
        raise ActionError("no_recipient", _("El cliente no tiene una dirección de correo."))


def check_attachments(conversation: Conversation, attachments: list[dict[str, Any]]) -> None:
    """inbox.outbound's attachment check for email: base64 makes files a third larger, and most mail servers refuse
    a message over MAIL_MAX_MESSAGE_BYTES (25 MB by default), so the files must fit once encoded."""
    limit = settings.MAIL_MAX_MESSAGE_BYTES * 3 // 4 - 64 * 1024  # room for the text and the headers
    if sum(int(a.get("size") or 0) for a in attachments) > limit:
        raise ActionError("attachment_too_large", _(
            "Los archivos pesan demasiado para un correo: envíe como máximo %(mb)s MB en total.")
            % {"mb": limit // (1024 * 1024)}, field="attachments")


def _subject(conversation: Conversation) -> str:
    subject = " ".join(conversation.subject.split()) or _("Su consulta")  # one line: headers cannot fold user text
    return subject if subject.lower().startswith(("re:", "re :")) else f"Re: {subject}"


def _prepare(message: Message, mailbox: Mailbox) -> OutboundMail:
    """The send record with its headers, created once and reused by every retry."""
    c = message.conversation
    parent = _last_inbound(c)
    parent_id = str((parent.meta or {}).get("message_id") or "") if parent is not None else ""
    refs = [str(r) for r in ((parent.meta or {}).get("references") or [])] if parent is not None else []
    if parent_id:
        refs = [r for r in refs if r != parent_id] + [parent_id]
    out, _created = OutboundMail.objects.get_or_create(message=message, defaults={
        "mailbox": mailbox, "rfc_message_id": hub_message_id(mailbox, c.pk, message.pk),
        "in_reply_to": parent_id, "references": " ".join(refs[-20:]), "recipients": recipient_for(c)})
    return out


def _build(message: Message, mailbox: Mailbox, out: OutboundMail) -> EmailMessage:
    c = message.conversation
    body = message.body
    profile = MailProfile.objects.filter(user=message.author_id).first() if message.author_id else None
    if profile is not None and profile.signature.strip():
        body = f"{body}\n\n-- \n{profile.signature.strip()}"  # "-- " is the standard signature separator
    headers = {"Message-ID": f"<{out.rfc_message_id}>"}
    if out.in_reply_to:
        headers["In-Reply-To"] = f"<{out.in_reply_to}>"
    if out.references:
        headers["References"] = " ".join(f"<{r}>" for r in out.references.split())
    if message.author_id is None and isinstance(message.meta, dict) and message.meta.get("automation"):
        # RFC 3834, so the customer's own autoresponder does not answer it back: a rule's reply to their message is
        # "auto-replied"; a scheduled follow-up or a sequence's step, sent on its own, "auto-generated".
        headers["Auto-Submitted"] = ("auto-generated" if message.meta.get("scheduled_message_id")
                                     else "auto-replied")
    email = EmailMessage(subject=_subject(c), body=body,
                         from_email=formataddr((mailbox.display_name, mailbox.address)),
                         to=[out.recipients], reply_to=[reply_address(mailbox, c.pk)], headers=headers)
    for attachment in message.attachments or []:
        if isinstance(attachment, dict) and attachment.get("path"):
            email.attach(str(attachment.get("name") or "archivo"), read_attachment(attachment),
                         str(attachment.get("content_type") or "application/octet-stream"))
    return email


def smtp_connection(mailbox: Mailbox) -> Any:
    """The mailbox's own SMTP server. Built like Django 6.1's `mailers` build a configured backend (alias plus
    options), so it never falls back to the global EMAIL_* settings and avoids the deprecated get_connection()."""

    backend = EmailBackend(alias=f"mailbox-{mailbox.pk}", host=mailbox.smtp_host, port=mailbox.smtp_port,
                           username=mailbox.smtp_user or None, password=mailbox.smtp_password or None,
                           use_tls=mailbox.smtp_security == Security.STARTTLS,
                           use_ssl=mailbox.smtp_security == Security.SSL, timeout=SMTP_TIMEOUT)
    backend.ssl_context = tls_context()  # verified, with MAIL_CA_FILE when the server has a private CA
    return backend


def permanent_smtp_error(exc: BaseException) -> bool:
    """5xx answers will not change by retrying; connection problems and 4xx may."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _msg in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return False  # an administrator may fix the password within the retry window
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False


def do_send_email(message_id: int) -> str:  # noqa: PLR0911  # one early return per outcome reads best
    """Sends one outbound message (the registered sender). Idempotent: finished messages are skipped and a
    lease keeps two workers from sending the same one. Returns what happened, for logs and tests."""

    message = (Message.objects.select_related("conversation", "conversation__customer", "conversation__inbox")
               .filter(pk=message_id, kind=MessageKind.OUTBOUND).first())
    if message is None or message.delivery_status in FINAL:
        return "skipped"
    mailbox = mailbox_for(message.conversation)
    if mailbox is None:
        do_update_delivery_status(message_id, status="failed", error=_("No hay un buzón de correo activo con SMTP."))
        return "failed"
    out = _prepare(message, mailbox)
    if out.state != OutboundMail.State.PENDING:
        return "skipped"
    now = timezone.now()
    if not OUTBOX.claim(out.pk, now=now, when=OUTBOX.lease_free(now)):
        return "busy"
    out.refresh_from_db()
    sender = out.mailbox or mailbox
    try:
        if not out.recipients:
            raise ActionError("no_recipient", _("El cliente no tiene una dirección de correo."))
        smtp_connection(sender).send_messages([_build(message, sender, out)])
    except Exception as exc:  # anything unexpected is retried like a network error, then failed: never stuck
        error = (exc.message if isinstance(exc, ActionError) else f"{exc.__class__.__name__}: {exc}")[:300]
        expected = isinstance(exc, smtplib.SMTPException | OSError | ssl.SSLError | ActionError)
        (logger.warning if expected else logger.exception)("mail: sending message %s failed (attempt %s): %s",
                                                            message_id, out.attempts, error)
        if isinstance(exc, ActionError) or permanent_smtp_error(exc) or out.attempts >= MAX_ATTEMPTS:
            OUTBOX.park(out.pk, error=error)
            do_update_delivery_status(message_id, status="failed", error=error)
            return "failed"
        retry_at = OUTBOX.retry_later(out.pk, attempts=out.attempts, error=error)

        if retry_at is not None:
            enqueue_later(tasks.send_email, retry_at, message_id)  # the periodic retry job is the safety net
        return "retry"
    OUTBOX.succeed(out.pk, sent_at=timezone.now(), lease_until=None, next_attempt_at=None)
    do_update_delivery_status(message_id, status="sent", external_id=external_id(sender.pk, out.rfc_message_id))
    return "sent"


def send_message(message_id: int) -> None:
    """The sender registered with inbox.outbound (called by inbox.tasks.deliver_outbound in the worker)."""
    do_send_email(message_id)


def due_retries(*, now: Any = None, limit: int = 200) -> list[int]:
    """Message ids whose retry time came (or whose sender died mid-send and let its lease expire)."""
    now = now or timezone.now()
    return list(OutboundMail.objects.filter(state=OutboundMail.State.PENDING)
                .filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, lease_until__lt=now))
                .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
                .order_by("pk").values_list("message_id", flat=True)[:limit])


def requeue_send(message_id: int) -> bool:
    """A failed (or bounced) email back in line, keeping its Message-ID (the message's author retries it from the
    conversation). False when there is no failed send row (the sender makes one)."""
    return bool(OUTBOX.requeue(OutboundMail.objects.filter(message_id=message_id).values_list("pk", flat=True)))
