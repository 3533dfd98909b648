"""Issue 12: selling on a lead obeys the same hold rule as writing a note on it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from core.errors import ConflictError
from leads.models import Lead
from orders import actions
from orders.choices import OrderState
from orders.models import Order
from orders.tests.factories import product, ready_lead

pytestmark = pytest.mark.django_db


def _held_by(lead: Lead, user: User) -> None:
    lead.held_by, lead.held_at = user, timezone.now()
    lead.save(update_fields=["held_by", "held_at"])


def test_agent_cannot_create_an_order_on_a_lead_another_agent_holds(make_user):
    # given a lead held by agent A
    a, b = make_user(Role.AGENTE), make_user(Role.AGENTE)
    product("A", stock=5)
    lead = ready_lead()
    _held_by(lead, a)
    # when agent B starts an order on it
    with pytest.raises(ConflictError) as exc:
        actions.check_create_order(b, lead_id=lead.pk, lines=[("A", 1)])
    # then she is refused with the notes' 409 and no draft exists
    assert exc.value.status == 409 and exc.value.code == "lead_held"
    assert exc.value.details["held_by"] == a.username
    assert not Order.objects.exists()


def test_holder_and_supervisor_can_still_sell_on_a_held_lead(make_user, supervisor):
    # given a lead held by agent A
    a = make_user(Role.AGENTE)
    product("A", stock=5)
    lead = ready_lead()
    _held_by(lead, a)
    # when the holder and a supervisor (not bound by reservation by default) create orders
    mine = actions.check_create_order(a, lead_id=lead.pk, lines=[("A", 1)])
    theirs = actions.check_create_order(supervisor, lead_id=lead.pk, lines=[("A", 1)])
    # then both drafts exist
    assert mine.agent == a and theirs.agent == supervisor


def test_lines_and_confirm_are_refused_once_another_agent_holds_the_lead(make_user):
    # given agent B's draft on an unheld lead that agent A then takes
    a, b = make_user(Role.AGENTE), make_user(Role.AGENTE)
    product("A", stock=5)
    lead = ready_lead()
    order = actions.check_create_order(b, lead_id=lead.pk, lines=[("A", 1)])
    _held_by(lead, a)
    # when B edits the lines or confirms
    with pytest.raises(ConflictError) as lines_exc:
        actions.check_set_lines(b, order.pk, lines=[("A", 2)])
    with pytest.raises(ConflictError) as confirm_exc:
        actions.check_confirm_order(b, order.pk)
    # then both are refused with lead_held and the draft is untouched
    assert lines_exc.value.code == confirm_exc.value.code == "lead_held"
    order.refresh_from_db()
    assert order.state == OrderState.DRAFT and [line.quantity for line in order.lines.all()] == [1]


def test_api_confirm_on_a_lead_held_by_another_agent_is_409(make_user, api_client_for):
    # given agent B's draft on a lead agent A holds
    a, b = make_user(Role.AGENTE), make_user(Role.AGENTE)
    product("A", stock=5)
    lead = ready_lead()
    api = api_client_for(b)
    created = api.post("/api/v1/orders", {"lead_id": lead.pk, "lines": [{"sku": "A", "quantity": 1}]},
                       content_type="application/json")
    assert created.status_code == 201
    _held_by(lead, a)
    # when B creates another draft or confirms through the API
    again = api.post("/api/v1/orders", {"lead_id": lead.pk, "lines": [{"sku": "A", "quantity": 1}]},
                     content_type="application/json")
    confirm = api.post(f"/api/v1/orders/{created.json()['id']}/confirm", content_type="application/json")
    # then both answer 409 lead_held and nothing is confirmed (so nothing is synced to Kommo)
    assert again.status_code == 409 and again.json()["code"] == "lead_held"
    assert confirm.status_code == 409 and confirm.json()["code"] == "lead_held"
    assert not Order.objects.filter(state=OrderState.CONFIRMED).exists()
