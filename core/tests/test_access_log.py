"""Issue 12: the HTTP access log (core.access_log) never holds a secret webhook path or a query-string value."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator

from config.asgi import application  # at import: it runs django.setup(), which would reset caplog's handler
from core.access_log import AccessLogMiddleware, RedactSecretPaths, loggable_target, secret_prefixes
from crm.intake import reset_account_cache
from crm.models import KommoAccount

REPO = Path(__file__).resolve().parents[2]
SECRET = "kommo-secret-path-4f9a2c"
HANDSHAKE_QUERY = "hub.mode=subscribe&hub.verify_token=wa-verify-secret"


def target(path: str, query: bytes = b"") -> str:
    return loggable_target(path, path.encode(), query)


def test_secret_routes_are_found_in_the_urlconf():
    assert ("/integrations/kommo/webhook/", "crm:webhook") in secret_prefixes()
    assert ("/integrations/mail/", "mail:webhook") in secret_prefixes()


@pytest.mark.parametrize("path", [
    f"/integrations/kommo/webhook/{SECRET}/",
    f"/integrations/kommo/webhook/{SECRET}",  # no trailing slash: does not resolve, still redacted
    f"/integrations/kommo/webhook/{SECRET}/extra/",
])
def test_kommo_webhook_paths_are_logged_by_route_name(path):
    assert target(path) == "[crm:webhook]"


def test_email_webhook_paths_are_logged_by_route_name():
    assert target(f"/integrations/mail/mailgun/{SECRET}/") == "[mail:webhook]"


def test_query_values_are_masked_and_names_kept():
    # Meta's handshake carries the verify token in the query string
    logged = target("/integrations/whatsapp/webhook/106540352242922/",
                    b"hub.mode=subscribe&hub.verify_token=wa-verify-secret&hub.challenge=123")
    assert logged == "/integrations/whatsapp/webhook/106540352242922/?hub.mode=…&hub.verify_token=…&hub.challenge=…"


def test_a_path_cannot_forge_a_log_line():
    # the raw path is logged percent-encoded as sent; a decoded newline is escaped
    assert "\n" not in loggable_target("/x\n203.0.113.9 GET /admin", None, b"")
    assert loggable_target("/x\ny", b"/x%0Ay", b"") == "/x%0Ay"


def test_ordinary_paths_are_logged_as_sent():
    assert target("/settings/mail/4/") == "/settings/mail/4/"


@pytest.fixture
def kommo_account(db):
    reset_account_cache()
    yield KommoAccount.objects.create(pk=1, subdomain="mycompany", account_id=32720107, long_lived_token="t",
                                      webhook_secret=SECRET, base_url="http://127.0.0.1:9")
    reset_account_cache()


@pytest.mark.django_db(transaction=True)
def test_a_kommo_webhook_through_the_asgi_application_logs_no_secret(kommo_account, caplog):
    assert isinstance(application, AccessLogMiddleware)
    # when Kommo posts to the secret URL (the fast route) and Meta does its handshake with a verify token
    with caplog.at_level(logging.INFO, logger="centralita.access"):
        kommo = async_to_sync(HttpCommunicator(
            application, "POST", f"/integrations/kommo/webhook/{SECRET}/", body=b"{json",
            headers=[(b"host", b"localhost"), (b"content-type", b"application/x-www-form-urlencoded")],
        ).get_response)(timeout=10)
        handshake = async_to_sync(HttpCommunicator(
            application, "GET", f"/integrations/whatsapp/webhook/1/?{HANDSHAKE_QUERY}",
            headers=[(b"host", b"localhost")]).get_response)(timeout=10)
    # then both were answered and logged, by route name and with masked query values
    assert (kommo["status"], handshake["status"]) == (400, 404)
    lines = [r.getMessage() for r in caplog.records if r.name == "centralita.access"]
    assert any('"POST [crm:webhook]" 400' in line for line in lines), lines
    assert any("hub.verify_token=…" in line for line in lines), lines
    assert not any(SECRET in line or "wa-verify-secret" in line for line in lines)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_served_app_writes_an_access_log_without_secret_paths(tmp_path):
    # given the web tier as deployed (`manage.py serve`, daphne underneath) with its access log in a file
    port, access_log = _free_port(), tmp_path / "access.log"
    env = {**os.environ, "DEBUG": "1", "DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=REPO, env=env, check=True, timeout=120)
    proc = subprocess.Popen([sys.executable, "manage.py", "serve", "--bind", "127.0.0.1", "--port", str(port),
                             "--processes", "1", "--access-log", str(access_log)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                pytest.fail(f"manage.py serve exited with {proc.returncode} before /healthz answered")
            time.sleep(0.2)
        else:
            pytest.fail("manage.py serve did not answer /healthz with 200 within 60 s")
        # when webhooks arrive on secret URLs
        assert httpx.post(f"http://127.0.0.1:{port}/integrations/kommo/webhook/{SECRET}/", content=b"x",
                          timeout=10).status_code == 404
        assert httpx.post(f"http://127.0.0.1:{port}/integrations/mail/raw/{SECRET}/", content=b"x",
                          timeout=10).status_code == 404
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and access_log.read_text().count("[") < 2:
            time.sleep(0.1)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0].decode()
    # then the access log has them by route name, and the secret appears nowhere the server wrote
    log = access_log.read_text()
    assert '"POST [crm:webhook]" 404' in log and '"POST [mail:webhook]" 404' in log and '"GET /healthz" 200' in log
    assert SECRET not in log and SECRET not in output


@pytest.mark.django_db
def test_django_request_log_lines_name_the_route_not_the_secret_path(client, caplog):
    # given an error answer on a secret route (Django logs "Not Found: <path>" and mails 5xx with the request)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.post(f"/integrations/mail/raw/{SECRET}/", data=b"x", content_type="message/rfc822")
    record = next(r for r in caplog.records if r.name == "django.request")
    # when a handler's filter sees it
    RedactSecretPaths().filter(record)
    # then neither the line nor the attached request carries the secret
    assert record.getMessage() == "Not Found: [mail:webhook]"
    assert record.request is None
