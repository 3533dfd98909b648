"""The client's address: X-Forwarded-For only from TRUSTED_PROXIES, read from the right (issue 12)."""

from __future__ import annotations

import pytest
from django.http import HttpRequest
from django.test import Client, RequestFactory
from django.urls import reverse

from core.middleware import TrustedProxyHeadersMiddleware, client_ip
from core.models import AuditLog
from core.request_context import client_ip_from_scope, resolve_client_ip


def _request(peer: str, forwarded_for: str | None = None, **extra: str) -> HttpRequest:
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return RequestFactory().get("/", REMOTE_ADDR=peer, **extra)


def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(_request("203.0.113.7", "1.2.3.4")) == "203.0.113.7"


def test_without_trusted_proxies_the_header_is_ignored_even_from_a_private_peer(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(_request("10.0.0.2", "1.2.3.4")) == "10.0.0.2"


def test_behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.10"]
    # the client wrote "1.2.3.4" itself; nginx appended the real peer 198.51.100.9; an inner proxy added 192.0.2.10
    request = _request("10.0.0.2", "1.2.3.4, 198.51.100.9, 192.0.2.10")
    assert client_ip(request) == "198.51.100.9"


def test_forwarded_for_chain_edge_cases(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "2001:db8::/32"]
    assert resolve_client_ip("10.0.0.2", None) == "10.0.0.2"
    assert resolve_client_ip("10.0.0.2", "10.0.0.9, 10.0.0.5") == "10.0.0.9"  # all ours: the farthest hop
    assert resolve_client_ip("10.0.0.2", "198.51.100.9:5123") == "198.51.100.9"
    assert resolve_client_ip("2001:db8::1", "[2001:db9::7]:443") == "2001:db9::7"
    assert resolve_client_ip("::ffff:10.0.0.2", "198.51.100.9") == "198.51.100.9"  # dual-stack peer
    assert resolve_client_ip("10.0.0.2", "1.2.3.4, not-an-ip, 10.0.0.5") == "10.0.0.5"  # garbage: stop there
    assert resolve_client_ip("", "1.2.3.4") is None
    assert resolve_client_ip(None, None) is None


def test_raw_asgi_scopes_use_the_same_rule(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    scope = {"client": ("10.0.0.1", 4000), "headers": [(b"x-forwarded-for", b"1.2.3.4, 198.51.100.9")]}
    assert client_ip_from_scope(scope) == "198.51.100.9"
    assert client_ip_from_scope({**scope, "client": ("203.0.113.7", 4000)}) == "203.0.113.7"
    assert client_ip_from_scope({"headers": []}) is None


def test_forwarded_proto_is_believed_only_from_a_trusted_proxy(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    seen = []
    middleware = TrustedProxyHeadersMiddleware(lambda request: seen.append(request.is_secure()))
    middleware(_request("203.0.113.7", HTTP_X_FORWARDED_PROTO="https"))
    middleware(_request("10.0.0.2", HTTP_X_FORWARDED_PROTO="https"))
    assert seen == [False, True]


@pytest.mark.django_db
def test_audit_log_records_the_real_peer_not_the_spoofed_header(agent, settings):
    settings.TRUSTED_PROXIES = []
    client = Client(REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="1.2.3.4")
    client.post(reverse("accounts:login"), {"username": agent.username, "password": "mal"})
    assert AuditLog.objects.get(action="auth.login_failed").ip == "203.0.113.7"

