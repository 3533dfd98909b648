"""Quick replies: the management page (everyone who answers keeps their own; supervisors the shared ones), and the
composer's picker and insertion (automation/static/automation/quick_replies.js)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import date, datetime, time
from functools import partial
from typing import Any

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from automation import actions, rule_spec, rules, schedules, sequences
from automation.choices import QUICK_REPLY_CATEGORIES, SLA_CHANNELS, EnrollmentState, RuleEvent
from automation.composer import pending_scheduled
from automation.forms import QuickReplyFilterForm, QuickReplyForm, RuleForm, RuleTestForm, SequenceForm
from automation.models import (
    AutomationRule,
    AutomationRun,
    QuickReply,
    ScheduledMessage,
    Sequence,
    SequenceEnrollment,
    SlaPolicy,
)
from automation.rules import held_text, run_action_texts
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
from inbox.attachments import file_response
from inbox.choices import Channel, Priority
from inbox.models import Conversation, Inbox
from webhooks.models import WebhookEndpoint


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
    form = QuickReplyForm(request.POST or None, request.FILES or None, initial=initial, can_share=can_share,
                          current_file=reply.attachment.get("name") if reply else "")
    status = 200
    if request.method == "POST":
        if form.is_valid():
            d = form.cleaned_data
            try:
                saved = actions.check_save_quick_reply(
                    user, quick_reply_id=reply.pk if reply else None, title=d["title"], shortcut=d["shortcut"],
                    body=d["body"], category=d["category"], scope=d["scope"], inbox_code=d["inbox"] or "",
                    attachment=form.upload(), remove_attachment=d.get("remove_attachment") or False)
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


@perm_required(Perm.INBOX_WORK)
def quick_reply_file(request: HttpRequest, quick_reply_id: int) -> HttpResponseBase:
    """A quick reply's file, for whoever may use the reply."""
    try:
        reply = actions.access_quick_reply(_user(request), quick_reply_id)
    except ActionError:
        raise Http404 from None
    return file_response(reply.attachment)


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
    # Its file is sent by reference: the composer shows it and the inbox copies it when the answer is sent.
    attachment = ({"ref": f"quick_reply:{reply.pk}", "name": reply.attachment.get("name") or "",
                   "size": reply.attachment.get("size") or 0} if reply.attachment.get("path") else None)
    return JsonResponse({"body": rendered.body, "missing": rendered.missing, "attachment": attachment})


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


# --- automation rules ----------------------------------------------------------------------------------------

_ROW_KEY = re.compile(r"^([a-z])-(\d{1,6})-[a-z_]+$")
_ROWS_MAX = 60  # rows read from one form (more than any rule or sequence may keep: the action refuses the excess)


def _row_numbers(post: Any, prefix: str) -> list[int]:
    """The row numbers a form sent for `prefix`, in order (the page numbers rows as they are added: gaps after a
    removal, and numbers past any fixed range, are fine)."""
    found = sorted({int(m.group(2)) for key in post if (m := _ROW_KEY.match(key)) and m.group(1) == prefix})
    return found[:_ROWS_MAX]


def _condition_rows(post: Any) -> list[dict[str, Any]]:
    rows = []
    for n in _row_numbers(post, "c"):
        field = str(post.get(f"c-{n}-field") or "").strip()[:40]
        if field:
            rows.append({"field": field, "op": str(post.get(f"c-{n}-op") or "").strip()[:20],
                         "value": str(post.get(f"c-{n}-value") or "")[:rule_spec.REGEX_MAX * 20]})
    return rows


def _variables(text: str) -> dict[str, str]:
    """Template variables as typed, one per line: `1 = {{cliente.primer_nombre}}`."""
    found = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            found[key.strip()[:30]] = value.strip()[:1024]
    return found


