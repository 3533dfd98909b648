"""The agent workspace: list | conversation | context on one page. Thin adapters over inbox.actions.

Opening a conversation, replying, noting, assigning, transferring, tagging, changing priority or state answer an
htmx request with only what changed (inbox/_inplace.html: the new timeline items, the header, the row, a status
line), and the URL follows the selection so reload and back work. The same views without htmx keep the
post/redirect/get behaviour, so every action also works with scripts off.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError
from core.permissions import perm_required
from customers.segments import segments_of
from inbox import actions, bulk, outbound, task_actions
from inbox.attachments import MAX_FILES_PER_MESSAGE, file_response
from inbox.choices import MANUAL_CLOSE_REASONS, CloseReason, ConversationState, DeliveryStatus, Priority
from inbox.describe import annotate_timeline
from inbox.forms import (
    AssociationsForm,
    BulkForm,
    ClassifyForm,
    CloseForm,
    HandledOutsideForm,
    InboxFilterForm,
    ReplyForm,
    TaskForm,
    TransferForm,
)
from inbox.models import Conversation, Inbox, Message, Task
from inbox.panels import composer, conversation_side
from inbox.people import assignable_people
from inbox.saved_views import saved_views_context
from inbox.selectors import InboxFilters, counts, default_sort, filtered, sorted_page, timeline

TIMELINE_PAGE = 50
LIST_PAGE = 50
PANE = "conversation-pane"


def _inboxes() -> list[tuple[str, str]]:
    return list(Inbox.objects.values_list("code", "name"))


def inbox_labels() -> dict[str, Any]:
    """What the pages' scripts need to render realtime changes in the user's language (json_script)."""
    return {"states": {k: str(v) for k, v in ConversationState.choices},
            "delivery": {k: str(v) for k, v in DeliveryStatus.choices},
            "priorities": {k: str(v) for k, v in Priority.choices},
            "note": _("Nota interna"), "automation": _("Automatización"), "bot": _("Bot"),
            "choices": _("Opciones ofrecidas al cliente"), "unowned": _("sin dueño"),
            "awaiting": _("espera respuesta"),
            "waiting": _("espera %s"), "slaLeft": _("SLA %s"), "slaLate": _("SLA vencido hace %s"),
            "slaTitle": _("Nivel de servicio: vence el %s"),
            "sent": _("Respuesta enviada al cliente."),
            "units": {"lt": _("menos de 1 min"), "min": _("%d min"), "h": _("%d h"), "d": _("%d d")},
            "truncated": _("Mensaje largo: recargue la página para verlo completo."),
            "retry": _("Reintentar envío"), "notDelivered": _("No entregado"),
            "edited": _("(editado)"), "editedTitle": _("Editado por el cliente el %s"),
            "deleted": _("Mensaje eliminado por el cliente"), "original": _("Original"), "editedVersion": _("Editado"),
            "versionsOne": _("Ver la versión anterior"), "versionsMany": _("Ver las %d versiones anteriores"),
            "newMessage": _("Nuevo mensaje de %s"), "assigned": _("Se le asignó una conversación"),
            "error": _("No se pudo completar la acción. Revise la conexión e intente de nuevo.")}


def _targets(request: HttpRequest, element_id: str) -> bool:
    """True when this is an htmx request whose swap target is the element `element_id` (htmx 4 sends
    `HX-Target: tag#id`). History restores and full navigations get the whole page."""
    if not getattr(request, "htmx", False) or request.headers.get("HX-History-Restore-Request"):
        return False
    return request.headers.get("HX-Target", "").endswith(f"#{element_id}")


# --- the list -----------------------------------------------------------------------------------------


def _list_state(request: HttpRequest, user: User) -> dict[str, Any]:
    query = request.GET.copy()
    query.pop("after", None)
    data: QueryDict | dict[str, str] = request.GET.copy() if request.GET else {"state": "open"}
    form = InboxFilterForm(data, inboxes=_inboxes())
    f = InboxFilters(state="open")
    sort = ""
    if form.is_valid():
        d = form.cleaned_data
        f = InboxFilters(inbox=d["inbox"], state=d["state"], agent=d["agent"], channel=d["channel"],
                         priority=d["priority"], tag=d["tag"], unowned=d["unowned"], unanswered=d["unanswered"],
                         q=d["q"])
        sort = d["sort"]
    sort = sort or default_sort(f)
    rows, nxt = sorted_page(filtered(user, f), sort=sort, after=request.GET.get("after", ""), size=LIST_PAGE)
    badges = segments_of({r.customer_id for r in rows}, in_lists=True)
    for row in rows:
        row.segment_badges = badges.get(row.customer_id, [])  # type: ignore[attr-defined]
    return {"form": form, "rows": rows, "next_cursor": nxt, "query": query.urlencode(), "sort": sort,
            "now": timezone.now(), "can_supervise": user.has_perm_code(Perm.INBOX_SUPERVISE),
            "paged": bool(request.GET.get("after"))}


def _workspace(request: HttpRequest, user: User, extra: dict[str, Any]) -> HttpResponse:
    context = _list_state(request, user) | {
        "counts": counts(user), "inbox_labels": inbox_labels(), "bulk_form": BulkForm(),
        "close_reasons": [(r.value, r.label) for r in MANUAL_CLOSE_REASONS], "inbox_choices": _inboxes(),
        "people_any_url": reverse("inbox:people_any"), **saved_views_context(user), **extra}
    return render(request, "inbox/workspace.html", context)


@perm_required(Perm.INBOX_WORK)
def conversation_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if _targets(request, "inbox-rows"):  # filters, sort or "more": the rows only
        return render(request, "inbox/_rows.html", _list_state(request, user))
    if _targets(request, PANE):  # back to "no conversation selected" (mobile back button)
        return render(request, "inbox/_no_selection.html")
    return _workspace(request, user, {"c": None, "current_id": None})


@perm_required(Perm.INBOX_WORK)
def conversation_counts(request: HttpRequest) -> HttpResponse:
    """The folder counts, re-read after realtime changes (debounced by the page)."""
    user: User = request.user  # type: ignore[assignment]
    return render(request, "inbox/_counts.html", {"counts": counts(user), "query": ""})


# --- one conversation ---------------------------------------------------------------------------------


def close_options(c: Conversation) -> list[dict[str, Any]]:
    """The closing reasons with whether each is possible now and, when not, why (the close form)."""
    satisfied = set(actions.satisfied_reasons(c))
    documented = CloseReason.DERIVED_DOCUMENTED.value in satisfied
    needs_comment = _("Requiere un comentario descriptivo (al menos %d caracteres).") % actions.MIN_COMMENT
    why_not = {
        CloseReason.ANSWERED.value: _("Aún no hay una respuesta al cliente en este ciclo."),
        CloseReason.TASK_CREATED.value: _("No hay una tarea ni un ticket vinculado a la conversación."),
    }
    options = []
    for value, label in ((r.value, r.label) for r in MANUAL_CLOSE_REASONS):
        if value in (CloseReason.DERIVED_DOCUMENTED, CloseReason.CUSTOMER_CONFIRMED):
            hint = "" if value == CloseReason.DERIVED_DOCUMENTED and documented else (
                needs_comment if value == CloseReason.DERIVED_DOCUMENTED
                else _("Escriba en el comentario qué confirmó el cliente."))
            options.append({"value": value, "label": label, "possible": True, "hint": hint})
        else:
            options.append({"value": value, "label": label, "possible": value in satisfied,
                            "hint": "" if value in satisfied else why_not[value]})
    return options


def _timeline_items(c: Conversation, *, before: datetime | None = None, since: datetime | None = None,
                    limit: int = TIMELINE_PAGE) -> list[dict[str, object]]:
    items = timeline(c, limit=limit, before=before, since=since)
    delivery = dict(DeliveryStatus.choices)
    for item in items:
        if item["type"] == "message" and item["delivery_status"]:
            item["delivery_label"] = delivery.get(str(item["delivery_status"]), item["delivery_status"])
    annotate_timeline(items)
    return items


def _header_context(user: User, c: Conversation) -> dict[str, Any]:
    """What inbox/_conv_header.html needs: the facts, the actions this user may take and their dialogs."""
    can_supervise = user.has_perm_code(Perm.INBOX_SUPERVISE)
    return {"c": c, "close_form": CloseForm(auto_id="close-%s"), "close_options": close_options(c),
            "inbox_choices": _inboxes(), "priorities": Priority.choices, "can_supervise": can_supervise,
            "can_act": can_supervise or c.assignee_id in (None, user.pk), "now": timezone.now()}


def _side_context(request: HttpRequest, user: User, c: Conversation) -> dict[str, Any]:
    """What inbox/_context.html needs: the customer, their leads, other conversations, the tasks, and the regions
    other apps add (inbox.panels: the order builder)."""
    prefetch_related_objects([c.customer], "phones", "emails", "tags")  # the page and connector sidebars share them
    return {
        "classify_form": ClassifyForm(auto_id="classify-%s",
                                      initial={"outcome": c.outcome, "customer_state": c.customer_state}),
        "associations_form": AssociationsForm(initial={"company": c.company, "ticket_ref": c.ticket_ref}),
        "handled_form": HandledOutsideForm(), "tasks": _tasks(c),
        "other_conversations": list(c.customer.conversations.exclude(pk=c.pk).order_by("-last_activity_at")[:10]),
        "leads": list(c.customer.leads.order_by("-created_at")[:5]),
        "panels": conversation_side.render(request, user, c),
        **outbound.channel_templates(c.channel),
    }


def _conversation_context(request: HttpRequest, user: User, c: Conversation, *, before: datetime | None = None
                          ) -> dict[str, Any]:
    items = _timeline_items(c, before=before)
    return {
        **_header_context(user, c), **_side_context(request, user, c),
        "timeline": items, "reply_form": ReplyForm(), "transfer_form": TransferForm(), "task_form": TaskForm(),
        "older": items[0]["at"] if len(items) >= TIMELINE_PAGE else None, "showing_older": before is not None,
        "duplicates": actions.duplicates_of(c), "inbox_labels": inbox_labels(), "current_id": c.pk,
        # The composer shows the limits the actions enforce (maxlength and the hints).
        "reply_max_length": actions.message_max_length(c.channel), "note_max_length": settings.NOTE_MAX_LENGTH,
        "attachment_max_bytes": settings.ATTACHMENT_MAX_BYTES, "attachment_max_files": MAX_FILES_PER_MESSAGE,
        "attachment_max_mb": settings.ATTACHMENT_MAX_BYTES // (1024 * 1024),
        "can_reply": actions.can_reply(c), "composer_panels": composer.render(request, user, c),
    }


def _tasks(c: Conversation) -> list[Any]:
    return list(c.tasks.select_related("responsible").order_by("status", "due_at", "id"))


@perm_required(Perm.INBOX_WORK)
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        c = actions.access_conversation(user, conversation_id)
    except ActionError:
        if _targets(request, PANE):
            return render(request, "inbox/_no_selection.html", {"missing": True}, status=404)
        return render(request, "404.html", status=404)
    # The newest TIMELINE_PAGE items (a link opens the older ones): the page costs the same for 20 or 2,000 messages.
    before = parse_datetime(request.GET.get("antes", "")) if request.GET.get("antes") else None
    context = _conversation_context(request, user, c, before=before)
    if _targets(request, PANE):
        return render(request, "inbox/_conversation.html", context)
    return _workspace(request, user, context)


@perm_required(Perm.INBOX_WORK)
def close_form(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The close dialog's reasons as they stand now (re-read each time the dialog opens)."""
    user: User = request.user  # type: ignore[assignment]
    try:
        c = actions.access_conversation(user, conversation_id)
    except ActionError as exc:
        return HttpResponse(exc.message, status=404)
    return render(request, "inbox/_close_form_body.html", {"c": c, "close_options": close_options(c),
                                                            "close_form": CloseForm(auto_id="close-%s")})


