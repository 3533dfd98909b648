"""The weekly closure review: every conversation cycle closed in one ISO week, suspicious ones first, each with a
verdict form (inbox.actions.check_review_closure). Read side and its two thin pages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError
from core.permissions import perm_required
from inbox import actions
from inbox.choices import CloseReason, ConversationState, MessageKind
from inbox.models import AUTOMATIC, ClosureReview, Conversation, ConversationEvent, Message

RESOLVED = ConversationState.RESOLVED.value
FAST_CLOSE = timedelta(seconds=60)
QUICK_REOPEN = timedelta(hours=24)
# A comment is required to close with these reasons (what was derived where, what the customer confirmed).
COMMENT_REASONS = frozenset({CloseReason.DERIVED_DOCUMENTED.value, CloseReason.CUSTOMER_CONFIRMED.value})
# Hand-offs that the team's guide documents with a comment. A move to another inbox ("moved") is the same
# "Transferir" form, and an escalation with no supervisor to assign leaves only its "state" → escalada event.
HANDOFF_KINDS = frozenset({"transferred", "moved", "escalated", "handled_outside"})


class Flag:
    NO_REPLY = "sin_respuesta"
    NO_COMMENT = "sin_comentario"
    HANDOFF_NO_COMMENT = "traspaso_sin_comentario"
    FAST = "cierre_rapido"
    REOPENED = "reabierta"


FLAG_LABELS: dict[str, Promise] = {
    Flag.NO_REPLY: gettext_lazy("Cerrada sin ninguna respuesta al cliente en este ciclo"),
    Flag.NO_COMMENT: gettext_lazy("Sin el comentario que exige el motivo de cierre"),
    Flag.HANDOFF_NO_COMMENT: gettext_lazy("Transferencia, escalamiento o atención externa sin comentario"),
    Flag.FAST: gettext_lazy("Resuelta en menos de un minuto"),
    Flag.REOPENED: gettext_lazy("Reabierta antes de 24 horas"),
}


# Closures made by calls, not by an agent's choice (inbox.actions.calls).
CALL_CLOSURES = [CloseReason.CALL_NOTED.value, CloseReason.CALL_ENDED.value]


@dataclass(frozen=True)
class ReviewRow:
    conversation: Conversation
    cycle: int
    closed_at: datetime
    agent: User | None
    reason: str
    comment: str
    started_at: datetime | None
    reopened_at: datetime | None
    review: ClosureReview | None
    flags: tuple[str, ...] = field(default=())

    @property
    def suspicious(self) -> bool:
        return bool(self.flags)

    @property
    def flag_labels(self) -> list[str]:
        return [str(FLAG_LABELS[f]) for f in self.flags]

    @property
    def reason_label(self) -> str:
        return str(CloseReason(self.reason).label) if self.reason in CloseReason.values else self.reason

    @property
    def key(self) -> str:
        return f"{self.conversation.pk}-{self.cycle}"


def local_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def week_bounds(week_start: date) -> tuple[datetime, datetime]:
    """[Monday 00:00, next Monday 00:00) in the organization's time zone (a DST week is 167 or 169 hours)."""
    tz = local_tz()
    return (datetime.combine(week_start, time.min, tzinfo=tz),
            datetime.combine(week_start + timedelta(days=7), time.min, tzinfo=tz))


