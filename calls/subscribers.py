"""The calls app's reactions to the call screen's events."""

from __future__ import annotations

from calls.actions import do_record_call_note
from core.events import DomainEvent
from leads.events import LeadNoted
from leads.models import LeadNote


def on_lead_noted(event: DomainEvent) -> None:
    assert isinstance(event, LeadNoted)
    note = LeadNote.objects.select_related("lead", "author").get(pk=event.note_id)
    do_record_call_note(note.lead, note.author, text=note.text, result=note.outcome, at=note.created_at)
