"""Segments: declared rules over a customer's activity columns, tags and lists, and who matches them.

A segment's `rules` is {"any": [group, …]}; a group is {condition: value, …} and holds when all its conditions hold;
the customer belongs when at least one group holds. CONDITIONS declares each condition once: how it reads its value,
the SQL it filters with (so membership is computed in the database, for 300,000 customers at once), and the sentence
a person reads ("gastó al menos 2.000.000 COP en los últimos 12 meses").

Membership is kept, not computed on read: `evaluate(customer_ids)` re-checks some customers against every active
segment (called by customers.activity after each refresh, so a confirmed order or a tag moves a customer at once),
and `recompute(segment)` re-checks everyone (nightly, and when a segment is created or edited). Each change writes a
SegmentMembership row (entered_at / left_at) and, except for a segment's first computation or one after its rules
changed (which would announce thousands of customers nobody moved), emits segment.entered / segment.left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from django.db import connection, transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.events import emit
from core.money import MAX_AMOUNT, format_money, parse_amount
from customers.choices import ContactChannel, Language, LeadState
from customers.events import SegmentEntered, SegmentLeft
from customers.models import Customer, MarketingList, Segment, SegmentMembership, Tag

logger = logging.getLogger(__name__)

MAX_GROUPS: Final = 3
MAX_DAYS: Final = 3650
BATCH: Final = 5000


class RuleError(ValueError):
    """A rule that cannot be used; its message is a sentence for the editor."""


@dataclass(frozen=True)
class Condition:
    label: Any  # what the editor shows next to the field (lazy)
    kind: str  # "money", "count", "days", "tag", "list", "lead_state", "channel", "language", "open"
    q: Callable[[Any, datetime], Q]
    sentence: Callable[[Any], str]


def _days_ago(days: int, now: datetime) -> datetime:
    return now - timedelta(days=days)


def _days(n: int) -> str:
    return ngettext("%(n)d día", "%(n)d días", n) % {"n": n}


CHANNEL_COLUMNS: Final = {ContactChannel.WHATSAPP: "on_whatsapp", ContactChannel.EMAIL: "on_email",
                          ContactChannel.WEBCHAT: "on_webchat", ContactChannel.PHONE: "on_phone",
                          ContactChannel.SMS: "on_sms"}

CONDITIONS: Final[Mapping[str, Condition]] = {
    "spent_12m_min": Condition(
        gettext_lazy("Gastó en los últimos 12 meses al menos"), "money",
        lambda v, now: Q(spent_12m__gte=v),
        lambda v: _("gastó al menos %s en los últimos 12 meses") % format_money(v)),
    "total_spent_min": Condition(
        gettext_lazy("Gastó en total al menos"), "money",
        lambda v, now: Q(total_spent__gte=v),
        lambda v: _("gastó en total al menos %s") % format_money(v)),
    "orders_90d_min": Condition(
        gettext_lazy("Compras en los últimos 90 días, al menos"), "count",
        lambda v, now: Q(orders_90d__gte=v),
        lambda v: ngettext("hizo al menos %(n)d compra en los últimos 90 días",
                           "hizo al menos %(n)d compras en los últimos 90 días", v) % {"n": v}),
    "orders_min": Condition(
        gettext_lazy("Compras en total, al menos"), "count",
        lambda v, now: Q(orders_count__gte=v),
        lambda v: ngettext("hizo al menos %(n)d compra", "hizo al menos %(n)d compras", v) % {"n": v}),
    "first_contact_within": Condition(
        gettext_lazy("Primer contacto hace como mucho (días)"), "days",
        lambda v, now: Q(first_contact_at__gte=_days_ago(v, now)),
        lambda v: _("tuvo su primer contacto hace %s o menos") % _days(v)),
    "customer_for_days_min": Condition(
        gettext_lazy("Es cliente hace al menos (días)"), "days",
        # known to us that long: the record's creation, or an earlier first contact (imported history, backfills)
        lambda v, now: Q(created_at__lte=_days_ago(v, now)) | Q(first_contact_at__lte=_days_ago(v, now)),
        lambda v: _("es cliente hace al menos %s") % _days(v)),
    "no_purchase_days": Condition(
        gettext_lazy("Sin compras en los últimos (días)"), "days",
        lambda v, now: Q(last_order_at__isnull=True) | Q(last_order_at__lt=_days_ago(v, now)),
        lambda v: _("no compró en los últimos %s") % _days(v)),
    "no_inbound_days": Condition(
        gettext_lazy("Sin escribirnos en los últimos (días)"), "days",
        lambda v, now: Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=_days_ago(v, now)),
        lambda v: _("no nos escribió en los últimos %s") % _days(v)),
    "contacted_within": Condition(
        gettext_lazy("Contactado en los últimos (días)"), "days",
        lambda v, now: Q(last_contact_at__gte=_days_ago(v, now)),
        lambda v: _("tuvo contacto en los últimos %s") % _days(v)),
    "tag": Condition(
        gettext_lazy("Tiene la etiqueta"), "tag",
        lambda v, now: Q(pk__in=Customer.tags.through.objects.filter(tag__name__iexact=v).values("customer_id")),
        lambda v: _("tiene la etiqueta «%s»") % v),
    "marketing_list": Condition(
        gettext_lazy("Está en la lista de marketing"), "list",
        lambda v, now: Q(pk__in=Customer.marketing_lists.through.objects.filter(marketinglist__code=v)
                         .values("customer_id")),
        lambda v: _("está en la lista «%s»") % (MarketingList.objects.filter(code=v).values_list("name", flat=True)
                                                 .first() or v)),
    "lead_state": Condition(
        gettext_lazy("Estado del lead"), "lead_state",
        lambda v, now: Q(lead_state=v),
        lambda v: _("su lead está «%s»") % LeadState(v).label),
    "channel": Condition(
        gettext_lazy("Nos contactó por"), "channel",
        lambda v, now: Q(**{CHANNEL_COLUMNS[v]: True}),
        lambda v: _("nos contactó por %s") % ContactChannel(v).label),
    "open_conversation": Condition(
        gettext_lazy("Conversación abierta"), "open",
        lambda v, now: Q(open_conversations__gt=0) if v else Q(open_conversations=0),
        lambda v: _("tiene una conversación abierta") if v else _("no tiene conversaciones abiertas")),
    "language": Condition(
        gettext_lazy("Idioma"), "language",
        lambda v, now: Q(language=v),
        lambda v: _("prefiere el idioma %s") % Language(v).label),
}


def _clean_value(key: str, raw: Any) -> Any:
    """The condition's value as its Q takes it; RuleError with a sentence when it cannot be used."""
    kind = CONDITIONS[key].kind
    label = CONDITIONS[key].label
    text = str(raw).strip()
    if kind == "money":
        amount = raw if isinstance(raw, Decimal) else parse_amount(text)
        if amount is None or not amount.is_finite() or amount < 0 or amount >= MAX_AMOUNT \
                or amount.as_tuple().exponent < -2:  # type: ignore[operator]
            raise RuleError(_("«%(label)s»: escriba un monto, como 2.000.000 (%(value)s no lo es).") % {
                "label": label, "value": text[:30]})
        return amount
    if kind in {"count", "days"}:
        if not text.isdecimal() or not 0 < int(text) <= (MAX_DAYS if kind == "days" else 100_000):
            raise RuleError(_("«%(label)s»: escriba un número entero positivo (%(value)s no lo es).") % {
                "label": label, "value": text[:30]})
        return int(text)
    if kind == "open":
        if text not in {"0", "1", "True", "False", "true", "false"}:
            raise RuleError(_("«%s»: elija sí o no.") % label)
        return text in {"1", "True", "true"}
    choices: dict[str, list[str]] = {"lead_state": LeadState.values, "channel": [str(c) for c in CHANNEL_COLUMNS],
                                     "language": Language.values}
    if kind in choices:
        if text not in choices[kind]:
            raise RuleError(_("«%(label)s»: valor desconocido (%(value)s).") % {"label": label, "value": text[:30]})
        return text
    if kind == "tag":
        if not Tag.objects.filter(name__iexact=text).exists():
            raise RuleError(_("No existe la etiqueta «%s».") % text[:60])
        return text
    if not MarketingList.objects.filter(code=text).exists():
        raise RuleError(_("No existe la lista de marketing «%s».") % text[:50])
    return text


