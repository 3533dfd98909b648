"""Email fixtures: a mailbox connected, like `mail_connect` does it, to the real local servers."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

_numbers = itertools.count(1)


@pytest.fixture
def mail_address(dovecot: Any) -> str:
    """A fresh Dovecot account per test (the server and its accounts are shared by the session)."""
    address = f"buzon{next(_numbers)}@example.test"
    assert address in dovecot.users, "more mail tests than prepared Dovecot accounts (conftest.dovecot)"
    return address


@pytest.fixture
def mailbox(db: Any, dovecot: Any, smtp_server: Any, mail_address: str) -> Any:
    from connectors.mail.actions import check_save_mailbox

    return check_save_mailbox(None, address=mail_address, display_name="Soporte Centralita",
                              imap_host="127.0.0.1", imap_port=dovecot.port, imap_security="none",
                              imap_password="secreto", poll_interval=30, smtp_host="127.0.0.1",
                              smtp_port=smtp_server.port, smtp_security="none")


@pytest.fixture(autouse=True)
def _empty_task_queue() -> None:
    """The dummy task backend keeps results across tests; each test starts with an empty queue."""
    from django.tasks import default_task_backend

    default_task_backend.clear()
