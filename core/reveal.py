"""Secrets are shown once: after an administrator creates or rotates one, the next page shows it in full, and every
later view shows it masked (core.crypto.mask).

Only a marker naming what to reveal is kept in the session, never the secret itself: the page reads the secret
from its (encrypted) row.
"""

from __future__ import annotations

from django.http import HttpRequest

SESSION_KEY = "core.reveal_once"


def reveal_once(request: HttpRequest, what: str) -> None:
    """The next page that asks for `what` (e.g. "mail.webhook:7") shows the secret in full."""
    request.session[SESSION_KEY] = what


def take_reveal(request: HttpRequest, what: str) -> bool:
    """True once after `reveal_once(request, what)`; False afterwards and for anything else."""
    if request.session.get(SESSION_KEY) != what:
        return False
    del request.session[SESSION_KEY]
    return True
