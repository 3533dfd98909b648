"""Quick replies: the management page (everyone who answers keeps their own; supervisors the shared ones), and the
composer's picker and insertion (automation/static/automation/quick_replies.js)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from automation import actions
from automation.choices import QUICK_REPLY_CATEGORIES
from automation.composer import pending_scheduled
from automation.forms import QuickReplyFilterForm, QuickReplyForm
from automation.models import QuickReply, ScheduledMessage
from automation.selectors import picker_options, visible_quick_replies
from automation.variables import DOCUMENTED, Values
from automation.variables import render as render_variables
from connectors.whatsapp.models import MessageTemplate
from connectors.whatsapp.window import number_for, window_for
from core.errors import ActionError
from core.forms import show_action_errors
from core.permissions import forbidden, perm_required
from inbox.actions import access_conversation, check_may_act
from inbox.models import Conversation


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _page_context(user: User) -> dict[str, Any]:
    return {"can_share": user.has_perm_code(Perm.INBOX_SUPERVISE), "variables": DOCUMENTED,
            "categories": [str(c) for c in QUICK_REPLY_CATEGORIES]}


@perm_required(Perm.INBOX_WORK)
def quick_reply_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = QuickReplyFilterForm(request.GET or None)
    replies = visible_quick_replies(user)
    if form.is_valid():
        q, category = form.cleaned_data["q"].strip(), form.cleaned_data["category"].strip()
        if q:
            replies = replies.filter(Q(shortcut__icontains=q.lstrip("/")) | Q(title__icontains=q)
                                     | Q(body__icontains=q))
        if category:
            replies = replies.filter(category__iexact=category)
    rows = list(replies.order_by("shortcut", "id")[:500])
    for reply in rows:
        reply.editable = actions.may_edit_quick_reply(user, reply.scope, reply.owner_id)  # type: ignore[attr-defined]
    return render(request, "automation/quick_replies.html", {
        **_page_context(user), "replies": rows, "form": form, "filtered": bool(request.GET)})


def _save(request: HttpRequest, reply: QuickReply | None) -> HttpResponse:
    user = _user(request)
    can_share = user.has_perm_code(Perm.INBOX_SUPERVISE)
    initial = {} if reply is None else {
        "title": reply.title, "shortcut": reply.shortcut, "body": reply.body, "category": reply.category,
        "scope": reply.scope, "inbox": reply.inbox.code if reply.inbox else ""}
    form = QuickReplyForm(request.POST or None, initial=initial, can_share=can_share)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            d = form.cleaned_data
            try:
                saved = actions.check_save_quick_reply(
                    user, quick_reply_id=reply.pk if reply else None, title=d["title"], shortcut=d["shortcut"],
                    body=d["body"], category=d["category"], scope=d["scope"], inbox_code=d["inbox"] or "")
            except ActionError as exc:
                show_action_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Respuesta rápida /%s guardada.") % saved.shortcut)
                return redirect("automation:quick_replies")
        else:
            status = 400
    return render(request, "automation/quick_reply_form.html",
                  {**_page_context(user), "form": form, "reply": reply}, status=status)


@perm_required(Perm.INBOX_WORK)
def quick_reply_create(request: HttpRequest) -> HttpResponse:
    return _save(request, None)


@perm_required(Perm.INBOX_WORK)
def quick_reply_edit(request: HttpRequest, quick_reply_id: int) -> HttpResponse:
    user = _user(request)
    try:
        reply = actions.access_quick_reply(user, quick_reply_id)
    except ActionError:
        return render(request, "404.html", status=404)
    if not actions.may_edit_quick_reply(user, reply.scope, reply.owner_id):
        return forbidden(request)
    return _save(request, reply)


@require_POST
@perm_required(Perm.INBOX_WORK)
def quick_reply_delete(request: HttpRequest, quick_reply_id: int) -> HttpResponse:
    try:
        actions.check_delete_quick_reply(_user(request), quick_reply_id)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Respuesta rápida borrada."))
    return redirect("automation:quick_replies")


def _conversation(request: HttpRequest, conversation_id: int) -> Conversation | None:
    """The conversation, if this user may answer in it (its responsible agent, or a supervisor)."""
    try:
        c = access_conversation(_user(request), conversation_id)
        check_may_act(_user(request), c)
    except ActionError:
        return None
    return c


@perm_required(Perm.INBOX_WORK)
def picker(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The options for what follows the `/` (`q`), each rendered for this conversation. A WhatsApp conversation
    whose 24-hour window is closed cannot take free text: the approved templates are offered instead."""
    user = _user(request)
    c = _conversation(request, conversation_id)
    if c is None:
        return HttpResponse(status=404)
    q = request.GET.get("q", "")[:40]
    if c.channel == "whatsapp":
        number = number_for(c)
        if number is not None and not window_for(c).is_open:
            templates = (MessageTemplate.objects.filter(waba_id=number.waba_id, status__iexact="APPROVED")
                         .order_by("name", "language"))
            return render(request, "automation/_picker.html", {"window_closed": True, "templates": templates})
    values = Values(c, user)  # one lookup of the customer's order for every option
    options = [{"reply": r, "rendered": render_variables(r.body, conversation=c, agent=user, values=values)}
               for r in picker_options(user, c, q)]
    return render(request, "automation/_picker.html", {"options": options, "q": q})


