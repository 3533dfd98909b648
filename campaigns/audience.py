"""A campaign's audience: who it selects (segments, tags, marketing lists, lead states), how many of them can be
reached on the campaign's channel, who is left out and why — the same SQL for the editor's live count and sample,
the launch's preparation and the API."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils.translation import gettext as _

from campaigns.choices import CampaignChannel, SkipReason, skip_reasons
from customers.choices import ConsentStatus, LeadState
from customers.models import (
    Consent,
    Customer,
    CustomerEmail,
    CustomerPhone,
    MarketingList,
    Segment,
    SegmentMembership,
    Tag,
)

KEYS = ("segments", "tags", "lists", "lead_states")
SAMPLE = 8
CHUNK = 5000


class AudienceError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def clean_audience(raw: Any) -> dict[str, list[Any]]:
    """The audience as stored: known segment codes, tag ids, list codes and lead states, each list without repeats.
    An unknown value is an error naming it (never silently widened to everybody)."""
    if raw in (None, ""):
        raw = {}
    if not isinstance(raw, Mapping):
        raise AudienceError("audience",
                            _("La audiencia debe ser un objeto con segmentos, etiquetas, listas o estados."))
    unknown_keys = sorted(set(raw) - set(KEYS))
    if unknown_keys:
        raise AudienceError("audience",
                            _("Campos desconocidos en la audiencia: %s.") % ", ".join(map(str, unknown_keys)))
    out: dict[str, list[Any]] = {}
    for key in KEYS:
        values = raw.get(key) or []
        if not isinstance(values, list | tuple):
            raise AudienceError(key, _("«%s» debe ser una lista.") % key)
        out[key] = list(dict.fromkeys(str(v).strip() if key != "tags" else v for v in values if str(v).strip()))
    segs = set(Segment.objects.filter(code__in=out["segments"]).values_list("code", flat=True))
    missing = [v for v in out["segments"] if v not in segs]
    if missing:
        raise AudienceError("segments", _("Segmento desconocido: %s.") % ", ".join(missing))
    try:
        tag_ids = [int(v) for v in out["tags"]]
    except (TypeError, ValueError):
        raise AudienceError("tags", _("Las etiquetas se indican por su número.")) from None
    found_tags = set(Tag.objects.filter(pk__in=tag_ids).values_list("pk", flat=True))
    if missing_tags := [str(v) for v in tag_ids if v not in found_tags]:
        raise AudienceError("tags", _("Etiqueta desconocida: %s.") % ", ".join(missing_tags))
    out["tags"] = tag_ids
    lists = set(MarketingList.objects.filter(code__in=out["lists"]).values_list("code", flat=True))
    if missing_lists := [v for v in out["lists"] if v not in lists]:
        raise AudienceError("lists", _("Lista desconocida: %s.") % ", ".join(missing_lists))
    if bad_states := [v for v in out["lead_states"] if v not in LeadState.values]:
        raise AudienceError("lead_states", _("Estado de lead desconocido: %s.") % ", ".join(bad_states))
    return out


def selected(audience: Mapping[str, Any]) -> QuerySet[Customer]:
    """The customers the audience selects: in any of its segments, tags or lists (everybody when none is chosen),
    with one of its lead states when some are chosen."""
    qs = Customer.objects.all()
    union = Q()
    chosen = False
    if audience.get("segments"):
        chosen = True
        union |= Q(Exists(SegmentMembership.objects.filter(customer_id=OuterRef("pk"), left_at__isnull=True,
                                                           segment__code__in=audience["segments"])))
    if audience.get("tags"):
        chosen = True
        union |= Q(Exists(Customer.tags.through.objects.filter(customer_id=OuterRef("pk"),
                                                              tag_id__in=audience["tags"])))
    if audience.get("lists"):
        chosen = True
        union |= Q(Exists(Customer.marketing_lists.through.objects.filter(
            customer_id=OuterRef("pk"), marketinglist__code__in=audience["lists"])))
    if chosen:
        qs = qs.filter(union)
    if audience.get("lead_states"):
        qs = qs.filter(lead_state__in=audience["lead_states"])
    return qs


def _annotated(qs: QuerySet[Customer], channel: str) -> QuerySet[Customer]:
    """Each customer with the address the channel uses (first phone or email) and their consent on it."""
    if channel == CampaignChannel.EMAIL:
        address = Subquery(CustomerEmail.objects.filter(customer_id=OuterRef("pk")).order_by("pk").values("email")[:1])
    else:
        address = Subquery(CustomerPhone.objects.filter(customer_id=OuterRef("pk")).order_by("pk").values("e164")[:1])
    consent = Subquery(Consent.objects.filter(customer_id=OuterRef("pk"), channel=channel).values("status")[:1])
    return qs.annotate(campaign_address=address, campaign_consent=consent)


def skip_reason(address: str | None, consent: str | None) -> str:
    """Why a customer is left out ("" when they are reached): no address on the channel, an opt-out, or no opt-in."""
    if not address:
        return SkipReason.NO_ADDRESS
    if consent == ConsentStatus.OPTED_OUT:
        return SkipReason.OPTED_OUT
    if consent != ConsentStatus.OPTED_IN:
        return SkipReason.NO_CONSENT
    return ""


def reachable_q(channel: str) -> Q:
    """Customers with an address on the channel and an opt-in there (for counting in SQL)."""
    if channel == CampaignChannel.EMAIL:
        has_address = Exists(CustomerEmail.objects.filter(customer_id=OuterRef("pk")))
    else:
        has_address = Exists(CustomerPhone.objects.filter(customer_id=OuterRef("pk")))
    opted_in = Exists(Consent.objects.filter(customer_id=OuterRef("pk"), channel=channel,
                                             status=ConsentStatus.OPTED_IN))
    return Q(has_address) & Q(opted_in)


@dataclass
class Preview:
    total: int
    reachable: int
    skipped: dict[str, int] = field(default_factory=dict)  # reason → how many
    sample: list[Customer] = field(default_factory=list)

    def skipped_sentences(self) -> list[tuple[str, int]]:
        return skip_reasons(self.skipped)


def preview(audience: Mapping[str, Any], channel: str) -> Preview:
    """The live count for the editor: everyone selected, those reachable, the others by reason, and a sample of
    the reachable (four queries whatever the audience's size)."""
    qs = selected(audience)
    total = qs.count()
    reach = qs.filter(reachable_q(channel))
    reachable = reach.count()
    skipped: Counter[str] = Counter()
    if total != reachable:
        has_address = reachable_q(channel).children[0]
        no_address = qs.exclude(has_address).count() if total else 0
        opted_out = qs.filter(has_address, Exists(Consent.objects.filter(
            customer_id=OuterRef("pk"), channel=channel, status=ConsentStatus.OPTED_OUT))).count()
        skipped[SkipReason.NO_ADDRESS] = no_address
        skipped[SkipReason.OPTED_OUT] = opted_out
        skipped[SkipReason.NO_CONSENT] = total - reachable - no_address - opted_out
    sample = list(reach.order_by("-contact_sort_at", "-pk")[:SAMPLE])
    return Preview(total=total, reachable=reachable, skipped=dict(skipped), sample=sample)


def rows(audience: Mapping[str, Any], channel: str, *, chunk: int = CHUNK) -> Iterator[list[tuple[int, str, str]]]:
    """Every selected customer as (id, address, skip reason), in chunks walked by id (keyset, constant memory)."""
    qs = _annotated(selected(audience), channel).order_by("pk")
    last = 0
    while True:
        batch: list[tuple[int, str | None, str | None]] = list(
            qs.filter(pk__gt=last).values_list("pk", "campaign_address", "campaign_consent")[:chunk])  # type: ignore[misc]
        if not batch:
            return
        last = batch[-1][0]
        yield [(pk, address or "", skip_reason(address, consent)) for pk, address, consent in batch]


def describe(audience: Mapping[str, Any]) -> str:
    """The audience as a sentence: "Segmento «Inactivo» o etiqueta «VIP»; con lead en proceso"."""
    return describe_many([audience])[0]


def describe_many(audiences: Sequence[Mapping[str, Any]]) -> list[str]:
    """`describe` for many audiences at once (the campaign list): the segments', tags' and lists' names read in at
    most three queries whatever the number of campaigns."""
    segment_codes = {code for a in audiences for code in a.get("segments") or []}
    tag_ids = {pk for a in audiences for pk in a.get("tags") or []}
    list_codes = {code for a in audiences for code in a.get("lists") or []}
    segments: dict[str, str] = (dict(Segment.objects.filter(code__in=segment_codes).values_list("code", "name"))
                                if segment_codes else {})
    tags: dict[int, str] = dict(Tag.objects.filter(pk__in=tag_ids).values_list("pk", "name")) if tag_ids else {}
    lists: dict[str, str] = (dict(MarketingList.objects.filter(code__in=list_codes).values_list("code", "name"))
                             if list_codes else {})
    out = []
    for a in audiences:
        parts = [_("segmento «%s»") % segments.get(code, code) for code in a.get("segments") or []]
        parts += [_("etiqueta «%s»") % tags.get(pk, pk) for pk in a.get("tags") or []]
        parts += [_("lista «%s»") % lists.get(code, code) for code in a.get("lists") or []]
        text = _(" o ").join(parts) if parts else _("todos los clientes")
        if a.get("lead_states"):
            states = ", ".join(str(LeadState(v).label).lower() for v in a["lead_states"] if v in LeadState.values)
            text += "; " + _("con lead %s") % states
        out.append(text[:1].upper() + text[1:])
    return out