def closure_review_rows(week_start: date, *, only_suspicious: bool) -> list[ReviewRow]:
    """Every cycle closed (a "state" event to `resuelta`) in the week starting on `week_start`, flagged:
    no outbound message in the cycle; no comment where one was required; resolved less than a minute after the
    cycle started (the conversation's creation for cycle 1, else the reopening event); reopened within 24 hours.
    Suspicious rows come first, each group by closing time.

    Four queries whatever the number of rows (closures, related events, outbound messages, reviews): the related
    rows are read for all conversations at once through a subquery, so no N+1 and no long IN list."""
    start, end = week_bounds(week_start)
    # A call's note closes its phone conversation (reason call_noted), the idle sweep a call nobody noted
    # (call_ended): not closures an agent chose, nothing to review — left out, or every call would be flagged "no
    # reply" and "too fast".
    closures = list(ConversationEvent.objects.filter(kind="state", data__to=RESOLVED, created_at__gte=start,
                                                     created_at__lt=end).exclude(data__reason__in=CALL_CLOSURES)
                    .select_related("conversation__customer", "conversation__inbox", "actor")
                    .order_by("created_at", "id"))
    if not closures:
        return []
    conversation_ids = (ConversationEvent.objects.filter(kind="state", data__to=RESOLVED, created_at__gte=start,
                                                         created_at__lt=end)
                        .exclude(data__reason__in=CALL_CLOSURES).values("conversation_id"))

    reopened: dict[tuple[int, int], datetime] = {}  # (conversation, cycle it opened) → when
    handoff_without_comment: set[tuple[int, int]] = set()
    related = (ConversationEvent.objects.filter(conversation_id__in=conversation_ids)
               .filter(Q(kind="state", data__from=RESOLVED) | Q(kind="state", data__to=ConversationState.ESCALATED)
                       | Q(kind__in=HANDOFF_KINDS))
               .values_list("conversation_id", "cycle", "kind", "data", "comment", "created_at")
               .order_by("created_at", "id"))
    for conversation_id, cycle, kind, event_data, comment, at in related:
        if kind == "state" and (event_data or {}).get("from") == RESOLVED:
            reopened.setdefault((conversation_id, cycle), at)
        elif not (comment or "").strip():
            handoff_without_comment.add((conversation_id, cycle))

    answered = set(Message.objects.filter(conversation_id__in=conversation_ids, kind=MessageKind.OUTBOUND)
                   .exclude(AUTOMATIC).values_list("conversation_id", "cycle").distinct())
    reviews = {(r.conversation_id, r.cycle): r for r in
               ClosureReview.objects.filter(conversation_id__in=conversation_ids).select_related("reviewer")}

    rows = []
    for event in closures:
        c, cycle = event.conversation, event.cycle
        key = (c.pk, cycle)
        data: dict[str, Any] = event.data or {}
        reason = str(data.get("reason") or "")
        started_at = c.created_at if cycle == 1 else reopened.get(key)
        reopened_at = reopened.get((c.pk, cycle + 1))
        flags = []
        if key not in answered:
            flags.append(Flag.NO_REPLY)
        if reason in COMMENT_REASONS and not event.comment.strip():
            flags.append(Flag.NO_COMMENT)
        if key in handoff_without_comment:
            flags.append(Flag.HANDOFF_NO_COMMENT)
        if started_at is not None and event.created_at - started_at < FAST_CLOSE:
            flags.append(Flag.FAST)
        if reopened_at is not None and reopened_at - event.created_at <= QUICK_REOPEN:
            flags.append(Flag.REOPENED)
        rows.append(ReviewRow(conversation=c, cycle=cycle, closed_at=event.created_at, agent=event.actor,
                              reason=reason, comment=event.comment, started_at=started_at, reopened_at=reopened_at,
                              review=reviews.get(key), flags=tuple(flags)))
    flagged = [r for r in rows if r.suspicious]
    if only_suspicious:
        return flagged
    return flagged + [r for r in rows if not r.suspicious]


# --- weeks -----------------------------------------------------------------------------------------------

ISO_WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$")


def parse_week(value: str) -> date | None:
    """`2026-W47` (what <input type="week"> sends) → that week's Monday; None when it is not a valid ISO week."""
    match = ISO_WEEK.match(value.strip())
    if match is None:
        return None
    try:
        return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        return None


def iso_week(day: date) -> str:
    year, week, _weekday = day.isocalendar()
    return f"{year}-W{week:02d}"


def last_complete_week(today: date) -> date:
    return today - timedelta(days=today.weekday() + 7)


# --- pages -----------------------------------------------------------------------------------------------


class VerdictForm(forms.Form):
    conversation_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    cycle = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    verdict = forms.ChoiceField(label=gettext_lazy("Veredicto"), choices=ClosureReview.Verdict.choices,
                                widget=forms.RadioSelect)
    feedback = forms.CharField(label=gettext_lazy("Retroalimentación para el agente"), required=False,
                               widget=forms.Textarea(attrs={"rows": 2}))


@perm_required(Perm.INBOX_SUPERVISE)
def closure_review(request: HttpRequest) -> HttpResponse:
    raw_week = request.GET.get("week", "")
    week_start = parse_week(raw_week) if raw_week else None
    if raw_week and week_start is None:
        messages.error(request, _("Semana inválida: use el formato 2026-W47. Se muestra la última semana completa."))
    week_start = week_start or last_complete_week(timezone.localdate(timezone=local_tz()))
    # The checkbox is on by default: a submitted filter form (marked by `f`) without it means "show all".
    only_suspicious = "solo" in request.GET if "f" in request.GET else True
    rows = closure_review_rows(week_start, only_suspicious=only_suspicious)
    return render(request, "inbox/review.html", {
        "rows": rows, "week": iso_week(week_start), "week_start": week_start,
        "week_end": week_start + timedelta(days=6), "only_suspicious": only_suspicious,
        "previous_week": iso_week(week_start - timedelta(days=7)),
        "next_week": iso_week(week_start + timedelta(days=7)),
        "verdicts": ClosureReview.Verdict.choices, "back": request.get_full_path(),
    })


@require_POST
@perm_required(Perm.INBOX_SUPERVISE)
def review_verdict(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = VerdictForm(request.POST)
    back = request.POST.get("back", "")
    if not (back.startswith(reverse("inbox:review"))
            and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()})):
        back = reverse("inbox:review")
    if not form.is_valid():
        messages.error(request, _("Elija el veredicto del cierre."))
        return redirect(back)
    d = form.cleaned_data
    try:
        actions.check_review_closure(user, d["conversation_id"], cycle=d["cycle"], verdict=d["verdict"],
                                     feedback=d["feedback"])
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Veredicto guardado para la conversación #%(id)s (ciclo %(cycle)s).")
                         % {"id": d["conversation_id"], "cycle": d["cycle"]})
    return redirect(f"{back}#r-{d['conversation_id']}-{d['cycle']}")
