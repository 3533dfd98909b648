"""The whole path with the real Kommo contract: a webhook from (fake) Kommo → stored → processed by the task,
which reads the lead and contact through the Kommo API → the queue → a note → the reservation."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.tasks import default_task_backend

from accounts.roles import Role
from core.errors import ConflictError
from crm.models import WebhookDelivery
from crm.tasks import process_kommo_webhook, process_kommo_webhooks
from fakes.kommo import STATUS_SALE_CONFIRMED, STATUS_TO_CALL, encode_webhook
from leads import actions
from leads.models import Lead, LeadEvent
from leads.selectors import QueueFilters, queue_queryset

pytestmark = pytest.mark.django_db
FORM = "application/x-www-form-urlencoded"


def deliver(client, account, fake, entity_action_items, capture) -> list[str]:
    """POST webhooks the way Kommo would, then run the queued processing tasks (the worker's job)."""
    default_task_backend.clear()
    for entity, action, items in entity_action_items:
        raw = encode_webhook(entity, action, items, {"subdomain": "demo", "id": fake.state.account_id,
                                                     "_links": {"self": "https://demo.kommo.com"}})
        with capture(execute=True):
            assert client.post(f"/integrations/kommo/webhook/{account.webhook_secret}/", raw,
                               content_type=FORM).status_code == 200
    results: list[str] = []
    for queued in list(default_task_backend.results):
        if queued.task.name == "process_kommo_webhooks":
            counts = process_kommo_webhooks.call(*queued.args)
            results += [outcome for outcome, n in counts.items() for _ in range(n)]
    return results


def test_webhook_to_queue_to_note_to_reservation(client, kommo_account, fake_kommo, make_user,
                                                 django_capture_on_commit_callbacks):
    # given a lead with a contact created in Kommo, landing in "Para Llamar"
    lead_json = fake_kommo.state.create_lead(
        "Pedido 1042 — Ñandú", status_id=STATUS_TO_CALL, tags=["vip"], emit=False,
        contact={"name": "José Ñañez", "phones": ["300 123 4567"], "emails": ["Jose@Example.com"]})
    item = fake_kommo.state.lead_webhook_item(lead_json["id"], "status", old_status_id=67548607)

    # when Kommo delivers the status webhook, and the same change again as `update` (a redelivery)
    results = deliver(client, kommo_account, fake_kommo,
                      [("leads", "status", [item]), ("leads", "update", [item]), ("leads", "status", [item])],
                      django_capture_on_commit_callbacks)

    # then there is one lead in the queue, with its customer read from the Kommo API, and one arrival
    assert results == ["processed", "processed", "processed"]
    (lead,) = Lead.objects.all()
    assert lead.in_queue and lead.name == "Pedido 1042 — Ñandú" and lead.stage_name == "Ventas / Para Llamar"
    assert lead.customer.name == "José Ñañez"
    assert list(lead.customer.phones.values_list("e164", flat=True)) == ["+573001234567"]
    assert list(lead.customer.emails.values_list("email", flat=True)) == ["jose@example.com"]
    assert list(lead.tags.values_list("name", flat=True)) == ["vip"]
    assert LeadEvent.objects.filter(lead=lead, kind="arrived").count() == 1
    assert list(queue_queryset(QueueFilters(q="300-123-4567"))) == [lead]
    api_calls = [(r["method"], r["path"]) for r in fake_kommo.state.requests if r["path"].startswith("/api/v4/le")]
    assert ("GET", f"/api/v4/leads/{lead.kommo_id}") in api_calls

    # when one agent writes a note, another agent cannot
    first, second = make_user(Role.AGENTE), make_user(Role.AGENTE)
    actions.check_add_note(first, lead.pk, text="Contestó, quiere el producto", outcome="positivo")
    with pytest.raises(ConflictError):
        actions.check_add_note(second, lead.pk, text="¿Lo llamo?", outcome="parcial")

    # and when Kommo moves the lead to "Venta Confirmada", it leaves the queue but keeps its history
    fake_kommo.state.move_lead(lead.kommo_id, STATUS_SALE_CONFIRMED)
    moved = fake_kommo.state.lead_webhook_item(lead.kommo_id, "status", old_status_id=STATUS_TO_CALL)
    deliver(client, kommo_account, fake_kommo, [("leads", "status", [moved])], django_capture_on_commit_callbacks)
    lead.refresh_from_db()
    assert not lead.in_queue and lead.stage_name == "Ventas / Venta Confirmada" and lead.notes.count() == 1


def test_lead_deleted_in_kommo_leaves_the_queue(client, kommo_account, fake_kommo,
                                                django_capture_on_commit_callbacks):
    created = fake_kommo.state.create_lead("Pedido", status_id=STATUS_TO_CALL, emit=False,
                                           contact={"name": "Ana", "phones": ["3001112233"]})
    item = fake_kommo.state.lead_webhook_item(created["id"], "add")
    deliver(client, kommo_account, fake_kommo, [("leads", "add", [item])], django_capture_on_commit_callbacks)
    deliver(client, kommo_account, fake_kommo, [("leads", "delete", [{"id": created["id"],
                                                                       "status_id": STATUS_TO_CALL,
                                                                       "pipeline_id": 8572511}])],
            django_capture_on_commit_callbacks)
    lead = Lead.objects.get()
    assert not lead.in_queue and lead.deleted_in_kommo


@pytest.mark.faults
def test_kommo_outage_keeps_the_delivery_and_retries(client, kommo_account, fake_kommo,
                                                     django_capture_on_commit_callbacks):
    created = fake_kommo.state.create_lead("Pedido", status_id=STATUS_TO_CALL, emit=False,
                                           contact={"name": "Ana", "phones": ["3001112233"]})
    fake_kommo.state.set_down(True)
    item = fake_kommo.state.lead_webhook_item(created["id"], "add")
    results = deliver(client, kommo_account, fake_kommo, [("leads", "add", [item])],
                      django_capture_on_commit_callbacks)
    # then nothing is lost: the delivery is still pending, with the error, and a retry is scheduled
    assert results == ["retrying"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "received" and "KommoUnavailable" in delivery.error
    retry = default_task_backend.results[-1]
    assert retry.task.run_after is not None and retry.args == [delivery.pk]
    # when Kommo comes back, the retry processes it
    fake_kommo.state.set_down(False)
    assert process_kommo_webhook.call(delivery.pk) == "processed"
    assert Lead.objects.get().in_queue


def test_kommo_connect_command_resolves_stages_and_prints_the_webhook_url(db, fake_kommo, capsys):
    call_command("kommo_connect", "--subdomain", "demo", "--token", "kommo-test-token", "--base-url",
                 fake_kommo.base_url, "--to-call-stage", "Ventas / Para Llamar", "--confirmed-stage",
                 "Venta Confirmada")
    out = capsys.readouterr().out
    assert "to-call stage: \"Ventas / Para Llamar\" (#67548611)" in out
    assert "/integrations/kommo/webhook/" in out


def test_kommo_connect_with_a_wrong_token_fails_clearly(db, fake_kommo):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as exc:
        call_command("kommo_connect", "--subdomain", "demo", "--token", "wrong", "--base-url", fake_kommo.base_url,
                     "--to-call-stage", "Para Llamar", "--confirmed-stage", "Venta Confirmada")
    assert "Kommo" in str(exc.value)