@perm_required(Perm.INBOX_WORK)
def people(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The people picker's options: only people who can take the conversation (in the destination inbox when a
    transfer names one), with availability, open load and inboxes."""
    user: User = request.user  # type: ignore[assignment]
    try:
        c = actions.access_conversation(user, conversation_id)
    except ActionError as exc:
        return HttpResponse(exc.message, status=404)
    inbox = Inbox.objects.filter(code=request.GET.get("to_inbox", "")).first() if request.GET.get("to_inbox") else None
    found = assignable_people(c, q=request.GET.get("q", "")[:100], inbox=inbox)
    return render(request, "inbox/_people.html", {"people": found, "c": c, "listbox": request.GET.get("listbox", "")})


@perm_required(Perm.INBOX_WORK)
def people_any(request: HttpRequest) -> HttpResponse:
    """The bulk bar's picker: everyone who works conversations (each conversation's own rule is checked when the
    bulk action runs, one by one)."""
    found = assignable_people(None, q=request.GET.get("q", "")[:100])
    return render(request, "inbox/_people.html", {"people": found, "listbox": request.GET.get("listbox", "")})


# --- actions: one response shape for every in-place change ----------------------------------------------


def _slot(request: HttpRequest) -> str:
    """The error slot next to the control that sent the request (`err-<form id>`)."""
    source = request.headers.get("HX-Source", "")
    form_id = source.split("#", 1)[1] if "#" in source else ""
    return f"err-{form_id}" if form_id else ""


def _inplace(request: HttpRequest, conversation_id: int, *, since: datetime, ok: str = "",
             error: ActionError | None = None, regions: frozenset[str] = frozenset({"header", "row"})) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    context: dict[str, Any] = {"flash": ok, "error": error.message if error else "", "slot": _slot(request),
                               "regions": regions, "now": timezone.now()}
    status = error.status if error else 200
    try:
        c = actions.access_conversation(user, conversation_id)
    except ActionError:
        c = None  # it left this user's view (moved to an inbox they do not work): say so, remove the row
        context["gone"] = conversation_id
    if c is not None:
        # the row re-rendered here keeps its segment badges (the list's own rows prefetch them)
        c.segment_badges = segments_of([c.customer_id], in_lists=True).get(c.customer_id, [])  # type: ignore[attr-defined]
    if c is not None and not error:
        context |= {**_header_context(user, c), **outbound.channel_templates(c.channel),
                    "new_items": _timeline_items(c, since=since, limit=20)}
        if "context" in regions:
            context |= _side_context(request, user, c)
        elif "tasks" in regions:
            context["tasks"] = _tasks(c)
    elif c is not None:
        context["c"] = c
    return render(request, "inbox/_inplace.html", context, status=status)


def _run(request: HttpRequest, conversation_id: int, fn: Callable[[], object], ok: str,
         regions: frozenset[str] = frozenset({"header", "row"})) -> HttpResponse:
    since = timezone.now()
    try:
        fn()
    except ActionError as exc:
        if request.htmx:  # type: ignore[attr-defined]
            return _inplace(request, conversation_id, since=since, error=exc, regions=regions)
        messages.error(request, exc.message)
    else:
        if request.htmx:  # type: ignore[attr-defined]
            return _inplace(request, conversation_id, since=since, ok=ok, regions=regions)
        messages.success(request, ok)
    return redirect("inbox:detail", conversation_id=conversation_id)


def _invalid(request: HttpRequest, conversation_id: int, message: str) -> HttpResponse:
    return _run(request, conversation_id, lambda: _raise(message), "")


def _raise(message: str) -> None:
    raise ActionError("invalid_form", message)


@require_POST
@perm_required(Perm.INBOX_WORK)
def post_message(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = ReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        # Empty, or refused by the form (a NUL character, a file too large): say which.
        refused = " ".join(str(e) for e in [*form.errors.get("body", []), *form.errors.get("__all__", [])])
        return _invalid(request, conversation_id, refused or _("Escriba el mensaje o adjunte un archivo."))
    d = form.cleaned_data
    uploads, references = form.uploads(), d["attachment_refs"]
    if d["kind"] == "note":
        return _run(request, conversation_id, lambda: actions.check_add_note(
            user, conversation_id, body=d["body"], uploads=uploads, references=references),
            _("Nota interna guardada (el cliente no la ve)."))
    return _run(request, conversation_id, lambda: actions.check_send_reply(
        user, conversation_id, body=d["body"], uploads=uploads, references=references),
        _("Respuesta enviada al cliente."))


@require_POST
@perm_required(Perm.INBOX_WORK)
def take(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    assignee = request.POST.get("assignee") or user.pk
    return _run(request, conversation_id, lambda: actions.check_assign(user, conversation_id, assignee=assignee),
                _("Responsable actualizado."), regions=frozenset({"header", "row", "context", "dialogs"}))


@require_POST
@perm_required(Perm.INBOX_WORK)
def close(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = CloseForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation_id, _("Elija el motivo de cierre."))
    return _run(request, conversation_id, lambda: actions.check_close_conversation(
        user, conversation_id, reason=form.cleaned_data["reason"], comment=form.composed(),
        outcome=form.cleaned_data["outcome"], customer_state=form.cleaned_data["customer_state"]),
        _("Conversación resuelta."), regions=frozenset({"header", "row", "context", "dialogs"}))


@require_POST
@perm_required(Perm.INBOX_WORK)
def classify(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = ClassifyForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation_id, _("Resultado o estado del cliente inválido."))
    return _run(request, conversation_id, lambda: actions.check_classify_conversation(
        user, conversation_id, outcome=form.cleaned_data["outcome"],
        customer_state=form.cleaned_data["customer_state"]), _("Clasificación guardada."),
        regions=frozenset({"header", "context"}))


@require_POST
@perm_required(Perm.INBOX_WORK)
def transfer(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = TransferForm(request.POST)
    form.fields["to_inbox"].choices = [("", "—"), *_inboxes()]  # type: ignore[attr-defined]
    if not form.is_valid():
        return _invalid(request, conversation_id, _("Revise el formulario de transferencia."))
    d = form.cleaned_data
    return _run(request, conversation_id, lambda: actions.check_transfer(
        user, conversation_id, comment=form.composed(), to_user=d["to_user"] or None, to_inbox=d["to_inbox"] or None),
        _("Conversación transferida."), regions=frozenset({"header", "row", "context", "dialogs"}))


@require_POST
@perm_required(Perm.INBOX_WORK)
def escalate(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = TransferForm(request.POST)
    form.fields["to_inbox"].choices = [("", "—")]  # type: ignore[attr-defined]
    form.is_valid()
    return _run(request, conversation_id, lambda: actions.check_escalate(user, conversation_id,
                                                                         comment=form.composed()),
                _("Escalada a un supervisor."), regions=frozenset({"header", "row", "context", "dialogs"}))


@require_POST
@perm_required(Perm.INBOX_WORK)
def add_task(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = TaskForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation_id, _("Escriba la tarea."))
    d = form.cleaned_data
    return _run(request, conversation_id, lambda: actions.check_create_task(
        user, conversation_id, title=d["title"], responsible=d["responsible"] or None, due_at=d["due_at"]),
        _("Tarea creada y vinculada."), regions=frozenset({"header", "tasks"}))


@require_POST
@perm_required(Perm.INBOX_WORK)
def task_status(request: HttpRequest, task_id: int) -> HttpResponse:
    """Complete or reopen a task from the context pane."""
    user: User = request.user  # type: ignore[assignment]
    conversation_id = Task.objects.filter(pk=task_id).values_list("conversation_id", flat=True).first()
    if conversation_id is None:
        raise Http404
    fn = task_actions.check_reopen_task if request.POST.get("op") == "reopen" else task_actions.check_complete_task
    ok = _("Tarea reabierta.") if request.POST.get("op") == "reopen" else _("Tarea completada.")
    return _run(request, conversation_id, lambda: fn(user, task_id), ok, regions=frozenset({"header", "tasks"}))


@require_POST
@perm_required(Perm.INBOX_WORK)
def priority(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    value = request.POST.get("priority", "")
    return _run(request, conversation_id, lambda: actions.check_set_associations(
        user, conversation_id, priority=value), _("Prioridad actualizada."), regions=frozenset({"header", "row"}))


@require_POST
@perm_required(Perm.INBOX_WORK)
def tags(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Adds (`add`) or removes (`remove`) one conversation tag."""
    user: User = request.user  # type: ignore[assignment]

    def change() -> None:
        c = actions.access_conversation(user, conversation_id)
        current = list(c.tags.values_list("name", flat=True))
        add, remove = request.POST.get("add", "").strip()[:60], request.POST.get("remove", "")
        if not add and not remove:
            raise ActionError("tag_required", _("Escriba la etiqueta."), field="add")
        names = [t for t in current if t != remove] + ([add] if add and add not in current else [])
        actions.check_set_associations(user, conversation_id, tags=names)

    return _run(request, conversation_id, change, _("Etiquetas actualizadas."), regions=frozenset({"header", "row"}))


