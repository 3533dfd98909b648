"""Every write of announcements: write or change one (before publication), publish or schedule it, take a scheduled
one back to draft, archive it, delete it, change its pin date; confirm one ("Leído y entendido"), read or close one;
remind those who have not confirmed. The one transition function of the state machine lives here, with the audience's
snapshot it takes on publication. Views, the API, the scheduler's task and the demo seeder call these."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from accounts.models import Team, User
from accounts.roles import Perm
from announcements import selectors
from announcements.choices import (
    ANNOUNCEMENT_TRANSITIONS,
    EDITABLE_STATES,
    AnnouncementCategory,
    AnnouncementState,
)
from announcements.events import (
    AnnouncementAckedEvent,
    AnnouncementAcknowledged,
    AnnouncementArchived,
    AnnouncementArchivedEvent,
    AnnouncementPublished,
    AnnouncementPublishedEvent,
    AnnouncementReminded,
    AnnouncementRemindedEvent,
)
from announcements.models import (
    BODY_MAX,
    TITLE_MAX,
    Announcement,
    AnnouncementRecipient,
    AnnouncementReminder,
    AnnouncementTransition,
)
from core import audit
from core.errors import ActionError, ConflictError, InvalidTransition, NotFoundError
from core.events import emit
from core.perms import require_perm
from core.validators import text_error
from inbox.attachments import Upload, clean_name, discard, store_file
from realtime.events import send_event_on_commit

logger = logging.getLogger(__name__)

IMAGE_MAX_BYTES: Final = 5 * 1024 * 1024
REMINDER_INTERVAL: Final = timedelta(hours=1)
AHEAD_MAX: Final = timedelta(days=366)  # how far ahead a publication is scheduled or a pin lasts
DUE_BATCH: Final = 50  # scheduled announcements published per run of the periodic task
RECIPIENT_BATCH: Final = 1000  # rows per INSERT of the audience's snapshot
# The raster formats a browser shows and that cannot run script (inbox.attachments.PREVIEW_IMAGE_TYPES), told by
# their first bytes: the type a browser declares for an upload is the file name's guess.
_SIGNATURES: Final = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
                      (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))


@dataclass
class AnnouncementInput:
    """What a publisher writes (the whole announcement: the form and the API send every field). `team_ids` counts
    only when `everyone` is False; `publish_at` is when publishing it schedules it for (None or past: at once)."""

    title: str = ""
    body: str = ""
    category: str = AnnouncementCategory.NEWS
    everyone: bool = True
    team_ids: list[int] = field(default_factory=list)
    requires_ack: bool = False
    pinned_until: date | None = None
    publish_at: datetime | None = None
    image: Upload | None = None
    remove_image: bool = False


def access_announcement(acting_user: User, *, announcement_id: int, lock: bool = False) -> Announcement:
    """The announcement, if `acting_user` may read it (announcements.selectors.visible_announcements); 404 otherwise,
    as if it did not exist."""
    qs = selectors.visible_announcements(acting_user).select_related("author")
    if lock:
        qs = qs.select_for_update(of=("self",))
    announcement = qs.filter(pk=announcement_id).first()
    if announcement is None:
        raise NotFoundError("announcement_not_found", _("El anuncio no existe."))
    return announcement


def image_type(data: bytes) -> str:
    """The image's media type by its first bytes (PNG, JPEG, GIF, WebP), or "" when it is none of them."""
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return ""


