"""Issue 12: an outgoing webhook's signing secret is encrypted at rest, shown in full once and masked afterwards;
the session that carries "show it once" never holds the secret itself."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session

from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db


def test_signing_secret_shown_once_masked_after_and_never_in_the_session(admin_user, client_for):
    client = client_for(admin_user)
    # when the administrator registers an endpoint
    response = client.post("/integrations/webhooks/", {"url": "https://facturacion.example.com/hooks",
                                                       "events": ["order.confirmed"], "is_active": "on"})
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    # then the session between the two requests does not hold the secret
    assert all(endpoint.secret not in str(s.get_decoded()) for s in Session.objects.all())
    # and the next page shows it in full, once
    assert endpoint.secret in client.get("/integrations/webhooks/").content.decode()
    assert endpoint.secret not in client.get("/integrations/webhooks/").content.decode()
    # and the endpoint's own page shows it masked
    page = client.get(f"/integrations/webhooks/{endpoint.pk}/").content.decode()
    assert endpoint.secret not in page and f"••••{endpoint.secret[-4:]}" in page


def test_the_api_lists_endpoints_without_their_secrets(admin_user, api_client_for):
    endpoint = WebhookEndpoint.objects.create(url="https://facturacion.example.com/hooks", events=["order.confirmed"])
    body = api_client_for(admin_user).get("/api/v1/webhook-endpoints").content.decode()
    assert "facturacion.example.com" in body and endpoint.secret not in body
