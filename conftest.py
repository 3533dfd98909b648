"""Shared fixtures: users per role, logged-in clients, API tokens, a live ASGI server and a browser."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from accounts.actions import do_create_api_token
from accounts.models import User
from accounts.roles import Role
from accounts.tests.factories import UserFactory

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API in the test thread

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def pytest_report_header(config: pytest.Config) -> list[str]:
    db = settings.DATABASES["default"]
    where = db["NAME"] if db["ENGINE"].endswith("sqlite3") else f"{db.get('HOST')}:{db.get('PORT')}/{db['NAME']}"
    return [
        f"centralita database: {db['ENGINE'].rsplit('.', 1)[-1]} ({where})",
        f"centralita redis: {settings.REDIS_URL or 'not used'}; tasks={settings.TASK_BACKEND}; "
        f"channel layer={settings.CHANNEL_LAYER}",
    ]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """The in-process caches (rate limits, dashboard answers, whether any webhook endpoint is active or any bot flow
    is live, the mail webhook's tokens) start empty in every test."""
    from django.core.cache import cache

    from automation.rules import forget_rules
    from bots.actions import forget_live
    from connectors.mail import webhook as mail_webhook
    from webhooks.actions import forget_active_endpoints

    cache.clear()
    forget_active_endpoints()
    forget_rules()
    forget_live()
    mail_webhook.forget()
    yield
    cache.clear()


@pytest.fixture
def make_user(db: Any) -> Callable[..., User]:
    def make(role: str = Role.AGENTE, **kwargs: Any) -> User:
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def admin_user(make_user: Callable[..., User]) -> User:
    return make_user(Role.ADMIN, username="admin")


@pytest.fixture
def supervisor(make_user: Callable[..., User]) -> User:
    return make_user(Role.SUPERVISOR, username="supervisora")


@pytest.fixture
def agent(make_user: Callable[..., User]) -> User:
    return make_user(Role.AGENTE, username="agente1")


@pytest.fixture
def client_for() -> Callable[[User], Client]:
    def make(user: User) -> Client:
        c = Client()
        c.force_login(user)
        return c

    return make


@pytest.fixture
def api_client_for(db: Any) -> Callable[[User], Client]:
    def make(user: User) -> Client:
        _token, raw = do_create_api_token(user, name="test", acting_user=None)
        return Client(headers={"Authorization": f"Bearer {raw}"})

    return make


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


# --- live ASGI server (daphne, in a child process) and browser ------------------------------------


@pytest.fixture
def asgi_live_server(transactional_db: Any, django_db_blocker: Any) -> Iterator[str]:
    """Daphne serving the real ASGI app (HTTP + websockets) against the test database."""
    from functools import partial

    from channels.routing import get_default_application
    from channels.testing.live import make_application, set_database_connection
    from daphne.testing import DaphneProcess
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    def setup() -> None:
        set_database_connection()
        # The forked server must not inherit this process's in-memory channel layer: groups filled by earlier
        # tests' consumers hold channels whose queues belong to event loops that do not run in the child.
        from channels.layers import channel_layers

        channel_layers.backends = {}

    get_default_application()
    proc = DaphneProcess("127.0.0.1", partial(make_application, static_wrapper=ASGIStaticFilesHandler),
                         setup=setup)
    with django_db_blocker.unblock():  # the forked server inherits pytest-django's DB block otherwise
        proc.start()
    proc.ready.wait(20)
    yield f"http://127.0.0.1:{proc.port.value}"
    proc.terminate()
    proc.join(5)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "args": CHROMIUM_ARGS,
            "headless": True}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop in the main thread for the rest of the
    session, after which `async_to_sync` (used by Channels tests and health checks) refuses to run."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


# --- Kommo: a local fake server speaking the real contract (fakes/kommo.py) --------------------------


@pytest.fixture
def fake_kommo() -> Iterator[Any]:
    from fakes.kommo import FakeKommoServer

    with FakeKommoServer(subdomain="demo", token="kommo-test-token", retry_schedule=[0.2, 0.5]) as server:
        yield server


@pytest.fixture
def kommo_account(db: Any, fake_kommo: Any) -> Any:
    """Centralita connected to the fake Kommo exactly as `kommo_connect` does it."""
    from crm.actions import check_connect_kommo
    from crm.views import reset_account_cache

    result = check_connect_kommo(None, subdomain="demo", token="kommo-test-token", base_url=fake_kommo.base_url,
                                 to_call_stage="Para Llamar", confirmed_stage="Venta Confirmada")
    reset_account_cache()
    yield result.account
    reset_account_cache()


# --- WhatsApp: a local fake Graph API speaking the real contract (fakes/whatsapp.py) -----------------------------


@pytest.fixture
def fake_whatsapp() -> Iterator[Any]:
    from fakes.whatsapp import FakeWhatsappServer

    with FakeWhatsappServer(token="wa-test-token", app_secret="wa-test-app-secret", status_delay=0.05) as server:
        yield server


@pytest.fixture
def whatsapp_number(db: Any, fake_whatsapp: Any, settings: Any) -> Any:
    """Centralita connected to the fake Graph API exactly as `whatsapp_connect` does it (templates synced)."""
    from connectors.whatsapp.actions import check_connect_number
    from connectors.whatsapp.intake import forget

    settings.WHATSAPP_CLIENT_BACKOFF = 0.01  # the fake answers at once; in-call retries need no real waiting
    number = fake_whatsapp.state.number
    result = check_connect_number(None, phone_number_id=number.phone_number_id, waba_id=number.waba_id,
                                  token="wa-test-token", app_secret="wa-test-app-secret",
                                  verify_token="wa-verify-token", base_url=fake_whatsapp.base_url)
    forget()
    yield result.number
    forget()


# --- Email: a real Dovecot (IMAP) and an aiosmtpd SMTP server (fakes/mailservers.py) --------------------------


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Any]:
    """One Dovecot per test session (starting one costs ~0.4 s, stopping ~1 s); tests isolate by address."""
    from fakes.mailservers import DovecotServer

    # Accounts are made up front: Dovecot notices new passwd-file lines only seconds later. Wrong-password tests
    # use a server of their own (a failed login slows later logins from the same address by seconds).
    with DovecotServer(users={f"buzon{n}@example.test": "secreto" for n in range(1, 501)}) as server:
        yield server


@pytest.fixture(scope="session")
def dovecot_tls() -> Iterator[Any]:
    """Dovecot with IMAPS on a self-signed certificate (trusted through MAIL_CA_FILE in the tests)."""
    from fakes.mailservers import DovecotServer

    with DovecotServer(users={"seguro@example.test": "secreto"}, tls=True) as server:
        yield server


@pytest.fixture
def smtp_server(dovecot: Any) -> Iterator[Any]:
    """A local SMTP server that captures what we send and delivers mail for Dovecot users into their INBOX."""
    from fakes.mailservers import SmtpServer

    with SmtpServer(deliver_to=dovecot) as server:
        yield server
