"""/api/v1/ integrations: the Kommo outbox and outgoing webhooks. Parse, call an action or selector, serialize.

Mounted at the API root by config/api.py (`api.add_router("", webhooks_router)`)."""

# No `from __future__ import annotations`: @paginate wraps the view, and ninja then resolves string annotations
# in ninja.pagination's namespace, where `KommoSync` is not defined.
from datetime import datetime
from typing import Literal, get_args
from uuid import UUID

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils.translation import gettext_lazy
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from accounts.roles import Perm
from core.api import END, DbId, InputSchema, PageNumberPagination, api_require, api_user, explained
from core.models import EventLog
from crm.models import KommoSync
from crm.sync import check_retry_syncs, outbox_rows
from webhooks import actions
from webhooks.actions import event_codes
from webhooks.models import WebhookEndpoint

router = Router(tags=["integrations"])


class KommoSyncOut(Schema):
    id: int
    order_id: int | None
    lead_kommo_id: int
    state: str = Field(..., description="pendiente | reintentando | fallido | sincronizado")
    attempts: int
    next_attempt_at: datetime
    last_error: str
    created_at: datetime
    synced_at: datetime | None


class RetryIn(InputSchema):
    ids: list[DbId] | None = Field(None, max_length=1000,
                                   description="Rows to retry; omit (or null) to retry every failed one")


class RetriedOut(Schema):
    retried: int


class EndpointOut(Schema):
    id: int
    url: str
    events: list[str]
    description: str
    is_active: bool
    created_at: datetime


class EndpointCreatedOut(EndpointOut):
    secret: str = Field(..., description="HMAC signing secret; returned only in this response")


# An RFC 3986 URI (format "uri") that Django's URLValidator, the rule of the page's form, also accepts: http(s), a
# dotted host name with a TLD, an optional port, then path, query and fragment in URI characters (anything else
# percent-encoded: the validator alone would take "/ñ", which is an IRI, not a URI).
_URI_CHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})"
URL_PATTERN = explained(
    r"^https?://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?::[0-9]{1,5})?"
    rf"(?:/{_URI_CHAR}*)*(?:\?(?:{_URI_CHAR}|[/?])*)?(?:#(?:{_URI_CHAR}|[/?])*)?{END}",
    gettext_lazy("URL inválida: use http:// o https://, un nombre de dominio y solo caracteres de URL (los demás, "
                 "codificados con %)."))


# The event catalogue (core.events.EVENT_TYPES), spelled out so the OpenAPI schema lists it; checked at import.
WebhookEvent = Literal[
    "conversation.assigned",
    "conversation.closed",
    "conversation.created",
    "conversation.state_changed",
    "conversation.updated",
    "customer.consent_changed",
    "customer.created",
    "customer.merged",
    "customer.tagged",
    "lead.arrived",
    "lead.closed",
    "lead.noted",
    "message.received",
    "message.sent",
    "order.cancelled",
    "order.confirmed",
    "order.dispatched",
    "scheduled_message.cancelled",
    "scheduled_message.failed",
    "scheduled_message.sent",
    "segment.entered",
    "segment.left",
    "campaign.state_changed",
    "campaign.replied",
    "campaign.converted",
    "article.saved",
    "article.state_changed",
    "article.deleted",
    "bot_flow.published",
    "bot_run.started",
    "bot_run.state_changed",
    "announcement.published",
    "announcement.acknowledged",
    "announcement.reminded",
    "announcement.archived",
    "chat_channel.created",
    "chat_channel.state_changed",
    "chat_channel.members_changed",
    "sequence.ended",
    "sequence.started",
    "sla.breached",
    "stock.changed",
    "user.access_changed",
    "user.availability_changed",
]
if set(get_args(WebhookEvent)) != set(event_codes()):
    raise ImproperlyConfigured("webhooks.api.WebhookEvent must list every event type of core.events")


class EndpointIn(InputSchema):
    url: str = Field(..., max_length=500, pattern=URL_PATTERN, json_schema_extra={"format": "uri"},
                     description="http(s) URL the events are POSTed to (400 `invalid_url` if Django's URL validator "
                                 "refuses it)")
    events: list[WebhookEvent] = Field(..., min_length=1, max_length=len(get_args(WebhookEvent)))
    description: str = Field("", max_length=200)
    is_active: bool = True


