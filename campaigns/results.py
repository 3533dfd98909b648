"""What happens after a campaign message leaves: the vendor's statuses, the customer's reply (attributed to the
campaign, or an opt-out keyword honoured and confirmed once), clicks, email opens and unsubscribes, and purchases
within the campaign's window (conversions). Subscribers of the inbox's and orders' domain events, the WhatsApp and
SMS connectors' status listeners, and the tracking views call these."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from campaigns.channels import CALLBACK_PREFIX
from campaigns.choices import REACHED, CampaignChannel, ClickTarget, RecipientState
from campaigns.events import CampaignConverted, CampaignReplied
from campaigns.models import CampaignClick, CampaignRecipient, CampaignSettings, normalize_keyword
from core.events import DomainEvent, emit
from customers.actions import do_set_consent
from customers.choices import ConsentStatus
from customers.models import Consent, Customer
from inbox.actions.messages import do_add_system_note, do_send_automatic
from inbox.events import MessageReceived
from inbox.models import Conversation
from orders.events import OrderConfirmed

logger = logging.getLogger(__name__)
R = RecipientState
ATTRIBUTION = timedelta(days=7)  # a reply this long after the message is still an answer to it
LOWER = {R.DELIVERED: [R.PENDING, R.SENDING, R.SENT], R.READ: [R.PENDING, R.SENDING, R.SENT, R.DELIVERED],
         R.SENT: [R.PENDING, R.SENDING]}


def apply_status(qs_filter: Q, status: str, *, error: str = "", at: datetime | None = None,
                 external_id: str = "") -> bool:
    """A vendor's status for one recipient, forward only (a late "sent" never undoes "delivered"); a failure after
    "sent" is final, after "delivered" it is ignored. Returns whether the recipient exists."""
    at = at or timezone.now()
    rows = CampaignRecipient.objects.filter(qs_filter)
    if not rows.exists():
        return False
    extra = {"external_id": external_id} if external_id else {}
    if status == "failed":
        rows.filter(state__in=[R.PENDING, R.SENDING, R.SENT]).update(
            state=R.FAILED, failed_at=at, error=error[:300] or _("El proveedor no pudo entregarlo."),
            lease_until=None, **extra)
        return True
    target = {"sent": R.SENT, "delivered": R.DELIVERED, "read": R.READ}.get(status)
    if target is None:
        return True
    fields: dict[str, object] = {"state": target, "lease_until": None, **extra,
                                 "sent_at": Coalesce(F("sent_at"), at)}
    if target in (R.DELIVERED, R.READ):
        fields["delivered_at"] = Coalesce(F("delivered_at"), at)
    if target == R.READ:
        fields["read_at"] = Coalesce(F("read_at"), at)
    rows.filter(state__in=LOWER[target]).update(**fields)
    return True


def on_whatsapp_status(wamid: str, status: str, callback: str, error: str, at: datetime) -> bool:
    """connectors.whatsapp's status listener: our campaign messages, by callback data or wamid."""
    if callback.startswith(CALLBACK_PREFIX) and callback[len(CALLBACK_PREFIX):].isdigit():
        where = Q(pk=int(callback[len(CALLBACK_PREFIX):]), channel=CampaignChannel.WHATSAPP)
    else:
        where = Q(channel=CampaignChannel.WHATSAPP, external_id=wamid)
    mapped = "read" if status == "played" else status
    return apply_status(where, mapped, error=error, at=at, external_id=wamid)


def on_sms_status(sid: str, status: str, error: str, at: datetime) -> bool:
    """connectors.sms's status listener (Twilio's MessageStatus values)."""
    mapped = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed",
              "undelivered": "failed"}.get(status, "")
    if not mapped:
        return CampaignRecipient.objects.filter(channel=CampaignChannel.SMS, external_id=sid).exists()
    return apply_status(Q(channel=CampaignChannel.SMS, external_id=sid), mapped, error=error, at=at)


# --- replies and opt-out keywords ---------------------------------------------------------------------------


def is_opt_out(body: str, keywords: list[str]) -> bool:
    """The whole message is one of the keywords, accents, case, spaces and punctuation aside ("Baja.", "no más")."""
    words = normalize_keyword(body)
    return bool(words) and words in keywords


def _last_reached(customer_id: int, channel: str, since: datetime) -> CampaignRecipient | None:
    return (CampaignRecipient.objects.select_related("campaign")
            .filter(customer_id=customer_id, channel=channel, state__in=REACHED, sent_at__gte=since)
            .order_by("-sent_at", "-pk").first())


def on_message_received(event: DomainEvent) -> None:
    """A customer wrote: an opt-out keyword on WhatsApp or SMS is honoured (and confirmed once); any other message
    within a week of a campaign message on the same channel is that campaign's reply."""
    assert isinstance(event, MessageReceived)
    if event.channel not in CampaignChannel.values:
        return
    now = timezone.now()
    if event.channel != CampaignChannel.EMAIL:
        config = CampaignSettings.load()
        if is_opt_out(event.body, config.keywords()):
            opt_out(event.customer_id, event.channel, conversation_id=event.conversation_id,
                    reply=config.opt_out_reply, at=now)
            return
    with transaction.atomic():
        recipient = _last_reached(event.customer_id, event.channel, now - ATTRIBUTION)
        if recipient is None or recipient.replied_at is not None:
            return
        moved = CampaignRecipient.objects.filter(pk=recipient.pk, replied_at__isnull=True).update(
            replied_at=now, reply_conversation_id=event.conversation_id)
        if not moved:
            return
        c = Conversation.objects.select_for_update().filter(pk=event.conversation_id).first()
        if c is not None:
            sent = date_format(timezone.localtime(recipient.sent_at), "SHORT_DATETIME_FORMAT") \
                if recipient.sent_at else ""
            do_add_system_note(c, body=_("Respuesta a la campaña «%(name)s» (enviada el %(when)s).")
                               % {"name": recipient.campaign.name, "when": sent},
                               meta={"campaign_id": recipient.campaign_id})
        emit(CampaignReplied(campaign_id=recipient.campaign_id, customer_id=event.customer_id,
                             conversation_id=event.conversation_id, message_id=event.message_id))