@require_POST
@perm_required(Perm.INBOX_WORK)
def use(request: HttpRequest, quick_reply_id: int, conversation_id: int) -> HttpResponse:
    """The chosen reply, rendered for the conversation: the composer inserts `body` and flags `missing`."""
    user = _user(request)
    c = _conversation(request, conversation_id)
    try:
        if c is None:
            raise ActionError("conversation_not_found", _("La conversación no existe."))
        reply = actions.access_quick_reply(user, quick_reply_id, conversation=c)
    except ActionError as exc:
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=404)
    rendered = render_variables(reply.body, conversation=c, agent=user)
    actions.do_record_use(reply)
    return JsonResponse({"body": rendered.body, "missing": rendered.missing})


# --- scheduled messages -----------------------------------------------------------------------------------------


def parse_moment(date_text: str, time_text: str) -> datetime:
    """The form's date (YYYY-MM-DD) and time (H:MM), in TIME_ZONE (400 `invalid_send_at` otherwise)."""
    try:
        day = date.fromisoformat(date_text.strip())
        hours, minutes = (int(part) for part in time_text.strip().split(":"))
        return timezone.make_aware(datetime.combine(day, time(hours, minutes)))
    except (ValueError, TypeError):
        raise ActionError("invalid_send_at", _("Indique la fecha y la hora (HH:MM)."), field="send_at") from None


def _scheduled_list(request: HttpRequest, c: Conversation, *, status: int = 200, feedback: str = "",
                    error: str = "") -> HttpResponse:
    return render(request, "automation/_scheduled_list.html", {
        "c": c, "scheduled": pending_scheduled(c), "scheduled_feedback": feedback, "scheduled_error": error},
        status=status)


@require_POST
@perm_required(Perm.INBOX_WORK)
def schedule(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """"Enviar más tarde" (the composer's text, a date and a time): the refreshed list, or 4xx with the reason."""
    user = _user(request)
    try:
        if request.POST.get("kind", "reply") != "reply":  # an internal note is never scheduled to the customer
            raise ActionError("note_not_scheduled", _("Solo las respuestas al cliente se pueden programar."))
        send_at = parse_moment(request.POST.get("send_date", ""), request.POST.get("send_time", ""))
        scheduled = actions.check_schedule_message(user, conversation_id, send_at=send_at,
                                                   body=request.POST.get("body", "")[:10000])
    except ActionError as exc:
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=exc.status)
    done = _("Programado para el %s.") % date_format(timezone.localtime(scheduled.send_at), "SHORT_DATETIME_FORMAT")
    return _scheduled_list(request, scheduled.conversation, feedback=done)


def _change(request: HttpRequest, scheduled_id: int, run: Callable[[User, ScheduledMessage], ScheduledMessage],
            done: str) -> HttpResponse:
    user = _user(request)
    try:
        scheduled = actions.access_scheduled(user, scheduled_id)
    except ActionError:
        return HttpResponse(status=404)
    c = scheduled.conversation
    try:
        run(user, scheduled)
    except ActionError as exc:
        if not request.htmx:  # type: ignore[attr-defined]
            messages.error(request, exc.message)
            return redirect("inbox:detail", conversation_id=c.pk)
        return _scheduled_list(request, c, status=exc.status, error=exc.message)
    if not request.htmx:  # type: ignore[attr-defined]
        messages.success(request, done)
        return redirect("inbox:detail", conversation_id=c.pk)
    return _scheduled_list(request, c, feedback=done)


@require_POST
@perm_required(Perm.INBOX_WORK)
def scheduled_update(request: HttpRequest, scheduled_id: int) -> HttpResponse:
    def run(user: User, current: ScheduledMessage) -> ScheduledMessage:
        body = request.POST.get("body")  # only the author's form has the text (it goes out in their name)
        return actions.check_update_scheduled(
            user, scheduled_id, send_at=parse_moment(request.POST.get("send_date", ""),
                                                     request.POST.get("send_time", "")),
            body=body[:10000] if body is not None else None, template_id=current.template_id,
            variables=dict(current.variables or {}))
    return _change(request, scheduled_id, run, _("Mensaje programado actualizado."))


@require_POST
@perm_required(Perm.INBOX_WORK)
def scheduled_cancel(request: HttpRequest, scheduled_id: int) -> HttpResponse:
    return _change(request, scheduled_id, lambda user, _current: actions.check_cancel_scheduled(user, scheduled_id),
                   _("Envío cancelado."))
