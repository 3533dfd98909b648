"""/api/v1/customers: merging a duplicate into the customer kept (the same action as the duplicates page)."""

from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Field, Router, Schema

from core.api import DbId, ErrorOut, InputSchema, api_user
from customers.actions import check_merge_customers

router = Router(tags=["customers"])


class MergeIn(InputSchema):
    keep: DbId
    merge: DbId


class CustomerOut(Schema):
    id: int
    uuid: UUID = Field(..., description="Stable public identifier (the one exports use)")
    name: str
    phones: list[str]
    emails: list[str]
    conversations: int
    orders: int
    leads: int


@router.post("/customers/merge", response={200: CustomerOut, 404: ErrorOut, 409: ErrorOut},
             summary="Merge the customer `merge` into `keep`: its conversations, orders, leads, phones, emails, tags "
                     "and marketing lists move to `keep`, and `merge` is deleted (supervisors; 404 "
                     "`customer_not_found`; 409 `same_customer` or `merge_blocked`)")
def merge_customers(request: HttpRequest, payload: MergeIn) -> Any:
    keep = check_merge_customers(api_user(request), keep_id=payload.keep, merge_id=payload.merge)
    return {"id": keep.pk, "uuid": keep.uuid, "name": keep.name,
            "phones": list(keep.phones.order_by("e164").values_list("e164", flat=True)),
            "emails": list(keep.emails.order_by("email").values_list("email", flat=True)),
            "conversations": keep.conversations.count(), "orders": keep.orders.count(), "leads": keep.leads.count()}
