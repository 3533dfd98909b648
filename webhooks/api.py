"""/api/v1/ integrations: the Kommo outbox and outgoing webhooks. Parse, call an action or selector, serialize.

Mounted at the API root by config/api.py (`api.add_router("", webhooks_router)`)."""

# No `from __future__ import annotations`: @paginate wraps the view, and ninja then resolves string annotations
# in ninja.pagination's namespace, where `KommoSync` is not defined.
from datetime import datetime
from uuid import UUID

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from accounts.roles import Perm
from core.api import ErrorOut, PageNumberPagination, api_require, api_user
from crm.models import KommoSync
from crm.sync import check_retry_syncs, outbox_rows
from webhooks import actions
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


class RetryIn(Schema):
    ids: list[int] | None = Field(None, description="Rows to retry; omit to retry every failed one")


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


class EndpointIn(Schema):
    url: str
    events: list[str] = Field(..., description="order.confirmed | order.cancelled")
    description: str = ""
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


@router.get("/integrations/kommo-sync", response={200: list[KommoSyncOut], 400: ErrorOut, 403: ErrorOut},
            summary="Kommo outbox rows (no state: failed and retrying first)")
@paginate(PageNumberPagination)
def list_kommo_syncs(request: HttpRequest, state: KommoSync.State | None = None):  # type: ignore[no-untyped-def]
    api_require(request, Perm.INTEGRATIONS_MANAGE)
    return outbox_rows(state=state)


@router.post("/integrations/kommo-sync/retry", response={200: RetriedOut, 400: ErrorOut, 403: ErrorOut},
             summary="Put failed Kommo syncs back in line (given ids, or every failed one)")
def retry_kommo_syncs(request: HttpRequest, payload: RetryIn):  # type: ignore[no-untyped-def]
    return {"retried": check_retry_syncs(api_user(request), sync_ids=payload.ids)}


@router.get("/webhook-endpoints", response={200: list[EndpointOut], 403: ErrorOut},
            summary="Outgoing webhook endpoints")
@paginate(PageNumberPagination)
def list_endpoints(request: HttpRequest):  # type: ignore[no-untyped-def]
    api_require(request, Perm.INTEGRATIONS_MANAGE)
    return WebhookEndpoint.objects.order_by("id")


@router.post("/webhook-endpoints", response={201: EndpointCreatedOut, 400: ErrorOut, 403: ErrorOut},
             summary="Register an outgoing webhook (the response carries the signing secret, only this once)")
def create_endpoint(request: HttpRequest, payload: EndpointIn):  # type: ignore[no-untyped-def]
    endpoint = actions.check_save_endpoint(api_user(request), url=payload.url, events=payload.events,
                                           description=payload.description, is_active=payload.is_active)
    return Status(201, endpoint)


@router.get("/webhook-endpoints/{endpoint_id}/messages", response={200: list[MessageOut], 403: ErrorOut,
                                                                   404: ErrorOut},
            summary="Messages sent to one endpoint, newest first")
@paginate(PageNumberPagination)
def list_messages(request: HttpRequest, endpoint_id: int):  # type: ignore[no-untyped-def]
    endpoint = actions.access_endpoint(api_user(request), endpoint_id)
    return endpoint.messages.defer("payload").order_by("-id")


@router.post("/webhook-messages/retry", response={200: RetriedOut, 403: ErrorOut},
             summary="Put failed webhook messages back in line (given ids, or every failed one)")
def retry_messages(request: HttpRequest, payload: RetryIn):  # type: ignore[no-untyped-def]
    return {"retried": actions.check_retry_messages(api_user(request), message_ids=payload.ids)}
