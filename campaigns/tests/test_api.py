"""/api/v1/campaigns: the same actions as the pages — a draft created and edited, every problem named at once,
launched, paused, resumed, cancelled, and its recipients read page by page."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from campaigns.models import Campaign, CampaignRecipient
from campaigns.tests.helpers import customer, promo_template, run_sender
from customers.models import Tag

pytestmark = pytest.mark.django_db
JSON = "application/json"


@pytest.fixture
def director(make_user, api_client_for):
    return api_client_for(make_user(Role.DIRECTOR_VENTAS, username="director-api"))


@pytest.fixture
def draft(director, whatsapp_number, fake_whatsapp):
    tag = Tag.objects.create(name="Promo API")
    for n in range(5):
        customer(f"Cliente {n}", phone=f"+57300222000{n}", tag=tag)
    template = promo_template(whatsapp_number, fake_whatsapp)
    response = director.post("/api/v1/campaigns", {
        "name": "Promo por API", "channel": "whatsapp", "objective": "ventas", "audience": {"tags": [tag.pk]},
        "wa_number": whatsapp_number.pk, "wa_template": template.pk,
        "wa_variables": {"1": {"source": "field", "value": "nombre"}, "2": {"source": "text", "value": "15%"}}},
        content_type=JSON)
    assert response.status_code == 201, response.content
    return response.json()


def test_create_launch_pause_resume_and_read_the_recipients(director, draft, fake_whatsapp):
    assert draft["state"] == "borrador" and draft["audience_text"] == "Etiqueta «Promo API»"
    launched = director.post(f"/api/v1/campaigns/{draft['id']}/launch")
    assert launched.status_code == 200, launched.content
    assert launched.json()["results"]["recipients"] == 5 and launched.json()["state"] == "enviando"
    assert director.post(f"/api/v1/campaigns/{draft['id']}/pause").json()["state"] == "pausada"
    assert director.post(f"/api/v1/campaigns/{draft['id']}/resume").json()["state"] == "enviando"
    run_sender(Campaign.objects.get(pk=draft["id"]))
    # the recipients, two per page, every one once
    seen, cursor = [], ""
    while True:
        page = director.get(f"/api/v1/campaigns/{draft['id']}/recipients", {"limit": 2, "cursor": cursor}).json()
        seen += [r["customer_name"] for r in page["results"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == [f"Cliente {n}" for n in range(5)]
    sent = director.get(f"/api/v1/campaigns/{draft['id']}/recipients", {"state": "enviado"}).json()["results"]
    assert len(sent) == 5 and all(r["sent_at"] for r in sent)
    assert director.get(f"/api/v1/campaigns/{draft['id']}").json()["results"]["sent"] == 5


def test_every_problem_is_named_and_a_launched_campaign_is_not_edited(director, draft):
    bad = director.post("/api/v1/campaigns", {"name": "", "audience": {"segments": ["no-existe"]},
                                              "link_url": "tienda.com"}, content_type=JSON)
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"name", "audience", "link_url"}
    director.post(f"/api/v1/campaigns/{draft['id']}/launch")
    again = director.patch(f"/api/v1/campaigns/{draft['id']}", {"name": "Otro nombre"}, content_type=JSON)
    assert again.status_code == 409 and again.json()["code"] == "campaign_not_editable"
    assert director.post(f"/api/v1/campaigns/{draft['id']}/launch").status_code == 409
    assert director.get(f"/api/v1/campaigns/{draft['id']}/recipients", {"cursor": "basura"}).status_code == 400


def test_an_agent_cannot_see_campaigns_and_an_analyst_cannot_change_them(make_user, api_client_for, draft):
    agent = api_client_for(make_user(Role.AGENTE, username="agente-c"))
    analyst = api_client_for(make_user(Role.ANALISTA, username="analista-c"))
    assert agent.get("/api/v1/campaigns").status_code == 403
    assert agent.get(f"/api/v1/campaigns/{draft['id']}").status_code == 403
    assert analyst.get(f"/api/v1/campaigns/{draft['id']}").status_code == 200
    assert analyst.post(f"/api/v1/campaigns/{draft['id']}/launch").status_code == 403
    assert analyst.get("/api/v1/campaigns/999999").status_code == 404
    assert CampaignRecipient.objects.count() == 0
