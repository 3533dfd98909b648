"""What the channel connectors share about the inbox a connection delivers to."""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext as _

from core.errors import ActionError
from inbox.models import Inbox


def resolve_inbox(name: str) -> Inbox | None:
    """The inbox a connection form names, by code or by name (any case); None when blank (the Global inbox).
    ActionError on the form's `inbox` field when no inbox has that code or name."""
    name = name.strip()
    if not name:
        return None
    inbox = Inbox.objects.filter(Q(code=name) | Q(name__iexact=name)).first()
    if inbox is None:
        raise ActionError("unknown_inbox", _("No existe la bandeja «%s».") % name, field="inbox")
    return inbox
