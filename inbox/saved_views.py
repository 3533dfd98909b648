"""Saved inbox views: a user's named filters for the inbox list. Thin pages over inbox.actions, plus the
context for the `inbox/_saved_views.html` fragment that the list page includes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError
from core.permissions import perm_required
from inbox import actions
from inbox.models import SavedView


def saved_views_context(user: User) -> dict[str, Any]:
    """What `inbox/_saved_views.html` needs besides `query` (the list's current query string, which the list
    view already provides): `saved_views`, the user's views by name (one query)."""
    return {"saved_views": list(SavedView.objects.filter(user=user).order_by("name", "id"))}


class SaveViewForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Nombre de la vista"), max_length=80)
    query = forms.CharField(required=False, max_length=2000)


def _list_url(query: str = "") -> str:
    url = reverse("inbox:list")
    return f"{url}?{query}" if query else url


@require_POST
@perm_required(Perm.INBOX_WORK)
def save_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = SaveViewForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Escriba un nombre para la vista (máximo 80 caracteres)."))
        return redirect(_list_url())
    try:
        view = actions.check_save_view(user, name=form.cleaned_data["name"], query=form.cleaned_data["query"])
    except ActionError as exc:
        messages.error(request, exc.message)
        return redirect(_list_url())
    messages.success(request, _("Vista «%s» guardada.") % view.name)
    return redirect(_list_url(view.query))


@require_POST
@perm_required(Perm.INBOX_WORK)
def delete_view(request: HttpRequest, view_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        actions.check_delete_view(user, view_id)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Vista borrada."))
    return redirect(_list_url())
