"""The reporting snapshot of a conversation (reports.models.ConversationFact), computed from the live tables."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum
from django.utils import timezone

from inbox.choices import MessageKind
from inbox.models import AUTOMATIC, Conversation, Message
from orders.models import Sale

# The pinned definitions count a conversation as closed when it has a closed_at (imported history may close
# conversations in other states), and "no agent response" as an unknown first response time.


@dataclass(frozen=True)
class Fact:
    conversation_id: int
    customer_id: int
    started_at: datetime
    start_day: date
    closed_day: date | None
    agent_id: int
    team_id: int
    inbox_id: int
    channel: str
    state: str
    outcome: str
    customer_state: str
    first_response_seconds: int | None
    resolution_seconds: int | None
    reply_seconds_sum: int
    reply_count: int
    sales: int
    revenue: Decimal

    def as_row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FACT_FIELDS}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Fact:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


FACT_FIELDS = tuple(f.name for f in fields(Fact))


def local_day(moment: datetime) -> date:
    return timezone.localtime(moment).date()


def _reply_gaps(conversation_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """Per conversation: (sum, count) of the seconds between a customer's first unanswered message and the
    agent's next reply. Internal notes are not replies."""
    result: dict[int, tuple[int, int]] = {}
    waiting: dict[int, datetime | None] = defaultdict(lambda: None)
    rows = (Message.objects.filter(conversation_id__in=list(conversation_ids))
            .exclude(kind=MessageKind.NOTE).exclude(AUTOMATIC).order_by("conversation_id", "created_at", "id")
            .values_list("conversation_id", "kind", "created_at"))
    for cid, kind, at in rows.iterator(chunk_size=5000):
        if kind == MessageKind.INBOUND:
            if waiting[cid] is None:
                waiting[cid] = at
        elif kind == MessageKind.OUTBOUND and waiting[cid] is not None:
            since = waiting[cid]
            assert since is not None
            total, count = result.get(cid, (0, 0))
            result[cid] = (total + max(0, int((at - since).total_seconds())), count + 1)
            waiting[cid] = None
    return result


def compute_facts(conversation_ids: list[int], *, horizon: date) -> dict[int, Fact | None]:
    """The facts of these conversations; None for those that do not exist or started before the horizon."""
    facts: dict[int, Fact | None] = dict.fromkeys(conversation_ids)
    if not conversation_ids:
        return facts
    conversations = list(Conversation.objects.filter(pk__in=conversation_ids).values(
        "id", "customer_id", "created_at", "closed_at", "assignee_id", "team_id", "inbox_id", "channel", "state",
        "outcome", "customer_state", "first_response_seconds", "resolution_seconds"))
    sales = {row["conversation_id"]: (row["n"], row["total"] or Decimal(0)) for row in
             Sale.objects.filter(conversation_id__in=conversation_ids).values("conversation_id")
             .annotate(n=Count("id"), total=Sum("amount")).order_by()}
    gaps = _reply_gaps(conversation_ids)
    for c in conversations:
        start_day = local_day(c["created_at"])
        if start_day < horizon:
            continue
        n_sales, revenue = sales.get(c["id"], (0, Decimal(0)))
        reply_sum, reply_count = gaps.get(c["id"], (0, 0))
        facts[c["id"]] = Fact(
            conversation_id=c["id"], customer_id=c["customer_id"], started_at=c["created_at"], start_day=start_day,
            closed_day=local_day(c["closed_at"]) if c["closed_at"] else None, agent_id=c["assignee_id"] or 0,
            team_id=c["team_id"] or 0, inbox_id=c["inbox_id"] or 0, channel=c["channel"], state=c["state"],
            outcome=c["outcome"], customer_state=c["customer_state"],
            first_response_seconds=c["first_response_seconds"], resolution_seconds=c["resolution_seconds"],
            reply_seconds_sum=reply_sum, reply_count=reply_count, sales=n_sales,
            revenue=Decimal(revenue).quantize(Decimal("0.01")),
        )
    return facts
