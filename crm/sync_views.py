"""Pages for the Kommo outbox: what Centralita owes Kommo, and putting failed rows back in line.

Thin adapters over crm.sync (selectors and check_retry_syncs)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accounts.roles import Perm
from core.errors import ActionError
from core.permissions import perm_required
from crm.models import KommoSync
from crm.sync import ACTIVE, check_retry_syncs, outbox_rows, state_counts

PAGE_SIZE = 50
STATES = dict(KommoSync.State.choices)
# The order of the counters at the top of the page.
COUNTER_ORDER = (KommoSync.State.PENDING, KommoSync.State.RETRYING, KommoSync.State.FAILED, KommoSync.State.SYNCED)


def _state(raw: str | None) -> str:
    return raw if raw in STATES else ""


def _back_to_list(state: str) -> HttpResponseRedirect:
    url = reverse("sync:list")
    return HttpResponseRedirect(f"{url}?{urlencode({'state': state})}" if state else url)


@perm_required(Perm.INTEGRATIONS_MANAGE)
def sync_list(request: HttpRequest) -> HttpResponse:
    state = _state(request.GET.get("state"))
    page = Paginator(outbox_rows(state=state or None), PAGE_SIZE).get_page(request.GET.get("page"))
    counts = state_counts()
    return render(request, "crm/sync_list.html", {
        "page": page, "state": state, "states": KommoSync.State.choices, "active_states": list(ACTIVE),
        "counters": [(s.value, s.label, counts[s.value]) for s in COUNTER_ORDER],
        "failed_count": counts[KommoSync.State.FAILED],
    })


@require_POST
@perm_required(Perm.INTEGRATIONS_MANAGE)
def sync_retry(request: HttpRequest, sync_id: int) -> HttpResponse:
    try:
        check_retry_syncs(request.user, sync_ids=[sync_id])  # type: ignore[arg-type]
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Sincronización #%(id)s reencolada.") % {"id": sync_id})
    return _back_to_list(_state(request.POST.get("state")))


@require_POST
@perm_required(Perm.INTEGRATIONS_MANAGE)
def sync_retry_all(request: HttpRequest) -> HttpResponse:
    try:
        n = check_retry_syncs(request.user)  # type: ignore[arg-type]
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        if n:
            messages.success(request, ngettext("%(n)d sincronización fallida reencolada.",
                                               "%(n)d sincronizaciones fallidas reencoladas.", n) % {"n": n})
        else:
            messages.info(request, _("No hay sincronizaciones fallidas."))
    return _back_to_list(_state(request.POST.get("state")))
