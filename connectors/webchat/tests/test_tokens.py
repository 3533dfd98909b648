"""Visitor tokens: signed, bound to one site, expiring; anything else is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.utils import timezone

from connectors.webchat import actions
from connectors.webchat.tests.factories import ChatSiteFactory, VisitorFactory, token_for
from connectors.webchat.tokens import SALT, read_visitor_token, sign_visitor


@pytest.mark.django_db
def test_a_signed_token_names_its_visitor(visitor):
    # given a token issued for a visitor
    token = token_for(visitor)
    # when it is read back for the same site / then it is that visitor
    assert actions.access_visitor(visitor.site, token) == visitor


@pytest.mark.django_db
def test_a_tampered_token_is_refused(visitor):
    # given a token whose payload someone edited to name another visitor key
    token = token_for(visitor)
    other = VisitorFactory(site=visitor.site)
    payload, rest = token.split(":", 1)
    forged_payload = signing.dumps({"s": visitor.site_id, "v": other.key}, salt=SALT).split(":", 1)[0]
    # then neither the edited token nor one signed with another key/salt is accepted
    with pytest.raises(actions.Unauthorized):
        actions.access_visitor(visitor.site, f"{forged_payload}:{rest}")
    with pytest.raises(actions.Unauthorized):
        actions.access_visitor(visitor.site, signing.dumps({"s": visitor.site_id, "v": other.key}, salt="other"))
    with pytest.raises(actions.Unauthorized):
        actions.access_visitor(visitor.site, signing.dumps({"s": visitor.site_id, "v": other.key}, salt=SALT,
                                                           key="not-our-secret-key-at-all-0123456789"))
    assert payload  # (the honest token still works)
    assert actions.access_visitor(visitor.site, token) == visitor


@pytest.mark.django_db
def test_a_token_of_another_site_is_refused(visitor):
    # given a valid token of site A / when shown to site B / then refused
    other_site = ChatSiteFactory()
    with pytest.raises(actions.Unauthorized):
        actions.access_visitor(other_site, token_for(visitor))


@pytest.mark.django_db
def test_tokens_expire_after_the_configured_days(visitor, settings):
    # given tokens that live 30 days
    settings.WEBCHAT_VISITOR_TOKEN_DAYS = 30
    with time_machine.travel(timezone.now() - timedelta(days=31), tick=False):
        old = token_for(visitor)
    with time_machine.travel(timezone.now() - timedelta(days=29), tick=False):
        recent = token_for(visitor)
    # then the 31-day-old one is refused and the 29-day-old one accepted
    assert read_visitor_token(old) is None
    assert read_visitor_token(recent) is not None


@pytest.mark.parametrize("garbage", ["", "abc", "x" * 400, "e30:1abc:def", '{"s": 1, "v": "k"}'])
def test_garbage_is_not_a_token(garbage):
    assert read_visitor_token(garbage) is None


def test_a_token_carries_no_personal_data():
    # the token is readable by the visitor (base64 JSON): only ids go in it
    token = sign_visitor(site_id=7, visitor_key="k" * 32)
    data = signing.loads(token, salt=SALT)
    assert data == {"s": 7, "v": "k" * 32}
