"""Inbox pages: the unified list and the conversation screen. Thin adapters over inbox.actions."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError
from core.permissions import perm_required
from inbox import actions, outbound
from inbox.choices import CloseReason, ConversationState, DeliveryStatus
from inbox.forms import ClassifyForm, CloseForm, InboxFilterForm, ReplyForm, TaskForm, TransferForm
from inbox.models import Inbox
from inbox.saved_views import saved_views_context
from inbox.selectors import InboxFilters, filtered, page, timeline

TIMELINE_PAGE = 50


def _inboxes() -> list[tuple[str, str]]:
    return list(Inbox.objects.values_list("code", "name"))


def inbox_labels() -> dict[str, Any]:
    """What the pages' scripts need to render realtime changes in the user's language (json_script)."""
    return {"states": {k: str(v) for k, v in ConversationState.choices},
            "delivery": {k: str(v) for k, v in DeliveryStatus.choices},
            "note": _("Nota interna"), "unowned": _("sin dueño"), "awaiting": _("espera respuesta"),
            "truncated": _("Mensaje largo: recargue la página para verlo completo.")}


@perm_required(Perm.INBOX_WORK)
def conversation_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    data = request.GET.copy() if request.GET else {"state": "open"}
    form = InboxFilterForm(data, inboxes=_inboxes())
    f = InboxFilters(state="open")
    if form.is_valid():
        d = form.cleaned_data
        f = InboxFilters(inbox=d["inbox"], state=d["state"], agent=d["agent"], channel=d["channel"],
                         priority=d["priority"], tag=d["tag"], unowned=d["unowned"], unanswered=d["unanswered"],
                         q=d["q"])
    rows, nxt = page(filtered(user, f), after=request.GET.get("after", ""), size=50)
    query = request.GET.copy()
    query.pop("after", None)
    template = "inbox/_rows.html" if request.htmx else "inbox/list.html"  # type: ignore[attr-defined]
    context = {"form": form, "rows": rows, "next_cursor": nxt, "query": query.urlencode()}
    if not request.htmx:  # type: ignore[attr-defined]  # the rows fragment needs neither
        context |= {"inbox_labels": inbox_labels(), **saved_views_context(user)}
    return render(request, template, context)


@perm_required(Perm.INBOX_WORK)
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        c = actions.access_conversation(user, conversation_id)
    except ActionError:
        return render(request, "404.html", status=404)
    transfer = TransferForm()
    transfer.fields["to_inbox"].choices = [("", "—"), *_inboxes()]  # type: ignore[attr-defined]
    # The newest TIMELINE_PAGE items (a link opens the older ones): the page costs the same for 20 or 2,000 messages.
    before = parse_datetime(request.GET.get("antes", "")) if request.GET.get("antes") else None
    items = timeline(c, limit=TIMELINE_PAGE, before=before)
    delivery = dict(DeliveryStatus.choices)
    for item in items:
        if item["type"] == "message" and item["delivery_status"]:
            item["delivery_label"] = delivery.get(str(item["delivery_status"]), item["delivery_status"])
    prefetch_related_objects([c.customer], "phones", "emails", "tags")  # the page and connector sidebars share them
    return render(request, "inbox/detail.html", {
        "c": c, "timeline": items, "reply_form": ReplyForm(), "close_form": CloseForm(),
        "classify_form": ClassifyForm(initial={"outcome": c.outcome, "customer_state": c.customer_state}),
        "older": items[0]["at"] if len(items) >= TIMELINE_PAGE else None, "showing_older": before is not None,
        "transfer_form": transfer, "task_form": TaskForm(), "tasks": c.tasks.select_related("responsible"),
        "possible_reasons": actions.satisfied_reasons(c), "all_reasons": CloseReason.choices,
        "other_conversations": c.customer.conversations.exclude(pk=c.pk).order_by("-last_activity_at")[:10],
        "duplicates": actions.duplicates_of(c), "leads": c.customer.leads.order_by("-created_at")[:5],
        "orders": c.customer.orders.order_by("-created_at")[:5],
        "can_supervise": user.has_perm_code(Perm.INBOX_SUPERVISE),
        "inbox_labels": inbox_labels(),
        **outbound.channel_templates(c.channel),
    })


def _back(conversation_id: int) -> HttpResponse:
    return redirect("inbox:detail", conversation_id=conversation_id)


def _run(request: HttpRequest, conversation_id: int, fn: Any, ok: str) -> HttpResponse:
    try:
        fn()
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, ok)
    return _back(conversation_id)


@require_POST
@perm_required(Perm.INBOX_WORK)
def post_message(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = ReplyForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Escriba el mensaje."))
        return _back(conversation_id)
    d = form.cleaned_data
    if d["kind"] == "note":
        return _run(request, conversation_id, lambda: actions.check_add_note(user, conversation_id, body=d["body"]),
                    _("Nota interna guardada (el cliente no la ve)."))
    return _run(request, conversation_id, lambda: actions.check_send_reply(user, conversation_id, body=d["body"]),
                _("Respuesta enviada al cliente."))


@require_POST
@perm_required(Perm.INBOX_WORK)
def take(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    assignee = request.POST.get("assignee") or user.username
    return _run(request, conversation_id, lambda: actions.check_assign(user, conversation_id, assignee=assignee),
                _("Responsable actualizado."))


@require_POST
@perm_required(Perm.INBOX_WORK)
def close(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = CloseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Elija el motivo de cierre."))
        return _back(conversation_id)
    return _run(request, conversation_id, lambda: actions.check_close_conversation(
        user, conversation_id, reason=form.cleaned_data["reason"], comment=form.composed(),
        outcome=form.cleaned_data["outcome"], customer_state=form.cleaned_data["customer_state"]),
        _("Conversación resuelta."))


@require_POST
@perm_required(Perm.INBOX_WORK)
def classify(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = ClassifyForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Resultado o estado del cliente inválido."))
        return _back(conversation_id)
    return _run(request, conversation_id, lambda: actions.check_classify_conversation(
        user, conversation_id, outcome=form.cleaned_data["outcome"],
        customer_state=form.cleaned_data["customer_state"]), _("Clasificación guardada."))


@require_POST
@perm_required(Perm.INBOX_WORK)
def transfer(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = TransferForm(request.POST)
    form.fields["to_inbox"].choices = [("", "—"), *_inboxes()]  # type: ignore[attr-defined]
    if not form.is_valid():
        messages.error(request, _("Revise el formulario de transferencia."))
        return _back(conversation_id)
    d = form.cleaned_data
    return _run(request, conversation_id, lambda: actions.check_transfer(
        user, conversation_id, comment=form.composed(), to_user=d["to_user"] or None, to_inbox=d["to_inbox"] or None),
        _("Conversación transferida."))


@require_POST
@perm_required(Perm.INBOX_WORK)
def escalate(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = TransferForm(request.POST)
    form.fields["to_inbox"].choices = [("", "—")]  # type: ignore[attr-defined]
    form.is_valid()
    return _run(request, conversation_id, lambda: actions.check_escalate(user, conversation_id,
                                                                         comment=form.composed()),
                _("Escalada a un supervisor."))


@require_POST
@perm_required(Perm.INBOX_WORK)
def add_task(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = TaskForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Escriba la tarea."))
        return _back(conversation_id)
    d = form.cleaned_data
    return _run(request, conversation_id, lambda: actions.check_create_task(
        user, conversation_id, title=d["title"], responsible=d["responsible"] or None, due_at=d["due_at"]),
        _("Tarea creada y vinculada."))


@perm_required(Perm.INBOX_WORK)
def attachment(request: HttpRequest, inbound_id: int, index: int) -> HttpResponseBase:
    """Serves one stored attachment to a user who may see its conversation (never a public media URL)."""
    from django.core.files.storage import default_storage
    from django.http import FileResponse, Http404

    from inbox.models import Message

    user: User = request.user  # type: ignore[assignment]
    m = Message.objects.filter(pk=inbound_id).only("conversation_id", "attachments").first()
    if m is None or not actions.visible_to(user, m.conversation_id) or index >= len(m.attachments or []):
        raise Http404
    a = m.attachments[index]
    if not a.get("path") or not default_storage.exists(a["path"]):
        raise Http404
    inline = str(a.get("content_type", "")).startswith(("image/", "audio/"))
    return FileResponse(default_storage.open(a["path"], "rb"), as_attachment=not inline,
                        filename=a.get("name") or "archivo", content_type=a.get("content_type"))
