"""Inbound mail, whatever brought it (IMAP or an ESP webhook): classify, thread, store.

`do_ingest` runs inside the caller's transaction, so the intake-log row, the attachments' descriptions and the
inbox message commit together; the IMAP poller marks a mail \\Seen only after that commit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from connectors.mail.models import InboundMail, Mailbox, OutboundMail
from connectors.mail.outbox import OUTBOX
from connectors.mail.parsing import DsnRecipient, ParsedMail, classify, parse, parse_form, postmark_to_mime
from connectors.mail.quoting import html_to_text, split_html, split_text
from connectors.mail.threads import ThreadMatch, external_id, find_thread
from core.errors import ActionError
from core.outbox import Phase
from inbox.actions import do_receive_inbound, do_update_delivery_status
from inbox.attachments import store_attachment
from inbox.models import Message

logger = logging.getLogger(__name__)

HTML_MAX_CHARS = 200_000  # meta is loaded with every timeline; a newsletter-sized HTML body is cut, not refused
MAX_ATTEMPTS = 5
WEBHOOK_SOURCES = (InboundMail.Source.MAILGUN, InboundMail.Source.POSTMARK, InboundMail.Source.RAW)
_DIAGNOSTIC = re.compile(r"^Diagnostic-Code:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
S = InboundMail.Status


def thread_ref(mailbox: Mailbox, mail: ParsedMail) -> str:
    """channel_ref of a conversation started by this mail: the mailbox (replies leave through it) plus a key of the
    thread, so an unmatched mail opens its own conversation instead of joining the customer's open one."""
    key = hashlib.sha256(mail.dedupe_id().encode()).hexdigest()[:12]
    return f"mail:{mailbox.pk}:{key}"


def mailbox_id_of(channel_ref: str) -> int | None:
    parts = channel_ref.split(":")
    if len(parts) >= 2 and parts[0] == "mail" and parts[1].isdigit():
        return int(parts[1])
    return None


def _finish(log: InboundMail, status: str, *, reason: str = "", conversation_id: int | None = None,
            message_id: int | None = None) -> InboundMail:
    log.status, log.reason, log.error = status, reason[:200], ""
    log.conversation_id, log.message_id, log.processed_at = conversation_id, message_id, timezone.now()
    log.attempts += 1
    log.save()
    return log


def _record_bounce(mailbox: Mailbox, mail: ParsedMail, reason: str) -> tuple[int | None, str]:
    """A delivery report about a mail we sent: a permanent failure marks that message failed (the agent sees it
    did not arrive); a delay notice (RFC 3464 `Action: delayed`, 4.x.x: "mailbox full", greylisting) only leaves
    a warning on it, because the server keeps trying and an agent who resent would duplicate the answer.
    Returns (conversation id, the InboundMail reason)."""

    ids = [*mail.reported_message_ids, *mail.in_reply_to, *mail.references]
    sent = OutboundMail.objects.filter(rfc_message_id__in=ids).select_related("message").first() if ids else None
    failed = [r for r in mail.dsn if r.failed]
    if mail.dsn and not failed:
        # A structured report without a failure: delayed (or delivered/relayed) — never a failed message.
        delayed = [r for r in mail.dsn if r.delayed]
        if not delayed:
            return (sent.message.conversation_id if sent else None), f"{reason} ({mail.dsn[0].action or '?'})"
        if sent is not None:
            _record_delay(sent, delayed[0])
        return (sent.message.conversation_id if sent else None), f"{reason} (delayed)"
    if sent is None:
        return None, reason
    diagnostic = (next((r.diagnostic for r in failed if r.diagnostic), "")
                  or next((m.group(1).strip() for a in mail.attachments if a.content_type == "message/delivery-status"
                           if (m := _DIAGNOSTIC.search(a.data.decode("utf-8", errors="replace")))), reason))
    error = _("Rebotado por el servidor del destinatario: %s") % diagnostic
    OUTBOX.park(sent.pk, error=error, frm=(Phase.PENDING, Phase.DONE))
    do_update_delivery_status(sent.message_id, status="failed", error=error)
    return sent.message.conversation_id, reason


