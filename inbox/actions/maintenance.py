"""Duplicates merged, stale conversations returned to the pool, the weekly closure review."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import require_perm
from accounts.choices import Availability
from accounts.models import User
from accounts.roles import Perm
from core import audit
from core.errors import ActionError, NotFoundError
from inbox.actions.assignment import (
    _assign,
    pick_agent,
)
from inbox.actions.base import (
    S,
    _event,
    _updated,
    access_conversation,
    do_transition_conversation,
)
from inbox.choices import (
    OPEN_STATES,
    CloseReason,
)
from inbox.models import ClosureReview, Conversation, Message, Task

# --- duplicates, pool, review -------------------------------------------------------------------------


def duplicates_of(c: Conversation) -> list[Conversation]:
    return list(Conversation.objects.filter(customer=c.customer_id, channel=c.channel,
                                            state__in=[s.value for s in OPEN_STATES]).exclude(pk=c.pk))


# What other apps keep per conversation and must follow a merge (automation: the scheduled messages still waiting):
# called with both rows locked, after the messages and tasks moved. Registered from their AppConfig.ready().
MergeHook = Callable[[Conversation, Conversation], None]
_MERGE_HOOKS: list[MergeHook] = []


def register_merge_hook(hook: MergeHook) -> None:
    if hook not in _MERGE_HOOKS:
        _MERGE_HOOKS.append(hook)


def check_merge_conversations(acting_user: User, *, keep_id: int, merge_id: int) -> Conversation:
    """Folds a duplicate open conversation (same customer and channel) into another; its messages, tasks and
    history move over and it is resolved as a duplicate."""
    require_perm(acting_user, Perm.INBOX_WORK)
    if keep_id == merge_id:
        raise ActionError("same_conversation", _("No se puede fusionar una conversación consigo misma."))
    with transaction.atomic():
        pair = {c.pk: c for c in Conversation.objects.select_for_update().filter(pk__in=[keep_id, merge_id])}
        if len(pair) != 2:
            raise NotFoundError("conversation_not_found", _("La conversación no existe."))
        keep, gone = pair[keep_id], pair[merge_id]
        if (keep.customer_id, keep.channel) != (gone.customer_id, gone.channel):
            raise ActionError("not_duplicates", _("Solo se fusionan conversaciones del mismo cliente y canal."))
        Message.objects.filter(conversation=gone).update(conversation=keep, cycle=keep.cycle)
        Task.objects.filter(conversation=gone).update(conversation=keep, cycle=keep.cycle)
        for hook in _MERGE_HOOKS:
            hook(keep, gone)
        _event(keep, "merged", actor=acting_user, merged=gone.pk)
        # Through the one transition function: the state event, the resolution time and the live update, as any
        # closure (a duplicate already resolved stays as it was).
        do_transition_conversation(gone, to=S.RESOLVED, acting_user=acting_user,
                                   reason=CloseReason.DERIVED_DOCUMENTED,
                                   comment=_("Fusionada en la conversación #%s (duplicada).") % keep.pk)
        keep.last_activity_at = timezone.now()
        keep.save(update_fields=["last_activity_at"])
        _updated(keep, "messages", acting_user=acting_user)  # its messages changed: reports recount it
        _event(gone, "merged_into", actor=acting_user, into=keep.pk)
    return keep


def do_return_stale_to_pool(*, now: datetime | None = None) -> int:
    """Assigned conversations whose agent went offline, or that waited too long for the first answer, go back to
    the pool and are reassigned automatically when possible. Never imported history (`Conversation.objects.live()`).
    Safe to repeat."""
    now = now or timezone.now()
    stale = Conversation.objects.live().filter(state__in=[S.NEW, S.PENDING], assignee__isnull=False,
                                               first_response_at__isnull=True).filter(
        Q(assignee__availability=Availability.OFFLINE)
        | Q(last_activity_at__lt=now - timedelta(minutes=settings.INBOX_FIRST_ANSWER_MINUTES)))
    moved = 0
    for c_id in list(stale.values_list("pk", flat=True)[:200]):
        with transaction.atomic():
            c = Conversation.objects.select_for_update().select_related("inbox").get(pk=c_id)
            if c.first_response_at is not None or c.assignee_id is None:
                continue
            _assign(c, None, acting_user=None, kind="returned_to_pool")
            if c.inbox.auto_assign and not c.inbox.is_global:
                agent = pick_agent(c.inbox, at=now)
                if agent is not None and agent.pk != c.assignee_id:
                    _assign(c, agent, acting_user=None)
            moved += 1
    return moved


def check_review_closure(acting_user: User, conversation_id: int, *, cycle: int, verdict: str,
                         feedback: str = "") -> ClosureReview:
    require_perm(acting_user, Perm.INBOX_SUPERVISE)
    if verdict not in ClosureReview.Verdict.values:
        raise ActionError("invalid_verdict", _("Veredicto inválido."), field="verdict")
    if verdict == ClosureReview.Verdict.WRONG and not feedback.strip():
        raise ActionError("feedback_required", _("Explique al agente por qué el cierre es incorrecto."),
                          field="feedback")
    with transaction.atomic():
        c = access_conversation(acting_user, conversation_id)
        review, _created = ClosureReview.objects.update_or_create(
            conversation=c, cycle=cycle, defaults={"reviewer": acting_user, "verdict": verdict,
                                                   "feedback": feedback.strip()})
        _event(c, "reviewed", actor=acting_user, comment=feedback.strip(), verdict=verdict, reviewed_cycle=cycle)
        audit.record(actor=acting_user, action="conversation.closure_reviewed", target=c,
                     changes={"cycle": cycle, "verdict": verdict})
    return review
