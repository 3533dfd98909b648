"""The call-center pages: queue, call screen, predefined notes, queue settings. Thin adapters over actions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import ROLE_PERMISSIONS, Perm
from core.errors import ActionError
from core.forms import show_action_errors
from core.permissions import perm_required
from customers.actions import do_update_customer
from leads import actions, panels
from leads.describe import annotate_lead_events
from leads.forms import (
    CloseForm,
    CustomerForm,
    LeadSettingsForm,
    NoteForm,
    NoteTemplateForm,
    QueueFilterForm,
    ReassignForm,
)
from leads.models import Lead, LeadEvent, LeadSettings, NoteTemplate
from leads.selectors import QueueFilters, page_of, queue_queryset, reassign_candidates

PAGE_SIZE = 50


def _filters(form: QueueFilterForm) -> QueueFilters:
    if not form.is_valid():
        return QueueFilters()
    d = form.cleaned_data
    return QueueFilters(status=d.get("status") or "open", tag=d.get("tag") or "", operator=d.get("operator") or "",
                        marketing_list=d.get("marketing_list") or "", arrived_from=d.get("arrived_from"),
                        arrived_to=d.get("arrived_to"), q=d.get("q") or "")


@perm_required(Perm.LEADS_VIEW)
def queue(request: HttpRequest) -> HttpResponse:
    form = QueueFilterForm(request.GET or None)
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    rows, has_next = page_of(queue_queryset(_filters(form)), page, PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "leads": rows, "page": page, "has_next": has_next, "query": query.urlencode(),
               "page_size": PAGE_SIZE, "operators": _operators()}
    template = "leads/_queue_rows.html" if request.htmx else "leads/queue.html"  # type: ignore[attr-defined]
    return render(request, template, context)


def _operators() -> list[str]:
    """Who can hold leads, for the operator filter (by role: joining users to 300,000 leads cost ~100 ms)."""

    roles = [r.value for r, perms in ROLE_PERMISSIONS.items() if Perm.LEADS_WORK in perms]
    return list(User.objects.filter(is_active=True, role__in=roles).order_by("username")
                .values_list("username", flat=True)[:500])


@require_POST
@perm_required(Perm.LEADS_WORK)
def next_lead(request: HttpRequest) -> HttpResponse:
    lead = actions.check_next_lead(request.user)  # type: ignore[arg-type]
    if lead is None:
        messages.info(request, _("No hay leads esperando en la cola."))
        return redirect("leads:queue")
    return redirect("leads:detail", lead_id=lead.pk)


def _customer_initial(lead: Lead) -> dict[str, Any]:
    c = lead.customer
    if c is None:
        return {}
    return {"name": c.name, "document_id": c.document_id, "address": c.address, "city": c.city,
            "department": c.department, "notes": c.notes, "marketing_lists": list(c.marketing_lists.all()),
            "phones": "\n".join(p.e164 for p in c.phones.all()), "emails": "\n".join(e.email for e in c.emails.all())}


# The call screen's regions: an htmx action answers with the region holding its control, plus the regions the
# change touched as out-of-band swaps, never the whole page (STYLE §17).
STATUS, HOLDER, NOTE_PANEL, NOTES, HISTORY, CUSTOMER, TAGS, PHONES = (
    "leads/_status.html", "leads/_holder.html", "leads/_note_panel.html", "leads/_notes_list.html",
    "leads/_history.html", "leads/_customer_panel.html", "leads/_customer_tags.html", "leads/_phones.html")
CLOSE_IDS = "close_%s"  # the close form sits beside the note form: its fields need ids of their own


def _load_lead(user: User, lead_id: int) -> Lead:
    lead = actions.access_lead(user, lead_id)
    if lead.customer is not None:
        prefetch_related_objects([lead], "customer__phones", "customer__emails", "customer__tags",
                                 "customer__marketing_lists")
    return lead


def _detail_context(request: HttpRequest, lead: Lead, *, full: bool = True, **overrides: Any) -> dict[str, Any]:
    """Everything the call screen's regions read. Querysets stay lazy, so a fragment response only runs the
    queries of the regions it renders; the history and the order panel are built only when asked for."""
    user: User = request.user  # type: ignore[assignment]
    settings_row = LeadSettings.load()
    held_by_other = (lead.held_by_id is not None and lead.held_by_id != user.pk
                     and user.role in (settings_row.reservation_roles or []))
    context: dict[str, Any] = {
        "lead": lead, "note_form": NoteForm(), "close_form": CloseForm(auto_id=CLOSE_IDS),
        "customer_form": CustomerForm(initial=_customer_initial(lead)) if lead.customer is not None else None,
        "notes": lead.notes.select_related("author", "template")[:100],
        "templates": NoteTemplate.objects.filter(is_active=True).prefetch_related("tags"),
        "held_by_other": held_by_other,
        "can_work": user.has_perm_code(Perm.LEADS_WORK), "can_supervise": user.has_perm_code(Perm.LEADS_SUPERVISE),
    }
    if full:
        extra = []
        if lead.customer is not None:
            extra = [(key, lead.customer.extra.get(key, "")) for key in settings_row.extra_customer_fields]
        context.update({
            "extra_fields": extra, "events": _events(lead), "panels": panels.call_screen.render(request, user, lead),
            "other_leads": (lead.customer.leads.exclude(pk=lead.pk).order_by("-created_at")[:20]
                            if lead.customer else []),
        })
    context.update(overrides)
    return context


def _events(lead: Lead) -> list[LeadEvent]:
    events = list(lead.events.select_related("actor")[:50])
    annotate_lead_events(events)
    return events


def _fragments(request: HttpRequest, lead: Lead, main: str, oob: Sequence[str] = (), *, status: int = 200,
               feedback: str = "", feedback_level: str = "success", **overrides: Any) -> HttpResponse:
    """The region `main` (the htmx target) plus `oob` regions swapped out of band, plus the feedback line."""
    context = _detail_context(request, lead, full=False, **overrides)
    if HISTORY in (main, *oob):
        context["events"] = _events(lead)
    context.update({"main_template": main, "oob_templates": [t for t in oob if t != main],
                    "feedback": feedback, "feedback_level": feedback_level})
    return render(request, "leads/_call_update.html", context, status=status)


@perm_required(Perm.LEADS_VIEW)
def detail(request: HttpRequest, lead_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        lead = _load_lead(user, lead_id)
    except ActionError:
        return render(request, "404.html", status=404)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "note":
            return _post_note(request, lead)
        if action == "customer" and lead.customer is not None:
            return _post_customer(request, lead)
    return render(request, "leads/detail.html", _detail_context(request, lead))


def _post_note(request: HttpRequest, lead: Lead) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = NoteForm(request.POST)
    try:
        if form.is_valid():
            d = form.cleaned_data
            actions.check_add_note(user, lead.pk, text=d["text"], outcome=d["outcome"], template_id=d["template_id"])
            if not request.htmx:  # type: ignore[attr-defined]
                messages.success(request, _("Nota guardada."))
                return redirect("leads:detail", lead_id=lead.pk)
            # A predefined note may tag the customer; the first note holds the lead and moves its status.
            return _fragments(request, _load_lead(user, lead.pk), NOTE_PANEL, (NOTES, HISTORY, STATUS, HOLDER, TAGS),
                              feedback=_("Nota guardada."))
        status = 400
    except ActionError as exc:
        show_action_errors(form, exc)
        status = exc.status
    fresh = _load_lead(user, lead.pk)  # e.g. 409: someone else took it meanwhile; show who
    if not request.htmx:  # type: ignore[attr-defined]
        return render(request, "leads/detail.html", _detail_context(request, fresh, note_form=form), status=status)
    return _fragments(request, fresh, NOTE_PANEL, (HOLDER, STATUS), status=status, note_form=form)


def _post_customer(request: HttpRequest, lead: Lead) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    assert lead.customer is not None
    form = CustomerForm(request.POST)
    try:
        if form.is_valid():
            if not user.has_perm_code(Perm.LEADS_WORK):
                raise ActionError("forbidden", _("No tiene permiso para realizar esta acción."))
            actions.check_not_held_by_other(lead, user)
            d = form.cleaned_data
            do_update_customer(lead.customer.pk, acting_user=user, name=d["name"], document_id=d["document_id"],
                               address=d["address"], city=d["city"], department=d["department"], notes=d["notes"],
                               phones=d["phones"].splitlines(), emails=d["emails"].splitlines(),
                               marketing_list_ids=[m.pk for m in d["marketing_lists"]])
            if not request.htmx:  # type: ignore[attr-defined]
                messages.success(request, _("Datos del cliente actualizados."))
                return redirect("leads:detail", lead_id=lead.pk)
            return _fragments(request, _load_lead(user, lead.pk), CUSTOMER, (TAGS, PHONES),
                              feedback=_("Datos del cliente actualizados."))
        status = 400
    except ActionError as exc:
        show_action_errors(form, exc)
        status = exc.status
    if not request.htmx:  # type: ignore[attr-defined]
        return render(request, "leads/detail.html", _detail_context(request, lead, customer_form=form), status=status)
    return _fragments(request, lead, CUSTOMER, status=status, customer_form=form)


def _lead_action(request: HttpRequest, lead_id: int, run: Callable[[User], object], done: str) -> HttpResponse:
    """Release, reassign, reopen: the holder panel answers, the status, notes form and history follow."""
    user: User = request.user  # type: ignore[assignment]
    try:
        run(user)
    except ActionError as exc:
        if not request.htmx:  # type: ignore[attr-defined]
            messages.error(request, exc.message)
            return redirect("leads:detail", lead_id=lead_id)
        try:
            lead = _load_lead(user, lead_id)
        except ActionError:
            return HttpResponse(exc.message, status=exc.status)
        return _fragments(request, lead, HOLDER, (STATUS,), status=exc.status, holder_error=exc.message)
    if not request.htmx:  # type: ignore[attr-defined]
        messages.success(request, done)
        return redirect("leads:detail", lead_id=lead_id)
    return _fragments(request, _load_lead(user, lead_id), HOLDER, (STATUS, NOTE_PANEL, HISTORY), feedback=done)


@require_POST
@perm_required(Perm.LEADS_WORK)
def close(request: HttpRequest, lead_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = CloseForm(request.POST, auto_id=CLOSE_IDS)
    status = 400
    try:
        if form.is_valid():
            actions.check_close_lead(user, lead_id, text=form.cleaned_data["text"],
                                     outcome=form.cleaned_data["outcome"])
            if not request.htmx:  # type: ignore[attr-defined]
                messages.success(request, _("Lead cerrado."))
                return redirect("leads:detail", lead_id=lead_id)
            return _fragments(request, _load_lead(user, lead_id), NOTE_PANEL, (STATUS, HOLDER, NOTES, HISTORY),
                              feedback=_("Lead cerrado."))
    except ActionError as exc:
        show_action_errors(form, exc)
        status = exc.status
    if not request.htmx:  # type: ignore[attr-defined]
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, str(message))
        return redirect("leads:detail", lead_id=lead_id)
    try:
        lead = _load_lead(user, lead_id)
    except ActionError as exc:
        return HttpResponse(exc.message, status=exc.status)
    return _fragments(request, lead, NOTE_PANEL, (HOLDER, STATUS), status=status, close_form=form)


@require_POST
@perm_required(Perm.LEADS_WORK)
def release(request: HttpRequest, lead_id: int) -> HttpResponse:
    return _lead_action(request, lead_id, lambda user: actions.check_release_lead(user, lead_id), _("Lead liberado."))


@require_POST
@perm_required(Perm.LEADS_SUPERVISE)
def reassign(request: HttpRequest, lead_id: int) -> HttpResponse:
    form = ReassignForm(request.POST)

    def run(user: User) -> object:
        if not form.is_valid():
            raise ActionError("invalid_operator", _("Elija a quién reasignar el lead de la lista."), field="to_user")
        return actions.check_reassign_lead(user, lead_id, to_user=form.cleaned_data["to_user"])

    return _lead_action(request, lead_id, run, _("Lead reasignado."))


@require_POST
@perm_required(Perm.LEADS_SUPERVISE)
def reopen(request: HttpRequest, lead_id: int) -> HttpResponse:
    return _lead_action(request, lead_id, lambda user: actions.check_reopen_lead(user, lead_id), _("Lead reabierto."))


@perm_required(Perm.LEADS_SUPERVISE)
def people(request: HttpRequest, lead_id: int) -> HttpResponse:
    """The reassign picker's options: people who can take this lead, with availability, open load and teams."""
    try:
        lead = actions.access_lead(request.user, lead_id)  # type: ignore[arg-type]
    except ActionError as exc:
        return HttpResponse(exc.message, status=exc.status)
    q = request.GET.get("q", "")[:100]
    return render(request, "leads/_people_options.html",
                  {"people": reassign_candidates(q=q, exclude_id=lead.held_by_id), "q": q})


