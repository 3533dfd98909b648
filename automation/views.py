"""Quick replies: the management page (everyone who answers keeps their own; supervisors the shared ones), and the
composer's picker and insertion (automation/static/automation/quick_replies.js)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, time
from functools import partial
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
from automation.choices import QUICK_REPLY_CATEGORIES, SLA_CHANNELS
from automation.composer import pending_scheduled
from automation.forms import QuickReplyFilterForm, QuickReplyForm
from automation.models import QuickReply, ScheduledMessage, SlaPolicy
from automation.selectors import picker_options, visible_quick_replies
from automation.variables import DOCUMENTED, Values
from automation.variables import render as render_variables
from connectors.whatsapp.models import MessageTemplate
from connectors.whatsapp.templatetags.whatsapp import whatsapp_compose
from connectors.whatsapp.window import number_for, window_for
from core.errors import ActionError
from core.forms import show_action_errors
from core.permissions import forbidden, perm_required
from inbox.actions import access_conversation, check_may_act
from inbox.choices import Channel
from inbox.models import Conversation, Inbox


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
    """"Enviar más tarde" (the composer's text or a WhatsApp template with its values, a date and a time): the
    refreshed list, or 4xx with the reason."""
    user = _user(request)
    try:
        if request.POST.get("kind", "reply") != "reply":  # an internal note is never scheduled to the customer
            raise ActionError("note_not_scheduled", _("Solo las respuestas al cliente se pueden programar."))
        send_at = parse_moment(request.POST.get("send_date", ""), request.POST.get("send_time", ""))
        template = request.POST.get("template", "")
        if template:  # an approved WhatsApp template instead of the text box (it may go out after the window)
            if not template.isdecimal() or len(template) > 12:
                raise ActionError("template_not_approved", _("Elija una de las plantillas aprobadas."))
            prefix = f"var_{template}_"
            scheduled = actions.check_schedule_message(
                user, conversation_id, send_at=send_at, template_id=int(template),
                variables={k[len(prefix):]: str(v)[:1024] for k, v in request.POST.items() if k.startswith(prefix)})
        else:
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


# --- service levels ------------------------------------------------------------------------------------------

_MINUTE_FIELDS = ("first_response", "next_response", "resolution", "escalate_after")


def _minutes(value: int | None) -> str:
    if value is None:
        return ""
    minutes = value / 60
    return str(int(minutes)) if minutes == int(minutes) else f"{minutes:.2f}".rstrip("0")


def _policy_rows(post: Any | None) -> tuple[list[dict[str, Any]], list[actions.SlaPolicyInput], dict[str, str],
                                           list[tuple[str, str]]]:
    """The page's rows (what is shown) and, from a POST, what they ask for, with every field error at once.
    Minutes on screen, seconds in the action; an empty field is "not timed"."""
    rows: list[dict[str, Any]] = []
    if post is None:
        rows = [{"channel": p.channel, "inbox": p.inbox.code if p.inbox else "",
                 **{f: _minutes(p.seconds(_target(f))) for f in _MINUTE_FIELDS},
                 **{f: getattr(p, f) for f in actions.SLA_FLAGS}, "delete": False}
                for p in SlaPolicy.objects.select_related("inbox").order_by("inbox__name", "channel", "id")]
        rows.append({"channel": "", "inbox": "", **dict.fromkeys(_MINUTE_FIELDS, ""), "business_hours": False,
                     "pause_on_hold": True, "email_on_breach": False, "active": True, "delete": False, "new": True})
        return rows, [], {}, []
    removed: list[tuple[str, str]] = []
    inputs: list[actions.SlaPolicyInput] = []
    errors: dict[str, str] = {}
    for n in range(_row_count(post)):
        get = partial(_field, post, n)
        row: dict[str, Any] = {"channel": get("channel"), "inbox": get("inbox"), **{f: get(f) for f in _MINUTE_FIELDS},
               **{f: get(f) == "on" for f in (*actions.SLA_FLAGS, "delete")}, "new": get("new") == "1"}
        rows.append(row)
        if row["delete"] and not row["new"]:
            removed.append((row["channel"], row["inbox"]))
            continue
        if row["new"] and not row["channel"]:
            continue
        seconds: dict[str, int | None] = {}
        for f in _MINUTE_FIELDS:
            seconds[f] = _seconds(row[f])
            if seconds[f] == -1:
                errors[f"{len(inputs)}.{f}_seconds"] = _("Escriba los minutos como un número.")
                seconds[f] = None
        row["index"] = len(inputs)
        inputs.append(actions.SlaPolicyInput(
            channel=row["channel"], inbox_code=row["inbox"],
            first_response_seconds=seconds["first_response"], next_response_seconds=seconds["next_response"],
            resolution_seconds=seconds["resolution"], escalate_after_seconds=seconds["escalate_after"],
            **{f: row[f] for f in actions.SLA_FLAGS}))
    return rows, inputs, errors, removed


def _row_count(post: Any) -> int:
    """How many rows the page sent (at most the 200 the action takes); a mangled count is no rows."""
    try:
        return max(0, min(int(str(post.get("rows") or "0")[:4]), 200))
    except ValueError:
        return 0


def _seconds(minutes: str) -> int | None:
    """Minutes as typed ("5", "0,5") in seconds; None when empty, -1 when not a finite number."""
    if not minutes:
        return None
    try:
        value = float(minutes.replace(",", "."))
    except ValueError:
        return -1
    if not math.isfinite(value) or abs(value) > 10**7:
        return -1 if not math.isfinite(value) else round(math.copysign(10**7, value) * 60)
    return round(value * 60)


def _field(post: Any, n: int, name: str) -> str:
    return str(post.get(f"p-{n}-{name}") or "").strip()[:60]


def _target(field: str) -> str:
    return "escalation" if field == "escalate_after" else field


@perm_required(Perm.INBOX_WORK)
def sla_policies(request: HttpRequest) -> HttpResponse:
    """The service-level policies: everyone who answers reads them; supervisors change them (one form, saved at
    once through actions.check_save_sla_policies)."""
    user = _user(request)
    can_edit = user.has_perm_code(Perm.INBOX_SUPERVISE)
    status = 200
    if request.method == "POST":
        if not can_edit:
            return forbidden(request)
        rows, inputs, errors, removed = _policy_rows(request.POST)
        if not rows:
            errors = {"": _("El formulario llegó vacío: recargue la página e intente de nuevo.")}
        if not errors:
            try:
                actions.check_save_sla_policies(user, inputs, remove=removed)
            except ActionError as exc:
                errors = {str(k): str(v) for k, v in (exc.details.get("errors") or {"": exc.message}).items()}
            else:
                messages.success(request, _("Niveles de servicio guardados."))
                return redirect("automation:sla_policies")
        for row in rows:
            i = row.get("index")
            row["errors"] = {k.split(".", 1)[1]: v for k, v in errors.items() if i is not None
                             and k.split(".", 1)[0] == str(i)}
        status = 400
    else:
        rows, _inputs, errors, _removed = _policy_rows(None)
    return render(request, "automation/sla_policies.html", {
        "rows": rows, "can_edit": can_edit, "general_error": errors.get(""), "channels": [
            (value, label) for value, label in Channel.choices if value in SLA_CHANNELS],
        "inboxes": list(Inbox.objects.order_by("name").values_list("code", "name"))}, status=status)


@perm_required(Perm.INBOX_WORK)
def schedule_templates(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """"Enviar más tarde" on a WhatsApp conversation: the approved templates that can be sent from the screen, their
    variables pre-filled from the customer, loaded when the box opens. A template can be sent after the 24-hour
    window has closed; free text cannot (then the first template comes chosen)."""
    c = _conversation(request, conversation_id)
    if c is None:
        return HttpResponse(status=404)
    compose = whatsapp_compose(c, _user(request))
    if compose["number"] is None or not compose["number"].is_active:
        return HttpResponse("")
    return render(request, "automation/_schedule_templates.html", {
        "c": c, "window": compose["window"], "templates": [t for t in compose["templates"] if not t["reason"]]})