def _action_rows(post: Any) -> list[dict[str, Any]]:
    rows = []
    for n in _row_numbers(post, "a"):
        kind = str(post.get(f"a-{n}-type") or "").strip()[:40]
        if kind:
            value_key = "sequence" if kind == "start_sequence" else "value"
            rows.append({"type": kind, "value": str(post.get(f"a-{n}-{value_key}") or "").strip()[:100],
                         "text": str(post.get(f"a-{n}-text") or "")[:rule_spec.TEXT_MAX + 1],
                         "template": str(post.get(f"a-{n}-template") or "").strip()[:512],
                         "variables": str(post.get(f"a-{n}-variables") or "")[:4000]})
    return rows


def _condition_input(row: dict[str, str]) -> dict[str, Any]:
    spec = rule_spec.CONDITIONS.get(row["field"])
    value: Any = row["value"]
    if spec is not None and spec.value == "list" and not (row["field"] == "text" and row["op"] == "matches"):
        value = [v.strip() for v in row["value"].split(",") if v.strip()]
    return {"field": row["field"], "op": row["op"], "value": value}


def _action_input(row: dict[str, str]) -> dict[str, Any]:
    spec = rule_spec.ACTIONS.get(row["type"])
    action: dict[str, Any] = {"type": row["type"]}
    if spec is not None:
        if spec.text:
            action[spec.text] = row["text"]
        if spec.value:
            action[spec.value] = row["value"]
        if spec.template:
            action["template"], action["variables"] = row["template"], _variables(row["variables"])
    return action


