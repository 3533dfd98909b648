"""Issue 16: the service-level policies page — supervisors change targets in minutes, agents read them; bad input is
a 400 with the field's message and never deletes a policy; PUT /api/v1/sla-policies replaces them all."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from accounts.roles import Role
from automation.models import SlaPolicy
from core.models import AuditLog
from inbox.models import Inbox

pytestmark = pytest.mark.django_db
URL = "/automatizacion/niveles-de-servicio/"


@pytest.fixture(autouse=True)
def default_policies():
    SlaPolicy.objects.all().delete()
    importlib.import_module("automation.migrations.0004_default_sla_policies").forwards(apps, None)


def form(**overrides: str) -> dict[str, str]:
    """The page's form as shown (email, web chat, WhatsApp, the empty new row), with `overrides`."""
    data = {"rows": "4"}
    for n, channel in enumerate(("email", "webchat", "whatsapp")):
        p = SlaPolicy.objects.get(channel=channel, inbox=None)
        data.update({f"p-{n}-channel": channel, f"p-{n}-inbox": "",
                     f"p-{n}-first_response": str((p.first_response_seconds or 0) // 60),
                     f"p-{n}-escalate_after": str((p.escalate_after_seconds or 0) // 60),
                     f"p-{n}-pause_on_hold": "on", f"p-{n}-active": "on"})
    data.update({"p-3-new": "1", "p-3-channel": "", "p-3-inbox": ""})
    data.update(overrides)
    return data


def test_a_supervisor_changes_a_target_and_adds_an_inbox_policy(make_user, client_for):
    vip = Inbox.objects.create(name="Clientes VIP", code="vip")
    supervisor = client_for(make_user(Role.SUPERVISOR))
    # when she sets WhatsApp's first response to 3 minutes and adds 30 seconds for VIP customers on WhatsApp
    response = supervisor.post(URL, form(**{"p-2-first_response": "3", "p-3-channel": "whatsapp",
                                            "p-3-inbox": "vip", "p-3-first_response": "0,5",
                                            "p-3-active": "on"}))
    # then both are saved, in seconds, with one audit line naming them in words
    assert response.status_code == 302
    assert SlaPolicy.objects.get(channel="whatsapp", inbox=None).first_response_seconds == 180
    assert SlaPolicy.objects.get(channel="whatsapp", inbox=vip).first_response_seconds == 30
    assert AuditLog.objects.filter(action="sla_policies.updated").count() == 1
    # and the page shows the new row among the others
    page = supervisor.get(URL).content.decode()
    assert "Clientes VIP" in page and 'value="0.5"' in page


@pytest.mark.parametrize("minutes", ["inf", "-inf", "1e999", "nan", "²", "cinco", "-3", "99999999999"])
def test_bad_minutes_are_a_400_with_the_fields_message(minutes, make_user, client_for):
    supervisor = client_for(make_user(Role.SUPERVISOR))
    response = supervisor.post(URL, form(**{"p-0-first_response": minutes}))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Escriba los minutos como un número." in html or "Entre 10 segundos y 30 días." in html
    assert SlaPolicy.objects.get(channel="email", inbox=None).first_response_seconds == 7200


@pytest.mark.parametrize("rows", ["", "0", "²", "9" * 5000, "-1"])
def test_a_mangled_form_never_deletes_the_policies(rows, make_user, client_for):
    supervisor = client_for(make_user(Role.SUPERVISOR))
    response = supervisor.post(URL, {**form(), "rows": rows})
    assert response.status_code in {302, 400}
    assert SlaPolicy.objects.count() == 3


def test_only_a_row_marked_for_removal_is_deleted(make_user, client_for):
    vip = Inbox.objects.create(name="Clientes VIP", code="vip")
    SlaPolicy.objects.create(channel="whatsapp", inbox=vip, first_response_seconds=60)
    SlaPolicy.objects.create(channel="email", inbox=vip, first_response_seconds=600)
    supervisor = client_for(make_user(Role.SUPERVISOR))
    # when the page (opened before the VIP email policy existed) removes the VIP WhatsApp one
    response = supervisor.post(URL, form(**{"rows": "5", "p-3-new": "", "p-3-channel": "whatsapp", "p-3-inbox": "vip",
                                            "p-3-first_response": "1", "p-3-delete": "on",
                                            "p-4-new": "1", "p-4-channel": ""}))
    # then only it is gone; the policy the page never showed stays
    assert response.status_code == 302
    assert list(SlaPolicy.objects.filter(inbox=vip).values_list("channel", flat=True)) == ["email"]


def test_agents_read_the_page_and_may_not_change_it(make_user, client_for):
    agent = client_for(make_user(Role.AGENTE))
    page = agent.get(URL)
    assert page.status_code == 200 and "Solo un supervisor puede cambiar" in page.content.decode()
    assert agent.post(URL, form(**{"p-2-first_response": "60"})).status_code == 403
    assert SlaPolicy.objects.get(channel="whatsapp", inbox=None).first_response_seconds == 300


def test_the_api_reads_and_replaces_the_policies(make_user, api_client_for):
    api = api_client_for(make_user(Role.SUPERVISOR))
    listed = api.get("/api/v1/sla-policies").json()
    assert {p["channel"]: p["first_response_seconds"] for p in listed} == {"email": 7200, "webchat": 60,
                                                                           "whatsapp": 300}
    # when WhatsApp alone is sent, then it is the only policy left
    replaced = api.put("/api/v1/sla-policies", {"policies": [{"channel": "whatsapp", "first_response_seconds": 240}]},
                       content_type="application/json")
    assert replaced.status_code == 200 and [p["channel"] for p in replaced.json()] == ["whatsapp"]
    # and an unknown inbox is a 400 naming the row and field
    bad = api.put("/api/v1/sla-policies", {"policies": [{"channel": "whatsapp", "inbox": "nope"}]},
                  content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_sla_policy"
    assert list(bad.json()["errors"]) == ["0.inbox"]
    agent_api = api_client_for(make_user(Role.AGENTE))
    assert agent_api.put("/api/v1/sla-policies", {"policies": []}, content_type="application/json").status_code == 403
