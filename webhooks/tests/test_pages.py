"""Outgoing webhook pages and API: registering receivers, the secret shown once, messages and retries."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core.models import AuditLog
from webhooks.models import WebhookEndpoint, WebhookMessage

pytestmark = pytest.mark.django_db
API = "/api/v1"


def endpoint(**kwargs) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(**{"url": "https://facturacion.example.com/hooks",
                                             "events": ["order.confirmed"], **kwargs})


def message(ep: WebhookEndpoint, state: str = "fallido", **kwargs) -> WebhookMessage:
    defaults: dict[str, object] = {"event": "order.confirmed", "payload": {"order": "P-1"}, "state": state}
    if state == "fallido":
        defaults.update(attempts=8, last_status=500, last_error="Internal Server Error")
    return WebhookMessage.objects.create(endpoint=ep, **{**defaults, **kwargs})


def audit_actions() -> list[str]:
    return list(AuditLog.objects.order_by("id").values_list("action", flat=True))


# --- pages -------------------------------------------------------------------------------------------


def test_endpoints_page_lists_endpoints(admin_user, client_for):
    # given
    ep = endpoint(description="Facturación")
    # when
    response = client_for(admin_user).get(reverse("webhooks:endpoints"))
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("webhooks:endpoint", args=[ep.pk]) in html and "Facturación" in html
    assert ep.secret not in html
    assert 'data-testid="new-secret"' not in html


@pytest.mark.parametrize("role", ["supervisor", "agent"])
def test_pages_are_forbidden_without_integrations_permission(role, request, client_for):
    # given
    client = client_for(request.getfixturevalue(role))
    ep = endpoint()
    failed = message(ep)
    # when / then
    assert client.get(reverse("webhooks:endpoints")).status_code == 403
    assert client.post(reverse("webhooks:endpoints"), {"url": "https://x.example.com", "events": ["order.confirmed"]}
                       ).status_code == 403
    assert client.get(reverse("webhooks:endpoint", args=[ep.pk])).status_code == 403
    assert client.post(reverse("webhooks:message_retry", args=[ep.pk, failed.pk])).status_code == 403
    assert client.post(reverse("webhooks:endpoint_retry_failed", args=[ep.pk])).status_code == 403
    assert WebhookEndpoint.objects.count() == 1
    failed.refresh_from_db()
    assert failed.state == "fallido"


def test_registering_an_endpoint_shows_its_secret_once(admin_user, client_for):
    # given
    client = client_for(admin_user)
    # when
    response = client.post(reverse("webhooks:endpoints"), {
        "url": "https://logistica.example.com/in", "events": ["order.confirmed", "order.cancelled"],
        "description": "Logística", "is_active": "on"}, follow=True)
    # then
    assert response.redirect_chain == [(reverse("webhooks:endpoints"), 302)]
    ep = WebhookEndpoint.objects.get()
    assert (ep.url, ep.events, ep.description, ep.is_active) == (
        "https://logistica.example.com/in", ["order.cancelled", "order.confirmed"], "Logística", True)
    html = response.content.decode()
    assert f'<p class="token-once" data-testid="endpoint-secret">{ep.secret}</p>' in html
    assert "X-Centralita-Signature" in html and "X-Centralita-Event-Id" in html
    assert "No se volverá a mostrar." in html
    assert audit_actions() == ["webhook_endpoint.saved"]
    # and the next visit no longer shows it
    assert ep.secret not in client.get(reverse("webhooks:endpoints")).content.decode()


@pytest.mark.parametrize(("data", "error"), [
    ({"url": "ftp://logistica.example.com/in", "events": ["order.confirmed"]}, "URL inválida."),
    ({"url": "https://logistica.example.com/in"}, "Este campo es obligatorio."),
    ({"url": "https://logistica.example.com/in", "events": ["order.lost"]}, "Escoja una opción válida."),
])
def test_registering_an_invalid_endpoint_shows_the_error(admin_user, client_for, data, error):
    # when
    response = client_for(admin_user).post(reverse("webhooks:endpoints"), data)
    # then
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not WebhookEndpoint.objects.exists()
    assert audit_actions() == []


def test_editing_an_endpoint(admin_user, client_for):
    # given
    ep = endpoint()
    secret = ep.secret
    client = client_for(admin_user)
    page = client.get(reverse("webhooks:endpoint", args=[ep.pk]))
    assert page.status_code == 200 and secret not in page.content.decode()
    # when (is_active unchecked)
    response = client.post(reverse("webhooks:endpoint", args=[ep.pk]), {
        "url": "https://nueva.example.com/hooks", "events": ["order.cancelled"], "description": "Nueva"})
    # then
    assert response.status_code == 302 and response["Location"] == reverse("webhooks:endpoint", args=[ep.pk])
    ep.refresh_from_db()
    assert (ep.url, ep.events, ep.description, ep.is_active, ep.secret) == (
        "https://nueva.example.com/hooks", ["order.cancelled"], "Nueva", False, secret)
    assert audit_actions() == ["webhook_endpoint.saved"]


def test_unknown_endpoint_is_404(admin_user, client_for):
    assert client_for(admin_user).get(reverse("webhooks:endpoint", args=[999])).status_code == 404


def test_endpoint_page_lists_messages_newest_first_with_retry_for_failed(admin_user, client_for):
    # given
    ep = endpoint()
    delivered = message(ep, "entregado", attempts=1, last_status=204)
    failed = message(ep, "fallido")
    other_endpoint_message = message(endpoint(url="https://otro.example.com"), "fallido")
    # when
    response = client_for(admin_user).get(reverse("webhooks:endpoint", args=[ep.pk]))
    # then
    assert [m.pk for m in response.context["messages_list"]] == [failed.pk, delivered.pk]
    html = response.content.decode()
    assert str(failed.event_id) in html and "Internal Server Error" in html and ">500<" in html
    assert reverse("webhooks:message_retry", args=[ep.pk, failed.pk]) in html
    assert reverse("webhooks:message_retry", args=[ep.pk, delivered.pk]) not in html
    assert str(other_endpoint_message.event_id) not in html
    assert response.context["failed_count"] == 1


def test_retrying_a_failed_message(admin_user, client_for, django_capture_on_commit_callbacks):
    # given
    ep = endpoint()
    failed = message(ep, "fallido")
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(admin_user).post(reverse("webhooks:message_retry", args=[ep.pk, failed.pk]),
                                               follow=True)
    # then
    assert response.redirect_chain == [(reverse("webhooks:endpoint", args=[ep.pk]), 302)]
    failed.refresh_from_db()
    assert (failed.state, failed.attempts) == ("pendiente", 0)
    assert len(callbacks) == 1  # delivery is enqueued after commit
    entry = AuditLog.objects.get(action="webhook.retried")
    assert entry.changes == {"ids": [failed.pk]} and entry.actor == admin_user
    assert "Mensaje reencolado" in response.content.decode()


def test_retrying_a_message_that_is_not_failed_says_so(admin_user, client_for):
    # given
    ep = endpoint()
    delivered = message(ep, "entregado")
    # when
    response = client_for(admin_user).post(reverse("webhooks:message_retry", args=[ep.pk, delivered.pk]),
                                           follow=True)
    # then
    delivered.refresh_from_db()
    assert delivered.state == "entregado"
    assert "El mensaje no está fallido" in response.content.decode()


def test_retrying_every_failed_message_of_an_endpoint(admin_user, client_for):
    # given
    ep = endpoint()
    a, b = message(ep), message(ep)
    delivered = message(ep, "entregado")
    elsewhere = message(endpoint(url="https://otro.example.com"))
    # when
    response = client_for(admin_user).post(reverse("webhooks:endpoint_retry_failed", args=[ep.pk]), follow=True)
    # then
    states = dict(WebhookMessage.objects.values_list("pk", "state"))
    assert states == {a.pk: "pendiente", b.pk: "pendiente", delivered.pk: "entregado", elsewhere.pk: "fallido"}
    assert sorted(AuditLog.objects.get(action="webhook.retried").changes["ids"]) == sorted([a.pk, b.pk])
    assert "2 mensajes fallidos reencolados." in response.content.decode()


# --- API ---------------------------------------------------------------------------------------------


def test_api_creates_an_endpoint_and_returns_the_secret_only_then(admin_user, api_client_for):
    # given
    client = api_client_for(admin_user)
    # when
    created = client.post(f"{API}/webhook-endpoints", {"url": "https://erp.example.com/hooks",
                                                        "events": ["order.confirmed"], "description": "ERP"},
                          content_type="application/json")
    listing = client.get(f"{API}/webhook-endpoints")
    # then
    assert created.status_code == 201
    ep = WebhookEndpoint.objects.get()
    body = created.json()
    assert body["secret"] == ep.secret
    assert (body["id"], body["url"], body["events"], body["is_active"]) == (
        ep.pk, "https://erp.example.com/hooks", ["order.confirmed"], True)
    assert listing.status_code == 200 and listing.json()["count"] == 1
    assert "secret" not in listing.json()["results"][0]
    assert audit_actions()[-1:] == ["webhook_endpoint.saved"]  # after the test token's own entry


def test_api_refuses_unknown_events(admin_user, api_client_for):
    # when
    response = api_client_for(admin_user).post(f"{API}/webhook-endpoints", {
        "url": "https://erp.example.com/hooks", "events": ["order.lost"]}, content_type="application/json")
    # then
    assert response.status_code == 400 and response.json()["field"] == "events.0"
    assert not WebhookEndpoint.objects.exists()


def test_api_lists_messages_of_an_endpoint_and_retries(admin_user, api_client_for):
    # given
    ep = endpoint()
    delivered, a, b = message(ep, "entregado"), message(ep), message(ep)
    client = api_client_for(admin_user)
    # when
    listing = client.get(f"{API}/webhook-endpoints/{ep.pk}/messages", {"page_size": 2})
    missing = client.get(f"{API}/webhook-endpoints/999/messages")
    one = client.post(f"{API}/webhook-messages/retry", {"ids": [a.pk]}, content_type="application/json")
    rest = client.post(f"{API}/webhook-messages/retry", {}, content_type="application/json")
    # then
    page = listing.json()
    assert page["count"] == 3 and page["next"] is not None
    assert [m["id"] for m in page["results"]] == [b.pk, a.pk]
    assert page["results"][0]["event_id"] == str(b.event_id) and page["results"][0]["last_status"] == 500
    assert missing.status_code == 404 and missing.json()["code"] == "endpoint_not_found"
    assert (one.json(), rest.json()) == ({"retried": 1}, {"retried": 1})
    assert dict(WebhookMessage.objects.values_list("pk", "state")) == {
        delivered.pk: "entregado", a.pk: "pendiente", b.pk: "pendiente"}


@pytest.mark.parametrize("role", ["supervisor", "agent"])
def test_api_is_forbidden_without_integrations_permission(role, request, api_client_for):
    # given
    ep = endpoint()
    failed = message(ep)
    client = api_client_for(request.getfixturevalue(role))
    # when
    responses = [
        client.get(f"{API}/webhook-endpoints"),
        client.post(f"{API}/webhook-endpoints", {"url": "https://x.example.com", "events": ["order.confirmed"]},
                    content_type="application/json"),
        client.get(f"{API}/webhook-endpoints/{ep.pk}/messages"),
        client.post(f"{API}/webhook-messages/retry", {}, content_type="application/json"),
    ]
    # then
    assert [(r.status_code, r.json()["code"]) for r in responses] == [(403, "forbidden")] * 4
    assert WebhookEndpoint.objects.count() == 1
    failed.refresh_from_db()
    assert failed.state == "fallido"
