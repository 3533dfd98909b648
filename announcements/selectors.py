"""Reads of announcements: who may read which, the list in its order, the banner's rows, the confirmation list.
The pages, the API and the actions share these, so a rule of visibility is written once."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from accounts.roles import ROLE_PERMISSIONS, Perm
from announcements.choices import AnnouncementState
from announcements.models import Announcement, AnnouncementRecipient

BANNER_LIMIT: Final = 3  # banners shown at once; more pending ones are a link to the list
ACKS_LIMIT: Final = 1000  # rows of the confirmation list on the page (the API pages through all of them)


def can_publish(user: User) -> bool:
    return user.has_perm_code(Perm.ANNOUNCEMENTS_PUBLISH)


def publisher_ids() -> list[int]:
    """Active people who publish announcements: they watch every confirmation list, so they get every realtime
    event of every announcement."""
    roles = [r.value for r, perms in ROLE_PERMISSIONS.items() if Perm.ANNOUNCEMENTS_PUBLISH in perms]
    return list(User.objects.filter(is_active=True, role__in=roles).values_list("pk", flat=True))


def audience(announcement: Announcement) -> QuerySet[User]:
    """The active people an announcement is addressed to now: everyone who can sign in, or the members of its
    teams; never its author (who wrote it, so needs no banner and confirms nothing)."""
    people = User.objects.filter(is_active=True, can_login=True)
    if not announcement.everyone:
        people = people.filter(teams__in=announcement.teams.filter(is_active=True)).distinct()
    if announcement.author_id is not None:
        people = people.exclude(pk=announcement.author_id)
    return people


def in_audience(user: User, announcement: Announcement) -> bool:
    """Whether `user` belongs to the announcement's audience as it is defined now (everyone, or a member of one of its
    teams), the author excepted."""
    if not user.is_active or user.pk == announcement.author_id:
        return False
    if announcement.everyone:
        return True
    return announcement.teams.filter(members=user).exists()


def _addressed(user: User) -> Q:
    # Written for everyone, for one of the person's teams, or published to them (the snapshot: somebody who left
    # the team keeps what they were asked to read).
    team_link = Announcement.teams.through.objects.filter(announcement_id=OuterRef("pk"), team__members=user)
    mine = AnnouncementRecipient.objects.filter(announcement_id=OuterRef("pk"), user=user)
    return Q(everyone=True) | Exists(team_link) | Exists(mine)


def visible_announcements(user: User) -> QuerySet[Announcement]:
    """What `user` may read: every announcement in every state for those who publish them; published ones addressed
    to them for everybody else (an archived one leaves their sight, a draft never enters it)."""
    if can_publish(user):
        return Announcement.objects.all()
    return Announcement.objects.filter(state=AnnouncementState.PUBLISHED).filter(_addressed(user))


def listed(user: User, *, category: str = "", state: str = "", pending: bool = False) -> QuerySet[Announcement]:
    """The list's rows for `user`, pinned ones first, then newest first, each with the viewer's own row
    (`my_acked_at`, `my_read_at`, `my_recipient`) and, for publishers, the counts of the confirmation list.
    Publishers see every state but archived unless they ask for one; `pending`: only those whose banner still shows
    for `user`."""
    publisher = can_publish(user)
    qs = visible_announcements(user)
    if state and publisher:
        qs = qs.filter(state=state)
    elif publisher:
        qs = qs.exclude(state=AnnouncementState.ARCHIVED)
    if category:
        qs = qs.filter(category=category)
    if pending:
        mine = AnnouncementRecipient.objects.filter(announcement_id=OuterRef("pk"), user=user)
        qs = qs.filter(Exists(mine.filter(cleared_at__isnull=True)), state=AnnouncementState.PUBLISHED)
    qs = annotated(qs, user, publisher=publisher)
    return qs.order_by(F("pinned").desc(), F("sort_at").desc(), "-pk")  # annotated: F, as the stubs see no field


def annotated(qs: QuerySet[Announcement], user: User, *, publisher: bool) -> QuerySet[Announcement]:
    """`qs` with what the list and the API show of each: `pinned` (today), `sort_at`, the viewer's own row
    (`my_recipient`, `my_acked_at`, `my_read_at`) and, for publishers, `n_recipients`, `n_acked`, `n_read`; the
    author and the teams come along (no query per row)."""
    mine = AnnouncementRecipient.objects.filter(announcement_id=OuterRef("pk"), user=user)
    today = timezone.localdate()
    qs = qs.select_related("author").prefetch_related("teams").annotate(
        pinned=Case(When(pinned_until__gte=today, then=Value(True)), default=Value(False),
                    output_field=BooleanField()),
        sort_at=Coalesce("published_at", "publish_at", "updated_at", output_field=DateTimeField()),
        my_recipient=Exists(mine),
        my_acked_at=Subquery(mine.values("acked_at")[:1]),
        my_read_at=Subquery(mine.values("read_at")[:1]),
    )
    if publisher:
        recipients = AnnouncementRecipient.objects.filter(announcement_id=OuterRef("pk")).order_by()

        def count(q: Q) -> Subquery:
            return Subquery(recipients.filter(q).values("announcement_id").annotate(n=Count("pk")).values("n")[:1])

        qs = qs.annotate(n_recipients=count(Q()), n_acked=count(Q(acked_at__isnull=False)),
                         n_read=count(Q(read_at__isnull=False)))
    return qs


def one(user: User, announcement_id: int) -> Announcement:
    """One announcement `user` may read, annotated as the list's rows are (DoesNotExist otherwise)."""
    return annotated(visible_announcements(user).filter(pk=announcement_id), user,
                     publisher=can_publish(user)).get()


