"""The call-center pages: queue, call screen, predefined notes, queue settings. Thin adapters over actions."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError
from core.permissions import perm_required
from customers.actions import do_update_customer
from leads import actions
from leads.forms import (
    CloseForm,
    CustomerForm,
    LeadSettingsForm,
    NoteForm,
    NoteTemplateForm,
    QueueFilterForm,
    ReassignForm,
)
from leads.models import Lead, LeadSettings, NoteTemplate
from leads.selectors import QueueFilters, page_of, queue_queryset

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
    from accounts.roles import ROLE_PERMISSIONS

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


@perm_required(Perm.LEADS_VIEW)
def detail(request: HttpRequest, lead_id: int) -> HttpResponse:
    try:
        lead = actions.access_lead(request.user, lead_id)  # type: ignore[arg-type]
    except ActionError:
        return render(request, "404.html", status=404)
    if lead.customer is not None:
        prefetch_related_objects([lead], "customer__phones", "customer__emails", "customer__tags",
                                 "customer__marketing_lists")
    note_form = NoteForm()
    customer_form = CustomerForm(initial=_customer_initial(lead))
    if request.method == "POST":
        user: User = request.user  # type: ignore[assignment]
        action = request.POST.get("action")
        try:
            if action == "note":
                note_form = NoteForm(request.POST)
                if note_form.is_valid():
                    d = note_form.cleaned_data
                    actions.check_add_note(user, lead.pk, text=d["text"], outcome=d["outcome"],
                                           template_id=d["template_id"])
                    messages.success(request, _("Nota guardada."))
                    return redirect("leads:detail", lead_id=lead.pk)
            elif action == "customer" and lead.customer is not None:
                customer_form = CustomerForm(request.POST)
                if customer_form.is_valid():
                    if not user.has_perm_code(Perm.LEADS_WORK):
                        raise ActionError("forbidden", _("No tiene permiso para realizar esta acción."))
                    actions._check_not_held_by_other(lead, user)
                    d = customer_form.cleaned_data
                    do_update_customer(lead.customer.pk, acting_user=user, name=d["name"],
                                       document_id=d["document_id"], address=d["address"], city=d["city"],
                                       department=d["department"], notes=d["notes"],
                                       phones=d["phones"].splitlines(), emails=d["emails"].splitlines(),
                                       marketing_list_ids=[m.pk for m in d["marketing_lists"]])
                    messages.success(request, _("Datos del cliente actualizados."))
                    return redirect("leads:detail", lead_id=lead.pk)
        except ActionError as exc:
            target = note_form if action == "note" else customer_form
            for field, message in (exc.details.get("errors") or {}).items():
                target.add_error(field if field in target.fields else None, message)
            if not exc.details.get("errors"):
                target.add_error(exc.details.get("field") if exc.details.get("field") in target.fields else None,
                                 exc.message)
            status = exc.status
            return render(request, "leads/detail.html", _detail_context(request, lead, note_form, customer_form),
                          status=status)
    return render(request, "leads/detail.html", _detail_context(request, lead, note_form, customer_form))


def _detail_context(request: HttpRequest, lead: Lead, note_form: NoteForm, customer_form: CustomerForm
                    ) -> dict[str, Any]:
    user: User = request.user  # type: ignore[assignment]
    settings_row = LeadSettings.load()
    extra = []
    if lead.customer is not None:
        extra = [(key, lead.customer.extra.get(key, "")) for key in settings_row.extra_customer_fields]
    held_by_other = (lead.held_by_id is not None and lead.held_by_id != user.pk
                     and user.role in (settings_row.reservation_roles or []))
    return {
        "lead": lead, "note_form": note_form, "customer_form": customer_form, "close_form": CloseForm(),
        "reassign_form": ReassignForm(), "notes": lead.notes.select_related("author", "template")[:100],
        "events": lead.events.select_related("actor")[:50],
        "other_leads": lead.customer.leads.exclude(pk=lead.pk).order_by("-created_at")[:20] if lead.customer else [],
        "templates": NoteTemplate.objects.filter(is_active=True).prefetch_related("tags"),
        "extra_fields": extra, "held_by_other": held_by_other,
        "can_work": user.has_perm_code(Perm.LEADS_WORK), "can_supervise": user.has_perm_code(Perm.LEADS_SUPERVISE),
        "order_panel": _order_panel(user, lead),
    }


def _order_panel(user: User, lead: Lead) -> dict[str, Any] | None:
    if not user.has_perm_code(Perm.ORDERS_VIEW) or lead.customer is None:
        return None
    from orders.views import panel_context

    return panel_context(user, lead)


@require_POST
@perm_required(Perm.LEADS_WORK)
def close(request: HttpRequest, lead_id: int) -> HttpResponse:
    form = CloseForm(request.POST)
    try:
        if form.is_valid():
            actions.check_close_lead(request.user, lead_id, text=form.cleaned_data["text"],  # type: ignore[arg-type]
                                     outcome=form.cleaned_data["outcome"])
            messages.success(request, _("Lead cerrado."))
    except ActionError as exc:
        messages.error(request, exc.message)
    return redirect("leads:detail", lead_id=lead_id)


@require_POST
@perm_required(Perm.LEADS_WORK)
def release(request: HttpRequest, lead_id: int) -> HttpResponse:
    try:
        actions.check_release_lead(request.user, lead_id)  # type: ignore[arg-type]
        messages.success(request, _("Lead liberado."))
    except ActionError as exc:
        messages.error(request, exc.message)
    return redirect("leads:detail", lead_id=lead_id)


@require_POST
@perm_required(Perm.LEADS_SUPERVISE)
def reassign(request: HttpRequest, lead_id: int) -> HttpResponse:
    form = ReassignForm(request.POST)
    try:
        if form.is_valid():
            actions.check_reassign_lead(request.user, lead_id, to_user=form.cleaned_data["to_user"])  # type: ignore[arg-type]
            messages.success(request, _("Lead reasignado."))
    except ActionError as exc:
        messages.error(request, exc.message)
    return redirect("leads:detail", lead_id=lead_id)


@require_POST
@perm_required(Perm.LEADS_SUPERVISE)
def reopen(request: HttpRequest, lead_id: int) -> HttpResponse:
    try:
        actions.check_reopen_lead(request.user, lead_id)  # type: ignore[arg-type]
        messages.success(request, _("Lead reabierto."))
    except ActionError as exc:
        messages.error(request, exc.message)
    return redirect("leads:detail", lead_id=lead_id)


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
