"""The Kommo outbox pages and API: who may see them, what they list, and retrying failed rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.models import AuditLog
from crm.models import KommoSync
from orders import actions as orders
from orders.tests.factories import product, ready_lead

pytestmark = pytest.mark.django_db
API = "/api/v1/integrations/kommo-sync"

_seq = iter(range(1, 10_000))


def sync_row(state: str = "fallido", **kwargs):
    n = next(_seq)
    defaults = {"lead_kommo_id": 5000 + n, "idempotency_key": f"test-{n}", "state": state,
                "payload": {"status_id": 1, "price": 1, "note": "x"}}
    if state == "fallido":
        defaults.update(attempts=8, last_error="KommoError: 400 el lead no existe " + "x" * 300)
    return KommoSync.objects.create(**{**defaults, **kwargs})


def retried_ids() -> list[list[int]]:
    return [a.changes["ids"] for a in AuditLog.objects.filter(action="kommo.sync_retried").order_by("id")]


# --- pages -------------------------------------------------------------------------------------------


def test_list_puts_failed_then_retrying_first_and_counts_each_state(admin_user, client_for):
    # given one row in each state, and an order behind the failed one
    product("A")
    order = orders.check_create_order(admin_user, lead_id=ready_lead().pk, lines=[("A", 1)])
    synced = sync_row("sincronizado")
    pending = sync_row("pendiente")
    failed = sync_row("fallido", order=order)
    retrying = sync_row("reintentando", attempts=2, last_error="KommoError: 503")
    # when
    response = client_for(admin_user).get(reverse("sync:list"))
    # then
    assert response.status_code == 200
    assert [s.pk for s in response.context["page"]] == [failed.pk, retrying.pk, pending.pk, synced.pk]
    assert [(state, n) for state, _label, n in response.context["counters"]] == [
        ("pendiente", 1), ("reintentando", 1), ("fallido", 1), ("sincronizado", 1)]
    html = response.content.decode()
    assert f'href="/orders/{order.pk}/"' in html
    assert f'title="{failed.last_error}"' in html  # full error on hover, truncated in the cell
    assert reverse("sync:retry", args=[failed.pk]) in html
    assert reverse("sync:retry", args=[retrying.pk]) not in html
    assert "Reintentar todos los fallidos" in html


def test_list_filters_by_state(admin_user, client_for):
    # given
    sync_row("fallido")
    synced = sync_row("sincronizado")
    # when
    response = client_for(admin_user).get(reverse("sync:list"), {"state": "sincronizado"})
    # then
    assert [s.pk for s in response.context["page"]] == [synced.pk]
    assert "Reintentar todos los fallidos" in response.content.decode()  # the failed row still counts


def test_list_query_count_is_flat(admin_user, client_for):
    # given
    client = client_for(admin_user)
    for _ in range(3):
        sync_row("fallido")
    client.get(reverse("sync:list"))  # warm up caches (session, site settings)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("sync:list"))
    for _ in range(40):
        sync_row("fallido")
    # when
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("sync:list"))
    # then
    assert len(response.context["page"]) == 43
    assert len(many) == len(few)


@pytest.mark.parametrize("role", ["supervisor", "agent"])
def test_pages_are_forbidden_without_integrations_permission(role, request, client_for):
    # given
    client = client_for(request.getfixturevalue(role))
    failed = sync_row("fallido")
    # when / then
    assert client.get(reverse("sync:list")).status_code == 403
    assert client.post(reverse("sync:retry", args=[failed.pk])).status_code == 403
    assert client.post(reverse("sync:retry_all")).status_code == 403
    failed.refresh_from_db()
    assert failed.state == "fallido" and retried_ids() == []


def test_retry_one_puts_the_row_back_in_line(admin_user, client_for, django_capture_on_commit_callbacks):
    # given
    failed, other = sync_row("fallido"), sync_row("fallido")
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(admin_user).post(reverse("sync:retry", args=[failed.pk]), {"state": "fallido"},
                                               follow=True)
    # then
    assert response.redirect_chain == [(reverse("sync:list") + "?state=fallido", 302)]
    failed.refresh_from_db()
    other.refresh_from_db()
    assert (failed.state, failed.attempts, failed.last_error) == ("pendiente", 0, "")
    assert other.state == "fallido"
    assert retried_ids() == [[failed.pk]]
    assert len(callbacks) == 1  # the drain task is enqueued after commit
    assert f"Sincronización #{failed.pk} reencolada." in response.content.decode()


def test_retry_one_of_a_row_that_is_not_failed_says_so(admin_user, client_for):
    # given
    synced = sync_row("sincronizado")
    # when
    response = client_for(admin_user).post(reverse("sync:retry", args=[synced.pk]), follow=True)
    # then
    synced.refresh_from_db()
    assert synced.state == "sincronizado"
    assert "No hay sincronizaciones fallidas con esos ids." in response.content.decode()
    assert retried_ids() == []


def test_retry_all_failed(admin_user, client_for):
    # given
    a, b = sync_row("fallido"), sync_row("fallido")
    synced, retrying = sync_row("sincronizado"), sync_row("reintentando")
    # when
    response = client_for(admin_user).post(reverse("sync:retry_all"), follow=True)
    # then
    assert response.redirect_chain == [(reverse("sync:list"), 302)]
    assert set(KommoSync.objects.filter(state="pendiente").values_list("pk", flat=True)) == {a.pk, b.pk}
    synced.refresh_from_db()
    retrying.refresh_from_db()
    assert (synced.state, retrying.state) == ("sincronizado", "reintentando")
    assert sorted(retried_ids()[0]) == sorted([a.pk, b.pk])
    assert "2 sincronizaciones fallidas reencoladas." in response.content.decode()


def test_retry_is_post_only(admin_user, client_for):
    assert client_for(admin_user).get(reverse("sync:retry_all")).status_code == 405


# --- API ---------------------------------------------------------------------------------------------


def test_api_lists_rows_failed_first_and_filters_by_state(admin_user, api_client_for):
    # given
    synced, failed = sync_row("sincronizado"), sync_row("fallido")
    client = api_client_for(admin_user)
    # when
    everything = client.get(API).json()
    only_synced = client.get(API, {"state": "sincronizado"}).json()
    bad_state = client.get(API, {"state": "perdido"})
    # then
    assert everything["count"] == 2
    assert [r["id"] for r in everything["results"]] == [failed.pk, synced.pk]
    first = everything["results"][0]
    assert set(first) == {"id", "order_id", "lead_kommo_id", "state", "attempts", "next_attempt_at", "last_error",
                          "created_at", "synced_at"}
    assert (first["state"], first["attempts"], first["order_id"]) == ("fallido", 8, None)
    assert [r["id"] for r in only_synced["results"]] == [synced.pk]
    assert bad_state.status_code == 400 and bad_state.json()["code"] == "invalid_request"


def test_api_retry_by_ids_and_all(admin_user, api_client_for):
    # given
    a, b, c = sync_row("fallido"), sync_row("fallido"), sync_row("fallido")
    synced = sync_row("sincronizado")
    client = api_client_for(admin_user)
    # when
    one = client.post(f"{API}/retry", {"ids": [a.pk]}, content_type="application/json")
    nothing = client.post(f"{API}/retry", {"ids": [synced.pk]}, content_type="application/json")
    rest = client.post(f"{API}/retry", {}, content_type="application/json")
    # then
    assert (one.status_code, one.json()) == (200, {"retried": 1})
    assert nothing.status_code == 400 and nothing.json()["code"] == "nothing_to_retry"
    assert (rest.status_code, rest.json()) == (200, {"retried": 2})
    assert set(KommoSync.objects.filter(state="pendiente").values_list("pk", flat=True)) == {a.pk, b.pk, c.pk}
    assert [sorted(ids) for ids in retried_ids()] == [[a.pk], sorted([b.pk, c.pk])]


@pytest.mark.parametrize("role", ["supervisor", "agent"])
def test_api_is_forbidden_without_integrations_permission(role, request, api_client_for):
    # given
    failed = sync_row("fallido")
    client = api_client_for(request.getfixturevalue(role))
    # when
    listing = client.get(API)
    retry = client.post(f"{API}/retry", {}, content_type="application/json")
    # then
    assert (listing.status_code, listing.json()["code"]) == (403, "forbidden")
    assert (retry.status_code, retry.json()["code"]) == (403, "forbidden")
    failed.refresh_from_db()
    assert failed.state == "fallido"


def test_the_order_list_shows_each_orders_kommo_sync_in_words(admin_user, client_for):
    # given two orders, one synced with Kommo and one whose sync failed
    product("B")
    synced, failed = (orders.check_create_order(admin_user, lead_id=ready_lead().pk, lines=[("B", 1)])
                      for _ in range(2))
    sync_row("sincronizado", order=synced)
    sync_row("fallido", order=failed)
    admin_user.language = "en"
    admin_user.save(update_fields=["language"])
    # when the order list is read in English
    page = client_for(admin_user).get(reverse("orders:list")).content.decode()
    # then each order's sync reads as a word in that language (orders reads it through crm's registered reader)
    assert '<span class="badge sync-sincronizado">Synced</span>' in page
    assert '<span class="badge sync-fallido">Failed</span>' in page
    assert ">sincronizado<" not in page and ">fallido<" not in page
