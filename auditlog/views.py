from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from auditlog.describe import annotate_audit
from core.models import AuditLog
from core.permissions import perm_required
from core.perms import Perm


@perm_required(Perm.AUDIT_VIEW)
def audit(request: HttpRequest) -> HttpResponse:
    """The audit log as sentences (auditlog.describe); action codes stay in the `title` attribute and the API."""

    entries = AuditLog.objects.select_related("actor")
    q_action = request.GET.get("action", "").strip()
    q_user = request.GET.get("user", "").strip()
    if q_action:
        entries = entries.filter(action__startswith=q_action)
    if q_user:
        entries = entries.filter(actor_username__icontains=q_user)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    page.object_list = rows  # the template iterates these annotated rows, not a fresh query
    annotate_audit(rows)
    return render(request, "auditlog/audit.html", {"page": page, "q_action": q_action, "q_user": q_user})