def clean_rules(rules: Any) -> dict[str, list[dict[str, Any]]]:
    """The rules as stored ({"any": [groups]}), validated; RuleError naming the first problem."""
    groups = rules.get("any") if isinstance(rules, dict) else None
    if not isinstance(groups, list) or not groups or not all(isinstance(g, dict) for g in groups):
        raise RuleError(_("Un segmento necesita al menos una condición."))
    groups = [g for g in groups if g]
    if not groups:
        raise RuleError(_("Un segmento necesita al menos una condición."))
    if len(groups) > MAX_GROUPS:
        raise RuleError(_("Un segmento tiene como mucho %d grupos de condiciones.") % MAX_GROUPS)
    cleaned = []
    for group in groups:
        unknown = [k for k in group if k not in CONDITIONS]
        if unknown:
            raise RuleError(_("Condición desconocida: %s") % str(unknown[0])[:40])
        cleaned.append({key: _json(_clean_value(key, value)) for key, value in group.items()})
    return {"any": cleaned}


def _json(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _value(key: str, stored: Any) -> Any:
    return Decimal(stored) if CONDITIONS[key].kind == "money" else stored


def q_for(rules: Mapping[str, Any], now: datetime) -> Q:
    """The rules as one filter on Customer (a group's conditions ANDed, the groups ORed)."""
    combined = Q(pk__in=[])
    for group in rules.get("any", []):
        part = Q()
        for key, stored in group.items():
            if key in CONDITIONS:
                part &= CONDITIONS[key].q(_value(key, stored), now)
        combined |= part
    return combined


def describe(rules: Mapping[str, Any]) -> str:
    """The rules as a sentence: "gastó al menos 2.000.000 COP en los últimos 12 meses, o tiene la etiqueta «VIP»"."""
    groups = []
    for group in rules.get("any", []):
        parts = [CONDITIONS[key].sentence(_value(key, stored)) for key, stored in group.items() if key in CONDITIONS]
        if parts:
            groups.append(_(" y ").join(parts))
    return _(", o ").join(groups)


# --- membership --------------------------------------------------------------------------------------------


def _announce(segment: Segment, entered: Iterable[int], left: Iterable[int]) -> None:
    for customer_id in entered:
        emit(SegmentEntered(customer_id=customer_id, segment=segment.code, segment_name=segment.name))
    for customer_id in left:
        emit(SegmentLeft(customer_id=customer_id, segment=segment.code, segment_name=segment.name))


def _apply(segment: Segment, entered: Sequence[int], left: Sequence[int], now: datetime, *, announce: bool) -> None:
    if left:
        for start in range(0, len(left), BATCH):
            SegmentMembership.objects.filter(segment=segment, customer_id__in=left[start:start + BATCH],
                                             left_at__isnull=True).update(left_at=now)
    if entered:
        SegmentMembership.objects.bulk_create(
            (SegmentMembership(segment=segment, customer_id=pk, entered_at=now) for pk in entered), batch_size=BATCH)
    if announce:
        _announce(segment, entered, left)


def _share_lock_segments() -> None:
    """Holds the active segments' rows in SHARE mode until the transaction ends (PostgreSQL; SQLite serialises
    writers anyway): refreshes of different customers evaluate side by side, while a segment's recompute, which
    locks its row for update, waits for them and makes them wait — so the two never write the same membership."""
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Segment._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {table} WHERE active ORDER BY id FOR SHARE")  # noqa: S608


def evaluate(customer_ids: Iterable[int], *, now: datetime | None = None, announce: bool = True) -> int:
    """Re-checks these customers against every active segment already computed once; returns how many memberships
    changed. Runs in the caller's transaction (customers.activity's refresh, under the customers' row locks).
    `announce`=False records the changes without events (an import describes the past)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    now = now or timezone.now()
    _share_lock_segments()
    changes = 0
    current: dict[int, set[int]] = {}
    for segment_id, customer_id in SegmentMembership.objects.filter(
            customer_id__in=ids, left_at__isnull=True).values_list("segment_id", "customer_id"):
        current.setdefault(segment_id, set()).add(customer_id)
    segments = list(Segment.objects.filter(active=True, recomputed_at__isnull=False).order_by("pk"))
    # One query for every segment (this runs after each message and order): each segment's rules as a boolean column.
    tests = {f"seg_{seg.pk}": ExpressionWrapper(q_for(seg.rules, now), output_field=BooleanField())
             for seg in segments if seg.rules.get("any")}
    matches: dict[int, set[int]] = {seg.pk: set() for seg in segments}
    if tests:
        for row in Customer.objects.filter(pk__in=ids).annotate(**tests).values("pk", *tests):
            for key in tests:
                if row[key]:
                    matches[int(key.removeprefix("seg_"))].add(row["pk"])
    for segment in segments:
        matching = matches[segment.pk]
        members = current.get(segment.pk, set())
        entered, left = sorted(matching - members), sorted(members - matching)
        if entered or left:
            _apply(segment, entered, left, now, announce=announce)
            changes += len(entered) + len(left)
    return changes


def recompute(segment: Segment, *, now: datetime | None = None, announce: bool | None = None) -> tuple[int, int]:
    """Re-checks every customer against the segment (one query for who matches, one for who is in) and records the
    difference; returns (entered, left). `announce` defaults to "this segment was computed before". Holds the
    segment's row for update meanwhile: refreshes evaluating it wait (seconds at 300,000 customers)."""
    now = now or timezone.now()
    with transaction.atomic():
        segment = Segment.objects.select_for_update().get(pk=segment.pk)
        if announce is None:
            announce = segment.recomputed_at is not None
        matching = set(Customer.objects.filter(q_for(segment.rules, now)).values_list("pk", flat=True)) \
            if segment.active else set()
        members = set(SegmentMembership.objects.filter(segment=segment, left_at__isnull=True)
                      .values_list("customer_id", flat=True))
        entered, left = sorted(matching - members), sorted(members - matching)
        _apply(segment, entered, left, now, announce=announce)
        segment.recomputed_at = now
        segment.save(update_fields=["recomputed_at"])
    return len(entered), len(left)


def recompute_all(*, now: datetime | None = None) -> dict[str, tuple[int, int]]:
    """Every segment (the nightly job, after the activity rebuild)."""
    return {segment.code: recompute(segment, now=now) for segment in Segment.objects.order_by("position", "pk")}


def segments_of(customer_ids: Iterable[int], *, in_lists: bool = False) -> dict[int, list[Segment]]:
    """The active segments each customer is in now: the badges of lists and pages (`in_lists`: only those whose
    badge shows in the inbox's list). Two small queries — the memberships through their (customer, segment) index,
    then the few segments — rather than one join, for which PostgreSQL walked a whole segment's members (65 ms for
    fifty customers at 300,000)."""
    ids = list(customer_ids)
    if not ids:
        return {}
    pairs = list(SegmentMembership.objects.filter(customer_id__in=ids, left_at__isnull=True)
                 .values_list("customer_id", "segment_id"))
    if not pairs:
        return {}
    shown = Segment.objects.filter(active=True, **({"in_lists": True} if in_lists else {}))
    by_id = {s.pk: s for s in shown.filter(pk__in={segment_id for _customer, segment_id in pairs})}
    found: dict[int, list[Segment]] = {}
    for customer_id, segment_id in pairs:
        if segment_id in by_id:
            found.setdefault(customer_id, []).append(by_id[segment_id])
    for segments in found.values():
        segments.sort(key=lambda s: (s.position, s.name))
    return found


def member_counts() -> dict[int, int]:
    """Current members per segment id (one query over the memberships' partial index)."""
    return dict(SegmentMembership.objects.filter(left_at__isnull=True).order_by().values_list("segment_id")
                .annotate(n=Count("pk")).values_list("segment_id", "n"))