def _check_image(upload: Upload, errors: dict[str, str]) -> str:
    if not upload.data:
        errors["image"] = _("La imagen está vacía.")
    elif len(upload.data) > IMAGE_MAX_BYTES:
        errors["image"] = _("La imagen supera el máximo de %(mb)d MB.") % {"mb": IMAGE_MAX_BYTES // (1024 * 1024)}
    elif not (kind := image_type(upload.data)):
        errors["image"] = _("La imagen debe ser PNG, JPEG, GIF o WebP.")
    else:
        return kind
    return ""


def _apply(announcement: Announcement, data: AnnouncementInput, errors: dict[str, str]) -> list[Team] | None:
    """Copies the input onto the announcement, collecting every problem in `errors`; the teams to set (None: all
    of them, `everyone`)."""
    title = " ".join(data.title.split())
    error = text_error(title, label=_("El título"), max_length=TITLE_MAX)
    if error or not title:
        errors["title"] = error or _("Escriba un título.")
    announcement.title = title
    body = data.body.strip()
    error = text_error(body, label=_("El texto"), max_length=BODY_MAX)
    if error:
        errors["body"] = error
    announcement.body = body
    if data.category not in AnnouncementCategory.values:
        errors["category"] = _("Categoría desconocida: use novedad, politica, procedimiento, celebracion o "
                               "reconocimiento.")
    else:
        announcement.category = data.category
    announcement.everyone = data.everyone
    teams: list[Team] | None = None
    if not data.everyone:
        ids = sorted(set(data.team_ids))
        teams = list(Team.objects.filter(pk__in=ids, is_active=True))
        if not ids:
            errors["teams"] = _("Elija al menos un equipo, o publíquelo para todos.")
        elif len(teams) != len(ids):
            errors["teams"] = _("Uno de los equipos elegidos no existe o está inactivo.")
    announcement.requires_ack = data.requires_ack
    today = timezone.localdate()
    if data.pinned_until is not None and data.pinned_until < today:
        errors["pinned_until"] = _("La fecha hasta la que se fija ya pasó.")
    elif data.pinned_until is not None and data.pinned_until > today + AHEAD_MAX:
        errors["pinned_until"] = _("Se fija como mucho por un año.")
    announcement.pinned_until = data.pinned_until
    if data.publish_at is not None and timezone.is_naive(data.publish_at):
        errors["publish_at"] = _("Indique la fecha y hora de publicación con su zona horaria.")
    elif data.publish_at is not None and data.publish_at > timezone.now() + AHEAD_MAX:
        errors["publish_at"] = _("La publicación se programa como mucho con un año de anticipación.")
    elif data.publish_at is not None and data.publish_at <= timezone.now():
        announcement.publish_at = None  # a time already past means "at once" (docs/announcements.md)
    else:
        announcement.publish_at = data.publish_at
    return teams


def _snapshot(announcement: Announcement, team_ids: list[int]) -> dict[str, Any]:
    return {"title": announcement.title, "category": announcement.category, "everyone": announcement.everyone,
            "teams": team_ids, "requires_ack": announcement.requires_ack,
            "pinned_until": announcement.pinned_until.isoformat() if announcement.pinned_until else None,
            "publish_at": announcement.publish_at.isoformat() if announcement.publish_at else None,
            "image": (announcement.image or {}).get("name"), "body": f"{len(announcement.body)}"}


@transaction.atomic
def check_save_announcement(acting_user: User, *, announcement_id: int | None, data: AnnouncementInput,
                            publish: bool = False, form_token: str = "") -> Announcement:
    """Writes a new announcement (a draft by `acting_user`) or changes one not yet published; every problem at once
    in `errors` (400 `invalid_announcement`). With `publish`, then publishes it, or schedules it when `publish_at`
    is in the future (check_publish). A scheduled one saved without `publish` stays scheduled, so it needs its
    future time. 409 `announcement_not_editable` once published. A new one's `form_token` (the form's one-time
    token) makes the call idempotent: sent again — even at the same moment — it returns the announcement the first
    call created and writes nothing."""
    require_perm(acting_user, Perm.ANNOUNCEMENTS_PUBLISH)
    if announcement_id is None:
        if form_token and (done := Announcement.objects.filter(form_token=form_token).first()) is not None:
            return done
        announcement = Announcement(author=acting_user, form_token=form_token or None)
        before: dict[str, Any] = {}
    else:
        announcement = access_announcement(acting_user, announcement_id=announcement_id, lock=True)
        if announcement.state not in EDITABLE_STATES:
            raise ConflictError("announcement_not_editable",
                                _("Un anuncio publicado ya no se cambia: archívelo y publique otro."))
        before = _snapshot(announcement, sorted(announcement.teams.values_list("pk", flat=True)))
    errors: dict[str, str] = {}
    teams = _apply(announcement, data, errors)
    kind = _check_image(data.image, errors) if data.image is not None else ""
    if (announcement.state == AnnouncementState.SCHEDULED and not publish
            and (announcement.publish_at is None or announcement.publish_at <= timezone.now())):
        errors.setdefault("publish_at", _("Un anuncio programado necesita una fecha futura; para publicarlo ya, "
                                          "use «Publicar»."))
    if errors:
        raise ActionError("invalid_announcement", " ".join(errors.values()), errors=errors)
    announcement.updated_at = timezone.now()
    if announcement.pk is None and form_token:
        try:
            with transaction.atomic():
                announcement.save()
        except IntegrityError:  # the same form, saved by a request that committed while this one waited
            return Announcement.objects.get(form_token=form_token)
    else:
        announcement.save()
    announcement.teams.set(teams or [])
    old_image = dict(announcement.image or {})
    if data.image is not None or data.remove_image:
        announcement.image = {}
    if data.image is not None:
        announcement.image = store_file(f"announcements/{announcement.pk}", name=clean_name(data.image.name),
                                        content_type=kind, data=data.image.data)
    if announcement.image != old_image:
        announcement.save(update_fields=["image"])
        if old_image.get("path"):
            transaction.on_commit(lambda: discard([old_image]))
    try:
        if announcement.state == AnnouncementState.SCHEDULED and not publish:
            _check_audience(announcement)  # it will be published without anyone pressing a button
        after = _snapshot(announcement, sorted(t.pk for t in teams or []))
        audit.record(actor=acting_user, action="announcement.created" if not before else "announcement.updated",
                     target=announcement,
                     changes={k: [before.get(k), v] for k, v in after.items() if before.get(k) != v})
        if publish:
            _publish_or_schedule(announcement, acting_user=acting_user)
    except Exception:
        if announcement.image != old_image:
            discard([announcement.image])  # the transaction rolls back: nobody will point at the new file
        raise
    return announcement


def _check_audience(announcement: Announcement) -> None:
    if not selectors.audience(announcement).exists():
        raise ActionError("empty_audience", _("Nadie recibiría el anuncio: los equipos elegidos no tienen "
                                              "personas activas.") if not announcement.everyone else
                          _("Nadie recibiría el anuncio: aún no hay otras personas activas."), field="teams")


def _publish_or_schedule(announcement: Announcement, *, acting_user: User) -> None:
    _check_audience(announcement)
    current = AnnouncementState(announcement.state)
    if (current == AnnouncementState.DRAFT and announcement.publish_at is not None
            and announcement.publish_at > timezone.now()):
        do_transition_announcement(announcement, to=AnnouncementState.SCHEDULED, acting_user=acting_user)
        audit.record(actor=acting_user, action="announcement.scheduled", target=announcement,
                     changes={"publish_at": announcement.publish_at.isoformat()})
        return
    do_transition_announcement(announcement, to=AnnouncementState.PUBLISHED, acting_user=acting_user)
    audit.record(actor=acting_user, action="announcement.published", target=announcement,
                 changes={"recipients": announcement.recipients.count()})


@transaction.atomic
def check_publish(acting_user: User, *, announcement_id: int) -> Announcement:
    """"Publicar": a draft is published at once, or scheduled when its `publish_at` is in the future; a scheduled
    one is published now. 409 when it is published or archived already; 400 `empty_audience` when nobody active
    would receive it."""
    require_perm(acting_user, Perm.ANNOUNCEMENTS_PUBLISH)
    announcement = access_announcement(acting_user, announcement_id=announcement_id, lock=True)
    if announcement.state not in EDITABLE_STATES:
        raise ConflictError("already_published", _("El anuncio ya está publicado o archivado."))
    _publish_or_schedule(announcement, acting_user=acting_user)
    return announcement


@transaction.atomic
def check_unschedule(acting_user: User, *, announcement_id: int) -> Announcement:
    """Takes a scheduled announcement back to draft (it will not be published at its time). 409 otherwise."""
    require_perm(acting_user, Perm.ANNOUNCEMENTS_PUBLISH)
    announcement = access_announcement(acting_user, announcement_id=announcement_id, lock=True)
    if announcement.state != AnnouncementState.SCHEDULED:
        raise ConflictError("not_scheduled", _("El anuncio no está programado."))
    do_transition_announcement(announcement, to=AnnouncementState.DRAFT, acting_user=acting_user)
    audit.record(actor=acting_user, action="announcement.unscheduled", target=announcement, changes={})
    return announcement


@transaction.atomic
def check_archive(acting_user: User, *, announcement_id: int) -> Announcement:
    """Archives a published announcement: its banner goes from every page at once and its readers no longer list
    it; its publishers keep it, with who confirmed it. 409 `not_published` otherwise."""
    require_perm(acting_user, Perm.ANNOUNCEMENTS_PUBLISH)
    announcement = access_announcement(acting_user, announcement_id=announcement_id, lock=True)
    if announcement.state != AnnouncementState.PUBLISHED:
        raise ConflictError("not_published", _("Solo se archiva un anuncio publicado."))
    do_transition_announcement(announcement, to=AnnouncementState.ARCHIVED, acting_user=acting_user)
    audit.record(actor=acting_user, action="announcement.archived", target=announcement,
                 changes=selectors.confirmation_counts(announcement))
    return announcement


@transaction.atomic
def check_delete(acting_user: User, *, announcement_id: int) -> None:
    """Deletes an announcement that was never published (a draft or a scheduled one) and its image. A published or
    archived one stays: who confirmed it is a record (409 `announcement_not_deletable`; archive it instead)."""
    require_perm(acting_user, Perm.ANNOUNCEMENTS_PUBLISH)
    announcement = access_announcement(acting_user, announcement_id=announcement_id, lock=True)
    if announcement.state not in EDITABLE_STATES:
        raise ConflictError("announcement_not_deletable",
                            _("Un anuncio publicado no se borra: archívelo para sacarlo de la vista."))
    audit.record(actor=acting_user, action="announcement.deleted", target=announcement,
                 changes={"title": announcement.title, "state": announcement.state})
    image = dict(announcement.image or {})
    announcement.delete()
    if image.get("path"):
        transaction.on_commit(lambda: discard([image]))


@transaction.atomic
def check_set_pin(acting_user: User, *, announcement_id: int, pinned_until: date | None) -> Announcement:
    """Pins an announcement at the top of the list until a date (inclusive), or unpins it (None); also once
    published, since a pin changes no word of what people confirmed. 409 for an archived one."""
    require_perm(acting_user, Perm.ANNOUNCEMENTS_PUBLISH)
    announcement = access_announcement(acting_user, announcement_id=announcement_id, lock=True)
    if announcement.state == AnnouncementState.ARCHIVED:
        raise ConflictError("announcement_archived", _("El anuncio está archivado."))
    today = timezone.localdate()
    if pinned_until is not None and not today <= pinned_until <= today + AHEAD_MAX:
        raise ActionError("invalid_announcement", _("Fije el anuncio desde hoy y como mucho por un año."),
                          field="pinned_until")
    if announcement.pinned_until != pinned_until:
        before = announcement.pinned_until
        announcement.pinned_until, announcement.updated_at = pinned_until, timezone.now()
        announcement.save(update_fields=["pinned_until", "updated_at"])
        audit.record(actor=acting_user, action="announcement.updated", target=announcement, changes={
            "pinned_until": [before.isoformat() if before else None,
                             pinned_until.isoformat() if pinned_until else None]})
    return announcement


def do_transition_announcement(announcement: Announcement, *, to: AnnouncementState, acting_user: User | None) -> bool:
    """The one transition function of announcements (the caller holds the row lock): nothing when the announcement
    is already in `to` (False); InvalidTransition (409) when the table forbids the move; otherwise the new state, its
    time, a history row and the move's effects (True):

    * published: the audience's snapshot (one recipient row per active person addressed, the author excepted), then
      `announcement.published` after commit and a realtime event to those people (their banner appears) and to the
      publishers; `acting_user` None is the scheduler publishing it at its time;
    * archived: `announcement.archived` after commit and a realtime event to the same people (the banner goes).
    """
    current = AnnouncementState(announcement.state)
    if current == to:
        return False
    if to not in ANNOUNCEMENT_TRANSITIONS[current]:
        raise InvalidTransition("invalid_transition", _("Un anuncio %(a)s no puede pasar a %(b)s.")
                                % {"a": current.label.lower(), "b": to.label.lower()})
    now = timezone.now()
    announcement.state, announcement.updated_at = to.value, now
    fields = ["state", "updated_at"]
    if to == AnnouncementState.PUBLISHED:
        announcement.published_at = now
        fields.append("published_at")
    elif to == AnnouncementState.ARCHIVED:
        announcement.archived_at = now
        fields.append("archived_at")
        # Out of every banner for good (the partial banner index keeps only rows still shown).
        announcement.recipients.filter(cleared_at__isnull=True).update(cleared_at=now)
    announcement.save(update_fields=fields)
    AnnouncementTransition.objects.create(announcement=announcement, from_state=current.value, to_state=to.value,
                                          actor=acting_user, at=now)
    if to == AnnouncementState.PUBLISHED:
        _on_published(announcement, acting_user=acting_user, now=now)
    elif to == AnnouncementState.ARCHIVED:
        emit(AnnouncementArchived(announcement_id=announcement.pk, title=announcement.title), actor=acting_user)
        archived: AnnouncementArchivedEvent = {"type": "announcement", "op": "archived",
                                               "announcement_id": announcement.pk}
        send_event_on_commit(archived, user_ids=[*_recipient_ids(announcement), *selectors.publisher_ids()])
    return True


def _recipient_ids(announcement: Announcement) -> list[int]:
    return list(announcement.recipients.values_list("user_id", flat=True))


def _on_published(announcement: Announcement, *, acting_user: User | None, now: datetime) -> None:
    people = list(selectors.audience(announcement).values_list("pk", flat=True))
    AnnouncementRecipient.objects.bulk_create(
        [AnnouncementRecipient(announcement=announcement, user_id=pk, added_at=now) for pk in people],
        batch_size=RECIPIENT_BATCH)
    team_ids = [] if announcement.everyone else sorted(announcement.teams.values_list("pk", flat=True))
    emit(AnnouncementPublished(announcement_id=announcement.pk, title=announcement.title,
                               category=announcement.category, requires_ack=announcement.requires_ack,
                               everyone=announcement.everyone, team_ids=team_ids, recipients=len(people),
                               scheduled=acting_user is None), actor=acting_user)
    event: AnnouncementPublishedEvent = {"type": "announcement", "op": "published",
                                         "announcement_id": announcement.pk, "title": announcement.title,
                                         "requires_ack": announcement.requires_ack}
    send_event_on_commit(event, user_ids=[*people, *selectors.publisher_ids()])


def do_publish_due(*, now: datetime | None = None, limit: int | None = None) -> int:
    """The scheduler's job: scheduled announcements whose time came are published, at most `limit` (DUE_BATCH) per
    run (the task queues itself again while some remain). Safe to repeat: each is locked and checked still
    scheduled, so two runs never publish one twice."""
    now = now or timezone.now()
    published = 0
    due = (Announcement.objects.filter(state=AnnouncementState.SCHEDULED, publish_at__lte=now)
           .order_by("publish_at", "pk").values_list("pk", flat=True)[:limit or DUE_BATCH])
    for pk in list(due):
        with transaction.atomic():
            # Still scheduled, and still due: it may have been moved to a later time since it was listed.
            announcement = (Announcement.objects.select_for_update()
                            .filter(pk=pk, state=AnnouncementState.SCHEDULED, publish_at__lte=now).first())
            if announcement is None:
                continue
            if not selectors.audience(announcement).exists():
                # Its teams emptied (or were deactivated) since it was scheduled: back to draft, never to nobody.
                do_transition_announcement(announcement, to=AnnouncementState.DRAFT, acting_user=None)
                audit.record(actor=None, action="announcement.unscheduled", target=announcement,
                             changes={"reason": "empty_audience"})
                continue
            do_transition_announcement(announcement, to=AnnouncementState.PUBLISHED, acting_user=None)
            audit.record(actor=None, action="announcement.published", target=announcement,
                         changes={"recipients": announcement.recipients.count(), "scheduled": True})
            published += 1
    return published


def due_remaining(*, now: datetime | None = None) -> bool:
    due = Announcement.objects.filter(state=AnnouncementState.SCHEDULED, publish_at__lte=now or timezone.now())
    return due.exists()


# --- the people it is for ----------------------------------------------------------------------------------------

def _own_row(acting_user: User, announcement: Announcement) -> AnnouncementRecipient | None:
    return AnnouncementRecipient.objects.filter(announcement=announcement, user=acting_user).first()


def check_acknowledge(acting_user: User, *, announcement_id: int) -> tuple[AnnouncementRecipient, bool]:
    """"Leído y entendido": records that `acting_user` confirmed the announcement; their banner goes in every tab
    and the publishers' confirmation list updates (realtime), `announcement.acknowledged` after commit. Pressing it
    again changes nothing (False). Somebody who joined the audience after publication (no row in the snapshot) may
    confirm it too: they are added, marked as late. 409 `ack_not_required` for an announcement that asks for no
    confirmation, `not_addressed` for a publisher it is not addressed to, `announcement_archived` once archived."""
    announcement = access_announcement(acting_user, announcement_id=announcement_id)
    if not announcement.requires_ack:
        raise ConflictError("ack_not_required", _("Este anuncio no pide confirmación de lectura."))
    if announcement.state != AnnouncementState.PUBLISHED:
        raise ConflictError("announcement_archived" if announcement.state == AnnouncementState.ARCHIVED
                            else "not_published", _("El anuncio no está publicado."))
    with transaction.atomic():
        row = _own_row(acting_user, announcement)
        if row is None:
            row = _add_late(acting_user, announcement)
        now = timezone.now()
        # Compare-and-set: two tabs pressing at once confirm once.
        changed = AnnouncementRecipient.objects.filter(pk=row.pk, acked_at__isnull=True).update(
            acked_at=now, read_at=Coalesce(F("read_at"), now), cleared_at=Coalesce(F("cleared_at"), now))
        row.refresh_from_db()
        if changed:
            emit(AnnouncementAcknowledged(announcement_id=announcement.pk, user_id=acting_user.pk,
                                          username=acting_user.username, acked_at=now.isoformat()),
                 actor=acting_user)
            event: AnnouncementAckedEvent = {"type": "announcement", "op": "acknowledged",
                                             "announcement_id": announcement.pk, "user_id": acting_user.pk}
            send_event_on_commit(event, user_ids=[acting_user.pk, *selectors.publisher_ids()])
    return row, bool(changed)


def _add_late(acting_user: User, announcement: Announcement) -> AnnouncementRecipient:
    if not selectors.in_audience(acting_user, announcement):
        raise ConflictError("not_addressed", _("Este anuncio no está dirigido a usted."))
    try:
        with transaction.atomic():
            return AnnouncementRecipient.objects.create(announcement=announcement, user=acting_user, late=True)
    except IntegrityError:  # the same person's other tab added them first
        return AnnouncementRecipient.objects.get(announcement=announcement, user=acting_user)


@transaction.atomic
def check_mark_read(acting_user: User, *, announcement_id: int) -> bool:
    """The person opened the announcement, or closed its banner: it counts as read; without confirmation asked, its
    banner goes in every tab. Does nothing (False) for somebody it was not published to, or read already; the banner
    of one that asks for confirmation stays until they confirm it."""
    announcement = access_announcement(acting_user, announcement_id=announcement_id)
    return do_mark_read(announcement, user=acting_user)


def do_mark_read(announcement: Announcement, *, user: User) -> bool:
    """check_mark_read for an announcement the caller already holds (the detail page reads it for display)."""
    if announcement.state != AnnouncementState.PUBLISHED:
        return False
    now = timezone.now()
    rows = AnnouncementRecipient.objects.filter(announcement=announcement, user=user)
    changed = rows.filter(read_at__isnull=True).update(read_at=now)
    if not announcement.requires_ack:
        changed += rows.filter(cleared_at__isnull=True).update(cleared_at=now)
    if changed:
        event: AnnouncementAckedEvent = {"type": "announcement", "op": "read", "announcement_id": announcement.pk,
                                         "user_id": user.pk}
        send_event_on_commit(event, user_ids=[user.pk, *selectors.publisher_ids()])
    return bool(changed)


@transaction.atomic
def check_remind(acting_user: User, *, announcement_id: int) -> int:
    """"Recordar a quienes no lo han confirmado": the active people of the snapshot who have not confirmed get the
    banner again (shown as a reminder) and a realtime event; the reminder is recorded (who, when, to how many), with
    an audit entry and `announcement.reminded` after commit. At most one an hour per announcement (409
    `reminder_too_soon`, with `retry_at`); 409 `nobody_to_remind` when everyone confirmed. Returns how many."""
    require_perm(acting_user, Perm.ANNOUNCEMENTS_PUBLISH)
    announcement = access_announcement(acting_user, announcement_id=announcement_id, lock=True)
    if announcement.state != AnnouncementState.PUBLISHED:
        raise ConflictError("not_published", _("Solo se recuerda un anuncio publicado."))
    if not announcement.requires_ack:
        raise ConflictError("ack_not_required", _("Este anuncio no pide confirmación de lectura."))
    now = timezone.now()
    last = selectors.last_reminder_at(announcement)
    if last is not None and now - last < REMINDER_INTERVAL:
        retry_at = last + REMINDER_INTERVAL
        raise ConflictError("reminder_too_soon", _("Ya se envió un recordatorio hace menos de una hora; el próximo "
                                                   "puede enviarse desde las %(time)s.")
                            % {"time": formats.time_format(timezone.localtime(retry_at), "TIME_FORMAT")},
                            retry_at=retry_at.isoformat())
    pending = announcement.recipients.filter(acked_at__isnull=True, user__is_active=True)
    user_ids = list(pending.values_list("user_id", flat=True))
    if not user_ids:
        raise ConflictError("nobody_to_remind", _("Todas las personas ya confirmaron el anuncio."))
    announcement.recipients.filter(user_id__in=user_ids, acked_at__isnull=True).update(
        reminded_at=now, reminders=F("reminders") + 1, cleared_at=None)
    AnnouncementReminder.objects.create(announcement=announcement, sent_by=acting_user, at=now,
                                        recipients=len(user_ids))
    audit.record(actor=acting_user, action="announcement.reminded", target=announcement,
                 changes={"recipients": len(user_ids)})
    emit(AnnouncementReminded(announcement_id=announcement.pk, reminded=len(user_ids)), actor=acting_user)
    event: AnnouncementRemindedEvent = {"type": "announcement", "op": "reminded", "announcement_id": announcement.pk,
                                        "title": announcement.title}
    send_event_on_commit(event, user_ids=[*user_ids, *selectors.publisher_ids()])
    return len(user_ids)