def banner_rows(user: User, *, exclude_id: int | None = None) -> list[AnnouncementRecipient]:
    """The person's announcements whose banner still shows, those asking for confirmation first, then newest:
    BANNER_LIMIT of them and one more (to know there are more). One query, on the partial index of rows whose banner
    shows; the announcement comes joined."""
    qs = (AnnouncementRecipient.objects
          .filter(user=user, cleared_at__isnull=True, announcement__state=AnnouncementState.PUBLISHED)
          .select_related("announcement"))
    if exclude_id is not None:
        qs = qs.exclude(announcement_id=exclude_id)
    return list(qs.order_by("-announcement__requires_ack", "-announcement__published_at", "-pk")[:BANNER_LIMIT + 1])


def confirmation_rows(announcement: Announcement, *, status: str = "") -> QuerySet[AnnouncementRecipient]:
    """The announcement's people for its publishers: those still pending first (by name), then those who confirmed
    (or read, when it asks for no confirmation), the latest first. `status`: "pending" or "done" filters."""
    done = Q(acked_at__isnull=False) if announcement.requires_ack else Q(read_at__isnull=False)
    qs = announcement.recipients.select_related("user")
    if status == "pending":
        qs = qs.exclude(done)
    elif status == "done":
        qs = qs.filter(done)
    at = "acked_at" if announcement.requires_ack else "read_at"
    return qs.annotate(is_done=Case(When(done, then=Value(True)), default=Value(False),
                                    output_field=BooleanField())).order_by(
        "is_done", f"-{at}", "user__full_name", "user__username", "pk")


def confirmation_counts(announcement: Announcement) -> dict[str, int]:
    """{"recipients", "acked", "read", "pending", "remindable"} in one query ("pending": not confirmed, or not read
    when it asks for no confirmation; "remindable": not confirmed and still active, whom a reminder reaches)."""
    counts = announcement.recipients.aggregate(
        recipients=Count("pk"), acked=Count("pk", filter=Q(acked_at__isnull=False)),
        read=Count("pk", filter=Q(read_at__isnull=False)),
        remindable=Count("pk", filter=Q(acked_at__isnull=True, user__is_active=True)))
    done = counts["acked"] if announcement.requires_ack else counts["read"]
    return {**counts, "pending": counts["recipients"] - done}


def last_reminder_at(announcement: Announcement) -> datetime | None:
    latest = announcement.reminder_log.order_by("-at").values_list("at", flat=True).first()
    return latest
