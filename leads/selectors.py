"""Read queries for the call-center queue, shared by the page and the API (same order, filters, search)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import Case, Count, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone

from accounts.models import Team, User
from accounts.roles import ROLE_PERMISSIONS, Perm
from core.text import fold
from customers.models import Customer, CustomerEmail, CustomerPhone
from customers.phones import looks_like_phone, normalize_email, normalize_phone
from leads.choices import WorkStatus
from leads.models import Lead, LeadSettings

QUEUE_ORDER = ("contacted", "queue_sort_at", "id")
STATUS_FILTERS = {"open", "all", *WorkStatus.values}


def queue_base() -> QuerySet[Lead]:
    """Leads in "Para Llamar", limited to the configured marketing lists when there are any."""
    qs = Lead.objects.filter(in_queue=True)
    list_ids = list(LeadSettings.load().queue_lists.values_list("pk", flat=True))
    if list_ids:
        members = Customer.marketing_lists.through.objects.filter(marketinglist_id__in=list_ids).values("customer_id")
        qs = qs.filter(customer_id__in=members)
    return qs


def open_queue() -> QuerySet[Lead]:
    return queue_base().filter(closed_at__isnull=True).order_by(*QUEUE_ORDER)


@dataclass(frozen=True)
class QueueFilters:
    status: str = "open"
    tag: str = ""
    operator: str = ""
    marketing_list: str = ""
    arrived_from: date | None = None
    arrived_to: date | None = None
    q: str = ""


def _search(qs: QuerySet[Lead], q: str) -> QuerySet[Lead]:
    """Name, email or phone in any format. Phones and emails hit unique indexes (exact E.164 / address);
    names match accent- and case-insensitively on a folded copy (trigram-indexed on PostgreSQL)."""
    q = q.strip()
    if not q:
        return qs
    if "@" in q:
        email = normalize_email(q)
        if not email:
            return qs.none()
        return qs.filter(customer_id__in=CustomerEmail.objects.filter(email=email).values("customer_id"))
    if looks_like_phone(q):
        e164 = normalize_phone(q)
        if e164:
            return qs.filter(customer_id__in=CustomerPhone.objects.filter(e164=e164).values("customer_id"))
        digits = "".join(ch for ch in q if ch.isdigit())
        return qs.filter(customer_id__in=CustomerPhone.objects.filter(e164__endswith=digits).values("customer_id"))
    folded = fold(q)
    return qs.filter(Q(search_name__contains=folded)
                     | Q(customer_id__in=Customer.objects.filter(search_name__contains=folded).values("pk")))


def queue_queryset(filters: QueueFilters) -> QuerySet[Lead]:
    qs = queue_base()
    if filters.status == "open":
        qs = qs.filter(closed_at__isnull=True)
    elif filters.status in WorkStatus.values:
        qs = qs.filter(work_status=filters.status)
    if filters.tag:
        # Subqueries rather than joins + DISTINCT: the join fans out 300,000 leads (measured: 1 s → see benchmarks).
        lead_tags = Lead.tags.through.objects.filter(tag__name=filters.tag).values("lead_id")
        customer_tags = Customer.tags.through.objects.filter(tag__name=filters.tag).values("customer_id")
        qs = qs.filter(Q(pk__in=lead_tags) | Q(customer_id__in=customer_tags))
    if filters.operator == "none":
        qs = qs.filter(held_by__isnull=True)
    elif filters.operator:
        qs = qs.filter(held_by__username=filters.operator)
    if filters.marketing_list:
        members = Customer.marketing_lists.through.objects.filter(
            marketinglist__code=filters.marketing_list).values("customer_id")
        qs = qs.filter(customer_id__in=members)
    tz = timezone.get_current_timezone()
    if filters.arrived_from:
        qs = qs.filter(queue_entered_at__gte=datetime.combine(filters.arrived_from, time.min, tzinfo=tz))
    if filters.arrived_to:
        qs = qs.filter(queue_entered_at__lte=datetime.combine(filters.arrived_to, time.max, tzinfo=tz))
    qs = _search(qs, filters.q)
    return qs.select_related("customer", "held_by").order_by(*QUEUE_ORDER)


def page_of(qs: QuerySet[Lead], page: int, size: int) -> tuple[list[Lead], bool]:
    """One page without COUNT(*) (counting 300,000 rows per keystroke is what makes queues slow)."""
    start = (page - 1) * size
    rows = list(qs[start:start + size + 1])
    return rows[:size], len(rows) > size


AVAILABILITY_RANK = ("disponible", "ocupado", "ausente", "desconectado")


def lead_workers() -> QuerySet[User]:
    """People who may hold a lead: the same rule as `check_reassign_lead` (active, with leads.work), minus the
    profiles imported from history that cannot log in."""
    roles = [r.value for r, perms in ROLE_PERMISSIONS.items() if Perm.LEADS_WORK in perms]
    return User.objects.filter(is_active=True, can_login=True, role__in=roles)


def reassign_candidates(*, q: str = "", exclude_id: int | None = None, limit: int = 20) -> list[User]:
    """Who a supervisor can hand a lead to, best first: available people, then the least loaded. Each carries
    `open_leads` (leads they hold that are not closed) and its active teams prefetched: two queries in all."""
    qs = lead_workers()
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    q = q.strip()
    if q:
        qs = qs.filter(Q(full_name__icontains=q) | Q(username__icontains=q)
                       | Q(teams__name__icontains=q, teams__is_active=True)).distinct()
    rank = Case(*(When(availability=a, then=Value(i)) for i, a in enumerate(AVAILABILITY_RANK)),
                default=Value(len(AVAILABILITY_RANK)))
    still_open = Q(held_leads__work_status__in=[WorkStatus.NONE, WorkStatus.IN_PROGRESS])
    qs = (qs.annotate(open_leads=Count("held_leads", filter=still_open, distinct=True), availability_rank=rank)
          .prefetch_related(Prefetch("teams", queryset=Team.objects.filter(is_active=True)))
          .order_by("availability_rank", "open_leads", "full_name", "username"))
    return list(qs[:limit])
