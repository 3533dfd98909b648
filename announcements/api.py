"""/api/v1/announcements…: the announcements a caller may read (and publishers write), confirming one ("Leído y
entendido") and its confirmation list — the same actions and selectors as the pages."""

import base64
import binascii
from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Strict

from accounts.roles import Perm
from announcements import actions, selectors
from announcements.choices import AnnouncementCategory, AnnouncementState
from announcements.models import BODY_MAX, TITLE_MAX, Announcement, AnnouncementRecipient
from core.api import (
    NOT_BLANK,
    DbId,
    ErrorOut,
    InputSchema,
    IsoDate,
    IsoDateTime,
    PageNumberPagination,
    QuerySchema,
    api_require,
    api_user,
)
from core.errors import ActionError
from inbox.attachments import Upload

router = Router(tags=["announcements"])

Category = Annotated[AnnouncementCategory, Strict(False)]
TEAMS_MAX = 100


class ImageIn(InputSchema):
    name: str = Field(..., min_length=1, max_length=200, pattern=NOT_BLANK, description="The file's name")
    data: str = Field(..., min_length=1, description="Its bytes, base64-encoded: a PNG, JPEG, GIF or WebP image of at "
                                                     "most 5 MB (400 `invalid_announcement` otherwise); the request "
                                                     "body's 5 MB limit caps it at about 3.7 MB once decoded")


class AnnouncementIn(InputSchema):
    """A new announcement. Published at once, or scheduled when `publish_at` is in the future, unless `draft`."""

    title: str = Field(..., min_length=1, max_length=TITLE_MAX, pattern=NOT_BLANK)
    body: str = Field("", max_length=BODY_MAX, description="Markdown; rendered with an allow list (no script, style, "
                                                            "iframe, event handler or javascript: URL)")
    category: Category = Field(AnnouncementCategory.NEWS,
                               description="novedad | politica | procedimiento | celebracion | reconocimiento")
    teams: list[DbId] = Field(default_factory=list, max_length=TEAMS_MAX,
                              description="Ids of the teams it is for (GET /teams); empty: everyone. 400 "
                                          "`invalid_announcement` when one does not exist or is inactive, "
                                          "`empty_audience` when nobody active would receive it")
    requires_ack: bool = Field(False, description="Each person must press \"Leído y entendido\" "
                                                  "(POST /announcements/{id}/ack); the banner stays until they do")
    pinned_until: IsoDate | None = Field(None, description="Listed first until this day (inclusive); from today to "
                                                           "a year ahead")
    publish_at: IsoDateTime | None = Field(None, description="When to publish it (at most a year ahead); absent or "
                                                             "past: at once")
    draft: bool = Field(False, description="Keep it as a draft (shown to nobody); publish it from its page")
    image: ImageIn | None = None


class AnnouncementTeamOut(Schema):
    id: int
    name: str


class AnnouncementMyStatusOut(Schema):
    read_at: datetime | None
    acked_at: datetime | None


class AnnouncementOut(Schema):
    id: int
    title: str
    body: str = Field(..., description="Markdown")
    category: str
    state: str = Field(..., description="borrador | programado | publicado | archivado")
    requires_ack: bool
    everyone: bool
    teams: list[AnnouncementTeamOut]
    pinned_until: date | None
    pinned: bool = Field(..., description="Listed first today")
    publish_at: datetime | None
    published_at: datetime | None
    archived_at: datetime | None
    author: str | None = Field(..., description="The author's username")
    image_url: str = Field(..., description="Its image's address (the same authentication), or \"\"")
    mine: AnnouncementMyStatusOut | None = Field(
        ..., description="The caller's own reading and confirmation; null when it was not published to them")
    recipients: int | None = Field(..., description="People it was published to (publishers only)")
    acknowledged: int | None = Field(..., description="How many confirmed it (publishers only)")
    read: int | None = Field(..., description="How many opened it (publishers only)")
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_teams(obj: Announcement) -> list[Any]:
        return [] if obj.everyone else list(obj.teams.all())

    @staticmethod
    def resolve_pinned(obj: Announcement) -> bool:
        return obj.is_pinned

    @staticmethod
    def resolve_author(obj: Announcement) -> str | None:
        return obj.author.username if obj.author else None

    @staticmethod
    def resolve_image_url(obj: Announcement) -> str:
        return reverse("announcements:image", args=[obj.pk]) if obj.has_image else ""

    @staticmethod
    def resolve_mine(obj: Announcement) -> dict[str, Any] | None:
        if not getattr(obj, "my_recipient", False):
            return None
        return {"read_at": getattr(obj, "my_read_at", None), "acked_at": getattr(obj, "my_acked_at", None)}

    @staticmethod
    def resolve_recipients(obj: Announcement) -> int | None:
        return _count(obj, "n_recipients")

    @staticmethod
    def resolve_acknowledged(obj: Announcement) -> int | None:
        return _count(obj, "n_acked")

    @staticmethod
    def resolve_read(obj: Announcement) -> int | None:
        return _count(obj, "n_read")


