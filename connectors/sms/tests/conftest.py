"""The fake Twilio (fakes/sms.py) on a loopback port, and Centralita connected to it as an admin connects it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.sms.tests.helpers import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, clear_tasks
from fakes.sms import FakeTwilioServer


@pytest.fixture(autouse=True)
def _tasks() -> Iterator[None]:
    clear_tasks()
    yield
    clear_tasks()


@pytest.fixture
def fake_sms() -> Iterator[FakeTwilioServer]:
    """Callbacks in "manual" mode: the test takes them and posts them itself (no thread, no waiting)."""
    with FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN, phone_number=FROM_NUMBER, callback_mode="manual") as server:
        yield server


@pytest.fixture
def sms_live_server(transactional_db: Any, django_db_blocker: Any, settings: Any) -> Iterator[str]:
    """Daphne serving the real ASGI app, like the root conftest's asgi_live_server, on a port chosen first: Twilio
    signs the URL it calls, and we rebuild it from SITE_URL, so the server process must be forked with SITE_URL
    already pointing at itself."""
    from functools import partial

    from channels.routing import get_default_application
    from channels.testing.live import make_application, set_database_connection
    from daphne.testing import DaphneProcess
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from fakes.mailservers import free_port

    def setup() -> None:
        set_database_connection()
        from channels.layers import channel_layers

        channel_layers.backends = {}

    port = free_port()
    settings.SITE_URL = f"http://127.0.0.1:{port}"
    get_default_application()
    proc = DaphneProcess("127.0.0.1", partial(make_application, static_wrapper=ASGIStaticFilesHandler),
                         setup=setup, port=port)
    with django_db_blocker.unblock():
        proc.start()
    proc.ready.wait(20)
    yield settings.SITE_URL
    proc.terminate()
    proc.join(5)


@pytest.fixture
def sms_account(db: Any, fake_sms: FakeTwilioServer, settings: Any) -> Any:
    """Centralita connected to the fake exactly as the admin page does it (credentials checked by a GET)."""
    from connectors.sms.actions import check_connect_account

    settings.SITE_URL = "https://centralita.example"
    settings.SMS_CLIENT_BACKOFF = 0.01  # the fake answers at once: in-call retries need no real waiting
    # 50 per second: the tests about pacing set 1 themselves (a run of quick sends would otherwise be paced)
    result = check_connect_account(None, name="Ventas", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                   from_number=FROM_NUMBER, base_url=fake_sms.base_url, currency="USD",
                                   rate_per_second=50)
    fake_sms.state.webhook_url = result.inbound_url
    return result.account
