"""Saved inbox views (a person's shortcuts)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError, ConflictError, NotFoundError
from inbox.actions.base import (
    _clean_name,
    _same_name,
)
from inbox.forms import InboxFilterForm
from inbox.models import SavedView

# --- saved inbox views ---------------------------------------------------------------------------------

SAVED_VIEWS_MAX = 50  # a personal shortcut list, not a report library: bounded so the fragment stays small
SAVED_VIEW_QUERY_MAX = 500


def _clean_view_query(query: str) -> str:
    """Keeps only the inbox list's filter parameters (never the page cursor), in a stable order. Empty values
    stay: `state=` means "all states", while no parameters at all means the list's default (open ones)."""


    raw = QueryDict(query.strip().lstrip("?"))
    clean = QueryDict(mutable=True)
    for key in InboxFilterForm.base_fields:
        if key in raw:
            clean.setlist(key, [v.strip() for v in raw.getlist(key)])
    return clean.urlencode()


def check_save_view(acting_user: User, *, name: str, query: str) -> SavedView:
    """Saves the inbox list's current filters under a name for this user. Saving again under a name the user
    already has (case-insensitive) replaces that view's filters. No audit entry: a personal shortcut changes
    nobody's data or access."""
    require_perm(acting_user, Perm.INBOX_WORK)
    name = _clean_name(name, max_length=80)
    clean = _clean_view_query(query)
    if len(clean) > SAVED_VIEW_QUERY_MAX:
        raise ActionError("query_too_long", _("Los filtros son demasiado largos para guardarlos."), field="query")
    with transaction.atomic():
        existing = _same_name(SavedView.objects.select_for_update().filter(user=acting_user), name)
        if existing is not None:
            existing.name, existing.query = name, clean
            existing.save(update_fields=["name", "query"])
            return existing
        if SavedView.objects.filter(user=acting_user).count() >= SAVED_VIEWS_MAX:
            raise ActionError("too_many_views", _("Puede guardar hasta %d vistas: borre alguna primero.")
                              % SAVED_VIEWS_MAX)
        try:
            with transaction.atomic():
                return SavedView.objects.create(user=acting_user, name=name, query=clean)
        except IntegrityError as exc:  # the same name saved twice at once (double click): the other one won
            raise ConflictError("view_exists", _("Ya tiene una vista con ese nombre."), field="name") from exc


def check_delete_view(acting_user: User, view_id: int) -> None:
    """Deletes one of the user's own saved views; someone else's answers as if it did not exist."""
    require_perm(acting_user, Perm.INBOX_WORK)
    deleted, _rows = SavedView.objects.filter(pk=view_id, user=acting_user).delete()
    if not deleted:
        raise NotFoundError("view_not_found", _("La vista guardada no existe."))