def _count(obj: Announcement, name: str) -> int | None:
    if not hasattr(obj, "n_recipients"):
        return None  # not a publisher: the counts are not theirs to see
    return int(getattr(obj, name) or 0)


class AnnouncementListQuery(QuerySchema):
    category: Category | None = None
    state: Annotated[AnnouncementState, Strict(False)] | None = Field(
        None, description="borrador | programado | publicado | archivado (publishers; others always get published "
                          "ones). Without it publishers get every state but archived")
    pending: bool = Field(False, description="Only those still waiting for the caller (to confirm or to read)")


class AnnouncementPersonOut(Schema):
    id: int
    username: str
    name: str


class AnnouncementAckOut(Schema):
    user: AnnouncementPersonOut
    late: bool = Field(..., description="Joined the audience after publication and confirmed it on their own")
    read_at: datetime | None
    acked_at: datetime | None
    reminded_at: datetime | None
    reminders: int

    @staticmethod
    def resolve_user(obj: AnnouncementRecipient) -> dict[str, Any]:
        return {"id": obj.user_id, "username": obj.user.username, "name": obj.user.display_name}


class AckListQuery(QuerySchema):
    status: Literal["pending", "done"] | None = Field(
        None, description="pending: not confirmed yet (not read, when it asks for no confirmation); done: the others")


class AnnouncementAckResultOut(Schema):
    announcement_id: int
    acked_at: datetime
    changed: bool = Field(..., description="False when it was confirmed already (nothing changed)")


def _upload(image: ImageIn | None) -> Upload | None:
    if image is None:
        return None
    try:
        data = base64.b64decode(image.data, validate=True)
    except (binascii.Error, ValueError):
        raise ActionError("invalid_announcement", _("La imagen no está en base64."), field="image") from None
    return Upload(name=image.name, content_type="", data=data)


@router.get("/announcements", response=list[AnnouncementOut],
            summary="Announcements the caller may read, pinned first, then newest")
@paginate(PageNumberPagination)
def list_announcements(request: HttpRequest, query: Query[AnnouncementListQuery]) -> QuerySet[Announcement]:
    user = api_user(request)
    return selectors.listed(user, category=query.category.value if query.category else "",
                            state=query.state.value if query.state else "",
                            pending=query.pending)


@router.post("/announcements", response={201: AnnouncementOut, 409: ErrorOut},
             summary="Publish (or schedule, or draft) an announcement (400 `invalid_announcement` with `errors`)",
             description="Needs `announcements.publish`.")
def create_announcement(request: HttpRequest, payload: AnnouncementIn) -> Any:
    user = api_require(request, Perm.ANNOUNCEMENTS_PUBLISH)  # before decoding an image for nobody
    data = actions.AnnouncementInput(
        title=payload.title, body=payload.body, category=payload.category.value, everyone=not payload.teams,
        team_ids=list(payload.teams), requires_ack=payload.requires_ack, pinned_until=payload.pinned_until,
        publish_at=payload.publish_at, image=_upload(payload.image))
    announcement = actions.check_save_announcement(user, announcement_id=None, data=data, publish=not payload.draft)
    return Status(201, selectors.one(user, announcement.pk))


@router.get("/announcements/{announcement_id}", response={200: AnnouncementOut, 404: ErrorOut},
            summary="One announcement (404 `announcement_not_found` when the caller may not read it)")
def get_announcement(request: HttpRequest, announcement_id: DbId) -> Any:
    user = api_user(request)
    announcement = actions.access_announcement(user, announcement_id=announcement_id)
    return selectors.one(user, announcement.pk)


@router.post("/announcements/{announcement_id}/ack",
             response={200: AnnouncementAckResultOut, 404: ErrorOut, 409: ErrorOut},
             summary="\"Leído y entendido\": confirm an announcement (idempotent)",
             description="409 `ack_not_required` when it asks for no confirmation, `not_addressed` when it is not "
                         "for the caller, `announcement_archived` once archived.")
def acknowledge(request: HttpRequest, announcement_id: DbId) -> Any:
    row, changed = actions.check_acknowledge(api_user(request), announcement_id=announcement_id)
    return {"announcement_id": row.announcement_id, "acked_at": row.acked_at, "changed": changed}


@router.get("/announcements/{announcement_id}/acks", response={200: list[AnnouncementAckOut], 404: ErrorOut},
            summary="Who confirmed (or read) an announcement and who did not, pending first",
            description="Needs `announcements.publish`.")
@paginate(PageNumberPagination)
def list_acks(request: HttpRequest, announcement_id: DbId, query: Query[AckListQuery]) -> Any:
    user = api_require(request, Perm.ANNOUNCEMENTS_PUBLISH)
    announcement = actions.access_announcement(user, announcement_id=announcement_id)
    return selectors.confirmation_rows(announcement, status=query.status or "")
