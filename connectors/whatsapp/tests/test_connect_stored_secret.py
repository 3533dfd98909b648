"""Security review: a blank token on reconnect keeps the stored one, but never sends it to another server."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.whatsapp.actions import check_connect_number
from connectors.whatsapp.models import WhatsappNumber
from core.errors import ActionError
from fakes.whatsapp import FakeWhatsappServer

pytestmark = pytest.mark.django_db


def test_stored_whatsapp_token_is_not_sent_to_a_new_base_url(admin_user: Any, whatsapp_number: Any) -> None:
    # given a connected number and a second Graph server (the manager's own)
    with FakeWhatsappServer(token="wa-test-token", app_secret="wa-test-app-secret") as attacker:
        # when a manager reconnects the number at that server with a blank token
        with pytest.raises(ActionError) as refused:
            check_connect_number(admin_user, phone_number_id=whatsapp_number.phone_number_id,
                                 waba_id=whatsapp_number.waba_id, token="", base_url=attacker.base_url,
                                 sync_templates=False)
        # then the token must be typed again and that server received no request
        assert refused.value.code == "token_required_for_new_server"
        assert refused.value.details["field"] == "token"
        assert "escriba de nuevo el token" in refused.value.message
        assert attacker.state.requests == []
    assert WhatsappNumber.objects.get().base_url == whatsapp_number.base_url


def test_reconnecting_to_the_same_server_with_a_blank_token_keeps_the_stored_one(
        admin_user: Any, whatsapp_number: Any, fake_whatsapp: Any) -> None:
    # when the manager reconnects at the same server with a blank token
    result = check_connect_number(admin_user, phone_number_id=whatsapp_number.phone_number_id,
                                  waba_id=whatsapp_number.waba_id, token="", base_url=fake_whatsapp.base_url + "/",
                                  sync_templates=False)
    # then the stored token was used and kept
    assert result.number.access_token == "wa-test-token"
