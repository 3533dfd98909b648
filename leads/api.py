"""/api/v1/leads…: the same actions and selectors as the call-center pages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from uuid import UUID

from django.conf import settings
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict, Strict

from accounts.roles import Perm
from core.api import MAX_PAGE, NOT_BLANK, DbId, ErrorOut, InputSchema, IsoDate, api_require, api_user
from leads import actions
from leads.choices import Outcome, WorkStatus
from leads.models import Lead, NoteTemplate
from leads.selectors import QueueFilters, page_of, queue_queryset

router = Router(tags=["leads"])


class CustomerOut(Schema):
    id: int | None
    uuid: UUID | None = Field(None, description="Stable public identifier (the one exports use)")
    name: str
    phones: list[str]
    emails: list[str]
    tags: list[str]
    document_id: str = ""
    address: str = ""
    city: str = ""
    department: str = ""


class LeadOut(Schema):
    id: int
    kommo_id: int
    name: str
    status: str = Field(..., description="ninguno | en_proceso | completado")
    held_by: str | None
    last_note: str | None
    last_note_at: datetime | None
    in_queue: bool
    stage: str
    queue_entered_at: datetime
    closed_at: datetime | None
    customer: CustomerOut | None


class NoteOut(Schema):
    id: int
    author: str
    text: str
    outcome: str
    template_id: int | None
    created_at: datetime


class LeadDetailOut(LeadOut):
    notes: list[NoteOut]
    tags: list[str]


class QueuePage(Schema):
    next: str | None
    previous: str | None
    results: list[LeadOut]


class NoteIn(InputSchema):
    """A text, or a predefined note (`template_id`) whose text is used when `text` is blank."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["text"], "properties": {"text": {"pattern": NOT_BLANK}}},
        {"required": ["template_id"], "properties": {"template_id": {"type": "integer"}}}]})

    text: str = Field("", max_length=settings.NOTE_MAX_LENGTH,
                      description=f"At most {settings.NOTE_MAX_LENGTH:,} characters (docs/api.md, Limits)")
    outcome: Outcome = Field(Outcome.UNCLASSIFIED, strict=False)
    template_id: DbId | None = Field(None, description="An active predefined note (404 `template_not_found`)")


class CloseIn(InputSchema):
    text: str = Field("", max_length=settings.NOTE_MAX_LENGTH,
                      description="A final note; required when the lead has none yet (400 `close_needs_note`)")
    outcome: Annotated[Outcome, Strict(False)] | Literal[""] = Field(
        "", description="The final note's outcome (default no_clasificado)")


class ReassignIn(InputSchema):
    to_user: str = Field(..., min_length=1, max_length=150,
                         description="Username (or id) of an active operator who works leads (400 `invalid_operator`)")


class TemplateOut(Schema):
    id: int
    title: str
    text: str
    outcome: str
    tags: list[str]
    is_active: bool


class TemplateIn(InputSchema):
    title: str = Field(..., min_length=1, max_length=100, pattern=NOT_BLANK)
    text: str = Field(..., min_length=1, max_length=settings.NOTE_MAX_LENGTH, pattern=NOT_BLANK)
    outcome: Outcome = Field(Outcome.UNCLASSIFIED, strict=False)
    tags: list[str] = Field(default_factory=list, max_length=100,
                            description="Tag names (each up to 60 characters), applied to the customer with the note")
    is_active: bool = True
    sort: int = Field(0, ge=0, le=32767, description="Position in the list (lower first)")


def _customer(lead: Lead) -> dict[str, Any] | None:
    c = lead.customer
    if c is None:
        return None
    return {"id": c.pk, "uuid": c.uuid, "name": c.name, "phones": [p.e164 for p in c.phones.all()],
            "emails": [e.email for e in c.emails.all()], "tags": sorted(t.name for t in c.tags.all()),
            "document_id": c.document_id, "address": c.address, "city": c.city, "department": c.department}


def _lead(lead: Lead) -> dict[str, Any]:
    return {"id": lead.pk, "kommo_id": lead.kommo_id, "name": lead.name, "status": lead.work_status,
            "held_by": lead.held_by.username if lead.held_by else None, "last_note": lead.last_note_text or None,
            "last_note_at": lead.last_note_at, "in_queue": lead.in_queue, "stage": lead.stage_name,
            "queue_entered_at": lead.queue_entered_at, "closed_at": lead.closed_at, "customer": _customer(lead)}


def _detail(lead_id: int, *, lead: Lead | None = None) -> dict[str, Any]:
    """The lead with its notes. Pass `lead` when the caller already holds it with customer and held_by loaded."""
    if lead is None:
        lead = Lead.objects.select_related("customer", "held_by").get(pk=lead_id)
    prefetch_related_objects([lead], "customer__phones", "customer__emails", "customer__tags", "tags")
    notes = [{"id": n.pk, "author": n.author.username, "text": n.text, "outcome": n.outcome,
              "template_id": n.template_id, "created_at": n.created_at}
             for n in lead.notes.select_related("author")[:200]] if lead.notes_count else []
    return {**_lead(lead), "notes": notes, "tags": sorted(t.name for t in lead.tags.all())}


