"""Issue 12: the WhatsApp page shows the stored token, app secret and verify token masked, never in full."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_number_secrets_are_shown_masked(admin_user, client_for, whatsapp_number):
    page = client_for(admin_user).get(reverse("whatsapp:settings")).content.decode()
    for secret in ("wa-test-token", "wa-test-app-secret", "wa-verify-token"):
        assert secret not in page
    # long secrets show their last characters (to tell which one is stored); short ones nothing
    assert "••••cret" in page and 'data-testid="wa-secrets"' in page