@perm_required(Perm.LEADS_SUPERVISE)
def templates(request: HttpRequest) -> HttpResponse:
    edit_id = request.GET.get("edit") or request.POST.get("template_id")
    editing = NoteTemplate.objects.filter(pk=edit_id).prefetch_related("tags").first() if edit_id else None
    initial = {}
    if editing is not None:
        initial = {"title": editing.title, "text": editing.text, "outcome": editing.outcome, "sort": editing.sort,
                   "is_active": editing.is_active, "tags": ", ".join(t.name for t in editing.tags.all())}
    form = NoteTemplateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            actions.check_save_note_template(
                request.user, template_id=editing.pk if editing else None, title=d["title"],  # type: ignore[arg-type]
                text=d["text"], outcome=d["outcome"], tags=d["tags"].split(","), is_active=d["is_active"],
                sort=d["sort"])
        except ActionError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Nota predefinida guardada."))
            return redirect("leads:templates")
    return render(request, "leads/templates.html", {
        "form": form, "editing": editing,
        "templates": NoteTemplate.objects.prefetch_related("tags").order_by("sort", "title")})


@perm_required(Perm.LEADS_SUPERVISE)
def queue_settings(request: HttpRequest) -> HttpResponse:
    current = LeadSettings.load()
    form = LeadSettingsForm(request.POST or None, initial={
        "reservation_roles": current.reservation_roles, "queue_lists": list(current.queue_lists.all()),
        "extra_customer_fields": ", ".join(current.extra_customer_fields)})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            actions.check_update_lead_settings(
                request.user, reservation_roles=d["reservation_roles"],  # type: ignore[arg-type]
                queue_list_ids=[m.pk for m in d["queue_lists"]],
                extra_customer_fields=d["extra_customer_fields"].split(","))
        except ActionError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Configuración guardada."))
            return redirect(reverse("leads:settings"))
    return render(request, "leads/settings.html", {"form": form})