def _rows_of(rule: AutomationRule | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if rule is None:
        return [], [{"type": "send_message", "value": "", "text": "", "template": "", "variables": ""}]
    conditions = [{"field": c["field"], "op": c["op"],
                   "value": ", ".join(c["value"]) if isinstance(c["value"], list) else str(c["value"])}
                  for c in rule.conditions]
    actions_ = []
    for a in rule.actions:
        spec = rule_spec.ACTIONS.get(a.get("type", ""))
        actions_.append({
            "type": a.get("type", ""), "value": str(a.get(spec.value, "")) if spec and spec.value else "",
            "text": str(a.get(spec.text, "")) if spec and spec.text else "", "template": a.get("template", ""),
            "variables": "\n".join(f"{k} = {v}" for k, v in (a.get("variables") or {}).items())})
    return conditions, actions_


def _rule_context(rule: AutomationRule | None, form: RuleForm, conditions: list[dict[str, Any]],
                  actions_: list[dict[str, Any]], error: str = "") -> dict[str, Any]:
    runs = list(AutomationRun.objects.filter(rule=rule).select_related("conversation__customer")[:50]) if rule else []
    for run in runs:
        run.items = run_action_texts(run.actions)  # type: ignore[attr-defined]
        run.held = held_text(run.reason) if run.reason else ""  # type: ignore[attr-defined]
    for row in conditions:
        condition = rule_spec.CONDITIONS.get(row["field"])
        row["op_codes"] = list(condition.ops) if condition else list(rule_spec.OP_LABELS)
        row["needs_value"] = not condition or bool(condition.value)
        row["hint"] = condition.hint if condition else ""
    for row in actions_:
        spec = rule_spec.ACTIONS.get(row["type"])
        row["spec"] = spec
        row["value_hint"] = rule_spec.VALUE_HINTS.get(spec.value, "") if spec and spec.value else ""
        row["text_hint"] = rule_spec.TEXT_HINTS.get(spec.text, "") if spec and spec.text else ""
    return {
        "rule": rule, "form": form, "conditions": conditions, "actions": actions_, "error": error, "runs": runs,
        "condition_specs": [(code, spec) for code, spec in rule_spec.CONDITIONS.items()],
        "op_labels": rule_spec.OP_LABELS, "action_specs": list(rule_spec.ACTIONS.items()),
        "value_hints": rule_spec.VALUE_HINTS, "text_hints": rule_spec.TEXT_HINTS, "variables": DOCUMENTED,
        "test_form": RuleTestForm(initial={"event": rule.event if rule else RuleEvent.MESSAGE_RECEIVED}),
        "all_ops": list(rule_spec.OP_LABELS.items()),
        # suggestions for the actions' short values (typed as codes, picked from lists)
        "value_options": {
            "sequence": [(s.pk, s.name) for s in Sequence.objects.filter(active=True).order_by("name")[:200]],
            "agent": [("auto", _("el menos ocupado de la bandeja")), *[
                (u.username, u.display_name) for u in User.objects.filter(is_active=True).order_by("full_name")
                if u.has_perm_code(Perm.INBOX_WORK)][:300]],
            "inbox": list(Inbox.objects.order_by("name").values_list("code", "name")),
            "endpoint": list(WebhookEndpoint.objects.filter(is_active=True).values_list("pk", "url")[:100]),
            "priority": list(Priority.choices),
            **{key: numbered.options() for key, numbered in rule_spec.NUMBERED_VALUES.items()}},
        "hints_json": json.dumps({**{k: str(v) for k, v in rule_spec.VALUE_HINTS.items()},
                                  **{k: str(v) for k, v in rule_spec.TEXT_HINTS.items()}}, ensure_ascii=False),
        "next_condition": len(conditions), "next_action": len(actions_),
        "next_run": schedules.next_text(rule) if rule else "",
    }


def _rule_page(request: HttpRequest, rule: AutomationRule | None) -> HttpResponse:
    user = _user(request)
    conditions, actions_ = _rows_of(rule)
    form = RuleForm(request.POST or None, instance_values=rule)
    status, error = 200, ""
    if request.method == "POST":
        conditions, actions_ = _condition_rows(request.POST), _action_rows(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            minutes = d["cooldown_minutes"]
            cooldown = minutes * 60 if minutes else None
            if rule is not None and rule.cooldown_seconds and minutes == rule.cooldown_seconds // 60:
                cooldown = rule.cooldown_seconds  # seconds set through the API survive a save from the page
            try:
                saved = rules.check_save_rule(user, rules.RuleInput(
                    name=d["name"], description=d["description"], event=d["event"], match=d["match"],
                    conditions=[_condition_input(r) for r in conditions],
                    actions=[_action_input(r) for r in actions_], active=d["active"], position=d["position"],
                    stop_after=d["stop_after"], frequency=d["frequency"], cooldown_seconds=cooldown,
                    schedule={"days": d["schedule_days"], "time": d["schedule_time"]}),
                    rule_id=rule.pk if rule else None)
            except ActionError as exc:
                show_action_errors(form, exc)
                error, status = exc.message, exc.status
            else:
                messages.success(request, _("Regla «%s» guardada.") % saved.name)
                return redirect("automation:rule_edit", rule_id=saved.pk)
        else:
            status = 400
    return render(request, "automation/rule_form.html", _rule_context(rule, form, conditions, actions_, error),
                  status=status)


@perm_required(Perm.INBOX_SUPERVISE)
def rule_list(request: HttpRequest) -> HttpResponse:
    """The rules, by event in evaluation order, with what each does and how often it acted."""
    groups: dict[str, list[AutomationRule]] = {}
    for rule in AutomationRule.objects.order_by("event", "position", "pk"):
        rule.condition_texts = [rule_spec.condition_text(c) for c in rule.conditions]  # type: ignore[attr-defined]
        rule.action_texts = [rule_spec.action_text(a) for a in rule.actions]  # type: ignore[attr-defined]
        rule.schedule_text = rule_spec.schedule_text(rule.schedule or {})  # type: ignore[attr-defined]
        rule.next_text = schedules.next_text(rule)  # type: ignore[attr-defined]
        groups.setdefault(rule.event, []).append(rule)
    ordered = [(RuleEvent(code).label, code, groups[code]) for code in RuleEvent.values if code in groups]
    return render(request, "automation/rules.html", {
        "groups": ordered, "test_form": RuleTestForm(initial={"event": RuleEvent.MESSAGE_RECEIVED}),
        "empty": not groups})


@perm_required(Perm.INBOX_SUPERVISE)
def rule_create(request: HttpRequest) -> HttpResponse:
    return _rule_page(request, None)


@perm_required(Perm.INBOX_SUPERVISE)
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    try:
        rule = rules.access_rule(_user(request), rule_id)
    except ActionError:
        return render(request, "404.html", status=404)
    return _rule_page(request, rule)


@require_POST
@perm_required(Perm.INBOX_SUPERVISE)
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    try:
        rules.check_delete_rule(_user(request), rule_id)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Regla borrada."))
    return redirect("automation:rules")


@require_POST
@perm_required(Perm.INBOX_SUPERVISE)
def rule_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    """Turns a rule on or off from the list (in place with htmx; a plain form reloads the list)."""
    user = _user(request)
    try:
        rule = rules.check_set_rule_active(user, rule_id, active=request.POST.get("active") == "1")
    except ActionError as exc:
        if request.headers.get("HX-Request"):
            return HttpResponse(exc.message, status=exc.status)
        messages.error(request, exc.message)
        return redirect("automation:rules")
    if request.headers.get("HX-Request"):
        return render(request, "automation/_rule_switch.html", {"rule": rule})
    return redirect("automation:rules")


@require_POST
@perm_required(Perm.INBOX_SUPERVISE)
def rule_test(request: HttpRequest) -> HttpResponse:
    """The test box: which rules would fire for a sample message, and what they would do (nothing is done)."""
    form = RuleTestForm(request.POST)
    results: list[rules.Simulation] = []
    error = ""
    if form.is_valid():
        d = form.cleaned_data
        try:
            results = rules.check_test_rules(_user(request), event=d["event"], message=d["message"],
                                             channel=d["channel"], inbox=d["inbox"])
        except ActionError as exc:
            error = exc.message
    else:
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
    highlight = form.cleaned_data.get("rule") if not error else None
    return render(request, "automation/_rule_test.html", {"results": results, "error": error, "highlight": highlight},
                  status=400 if error else 200)


# --- sequences -----------------------------------------------------------------------------------------------

_UNITS = {"minutos": 1, "horas": 60, "dias": 24 * 60}


def _step_rows(post: Any) -> list[dict[str, Any]]:
    rows = []
    for n in _row_numbers(post, "s"):
        amount = str(post.get(f"s-{n}-amount") or "").strip()[:6]
        text = str(post.get(f"s-{n}-text") or "")[:rule_spec.TEXT_MAX + 1]
        template = str(post.get(f"s-{n}-template") or "").strip()[:512]
        if not (amount or text.strip() or template):
            continue
        rows.append({"amount": amount, "unit": str(post.get(f"s-{n}-unit") or "dias")[:10], "text": text,
                     "template": template, "variables": str(post.get(f"s-{n}-variables") or "")[:4000]})
    return rows


def _step_input(row: dict[str, Any]) -> dict[str, Any]:
    try:
        delay: Any = int(row["amount"]) * _UNITS.get(row["unit"], 24 * 60)
    except ValueError:
        delay = None
    return {"delay_minutes": delay, "body": row["text"], "template": row["template"],
            "variables": _variables(row["variables"])}


def _step_row(step: dict[str, Any]) -> dict[str, Any]:
    minutes = int(step.get("delay_minutes") or 0)
    unit = "dias" if minutes % 1440 == 0 else "horas" if minutes % 60 == 0 else "minutos"
    return {"amount": str(minutes // _UNITS[unit]), "unit": unit, "text": step.get("body", ""),
            "template": step.get("template", ""),
            "variables": "\n".join(f"{k} = {v}" for k, v in (step.get("variables") or {}).items())}


def _sequence_page(request: HttpRequest, sequence: Sequence | None) -> HttpResponse:
    user = _user(request)
    initial = {} if sequence is None else {
        "name": sequence.name, "description": sequence.description, "stop_on_reply": sequence.stop_on_reply,
        "stop_on_close": sequence.stop_on_close, "active": sequence.active}
    form = SequenceForm(request.POST or None, initial=initial)
    steps = [_step_row(s) for s in sequence.steps] if sequence else [
        {"amount": "1", "unit": "dias", "text": "", "template": "", "variables": ""}]
    status, error = 200, ""
    if request.method == "POST":
        steps = _step_rows(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            try:
                saved = sequences.check_save_sequence(user, sequences.SequenceInput(
                    name=d["name"], description=d["description"], steps=[_step_input(r) for r in steps],
                    stop_on_reply=d["stop_on_reply"], stop_on_close=d["stop_on_close"], active=d["active"]),
                    sequence_id=sequence.pk if sequence else None)
            except ActionError as exc:
                show_action_errors(form, exc)
                error, status = exc.message, exc.status
            else:
                messages.success(request, _("Secuencia «%s» guardada.") % saved.name)
                return redirect("automation:sequence_edit", sequence_id=saved.pk)
        else:
            status = 400
    enrollments = (list(SequenceEnrollment.objects.filter(sequence=sequence).select_related(
        "conversation__customer")[:50]) if sequence else [])
    return render(request, "automation/sequence_form.html", {
        "sequence": sequence, "form": form, "steps": steps, "error": error, "enrollments": enrollments,
        "units": [("minutos", _("minutos")), ("horas", _("horas")), ("dias", _("días"))],
        "next_step": len(steps), "variables": DOCUMENTED,
        "rules_using": [r for r in AutomationRule.objects.order_by("name") if sequence and any(
            a.get("type") == "start_sequence" and a.get("sequence") == sequence.pk for a in r.actions)]},
        status=status)


@perm_required(Perm.INBOX_SUPERVISE)
def sequence_list(request: HttpRequest) -> HttpResponse:
    rows = list(Sequence.objects.annotate(running=Count("enrollments", filter=Q(
        enrollments__state=EnrollmentState.ACTIVE))).order_by("name", "pk"))
    for sequence in rows:
        sequence.step_texts = [  # type: ignore[attr-defined]
            _("%(when)s: %(text)s") % {"when": rule_spec.minutes_text(int(s["delay_minutes"])),
                                       "text": (s.get("body") or _("plantilla %s") % s.get("template"))[:80]}
            for s in sequence.steps]
    return render(request, "automation/sequences.html", {"sequences": rows})


@perm_required(Perm.INBOX_SUPERVISE)
def sequence_create(request: HttpRequest) -> HttpResponse:
    return _sequence_page(request, None)


@perm_required(Perm.INBOX_SUPERVISE)
def sequence_edit(request: HttpRequest, sequence_id: int) -> HttpResponse:
    try:
        sequence = sequences.access_sequence(_user(request), sequence_id)
    except ActionError:
        return render(request, "404.html", status=404)
    return _sequence_page(request, sequence)


@require_POST
@perm_required(Perm.INBOX_SUPERVISE)
def sequence_delete(request: HttpRequest, sequence_id: int) -> HttpResponse:
    try:
        sequences.check_delete_sequence(_user(request), sequence_id)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Secuencia borrada."))
    return redirect("automation:sequences")


@require_POST
@perm_required(Perm.INBOX_SUPERVISE)
def enrollment_stop(request: HttpRequest, enrollment_id: int) -> HttpResponse:
    try:
        enrollment = sequences.check_stop_enrollment(_user(request), enrollment_id)
    except ActionError as exc:
        messages.error(request, exc.message)
        return redirect("automation:sequences")
    messages.success(request, _("Secuencia detenida para %s.") % enrollment.conversation.customer.name)
    return redirect("automation:sequence_edit", sequence_id=enrollment.sequence_id)
