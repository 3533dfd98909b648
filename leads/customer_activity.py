"""What the call center tells customers: the state of the customer's most recent lead and calls as contacts (a
lead's notes are calls: the first and the last note date a contact by phone) for the activity columns, the profile's
leads section and the timeline's calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.urls import reverse
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.roles import Perm
from core.choices import display
from customers.models import Customer
from customers.timeline import Entry
from leads.models import Lead, LeadNote


def activity(customer_ids: Sequence[int], now: datetime) -> Mapping[int, Mapping[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    leads = (Lead.objects.filter(customer_id__in=customer_ids)
             .order_by("customer_id", "-queue_entered_at", "-id")
             .values_list("customer_id", "work_status", "first_note_at", "last_note_at"))
    for customer_id, status, first_note, last_note in leads:
        values = found.get(customer_id)
        if values is None:  # the most recent lead comes first
            values = found[customer_id] = {"lead_state": status, "first_contact_at": first_note,
                                           "last_contact_at": last_note, "on_phone": last_note is not None}
            continue
        if first_note is not None and (values["first_contact_at"] is None or first_note < values["first_contact_at"]):
            values["first_contact_at"] = first_note
        if last_note is not None and (values["last_contact_at"] is None or last_note > values["last_contact_at"]):
            values["last_contact_at"] = last_note
            values["on_phone"] = True
    return found


# --- the customer profile: leads and their notes, timeline entries ---------------------------------------------

PROFILE_LEADS = 50
PROFILE_NOTES = 100


def profile_section(user: User, customer: Customer) -> dict[str, Any] | None:
    """Every lead of the customer with its notes (the newest first), in three queries."""
    if not user.has_perm_code(Perm.LEADS_VIEW):
        return None
    leads = list(Lead.objects.filter(customer=customer).order_by("-queue_entered_at", "-id")[:PROFILE_LEADS])
    notes = list(LeadNote.objects.filter(lead__in=leads).select_related("author")
                 .order_by("-created_at", "-id")[:PROFILE_NOTES])
    by_lead: dict[int, list[LeadNote]] = {}
    for note in notes:
        by_lead.setdefault(note.lead_id, []).append(note)
    for lead in leads:
        lead.profile_notes = by_lead.get(lead.pk, [])  # type: ignore[attr-defined]
    return {"customer": customer, "leads": leads}


def timeline_entries(user: User | None, customer: Customer, before: datetime | None, limit: int) -> list[Entry]:
    """A lead arriving in the call-center queue, and every call note, for those who may see leads."""
    if user is not None and not user.has_perm_code(Perm.LEADS_VIEW):
        return []
    leads = Lead.objects.filter(customer=customer)
    arrived = leads.filter(queue_entered_at__lt=before) if before else leads
    notes = LeadNote.objects.filter(lead__customer=customer).select_related("author", "lead")
    notes = notes.filter(created_at__lt=before) if before else notes
    entries = [Entry(at=lead.queue_entered_at, kind="lead.arrived", channel="phone",
                     text=_("El lead «%(lead)s» llegó a la cola de llamadas") % {"lead": lead.name},
                     url=reverse("leads:detail", args=[lead.pk]), ref={"lead_id": lead.pk, "kommo_id": lead.kommo_id})
               for lead in arrived.order_by("-queue_entered_at", "-id")[:limit]]
    entries += [Entry(at=note.created_at, kind="lead.noted", channel="phone",
                      text=_("Llamada de %(agent)s (%(outcome)s): %(text)s") % {
                          "agent": note.author.display_name, "outcome": display(note, "outcome"),
                          "text": Truncator(note.text).chars(200)},
                      url=reverse("leads:detail", args=[note.lead_id]), ref={"lead_id": note.lead_id})
                for note in notes.order_by("-created_at", "-id")[:limit]]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]
