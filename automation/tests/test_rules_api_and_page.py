"""Issue 16: automation rules through the API (`/api/v1/automation-rules…`) and the pages (list, editor, switch,
test box) — supervisors keep them; agents get 403; bad input gets a 400 naming what is wrong."""

from __future__ import annotations

import pytest
from django.urls import reverse

from automation.models import AutomationRule, AutomationRun
from automation.rules import RuleInput, check_save_rule
from core.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_presets():
    """The suggested rules of the data migration (inactive) are not this module's subject."""
    AutomationRule.objects.exclude(preset="").delete()

RULE = {"name": "Envíos", "event": "message.received", "match": "any",
        "conditions": [{"field": "text", "op": "contains", "value": ["envío", "domicilio"]},
                       {"field": "channel", "op": "is", "value": ["whatsapp"]}],
        "actions": [{"type": "send_message", "body": "Enviamos a todo el país."},
                    {"type": "add_tag", "tag": "envios"}],
        "active": True, "frequency": "conversation", "cooldown_seconds": 600}


def test_api_keeps_rules(supervisor, api_client_for):
    api = api_client_for(supervisor)
    # when a supervisor creates a rule
    created = api.post("/api/v1/automation-rules", RULE, content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["conditions"][0] == {"field": "text", "op": "contains", "value": ["envío", "domicilio"]}
    assert body["actions"][0] == {"type": "send_message", "body": "Enviamos a todo el país.", "template": "",
                                  "variables": {}}
    assert body["position"] == 10 and body["active"] and body["run_count"] == 0
    rule_id = body["id"]
    # then it is listed, read, replaced and deleted, each change in the audit log
    assert [r["name"] for r in api.get("/api/v1/automation-rules").json()] == ["Envíos"]
    assert api.get(f"/api/v1/automation-rules/{rule_id}").json()["frequency"] == "conversation"
    replaced = api.put(f"/api/v1/automation-rules/{rule_id}", {**RULE, "active": False, "position": 5},
                       content_type="application/json")
    assert replaced.status_code == 200 and replaced.json()["position"] == 5 and not replaced.json()["active"]
    assert api.get(f"/api/v1/automation-rules/{rule_id}/runs").json() == []
    assert api.delete(f"/api/v1/automation-rules/{rule_id}").status_code == 204
    assert not AutomationRule.objects.exists()
    assert list(AuditLog.objects.filter(action__startswith="automation_rule.").order_by("pk")
                .values_list("action", flat=True)) == ["automation_rule.created", "automation_rule.updated",
                                                       "automation_rule.deleted"]


@pytest.mark.parametrize(("change", "code"), [
    ({"conditions": [{"field": "color", "op": "is", "value": ["rojo"]}]}, "invalid_condition"),
    ({"conditions": [{"field": "text", "op": "is", "value": ["hola"]}]}, "invalid_condition"),
    ({"conditions": [{"field": "text", "op": "matches", "value": "(sin cerrar"}]}, "invalid_condition"),
    ({"conditions": [{"field": "channel", "op": "is", "value": []}]}, "invalid_condition"),
    ({"actions": [{"type": "volar"}]}, "invalid_action"),
    ({"actions": [{"type": "add_tag"}]}, "invalid_action"),
    ({"actions": [{"type": "send_message", "body": ""}]}, "invalid_action"),
    ({"actions": [{"type": "schedule_message", "body": "Hola", "delay_minutes": 0}]}, "invalid_action"),
    ({"actions": [{"type": "webhook", "endpoint": "uno"}]}, "invalid_action"),
    ({"actions": [{"type": "add_note", "body": "a\x00b"}]}, "invalid_text"),
])
def test_api_refuses_bad_rules_with_the_reason(supervisor, api_client_for, change, code):
    response = api_client_for(supervisor).post("/api/v1/automation-rules", {**RULE, **change},
                                               content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] in {code, "invalid_request"}
    assert not AutomationRule.objects.exists()


def test_agents_cannot_keep_rules(agent, api_client_for, client_for):
    assert api_client_for(agent).post("/api/v1/automation-rules", RULE,
                                      content_type="application/json").status_code == 403
    assert api_client_for(agent).get("/api/v1/automation-rules").status_code == 403
    assert client_for(agent).get(reverse("automation:rules")).status_code == 403


def test_api_test_box_says_which_rules_would_fire(supervisor, api_client_for):
    check_save_rule(supervisor, RuleInput(**RULE))
    check_save_rule(supervisor, RuleInput(name="Clientes VIP", event="message.received", conditions=[
        {"field": "customer_tag", "op": "has", "value": ["vip"]}], actions=[{"type": "set_priority",
                                                                            "priority": "alta"}]))
    api = api_client_for(supervisor)
    answer = api.post("/api/v1/automation-rules/test", {"message": "¿Hacen ENVÍOS?", "channel": "email"},
                      content_type="application/json")
    assert answer.status_code == 200
    first, second = answer.json()
    assert first["name"] == "Envíos" and first["matches"]  # any: the text is enough
    assert first["failed_conditions"] == ["Canal es «WhatsApp»"]
    assert first["actions"] == ["Enviar un mensaje al cliente: «Enviamos a todo el país.»",
                                "Etiquetar la conversación: «envios»"]
    assert second["matches"] and second["unchecked_conditions"] == ["Etiqueta del cliente tiene alguna de «vip»"]
    # and nothing was done or stored
    assert not AutomationRun.objects.exists()


def test_runs_are_listed_newest_first_with_readable_details(supervisor, api_client_for):
    from automation.tests.test_rules import write

    rule = check_save_rule(supervisor, RuleInput(name="Asignar", event="message.received", active=True,
                                                 actions=[{"type": "assign", "agent": "nadie"}]))
    write(body="hola")
    write(body="otra vez")
    api = api_client_for(supervisor)
    runs = api.get(f"/api/v1/automation-rules/{rule.pk}/runs?limit=1").json()
    assert len(runs) == 1 and runs[0]["outcome"] == "skipped"
    assert runs[0]["actions"] == [{"type": "assign", "result": "skipped",
                                   "detail": "«nadie» no existe o no atiende esta bandeja"}]
    older = api.get(f"/api/v1/automation-rules/{rule.pk}/runs?before={runs[0]['id']}").json()
    assert len(older) == 1 and older[0]["id"] < runs[0]["id"]


def test_the_editor_saves_rows_and_shows_errors(supervisor, client_for):
    browser = client_for(supervisor)
    form = {"name": "Reclamos", "event": "message.received", "match": "all", "frequency": "every_time",
            "c-0-field": "text", "c-0-op": "contains", "c-0-value": "reclamo, queja",
            "c-3-field": "business_hours", "c-3-op": "outside", "c-3-value": "ignorado",
            "a-0-type": "set_priority", "a-0-value": "alta",
            "a-1-type": "send_message", "a-1-text": "Recibimos su reclamo.", "a-1-template": "seguimiento_pedido",
            "a-1-variables": "1 = {{cliente.primer_nombre}}\n2 = {{pedido.numero}}", "cooldown_minutes": "30",
            "active": "on"}
    # when a supervisor saves the editor's rows (numbered with gaps, as the page leaves them after removals)
    response = browser.post(reverse("automation:rule_create"), form)
    assert response.status_code == 302
    rule = AutomationRule.objects.get(name="Reclamos")
    assert rule.conditions == [{"field": "text", "op": "contains", "value": ["reclamo", "queja"]},
                               {"field": "business_hours", "op": "outside", "value": ""}]
    assert rule.actions[1] == {"type": "send_message", "body": "Recibimos su reclamo.",
                               "template": "seguimiento_pedido",
                               "variables": {"1": "{{cliente.primer_nombre}}", "2": "{{pedido.numero}}"}}
    assert rule.cooldown_seconds == 1800 and rule.active
    # and the page shows it back, rows included
    page = browser.get(reverse("automation:rule_edit", args=[rule.pk])).content.decode()
    assert 'value="reclamo, queja"' in page and "Recibimos su reclamo." in page
    # when a row is wrong, then the page answers 400 naming it, and keeps what was typed
    bad = browser.post(reverse("automation:rule_edit", args=[rule.pk]), {**form, "c-0-op": "matches",
                                                                        "c-0-value": "(abierto"})
    assert bad.status_code == 400
    text = bad.content.decode()
    assert "Condición 1: la expresión regular no es válida" in text and 'value="(abierto"' in text


def test_the_switch_turns_a_rule_on_in_place(supervisor, client_for):
    rule = check_save_rule(supervisor, RuleInput(name="Nota", event="message.received",
                                                 actions=[{"type": "add_note", "body": "x"}]))
    response = client_for(supervisor).post(reverse("automation:rule_toggle", args=[rule.pk]), {"active": "1"},
                                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Desactivar «Nota»" in response.content.decode() and "<html" not in response.content.decode()
    rule.refresh_from_db()
    assert rule.active


def test_the_list_and_the_test_box(supervisor, client_for):
    check_save_rule(supervisor, RuleInput(**{**RULE, "active": False}))
    browser = client_for(supervisor)
    page = browser.get(reverse("automation:rules")).content.decode()
    assert "Envíos" in page and "Texto del mensaje contiene alguna de «envío», «domicilio»" in page
    answer = browser.post(reverse("automation:rule_test"), {"event": "message.received", "channel": "whatsapp",
                                                            "message": "¿Tienen domicilio?"})
    assert answer.status_code == 200
    assert "Se aplicaría si estuviera activa" in answer.content.decode()
