"""The 24-hour customer-service window (contract §7) and the outbound guard that enforces it.

A window opens, or is refreshed, each time the customer writes to the business number and lasts 24 h from their
last message; our own messages never extend it. Inside it any message may be sent; outside only approved
templates. We keep the clock ourselves (`WhatsappContact.last_inbound_at`, Meta's timestamp of the customer's
newest message) and refuse before sending, instead of learning about it from a 131047 failure afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

from connectors.whatsapp import conf
from connectors.whatsapp.models import WhatsappContact, WhatsappNumber
from core.errors import ActionError

if TYPE_CHECKING:
    from inbox.models import Conversation


@dataclass(frozen=True)
class Window:
    last_inbound_at: datetime | None
    now: datetime

    @property
    def closes_at(self) -> datetime | None:
        return self.last_inbound_at + timedelta(hours=conf.WINDOW_HOURS) if self.last_inbound_at else None

    @property
    def is_open(self) -> bool:
        return self.closes_at is not None and self.now < self.closes_at

    @property
    def remaining(self) -> timedelta:
        return max(self.closes_at - self.now, timedelta(0)) if self.closes_at else timedelta(0)

    def label(self) -> str:
        if not self.is_open:
            return _("Ventana de 24 h: cerrada")
        minutes = int(self.remaining.total_seconds() // 60)
        return _("Ventana de 24 h: quedan %(h)d h %(m)d min") % {"h": minutes // 60, "m": minutes % 60}

    def closed_reason(self) -> str:
        if self.last_inbound_at is None:
            return _("El cliente aún no ha escrito a este número de WhatsApp: fuera de la ventana de 24 horas solo "
                     "se pueden enviar plantillas aprobadas.")
        return _("La ventana de 24 horas de WhatsApp está cerrada (el cliente escribió por última vez hace %s): "
                 "solo se pueden enviar plantillas aprobadas.") % timesince(self.last_inbound_at, self.now)


def number_for(c: Conversation) -> WhatsappNumber | None:
    """The number the conversation lives on (`channel_ref` "wa:<phone number id>"); a conversation without one
    (created through the API) uses the only active number, if there is exactly one."""
    ref = c.channel_ref or ""
    if ref.startswith("wa:"):
        return WhatsappNumber.objects.select_related("inbox").filter(phone_number_id=ref[3:]).first()
    active = list(WhatsappNumber.objects.filter(is_active=True)[:2])
    return active[0] if len(active) == 1 else None


def contact_for(c: Conversation, number: WhatsappNumber | None) -> WhatsappContact | None:
    if number is None:
        return None
    return (WhatsappContact.objects.filter(number=number, customer_id=c.customer_id)
            .order_by("-last_inbound_at", "-id").first())


def window_for(c: Conversation, *, now: datetime | None = None) -> Window:
    contact = contact_for(c, number_for(c))
    return Window(last_inbound_at=contact.last_inbound_at if contact else None, now=now or timezone.now())


def free_text_allowed(c: Conversation) -> bool:
    """Whether free text may go to this WhatsApp conversation now: its window is open, or it is not bound to a
    number (then the sender reports it, as window_guard says)."""
    number = number_for(c)
    if number is None:
        return True
    contact = contact_for(c, number)
    return Window(last_inbound_at=contact.last_inbound_at if contact else None, now=timezone.now()).is_open


def window_guard(c: Conversation, body: str, meta: dict[str, Any]) -> None:
    """Registered with inbox.outbound: refuses free-form text outside the window (templates always pass; the
    template view has validated them). Runs inside check_send_reply, before anything is stored.

    Conversations not bound to a number ("whatsapp" conversations created through the API or the demo data,
    while no number or several are connected) are not ours to judge: the sender reports them instead."""
    if isinstance(meta.get("template"), dict):
        return
    number = number_for(c)
    if number is None:
        return  # no connected number to send through: the sender marks the message failed and says why
    contact = contact_for(c, number)
    window = Window(last_inbound_at=contact.last_inbound_at if contact else None, now=timezone.now())
    if not window.is_open:
        raise ActionError("whatsapp_window_closed", window.closed_reason(), field="body")