def opt_out(customer_id: int, channel: str, *, conversation_id: int | None, reply: str, at: datetime,
            method: str = Consent.Method.KEYWORD) -> bool:
    """Records the opt-out now; the customer is told once (a second "BAJA" changes nothing and says nothing)."""
    with transaction.atomic():
        customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
        if customer is None:
            return False
        changed = do_set_consent(customer, channel=channel, status=ConsentStatus.OPTED_OUT, method=method, at=at)
        if changed is None:
            return False
        # the opt-out counts for the campaign that prompted it (the latest that reached them, within 30 days)
        latest = _last_reached(customer_id, channel, at - timedelta(days=30))
        if latest is not None:
            CampaignRecipient.objects.filter(pk=latest.pk, unsubscribed_at__isnull=True).update(unsubscribed_at=at)
        CampaignRecipient.objects.filter(customer_id=customer_id, channel=channel, state=R.PENDING).update(
            state=R.SKIPPED, skip_reason="dado_de_baja")
        if conversation_id is not None and reply.strip():
            c = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
            if c is not None:
                try:
                    with transaction.atomic():  # a failed confirmation leaves nothing half-written
                        do_send_automatic(c, body=reply, meta={"automation": "campaigns.opt_out"})
                except Exception:  # the opt-out stands even when the confirmation cannot leave (logged)
                    logger.exception("opt-out confirmation to conversation %s", conversation_id)
    return True


# --- clicks, opens, unsubscribes, conversions ------------------------------------------------------------------


def record_click(recipient_id: int, *, target: str = ClickTarget.LINK, at: datetime | None = None) -> None:
    at = at or timezone.now()
    CampaignRecipient.objects.filter(pk=recipient_id).update(clicks=F("clicks") + 1,
                                                             clicked_at=Coalesce(F("clicked_at"), at))
    CampaignClick.objects.create(recipient_id=recipient_id, target=target, at=at)


def record_open(recipient_id: int, *, at: datetime | None = None) -> None:
    """An email's pixel was loaded: read (opened), never moving a failure."""
    apply_status(Q(pk=recipient_id, channel=CampaignChannel.EMAIL), "read", at=at)


def unsubscribe(recipient_id: int, *, at: datetime | None = None) -> bool:
    """The email's unsubscribe link (or the mail client's one-click header)."""
    at = at or timezone.now()
    row = CampaignRecipient.objects.filter(pk=recipient_id).values("customer_id", "channel").first()
    if row is None:
        return False
    opt_out(row["customer_id"], row["channel"], conversation_id=None, reply="", at=at,
            method=Consent.Method.LINK)
    CampaignRecipient.objects.filter(pk=recipient_id, unsubscribed_at__isnull=True).update(unsubscribed_at=at)
    return True


def on_order_confirmed(event: DomainEvent) -> None:
    """A purchase within a campaign's window after its message reached the customer is that campaign's conversion
    (the latest campaign wins; one conversion per recipient, the first order's total as revenue)."""
    assert isinstance(event, OrderConfirmed)
    now = timezone.now()
    candidates = (CampaignRecipient.objects.select_related("campaign")
                  .filter(customer_id=event.customer_id, state__in=REACHED, sent_at__gte=now - timedelta(days=90))
                  .order_by("-sent_at", "-pk"))
    for recipient in candidates[:20]:
        assert recipient.sent_at is not None
        if recipient.sent_at + timedelta(days=recipient.campaign.conversion_days) < now:
            continue
        # last touch: the latest campaign in its window; if it already has its conversion, nobody else gets this one
        moved = CampaignRecipient.objects.filter(pk=recipient.pk, converted_at__isnull=True).update(
            converted_at=now, order_id=event.order_id, revenue=Greatest(Decimal(event.total), Decimal(0)))
        if moved:
            emit(CampaignConverted(campaign_id=recipient.campaign_id, customer_id=event.customer_id,
                                   order_id=event.order_id, revenue=str(event.total)))
        return




def merge_recipients(keep: Customer, gone: Customer) -> None:
    """customers.merge's participant: the duplicate's campaign history moves to the customer kept. Where both were
    recipients of the same campaign on the same channel (one row per pair), the row that reached its customer stays
    (the kept customer's when both did) and the other goes."""
    rows = CampaignRecipient.objects.filter(customer=gone)
    clashes = rows.filter(Exists(CampaignRecipient.objects.filter(
        customer=keep, campaign_id=OuterRef("campaign_id"), channel=OuterRef("channel"))))
    for row in clashes:
        kept = CampaignRecipient.objects.get(customer=keep, campaign_id=row.campaign_id, channel=row.channel)
        if row.state in REACHED and kept.state not in REACHED:
            kept.delete()
        else:
            row.delete()
    rows.update(customer=keep)
