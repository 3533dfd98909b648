"""Issue 12: a lead note has the one documented limit (settings.NOTE_MAX_LENGTH) and cannot carry NUL characters,
on the API, the page and the action alike."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from core.errors import ActionError
from leads import actions
from leads.models import LeadNote
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_two_megabyte_lead_note_is_refused_on_the_api(agent, api_client_for):
    # given a lead
    lead = LeadFactory()
    api = api_client_for(agent)
    # when a 2 MB note and one of exactly the limit are posted
    huge = api.post(f"/api/v1/leads/{lead.pk}/notes", {"text": "n" * 2_000_000}, content_type="application/json")
    fits = api.post(f"/api/v1/leads/{lead.pk}/notes", {"text": "n" * settings.NOTE_MAX_LENGTH},
                    content_type="application/json")
    # then only the second is stored
    assert huge.status_code == 400 and huge.json()["field"] == "text"
    assert fits.status_code == 201
    assert LeadNote.objects.count() == 1


def test_the_note_box_on_the_lead_page_shows_the_limit(agent, client_for):
    lead = LeadFactory()
    html = client_for(agent).get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert f'maxlength="{settings.NOTE_MAX_LENGTH}"' in html


def test_nul_in_a_lead_note_is_refused_by_the_action(agent):
    lead = LeadFactory()
    with pytest.raises(ActionError) as refused:
        actions.check_add_note(agent, lead.pk, text="llamar\x00 mañana")
    assert refused.value.code == "invalid_text" and refused.value.details["field"] == "text"
    assert not LeadNote.objects.exists()
