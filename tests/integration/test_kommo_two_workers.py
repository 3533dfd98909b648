"""Issue 13, "leads lost with two workers and no fault at all": Kommo sends `add` and `status` of a new lead together;
two real `db_worker` processes applying them at once must store every lead once and finish every delivery.

On PostgreSQL the two workers really race (neither finds a row to lock, both insert, one loses on the unique key
and runs its upsert again: core.upsert.race_free). On SQLite the same test holds because writers take turns. The
webhooks are all stored first, so the two workers start on an add and its status at the same moment.
"""

from __future__ import annotations

import pytest
from django.test import override_settings

from crm.models import WebhookDelivery
from customers.models import Customer
from fakes.kommo import STATUS_TO_CALL, encode_webhook
from leads.models import Lead, LeadEvent
from tests.processes import DB_QUEUE, wait_for, worker

pytestmark = pytest.mark.faults
FORM = "application/x-www-form-urlencoded"
PAIRS = 30


def test_two_workers_applying_add_and_status_pairs_store_every_lead_once(transactional_db, client, kommo_account,
                                                                         fake_kommo):
    # given 30 new leads in "Para Llamar", each with its own new contact, and Kommo's `add` and `status` webhooks
    # for each of them stored back to back (as Kommo sends them together)
    account = {"subdomain": "demo", "id": fake_kommo.state.account_id, "_links": {"self": "https://demo.kommo.com"}}
    kommo_ids = []
    with override_settings(TASKS=DB_QUEUE):
        for n in range(PAIRS):
            remote = fake_kommo.state.create_lead(f"Pedido {n}", status_id=STATUS_TO_CALL, emit=False,
                                                  contact={"name": f"Cliente {n}", "phones": [f"30011{n:05d}"]})
            kommo_ids.append(remote["id"])
            for action, old in (("add", {}), ("status", {"old_status_id": 67548607})):
                body = encode_webhook("leads", action, [fake_kommo.state.lead_webhook_item(remote["id"], action,
                                                                                           **old)], account)
                response = client.post(f"/integrations/kommo/webhook/{kommo_account.webhook_secret}/", body,
                                       content_type=FORM)
                assert response.status_code == 200
        assert WebhookDelivery.objects.filter(state="received").count() == 2 * PAIRS

        # when two workers process them at the same time
        with worker("race-1") as (_first, log1), worker("race-2") as (_second, log2):
            wait_for(lambda: not WebhookDelivery.objects.filter(state="received").exists(),
                     "every delivery to be processed", log1)
            assert _first.poll() is None and _second.poll() is None, (log1.read_text(), log2.read_text())

    # then every delivery was processed (none failed on a unique key), and every lead and customer exists once
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"processed"}, list(
        WebhookDelivery.objects.exclude(state="processed").values_list("error", flat=True))
    assert sorted(Lead.objects.values_list("kommo_id", flat=True)) == sorted(kommo_ids)
    assert Lead.objects.filter(in_queue=True).count() == PAIRS
    assert Customer.objects.count() == PAIRS
    assert Customer.objects.filter(kommo_contact_id__isnull=True).count() == 0
    # and each lead arrived in the queue once (the second webhook of the pair changed nothing)
    assert LeadEvent.objects.filter(kind="arrived").count() == PAIRS
