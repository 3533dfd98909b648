from __future__ import annotations

import pytest

from accounts.roles import Role
from leads import actions
from leads.tests.factories import LeadFactory, with_phone

pytestmark = pytest.mark.django_db


def test_queue_api_items_have_the_documented_shape(agent, api_client_for):
    lead = LeadFactory(name="Pedido 1")
    with_phone(lead.customer, "+573001234567")
    body = api_client_for(agent).get("/api/v1/leads/queue?q=300 123 4567").json()
    (item,) = body["results"]
    assert item["id"] == lead.pk and item["kommo_id"] == lead.kommo_id and item["status"] == "ninguno"
    assert item["held_by"] is None and item["last_note"] is None
    assert item["customer"]["phones"] == ["+573001234567"] and item["customer"]["name"] == lead.customer.name
    assert body["next"] is None


def test_queue_api_paginates_with_next_and_constant_queries(agent, api_client_for, django_assert_max_num_queries):
    for lead in LeadFactory.create_batch(25):
        with_phone(lead.customer, f"+5730012{lead.pk:05d}")
    api = api_client_for(agent)
    api.get("/api/v1/leads/queue?page_size=5")  # warm: creates the settings row, stamps the token
    # token, settings, lists, leads page, then one query each for phones, emails and tags
    with django_assert_max_num_queries(7):
        first = api.get("/api/v1/leads/queue?page_size=10").json()
    assert len(first["results"]) == 10 and first["next"]
    seen = [i["id"] for i in first["results"]]
    page = first
    while page["next"]:
        page = api.get(page["next"]).json()
        seen += [i["id"] for i in page["results"]]
    assert len(seen) == len(set(seen)) == 25


def test_note_then_409_for_another_operator(make_user, api_client_for):
    a, b = make_user(Role.AGENTE, username="ana"), make_user(Role.AGENTE, username="beto")
    lead = LeadFactory()
    first = api_client_for(a).post(f"/api/v1/leads/{lead.pk}/notes", {"text": "Contestó", "outcome": "positivo"},
                                   content_type="application/json")
    assert first.status_code == 201 and first.json()["held_by"] == "ana" and first.json()["status"] == "en_proceso"
    second = api_client_for(b).post(f"/api/v1/leads/{lead.pk}/notes", {"text": "Yo", "outcome": "parcial"},
                                    content_type="application/json")
    assert second.status_code == 409 and second.json()["code"] == "lead_held" and second.json()["held_by"] == "ana"


def test_next_returns_200_then_204(agent, api_client_for):
    lead = LeadFactory()
    api = api_client_for(agent)
    taken = api.post("/api/v1/leads/next")
    assert taken.status_code == 200 and taken.json()["id"] == lead.pk and taken.json()["held_by"] == agent.username
    actions.check_add_note(agent, lead.pk, text="x")
    assert api.post("/api/v1/leads/next").status_code == 204


def test_invalid_outcome_is_400(agent, api_client_for):
    lead = LeadFactory()
    response = api_client_for(agent).post(f"/api/v1/leads/{lead.pk}/notes", {"text": "x", "outcome": "genial"},
                                          content_type="application/json")
    assert response.status_code == 400 and response.json()["field"] == "outcome"


def test_close_and_template_endpoints(agent, supervisor, api_client_for):
    tpl = api_client_for(supervisor).post("/api/v1/predefined-notes", {
        "title": "Llamar nuevamente", "text": "Pidió que lo llamemos mañana", "outcome": "parcial",
        "tags": ["rellamar"]}, content_type="application/json")
    assert tpl.status_code == 201 and tpl.json()["tags"] == ["rellamar"]
    lead = LeadFactory()
    api = api_client_for(agent)
    noted = api.post(f"/api/v1/leads/{lead.pk}/notes", {"template_id": tpl.json()["id"]},
                     content_type="application/json").json()
    assert noted["customer"]["tags"] == ["rellamar"] and noted["notes"][0]["outcome"] == "parcial"
    closed = api.post(f"/api/v1/leads/{lead.pk}/close", {}, content_type="application/json")
    assert closed.status_code == 200 and closed.json()["status"] == "completado"


def test_next_lead_api_takes_the_lead_in_a_bounded_number_of_queries(agent, api_client_for,
                                                                      django_assert_max_num_queries):
    # given a queue of leads and an agent who already used the API once (token stamped, settings created)
    for lead in LeadFactory.create_batch(5):
        with_phone(lead.customer, f"+5730013{lead.pk:05d}")
    api = api_client_for(agent)
    api.get("/api/v1/leads/queue?page_size=1")
    # when they ask for the next lead
    with django_assert_max_num_queries(14) as captured:
        response = api.post("/api/v1/leads/next")
    # then they get it, held for them, without per-note or per-tag queries for a lead nobody has noted yet
    assert response.status_code == 200 and response.json()["held_by"] == agent.username
    assert not any("leads_leadnote" in q["sql"] for q in captured.captured_queries)
