from __future__ import annotations

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from accounts.models import User
from automation.choices import QuickReplyScope
from automation.models import QuickReply
from inbox.models import Conversation

PICKER_LIMIT = 12


def visible_quick_replies(user: User, *, conversation: Conversation | None = None) -> QuerySet[QuickReply]:
    """What this user may use: their own, everyone's, and the inbox's — for a conversation, only its inbox's;
    on the management page, every inbox's."""
    shared_inbox = Q(scope=QuickReplyScope.INBOX)
    if conversation is not None:
        shared_inbox &= Q(inbox_id=conversation.inbox_id)
    return QuickReply.objects.filter(Q(scope=QuickReplyScope.EVERYONE) | Q(scope=QuickReplyScope.MINE, owner=user)
                                     | shared_inbox).select_related("inbox", "owner")


def picker_options(user: User, conversation: Conversation, q: str = "") -> list[QuickReply]:
    """The composer's picker: `q` (what follows the `/`) matches the start of the shortcut or any part of the
    title; exact shortcut first, then the most used."""
    q = q.strip().lstrip("/").lower()
    qs = visible_quick_replies(user, conversation=conversation)
    if q:
        qs = qs.filter(Q(shortcut__istartswith=q) | Q(title__icontains=q))
    exact = Case(When(shortcut__iexact=q, then=Value(0)), default=Value(1), output_field=IntegerField())
    return list(qs.order_by(exact, "-usage_count", "shortcut", "id")[:PICKER_LIMIT])