@router.get("/leads/queue", response=QueuePage, summary="The call-center queue (same order, filters and search)")
def queue(  # noqa: PLR0917 - ninja maps each query parameter to an argument
    request: HttpRequest,
    q: str = "",
    status: Literal["open", "all", ""] | WorkStatus = "open",  # "" as "all"
    tag: str = "",
    operator: str = Query("", description="username, or `none` for unheld leads"),  # type: ignore[type-arg]
    marketing_list: str = "",
    arrived_from: IsoDate | None = None,
    arrived_to: IsoDate | None = None,
    page: int = Query(1, ge=1, le=MAX_PAGE),  # type: ignore[type-arg]
    page_size: int = Query(50, ge=1, le=200),  # type: ignore[type-arg]
) -> dict[str, Any]:
    api_require(request, Perm.LEADS_VIEW)
    filters = QueueFilters(status=status, tag=tag, operator=operator, marketing_list=marketing_list,
                           arrived_from=arrived_from, arrived_to=arrived_to, q=q)
    rows, has_next = page_of(queue_queryset(filters), page, page_size)
    prefetch_related_objects(rows, "customer__phones", "customer__emails", "customer__tags")

    def link(n: int) -> str:
        params = request.GET.copy()
        params["page"], params["page_size"] = str(n), str(page_size)
        return request.build_absolute_uri(f"{request.path}?{urlencode(params)}")

    return {"next": link(page + 1) if has_next else None, "previous": link(page - 1) if page > 1 else None,
            "results": [_lead(lead) for lead in rows]}


@router.post("/leads/next", response={200: LeadDetailOut, 204: None},
             summary="Take the next lead to call (held for the caller); 204 when nothing waits")
def next_lead(request: HttpRequest) -> Any:
    lead = actions.check_next_lead(api_user(request))
    if lead is None:
        return HttpResponse(status=204)
    return _detail(lead.pk, lead=lead)


@router.get("/leads/{lead_id}", response=LeadDetailOut, summary="A lead")
def get_lead(request: HttpRequest, lead_id: DbId) -> Any:
    actions.access_lead(api_user(request), lead_id)
    return _detail(lead_id)


@router.post("/leads/{lead_id}/notes", response={201: LeadDetailOut, 409: ErrorOut},
             summary="Add a note (409 `lead_held` when another operator holds the lead, `lead_closed` when closed)")
def add_note(request: HttpRequest, lead_id: DbId, payload: NoteIn) -> Any:
    actions.check_add_note(api_user(request), lead_id, text=payload.text, outcome=payload.outcome,
                           template_id=payload.template_id)
    return Status(201, _detail(lead_id))


@router.post("/leads/{lead_id}/close", response={200: LeadDetailOut, 409: ErrorOut},
             summary="Close the lead (Completado); 409 when another operator holds it")
def close_lead(request: HttpRequest, lead_id: DbId, payload: CloseIn) -> Any:
    actions.check_close_lead(api_user(request), lead_id, text=payload.text, outcome=payload.outcome)
    return _detail(lead_id)


@router.post("/leads/{lead_id}/release", response=LeadDetailOut, summary="Release the hold (supervisor, or the holder)")
def release_lead(request: HttpRequest, lead_id: DbId) -> Any:
    actions.check_release_lead(api_user(request), lead_id)
    return _detail(lead_id)


@router.post("/leads/{lead_id}/reassign", response=LeadDetailOut, summary="Give the lead to another operator")
def reassign_lead(request: HttpRequest, lead_id: DbId, payload: ReassignIn) -> Any:
    actions.check_reassign_lead(api_user(request), lead_id, to_user=payload.to_user)
    return _detail(lead_id)


def _template(t: NoteTemplate) -> dict[str, Any]:
    return {"id": t.pk, "title": t.title, "text": t.text, "outcome": t.outcome,
            "tags": sorted(tag.name for tag in t.tags.all()), "is_active": t.is_active}


@router.get("/predefined-notes", response=list[TemplateOut], summary="Predefined notes")
def list_templates(request: HttpRequest) -> Any:
    api_require(request, Perm.LEADS_VIEW)
    return [_template(t) for t in NoteTemplate.objects.prefetch_related("tags")]


@router.post("/predefined-notes", response={201: TemplateOut},
             summary="Create a predefined note")
def create_template(request: HttpRequest, payload: TemplateIn) -> Any:
    t = actions.check_save_note_template(api_user(request), **payload.dict())
    return Status(201, _template(t))


@router.put("/predefined-notes/{template_id}", response=TemplateOut, summary="Update a predefined note")
def update_template(request: HttpRequest, template_id: DbId, payload: TemplateIn) -> Any:
    t = actions.check_save_note_template(api_user(request), template_id=template_id, **payload.dict())
    return _template(t)