@require_POST
@perm_required(Perm.INBOX_WORK)
def associations(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = AssociationsForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation_id, _("Revise la empresa y el ticket."))
    return _run(request, conversation_id, lambda: actions.check_set_associations(
        user, conversation_id, company=form.cleaned_data["company"], ticket_ref=form.cleaned_data["ticket_ref"]),
        _("Asociaciones guardadas."), regions=frozenset({"header", "context"}))


@require_POST
@perm_required(Perm.INBOX_WORK)
def handled_outside(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = HandledOutsideForm(request.POST)
    if not form.is_valid():
        return _invalid(request, conversation_id, _("Indique el canal externo y un comentario."))
    return _run(request, conversation_id, lambda: actions.check_mark_handled_outside(
        user, conversation_id, external_channel=form.cleaned_data["external_channel"],
        comment=form.cleaned_data["comment"]), _("Atención fuera del CRM documentada."),
        regions=frozenset({"header", "context"}))


@require_POST
@perm_required(Perm.INBOX_WORK)
def retry_delivery(request: HttpRequest, conversation_id: int, message_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    return _run(request, conversation_id, lambda: actions.check_retry_delivery(user, conversation_id, message_id),
                _("El mensaje volvió a la cola de envío."))


@require_POST
@perm_required(Perm.INBOX_WORK)
def bulk_action(request: HttpRequest) -> HttpResponse:
    """Bulk assign / move / tag / close from the list, with the same rules as one by one."""
    user: User = request.user  # type: ignore[assignment]
    form = BulkForm(request.POST)
    back = reverse("inbox:list") + (f"?{request.POST['query']}" if request.POST.get("query") else "")
    if not form.is_valid():
        error = _("Seleccione conversaciones y una acción.")
        if request.htmx:  # type: ignore[attr-defined]
            return render(request, "inbox/_bulk_result.html", {"error": error}, status=400)
        messages.error(request, error)
        return redirect(back)
    d = form.cleaned_data
    try:
        result = bulk.check_bulk(user, conversation_ids=d["ids"], op=d["op"], assignee_id=d["assignee"],
                                 inbox_code=d["to_inbox"] or None, tag=d["tag"] or None, reason=d["reason"] or None,
                                 comment=d["comment"])
    except ActionError as exc:
        if request.htmx:  # type: ignore[attr-defined]
            return render(request, "inbox/_bulk_result.html", {"error": exc.message}, status=exc.status)
        messages.error(request, exc.message)
        return redirect(back)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "inbox/_bulk_result.html", {"result": result})
    if result.ok:
        messages.success(request, _("%d conversaciones actualizadas.") % len(result.ok))
    for cid, why in result.failed:
        messages.error(request, _("#%(id)s: %(why)s") % {"id": cid, "why": why})
    return redirect(back)


@perm_required(Perm.INBOX_WORK)
def attachment(request: HttpRequest, inbound_id: int, index: int) -> HttpResponseBase:
    """Serves one stored attachment to a user who may see its conversation (never a public media URL). A message
    the customer deleted keeps its media for supervisors only, like its text (inbox/revision_actions.py)."""
    user: User = request.user  # type: ignore[assignment]
    m = Message.objects.filter(pk=inbound_id).only("conversation_id", "attachments", "deleted_at").first()
    if m is None or not actions.visible_to(user, m.conversation_id) or index >= len(m.attachments or []):
        raise Http404
    if m.deleted_at is not None and not user.has_perm_code(Perm.INBOX_SUPERVISE):
        raise Http404
    return file_response(m.attachments[index])
