"""Shared browser-test helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from playwright.sync_api import Browser, Page

from accounts.tests.factories import DEFAULT_PASSWORD


@pytest.fixture
def live_with_kommo(kommo_account: Any, fake_kommo: Any, transactional_db: Any,
                    request: pytest.FixtureRequest) -> Iterator[str]:
    """A live server connected to the fake Kommo, whose webhooks it receives.

    The forked server runs tasks in-process (ImmediateBackend), so webhook processing and the Kommo outbox need
    no worker here; the worker path is covered by tests/integration/test_worker_to_browser.py.
    """
    immediate = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
                             "QUEUES": ["default", "crm", "messaging"]}}
    with override_settings(TASKS=immediate, KOMMO_DEMO=True):
        live = request.getfixturevalue("asgi_live_server")
        fake_kommo.state.subscribe_webhook(f"{live}/integrations/kommo/webhook/{kommo_account.webhook_secret}/",
                                           ["add_lead", "update_lead", "status_lead", "delete_lead"])
        yield live


def login(browser: Browser, base: str, username: str) -> Page:
    page = browser.new_context().new_page()
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    return page
