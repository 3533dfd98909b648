"""A campaign's results, read in one grouped query: how many are queued, sent, delivered, read, failed, left out
(by reason); clicks, replies, conversions, opt-outs; cost, revenue and ROI. The detail page, the list, the report
and the API read the same numbers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from campaigns.choices import RecipientState, skip_reasons
from campaigns.models import Campaign, CampaignRecipient
from core.keyset import SortKey, after, decode, encode

R = RecipientState
ZERO = Decimal("0")


@dataclass
class Summary:
    by_state: dict[str, int] = field(default_factory=dict)
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    clicked: int = 0
    replied: int = 0
    converted: int = 0
    unsubscribed: int = 0
    cost: Decimal = ZERO
    revenue: Decimal = ZERO

    @property
    def recipients(self) -> int:
        """Everyone the campaign is for (left-out customers are not recipients)."""
        return sum(n for s, n in self.by_state.items() if s != R.SKIPPED)

    @property
    def skipped(self) -> int:
        return self.by_state.get(R.SKIPPED, 0)

    @property
    def queued(self) -> int:
        return self.by_state.get(R.PENDING, 0) + self.by_state.get(R.SENDING, 0)

    @property
    def sent(self) -> int:
        """Accepted by the vendor (delivered and read included)."""
        return self.by_state.get(R.SENT, 0) + self.delivered

    @property
    def delivered(self) -> int:
        return self.by_state.get(R.DELIVERED, 0) + self.read

    @property
    def read(self) -> int:
        return self.by_state.get(R.READ, 0)

    @property
    def failed(self) -> int:
        return self.by_state.get(R.FAILED, 0)

    @property
    def cancelled(self) -> int:
        return self.by_state.get(R.CANCELLED, 0)

    @property
    def done(self) -> int:
        return self.recipients - self.queued

    @property
    def progress(self) -> int:
        """Percent of recipients no longer waiting (0 to 100)."""
        return round(100 * self.done / self.recipients) if self.recipients else 0

    @property
    def roi(self) -> Decimal | None:
        """(revenue - cost) / cost; None when nothing was spent."""
        return ((self.revenue - self.cost) / self.cost) if self.cost else None

    def rate(self, part: int, whole: int | None = None) -> float | None:
        base = self.sent if whole is None else whole
        return part / base if base else None

    def skipped_sentences(self) -> list[tuple[str, int]]:
        return skip_reasons(self.skipped_by_reason)

    def as_dict(self) -> dict[str, Any]:
        return {"recipients": self.recipients, "skipped": self.skipped, "skipped_by_reason": self.skipped_by_reason,
                "queued": self.queued, "sent": self.sent, "delivered": self.delivered, "read": self.read,
                "failed": self.failed, "cancelled": self.cancelled, "clicked": self.clicked,
                "replied": self.replied, "converted": self.converted, "unsubscribed": self.unsubscribed,
                "cost": str(self.cost), "revenue": str(self.revenue),
                "roi": None if self.roi is None else str(self.roi.quantize(Decimal("0.01"))),
                "progress": self.progress}


def summaries(campaign_ids: Iterable[int]) -> dict[int, Summary]:
    """Every campaign's summary in two grouped queries (the list page)."""
    ids = list(campaign_ids)
    out = {pk: Summary() for pk in ids}
    if not ids:
        return out
    rows = (CampaignRecipient.objects.filter(campaign_id__in=ids).values("campaign_id", "state", "skip_reason")
            .annotate(n=Count("pk"), clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
                      replied=Count("pk", filter=Q(replied_at__isnull=False)),
                      converted=Count("pk", filter=Q(converted_at__isnull=False)),
                      unsubscribed=Count("pk", filter=Q(unsubscribed_at__isnull=False)),
                      cost=Sum("cost"), revenue=Sum("revenue")))
    for row in rows:
        s = out[row["campaign_id"]]
        s.by_state[row["state"]] = s.by_state.get(row["state"], 0) + row["n"]
        if row["state"] == R.SKIPPED:
            s.skipped_by_reason[row["skip_reason"]] = s.skipped_by_reason.get(row["skip_reason"], 0) + row["n"]
        s.clicked += row["clicked"]
        s.replied += row["replied"]
        s.converted += row["converted"]
        s.unsubscribed += row["unsubscribed"]
        s.cost += row["cost"] or ZERO
        s.revenue += row["revenue"] or ZERO
    return out


def summary(campaign: Campaign) -> Summary:
    return summaries([campaign.pk])[campaign.pk]


KEYS = (SortKey("pk", descending=False),)


def recipients(campaign: Campaign, *, state: str = "", cursor: str = "", limit: int = 50
               ) -> tuple[list[CampaignRecipient], str]:
    """One page of a campaign's recipients (by id), optionally in one state; returns the rows and the next cursor
    (ValueError for a cursor that does not decode)."""
    qs: QuerySet[CampaignRecipient] = (CampaignRecipient.objects.filter(campaign=campaign)
                                       .select_related("customer").order_by("pk"))
    if state == "clicked":
        qs = qs.filter(clicked_at__isnull=False)
    elif state == "replied":
        qs = qs.filter(replied_at__isnull=False)
    elif state == "converted":
        qs = qs.filter(converted_at__isnull=False)
    elif state == "unsubscribed":
        qs = qs.filter(unsubscribed_at__isnull=False)
    elif state in R.values:
        qs = qs.filter(state=state)
    if cursor:
        values = decode(cursor, KEYS, CampaignRecipient)
        if values is None:
            raise ValueError("bad cursor")
        qs = qs.filter(after(KEYS, values))
    page = list(qs[:limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return page, encode(page[-1], KEYS) if more and page else ""
