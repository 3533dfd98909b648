"""Security review: a blank token on reconnect keeps the stored one, but never sends it to another server."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import ActionError
from crm.actions import check_connect_kommo
from crm.models import KommoAccount
from fakes.kommo import FakeKommoServer

pytestmark = pytest.mark.django_db
STAGES = {"to_call_stage": "Para Llamar", "confirmed_stage": "Venta Confirmada"}


def test_stored_kommo_token_is_not_sent_to_a_new_base_url(admin_user: Any, kommo_account: Any) -> None:
    # given a connected account and a second server (the manager's own) that would accept anything
    with FakeKommoServer(subdomain="demo", token="kommo-test-token") as attacker:
        # when a manager reconnects pointing at that server with a blank token
        with pytest.raises(ActionError) as refused:
            check_connect_kommo(admin_user, subdomain="demo", token="", base_url=attacker.base_url, **STAGES)
        # then the token must be typed again, and the other server received no request at all
        assert refused.value.code == "token_required_for_new_server"
        assert refused.value.details["field"] == "token"
        assert "escriba de nuevo el token" in refused.value.message
        assert attacker.state.requests == []
    assert KommoAccount.objects.get().base_url == kommo_account.base_url


def test_stored_kommo_token_is_not_sent_to_a_new_subdomain(admin_user: Any, kommo_account: Any,
                                                           fake_kommo: Any) -> None:
    fake_kommo.state.clear_requests()
    # when a manager changes only the subdomain with a blank token
    with pytest.raises(ActionError) as refused:
        check_connect_kommo(admin_user, subdomain="otra", token="", base_url=fake_kommo.base_url, **STAGES)
    # then it is refused before any call
    assert refused.value.details["field"] == "token"
    assert fake_kommo.state.requests == []


def test_stored_kommo_client_secret_is_not_sent_to_a_new_base_url(admin_user: Any, fake_kommo: Any) -> None:
    # given an OAuth account whose client secret is stored
    KommoAccount.objects.create(pk=1, subdomain="demo", base_url=fake_kommo.base_url,
                                auth_mode=KommoAccount.AuthMode.OAUTH, client_id="integration-1",
                                client_secret="oauth-client-secret")
    with FakeKommoServer(subdomain="demo", client_id="integration-1") as attacker:
        # when a manager reconnects at another server with the same client id and a blank secret
        with pytest.raises(ActionError) as refused:
            check_connect_kommo(admin_user, subdomain="demo", client_id="integration-1", code="abc",
                                base_url=attacker.base_url, **STAGES)
        # then the secret must be typed again and nothing reached that server
        assert refused.value.details["field"] == "client_secret"
        assert attacker.state.requests == []


def test_reconnecting_to_the_same_server_with_a_blank_token_keeps_the_stored_one(
        admin_user: Any, kommo_account: Any, fake_kommo: Any) -> None:
    # when the manager reconnects to the same server with a blank token
    check_connect_kommo(admin_user, subdomain="demo", token="", base_url=fake_kommo.base_url,
                        to_call_stage="Para Llamar", confirmed_stage="Para Llamar")
    # then the stored token was used and kept
    account = KommoAccount.objects.get()
    assert (account.long_lived_token, account.confirmed_stage_name) == ("kommo-test-token", "Para Llamar")