class MessageOut(Schema):
    id: int
    event: str
    event_id: UUID
    state: str = Field(..., description="pendiente | reintentando | fallido | entregado")
    attempts: int
    last_status: int | None
    last_error: str
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None


@router.get("/integrations/kommo-sync", response=list[KommoSyncOut],
            summary="Kommo outbox rows (no state: failed and retrying first)")
@paginate(PageNumberPagination)
def list_kommo_syncs(request: HttpRequest, state: KommoSync.State | None = None):  # type: ignore[no-untyped-def]
    api_require(request, Perm.INTEGRATIONS_MANAGE)
    return outbox_rows(state=state)


@router.post("/integrations/kommo-sync/retry", response=RetriedOut,
             summary="Put failed Kommo syncs back in line (given ids, or every failed one); 400 "
                     "`nothing_to_retry` when none of the given ids is a failed row")
def retry_kommo_syncs(request: HttpRequest, payload: RetryIn):  # type: ignore[no-untyped-def]
    return {"retried": check_retry_syncs(api_user(request), sync_ids=payload.ids)}


@router.get("/webhook-endpoints", response=list[EndpointOut],
            summary="Outgoing webhook endpoints")
@paginate(PageNumberPagination)
def list_endpoints(request: HttpRequest):  # type: ignore[no-untyped-def]
    api_require(request, Perm.INTEGRATIONS_MANAGE)
    return WebhookEndpoint.objects.order_by("id")


@router.post("/webhook-endpoints", response={201: EndpointCreatedOut},
             summary="Register an outgoing webhook (the response carries the signing secret, only this once)")
def create_endpoint(request: HttpRequest, payload: EndpointIn):  # type: ignore[no-untyped-def]
    endpoint = actions.check_save_endpoint(api_user(request), url=payload.url, events=payload.events,
                                           description=payload.description, is_active=payload.is_active)
    return Status(201, endpoint)


@router.get("/webhook-endpoints/{endpoint_id}/messages", response=list[MessageOut],
            summary="Messages sent to one endpoint, newest first")
@paginate(PageNumberPagination)
def list_messages(request: HttpRequest, endpoint_id: DbId):  # type: ignore[no-untyped-def]
    endpoint = actions.access_endpoint(api_user(request), endpoint_id)
    return endpoint.messages.defer("payload").order_by("-id")


@router.post("/webhook-messages/retry", response=RetriedOut,
             summary="Put failed webhook messages back in line (given ids, or every failed one)")
def retry_messages(request: HttpRequest, payload: RetryIn):  # type: ignore[no-untyped-def]
    return {"retried": actions.check_retry_messages(api_user(request), message_ids=payload.ids)}


class EventOut(Schema):
    id: int
    type: str
    version: int
    occurred_at: datetime
    actor: str | None = Field(None, description="username of who caused it; null for the system or a channel")
    payload: dict[str, object]


class EventPageOut(Schema):
    results: list[EventOut]
    next_after: int | None = Field(..., description="pass as `after` for the next page; null when none is left")


@router.get("/events", response=EventPageOut,
            summary="The domain-event log, oldest first: every change the system recorded as an event "
                    "(conversation.state_changed, customer.merged, …), for integrations that poll")
def list_events(request: HttpRequest,
                after: int = Query(0, ge=0, le=2**63 - 1, description="only events after this id"),  # type: ignore[type-arg]
                type: str | None = Query(None, max_length=64, description="one event type"),  # type: ignore[type-arg]
                limit: int = Query(100, ge=1, le=500)) -> EventPageOut:  # type: ignore[type-arg]
    api_require(request, Perm.INTEGRATIONS_MANAGE)
    rows = EventLog.objects.filter(pk__gt=after).select_related("actor").order_by("pk")
    if type:
        rows = rows.filter(type=type)
    page = list(rows[:limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return EventPageOut(
        results=[EventOut(id=r.pk, type=r.type, version=r.version, occurred_at=r.occurred_at,
                          actor=r.actor.username if r.actor else None, payload=r.payload) for r in page],
        next_after=page[-1].pk if more and page else None)
