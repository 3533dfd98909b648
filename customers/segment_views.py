"""Segment pages (/clientes/segmentos/): the list with members and rules in sentences, the editor with a live
preview (how many customers match and a few of them), deleting a custom segment."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError, NotFoundError
from core.forms import show_action_errors
from core.permissions import perm_required
from customers import segments
from customers.actions import check_delete_segment, check_save_segment
from customers.forms import SegmentForm
from customers.models import Customer, Segment

PREVIEW_SAMPLE = 5


@perm_required(Perm.CUSTOMERS_VIEW)
def segment_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    rows = list(Segment.objects.select_related("skill"))
    counts = segments.member_counts()
    for segment in rows:
        segment.sentence = segments.describe(segment.rules)  # type: ignore[attr-defined]
        segment.members = counts.get(segment.pk, 0)  # type: ignore[attr-defined]
    return render(request, "customers/segments.html", {
        "segments": rows, "can_manage": user.has_perm_code(Perm.SEGMENTS_MANAGE)})


def _segment(segment_id: int | None) -> Segment | None:
    if segment_id is None:
        return None
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise Http404(_("El segmento no existe."))
    return segment


@perm_required(Perm.SEGMENTS_MANAGE)
def segment_edit(request: HttpRequest, segment_id: int | None = None) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    segment = _segment(segment_id)
    initial = SegmentForm.initial_for(segment) if segment else {"tone": Segment.Tone.BLUE, "active": True}
    form = SegmentForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            d = form.cleaned_data
            try:
                saved = check_save_segment(
                    user, segment.pk if segment else None, name=d["name"], code=d["code"], rules=form.rules(),
                    description=d["description"], tone=d["tone"], priority=d["priority"],
                    skill_id=d["skill"].pk if d["skill"] else None, active=d["active"], in_lists=d["in_lists"])
            except ActionError as exc:
                show_action_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Segmento «%s» guardado: sus clientes se recalculan ahora.") % saved.name)
                return redirect("customers:segments")
    return render(request, "customers/segment_edit.html", {"form": form, "segment": segment}, status=status)


@perm_required(Perm.SEGMENTS_MANAGE)
def segment_preview(request: HttpRequest) -> HttpResponse:
    """How many customers the rules being edited select now, and a few of them (htmx, on every change)."""
    form = SegmentForm(request.GET)
    form.is_valid()  # the rules' fields are read even when the name is still empty
    if not form.rules()["any"]:
        return render(request, "customers/_segment_preview.html", {"empty": True})
    try:
        rules = segments.clean_rules(form.rules())
    except segments.RuleError as exc:
        return render(request, "customers/_segment_preview.html", {"error": str(exc)})
    matching = Customer.objects.filter(segments.q_for(rules, timezone.now()))
    return render(request, "customers/_segment_preview.html", {
        "count": matching.count(), "sample": list(matching.order_by("-contact_sort_at", "-id")[:PREVIEW_SAMPLE]),
        "sentence": segments.describe(rules)})


@require_POST
@perm_required(Perm.SEGMENTS_MANAGE)
def segment_delete(request: HttpRequest, segment_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        check_delete_segment(user, segment_id)
    except NotFoundError:
        raise Http404(_("El segmento no existe.")) from None
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Segmento borrado."))
    return redirect("customers:segments")