def _record_delay(sent: OutboundMail, report: DsnRecipient) -> None:
    """Keeps the delay on the message (meta["delivery_warning"], and the delivery error text shown beside its
    status) without touching the status. The inbox has no action for a warning, so the row is updated here, under
    its lock; a message already failed keeps its own error."""

    detail = " ".join(p for p in (report.status, report.diagnostic) if p) or report.action
    warning = _("Entrega demorada: %s") % detail
    OutboundMail.objects.filter(pk=sent.pk).update(last_error=warning[:500])
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(pk=sent.message_id).first()
        if message is None:
            return
        meta = dict(message.meta) if isinstance(message.meta, dict) else {}
        meta["delivery_warning"] = {"kind": "delayed", "status": report.status, "recipient": report.recipient,
                                    "diagnostic": report.diagnostic[:300], "at": timezone.now().isoformat()}
        message.meta = meta
        fields = ["meta"]
        if message.delivery_status != "failed":
            message.delivery_error = warning[:300]
            fields.append("delivery_error")
        message.save(update_fields=fields)


def _store_attachments(mail: ParsedMail, conversation_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    stored, omitted = [], []
    for a in mail.attachments:
        if not a.data:
            continue
        try:
            description = store_attachment(conversation_id=conversation_id, name=a.name,
                                           content_type=a.content_type, data=a.data)
        except ActionError:  # too large: the mail is kept without it (and says so) rather than blocked forever
            omitted.append({"name": a.name, "size": len(a.data)})
            continue
        stored.append({**description, "content_id": a.content_id, "inline": a.inline})
    return stored, omitted


def do_ingest(mailbox: Mailbox, raw: bytes, *, log: InboundMail,
              envelope_recipients: Sequence[str] = ()) -> InboundMail:
    """Classifies one raw mail and stores it as an inbox message (or only logs it). Call inside a transaction."""

    mail = parse(raw)
    log.rfc_message_id, log.from_address = mail.message_id[:500], mail.from_address[:254]
    log.subject = mail.subject[:250]
    if mail.from_address and mail.from_address == mailbox.address.lower():
        return _finish(log, S.IGNORED, reason="own_address")  # our own mail came back: never a customer message
    kind, reason = classify(mail)
    thread = find_thread(mailbox, mail, envelope_recipients=envelope_recipients)
    if kind == "bounce":
        conversation_id, reason = _record_bounce(mailbox, mail, reason)
        return _finish(log, S.BOUNCE, reason=reason,
                       conversation_id=conversation_id or (thread.conversation_id if thread else None))
    if kind == "auto_reply":  # logged (and linked to its thread) but never a customer reply: SLA clocks keep running
        return _finish(log, S.AUTO_REPLY, reason=reason, conversation_id=thread.conversation_id if thread else None)
    if not mail.from_address:
        return _finish(log, S.IGNORED, reason="no_sender")
    ext = external_id(mailbox.pk, mail.dedupe_id())
    existing = Message.objects.filter(external_id=ext).values_list("pk", "conversation_id").first()
    if existing is not None:
        return _finish(log, S.DUPLICATE, reason="message_id", conversation_id=existing[1], message_id=existing[0])
    conversation, message = _store(mailbox, mail, thread, ext)
    return _finish(log, S.STORED, reason=thread.rule if thread else "new_thread", conversation_id=conversation,
                   message_id=message)


def _store(mailbox: Mailbox, mail: ParsedMail, thread: ThreadMatch | None, ext: str) -> tuple[int, int]:
    text_reply, text_quoted = split_text(mail.text) if mail.text.strip() else ("", "")
    html_reply, html_quoted = split_html(mail.html) if mail.html.strip() else ("", "")
    body = text_reply or html_to_text(html_reply) or mail.subject or _("(correo sin texto)")
    if not text_quoted and html_quoted:
        text_quoted = html_to_text(html_quoted)
    attachments, omitted = _store_attachments(mail, thread.conversation_id if thread else 0)
    meta = {
        "mailbox": mailbox.pk, "message_id": mail.message_id, "in_reply_to": mail.in_reply_to,
        "references": mail.references[-50:], "from": mail.from_address, "from_name": mail.from_name,
        "reply_to": mail.reply_to, "to": mail.to, "cc": mail.cc, "subject": mail.subject,
        "date": mail.date.isoformat() if mail.date else "", "html": html_reply[:HTML_MAX_CHARS],
        "html_quoted": html_quoted[:HTML_MAX_CHARS], "quoted_text": text_quoted[:HTML_MAX_CHARS],
        "thread_rule": thread.rule if thread else "", "headers": mail.headers, "omitted_attachments": omitted,
    }
    conversation, message, _created = do_receive_inbound(
        channel="email", body=body, customer_name=mail.from_name or mail.from_address.split("@")[0],
        emails=[mail.from_address], inbox_code=mailbox.inbox.code if mailbox.inbox_id else None,  # type: ignore[union-attr]
        external_id=ext, subject=mail.subject, attachments=attachments,
        conversation_id=thread.conversation_id if thread else None, channel_ref=thread_ref(mailbox, mail),
        meta=meta)
    return conversation.pk, message.pk


# --- ESP webhooks ----------------------------------------------------------------------------------------


def verify_mailgun(signing_key: str, fields: dict[str, Any]) -> str:
    """Mailgun signs timestamp+token with the account's webhook signing key (contract §2): "" when it holds."""
    expected = hmac.new(signing_key.encode(), f"{fields.get('timestamp', '')}{fields.get('token', '')}".encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, str(fields.get("signature", ""))):
        return "mailgun signature mismatch"
    return ""


def _mime_of(log: InboundMail) -> tuple[bytes, list[str]]:
    """The RFC 822 bytes and envelope recipients of a stored webhook body."""
    body = bytes(log.raw)
    if log.source == InboundMail.Source.MAILGUN:
        fields = parse_form(body, log.content_type)
        mime = fields.get("body-mime")
        if not mime:
            raise ValueError("mailgun post without body-mime: route with forward(…/inbound_mime/), not store()")
        return (mime if isinstance(mime, bytes) else mime.encode("utf-8")), [str(fields.get("recipient", ""))]
    if log.source == InboundMail.Source.POSTMARK:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError("postmark payload is not an object")
        envelope = [str(payload.get("OriginalRecipient") or "")]
        envelope += [f"hash+{e['MailboxHash']}@postmark" for e in payload.get("ToFull") or []
                     if isinstance(e, dict) and e.get("MailboxHash")]
        return postmark_to_mime(payload), envelope
    return body, []


def do_process_inbound(inbound_id: int) -> InboundMail | None:
    """Processes a stored webhook body. Safe to repeat: a processed row is left alone; a failure is recorded
    and retried by the periodic job up to MAX_ATTEMPTS times.

    The attempt is counted (and committed) before processing: a body that kills the worker outright (memory,
    a segfault in a parser) then still uses up its attempts, and the safety net stops re-queuing it after
    MAX_ATTEMPTS instead of every minute forever."""
    counted = InboundMail.objects.filter(pk=inbound_id, status__in=[S.RECEIVED, S.FAILED],
                                         attempts__lt=MAX_ATTEMPTS).update(attempts=F("attempts") + 1)
    if not counted:
        return None
    try:
        with transaction.atomic():
            log = (InboundMail.objects.select_for_update(of=("self",)).select_related("mailbox", "mailbox__inbox")
                   .filter(pk=inbound_id, status__in=[S.RECEIVED, S.FAILED]).first())
            if log is None:
                return None
            log.attempts -= 1  # _finish counts the attempt when it records the outcome; it is already counted
            raw, envelope = _mime_of(log)
            return do_ingest(log.mailbox, raw, log=log, envelope_recipients=[e for e in envelope if e])
    except Exception as exc:
        logger.exception("mail: processing inbound %s failed", inbound_id)
        InboundMail.objects.filter(pk=inbound_id).update(status=S.FAILED, error=repr(exc)[:1000])
        raise
