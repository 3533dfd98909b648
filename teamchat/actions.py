"""Every write of the team chat: channels (create, edit, archive, join, leave, members), direct messages, messages
(post, edit, delete), reactions, reading, typing, retention. The one transition function of a channel's state
machine lives here. Views, the API, the websocket's client messages, tasks and the demo seeder call these.

Who may read what (the security boundary; teamchat.selectors reads through it):
* team and public channels: everyone who uses the chat reads them; team channels' members are the team's members
  (kept in step by `do_sync_team_channels`); anyone may join a public channel;
* private channels and direct messages: their members only — a chat manager (CHAT_MANAGE) manages a private
  channel's members and archives it, but reads it only as a member; nobody but the two or few people in a direct
  message ever reads it.
Realtime events go to the channel's members (`user.<id>` groups), chosen here (STYLE §7)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, Final

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Team, User
from accounts.roles import Perm
from core import audit
from core.errors import ActionError, ConflictError, InvalidTransition, NotFoundError, PermissionDeniedError
from core.events import emit
from core.perms import require_perm
from core.validators import text_error
from inbox.attachments import Upload, discard, store_uploads
from realtime.events import rooms_changed_on_commit, send_event_on_commit
from teamchat.choices import CHANNEL_TRANSITIONS, ChannelKind, ChannelState, MemberRole
from teamchat.events import ChannelCreated, ChannelStateChanged, MembershipChanged
from teamchat.models import (
    BODY_MAX,
    EMOJI_MAX,
    GROUP_MAX_MEMBERS,
    NAME_MAX,
    TOPIC_MAX,
    Channel,
    ChannelTransition,
    ChatSettings,
    Membership,
    Message,
    MessageRevision,
    Reaction,
)
from teamchat.render import CHANNEL_WORDS, mentioned_names, render_chat

logger = logging.getLogger(__name__)

OPEN_KINDS: Final = (ChannelKind.TEAM, ChannelKind.PUBLIC)  # read by everyone who uses the chat
REFS_MAX: Final = 5
REACTIONS_PER_MESSAGE_MAX: Final = 50
TYPING_EVERY_SECONDS: Final = 2
EDIT_WINDOW: Final = timedelta(days=7)  # one's own message may be edited this long (a record, not a wiki)
# Our own pages a pasted address can point to, and the object kind each names (teamchat.cards draws them).
_REF_PATTERNS: Final = (
    ("conversation", re.compile(r"(?:https?://[^\s/]+)?/inbox/(\d{1,12})/")),
    ("lead", re.compile(r"(?:https?://[^\s/]+)?/call-center-queue/leads/(\d{1,12})/")),
    ("order", re.compile(r"(?:https?://[^\s/]+)?/orders/(\d{1,12})/")),
    ("customer", re.compile(r"(?:https?://[^\s/]+)?/clientes/(\d{1,12})/")),
)
_EMOJI: Final = re.compile(r"^[^\w\s<>&\"'`]{1,16}$")


def can_use(user: User) -> bool:
    return user.is_authenticated and user.has_perm_code(Perm.CHAT_USE)


def can_manage(user: User) -> bool:
    return user.has_perm_code(Perm.CHAT_MANAGE)


# --- access -------------------------------------------------------------------------------------------------------


def member_ids(channel_id: int) -> list[int]:
    return list(Membership.objects.filter(channel_id=channel_id, user__is_active=True)
                .values_list("user_id", flat=True))


def membership_of(user: User, channel: Channel) -> Membership | None:
    return Membership.objects.filter(channel=channel, user=user).first()


def may_read(user: User, channel: Channel, membership: Membership | None) -> bool:
    return membership is not None or channel.kind in OPEN_KINDS


def access_channel(acting_user: User, channel_id: int, *, lock: bool = False) -> tuple[Channel, Membership | None]:
    """The channel and the user's membership (None if not a member), for someone who may read it; 404 otherwise
    (a private channel's existence is not revealed)."""
    require_perm(acting_user, Perm.CHAT_USE)
    qs = Channel.objects.select_for_update() if lock else Channel.objects.all()
    channel = qs.filter(pk=channel_id).first()
    membership = membership_of(acting_user, channel) if channel is not None else None
    if channel is None or not may_read(acting_user, channel, membership):
        raise NotFoundError("channel_not_found", _("El canal no existe."))
    return channel, membership


def access_message(acting_user: User, message_id: int, *, lock: bool = False
                   ) -> tuple[Message, Channel, Membership | None]:
    require_perm(acting_user, Perm.CHAT_USE)
    qs = Message.objects.select_for_update(of=("self",)) if lock else Message.objects.all()
    message = qs.select_related("channel").filter(pk=message_id).first()
    if message is None:
        raise NotFoundError("message_not_found", _("El mensaje no existe."))
    membership = membership_of(acting_user, message.channel)
    if not may_read(acting_user, message.channel, membership):
        raise NotFoundError("message_not_found", _("El mensaje no existe."))
    return message, message.channel, membership


def _check_writable(channel: Channel) -> None:
    if channel.is_archived:
        raise ConflictError("channel_archived", _("El canal está archivado: su historial se puede leer, pero no se "
                                                  "puede escribir en él."))


def _is_owner(user: User, channel: Channel) -> bool:
    return Membership.objects.filter(channel=channel, user=user, role=MemberRole.OWNER).exists()


def _check_may_administer(user: User, channel: Channel) -> None:
    """Renaming, archiving and managing members: the channel's owners and chat managers; never a direct message,
    and a team channel's members follow its team."""
    if channel.is_direct:
        raise PermissionDeniedError("forbidden", _("Una conversación directa no se administra."))
    if not (can_manage(user) or _is_owner(user, channel)):
        raise PermissionDeniedError("forbidden", _("Solo los propietarios del canal pueden hacerlo."))


# --- payloads -------------------------------------------------------------------------------------------------------


def _event(op: str, channel: Channel, **data: Any) -> dict[str, Any]:
    return {"type": "chat", "op": op, "channel_id": channel.pk, "channel_kind": channel.kind, **data}


def room(channel_id: int) -> str:
    """The realtime room of a channel's members (realtime.rooms): one channel-layer send reaches them all."""
    return f"chat.{channel_id}"


def rooms_of(user: User) -> list[str]:
    """The rooms a connection of `user` joins when it opens: one per channel they are a member of."""
    if not can_use(user):
        return []
    return [room(i) for i in Membership.objects.filter(user_id=user.pk, user__is_active=True)
            .values_list("channel_id", flat=True)]


def _send(channel: Channel, op: str, *, user_ids: Iterable[int] | None = None, **data: Any) -> None:
    """To the channel's members (its room), or only to `user_ids`."""
    if user_ids is None:
        send_event_on_commit(_event(op, channel, **data), rooms=[room(channel.pk)])
    else:
        send_event_on_commit(_event(op, channel, **data), user_ids=user_ids)


# --- channels -------------------------------------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    cleaned = " ".join((name or "").split()).lstrip("#").strip()
    if not cleaned:
        raise ActionError("name_required", _("Escriba un nombre para el canal."), field="name")
    if len(cleaned) > NAME_MAX:
        raise ActionError("name_too_long", _("El nombre admite hasta %(n)d caracteres.") % {"n": NAME_MAX},
                          field="name")
    if (error := text_error(cleaned, label=_("El nombre"))) is not None:
        raise ActionError("name_invalid", error, field="name")
    return cleaned


def _clean_topic(topic: str) -> str:
    cleaned = " ".join((topic or "").split())
    if len(cleaned) > TOPIC_MAX:
        raise ActionError("topic_too_long", _("La descripción admite hasta %(n)d caracteres.") % {"n": TOPIC_MAX},
                          field="topic")
    return cleaned


def _chat_users(user_ids: Iterable[int]) -> list[User]:
    ids = sorted({int(i) for i in user_ids})
    users = [u for u in User.objects.filter(pk__in=ids, is_active=True) if u.has_perm_code(Perm.CHAT_USE)]
    if len(users) != len(ids):
        raise ActionError("user_not_found", _("Alguna de las personas elegidas no existe o no usa el chat."),
                          field="members")
    return users


def _name_taken(name: str, *, exclude: int | None = None) -> bool:
    qs = Channel.objects.filter(kind__in=[ChannelKind.TEAM, ChannelKind.PUBLIC, ChannelKind.PRIVATE],
                                name__iexact=name)
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    return qs.exists()


@transaction.atomic
def check_create_channel(acting_user: User, *, name: str, topic: str = "", private: bool = False,
                         member_ids: Sequence[int] = ()) -> Channel:
    require_perm(acting_user, Perm.CHAT_USE)
    name, topic = _clean_name(name), _clean_topic(topic)
    if _name_taken(name):
        raise ConflictError("name_taken", _("Ya hay un canal con ese nombre."), field="name")
    others = _chat_users([i for i in member_ids if i != acting_user.pk])
    kind = ChannelKind.PRIVATE if private else ChannelKind.PUBLIC
    try:
        with transaction.atomic():
            channel = Channel.objects.create(kind=kind, name=name, topic=topic, created_by=acting_user)
    except IntegrityError:  # a concurrent creation with the same name
        raise ConflictError("name_taken", _("Ya hay un canal con ese nombre."), field="name") from None
    Membership.objects.create(channel=channel, user=acting_user, role=MemberRole.OWNER)
    Membership.objects.bulk_create([Membership(channel=channel, user=u) for u in others])
    audit.record(actor=acting_user, action="chat_channel.created", target=channel,
                 changes={"name": name, "kind": kind, "members": sorted([acting_user.pk, *(u.pk for u in others)])})
    emit(ChannelCreated(channel_id=channel.pk, name=name, kind=kind), actor=acting_user)
    people = [acting_user.pk, *(u.pk for u in others)]
    rooms_changed_on_commit(people, join=[room(channel.pk)])
    _send(channel, "channel_added", user_ids=people)
    return channel


@transaction.atomic
def check_update_channel(acting_user: User, channel_id: int, *, name: str | None = None,
                         topic: str | None = None) -> Channel:
    channel, _membership = access_channel(acting_user, channel_id, lock=True)
    _check_may_administer(acting_user, channel)
    _check_writable(channel)
    changes: dict[str, Any] = {}
    if name is not None and channel.kind != ChannelKind.TEAM:  # a team channel is named after its team
        new = _clean_name(name)
        if new != channel.name:
            if _name_taken(new, exclude=channel.pk):
                raise ConflictError("name_taken", _("Ya hay un canal con ese nombre."), field="name")
            changes["name"] = [channel.name, new]
            channel.name = new
    if topic is not None:
        new_topic = _clean_topic(topic)
        if new_topic != channel.topic:
            changes["topic"] = [channel.topic, new_topic]
            channel.topic = new_topic
    if changes:
        try:
            with transaction.atomic():
                channel.save(update_fields=["name", "topic"])
        except IntegrityError:  # renamed to the same name at the same moment, or a name the index folds alike
            raise ConflictError("name_taken", _("Ya hay un canal con ese nombre."), field="name") from None
        audit.record(actor=acting_user, action="chat_channel.updated", target=channel, changes=changes)
        _send(channel, "channel_updated")
    return channel


def do_transition_channel(channel: Channel, *, to: ChannelState, acting_user: User | None) -> bool:
    """The one transition function of a channel (the caller holds the row lock)."""
    frm = ChannelState(channel.state)
    if frm == to:
        return False
    if to not in CHANNEL_TRANSITIONS[frm]:
        raise InvalidTransition("invalid_transition", _("El canal no puede pasar de %(a)s a %(b)s.")
                                % {"a": frm.label, "b": to.label})
    channel.state = to
    channel.save(update_fields=["state"])
    ChannelTransition.objects.create(channel=channel, from_state=frm, to_state=to, actor=acting_user)
    audit.record(actor=acting_user, action="chat_channel.archived" if to == ChannelState.ARCHIVED
                 else "chat_channel.unarchived", target=channel, changes={"state": [frm.value, to.value]})
    emit(ChannelStateChanged(channel_id=channel.pk, name=channel.name, from_state=frm.value, to_state=to.value),
         actor=acting_user)
    _send(channel, "channel_updated")
    return True


@transaction.atomic
def check_archive_channel(acting_user: User, channel_id: int, *, archived: bool = True) -> Channel:
    channel, _membership = access_channel(acting_user, channel_id, lock=True)
    _check_may_administer(acting_user, channel)
    if channel.kind == ChannelKind.TEAM and not can_manage(acting_user):
        raise PermissionDeniedError("forbidden", _("Solo un administrador del chat archiva el canal de un equipo."))
    do_transition_channel(channel, to=ChannelState.ARCHIVED if archived else ChannelState.ACTIVE,
                          acting_user=acting_user)
    return channel


def _add_members(channel: Channel, users: Sequence[User], *, acting_user: User | None, reason: str) -> list[int]:
    existing = set(Membership.objects.filter(channel=channel, user__in=users).values_list("user_id", flat=True))
    new = [u for u in users if u.pk not in existing]
    if not new:
        return []
    # New members start with everything read: they see the history, not a wall of unread messages.
    last = Message.objects.filter(channel=channel, parent=None).order_by("-id").values_list("id", flat=True).first()
    Membership.objects.bulk_create([Membership(channel=channel, user=u, last_read_id=last or 0) for u in new],
                                   ignore_conflicts=True)
    ids = [u.pk for u in new]
    audit.record(actor=acting_user, action="chat_member.added", target=channel,
                 changes={"users": ids, "reason": reason})
    emit(MembershipChanged(channel_id=channel.pk, name=channel.name, added=ids, removed=[], reason=reason),
         actor=acting_user)
    rooms_changed_on_commit(ids, join=[room(channel.pk)])
    _send(channel, "channel_added", user_ids=ids)
    _send(channel, "members_changed")
    return ids


def _remove_members(channel: Channel, user_ids: Sequence[int], *, acting_user: User | None, reason: str
                    ) -> list[int]:
    ids = sorted(set(Membership.objects.filter(channel=channel, user_id__in=user_ids)
                     .values_list("user_id", flat=True)))
    if not ids:
        return []
    Membership.objects.filter(channel=channel, user_id__in=ids).delete()
    audit.record(actor=acting_user, action="chat_member.removed", target=channel,
                 changes={"users": ids, "reason": reason})
    emit(MembershipChanged(channel_id=channel.pk, name=channel.name, added=[], removed=ids, reason=reason),
         actor=acting_user)
    rooms_changed_on_commit(ids, leave=[room(channel.pk)])
    _send(channel, "channel_removed", user_ids=ids)
    _send(channel, "members_changed")
    return ids


@transaction.atomic
def check_add_members(acting_user: User, channel_id: int, *, user_ids: Sequence[int]) -> list[int]:
    channel, _membership = access_channel(acting_user, channel_id, lock=True)
    _check_may_administer(acting_user, channel)
    _check_writable(channel)
    if channel.kind == ChannelKind.TEAM:
        raise ActionError("team_members", _("Los miembros del canal de un equipo son los del equipo: "
                                            "cámbielos en Equipos y horarios."))
    return _add_members(channel, _chat_users(user_ids), acting_user=acting_user, reason="added")


@transaction.atomic
def check_remove_member(acting_user: User, channel_id: int, *, user_id: int) -> None:
    channel, _membership = access_channel(acting_user, channel_id, lock=True)
    if user_id != acting_user.pk:
        _check_may_administer(acting_user, channel)
    if channel.kind == ChannelKind.TEAM:
        raise ActionError("team_members", _("Los miembros del canal de un equipo son los del equipo: "
                                            "cámbielos en Equipos y horarios."))
    if channel.is_direct:
        raise ActionError("direct_members", _("Nadie sale de una conversación directa."))
    owners = set(Membership.objects.filter(channel=channel, role=MemberRole.OWNER).values_list("user_id", flat=True))
    members = Membership.objects.filter(channel=channel).count()
    if owners == {user_id} and members > 1:
        raise ConflictError("last_owner", _("Nombre a otro propietario antes de salir: el canal se quedaría sin "
                                            "quien lo administre."))
    if members == 1 and channel.kind == ChannelKind.PRIVATE and not channel.is_archived:
        raise ConflictError("last_member", _("Es la última persona del canal privado: archívelo en lugar de salir, "
                                             "así nadie lo pierde."))
    if not _remove_members(channel, [user_id], acting_user=acting_user,
                           reason="left" if user_id == acting_user.pk else "removed"):
        raise NotFoundError("member_not_found", _("Esa persona no es miembro del canal."))


@transaction.atomic
def check_join_channel(acting_user: User, channel_id: int) -> Channel:
    channel, membership = access_channel(acting_user, channel_id, lock=True)
    if membership is not None:
        return channel
    if channel.kind != ChannelKind.PUBLIC:
        raise PermissionDeniedError("forbidden", _("A este canal solo se entra por invitación."))
    _check_writable(channel)
    _add_members(channel, [acting_user], acting_user=acting_user, reason="joined")
    return channel


@transaction.atomic
def check_set_owner(acting_user: User, channel_id: int, *, user_id: int, owner: bool) -> None:
    channel, _membership = access_channel(acting_user, channel_id, lock=True)
    _check_may_administer(acting_user, channel)
    _check_writable(channel)
    if channel.kind == ChannelKind.TEAM:
        raise ActionError("team_members", _("Los miembros del canal de un equipo son los del equipo: "
                                            "cámbielos en Equipos y horarios."))
    m = Membership.objects.filter(channel=channel, user_id=user_id).first()
    if m is None:
        raise NotFoundError("member_not_found", _("Esa persona no es miembro del canal."))
    if not owner and m.role == MemberRole.OWNER and not Membership.objects.filter(
            channel=channel, role=MemberRole.OWNER).exclude(pk=m.pk).exists():
        raise ConflictError("last_owner", _("El canal necesita al menos un propietario: nombre a otro antes."))
    role = MemberRole.OWNER if owner else MemberRole.MEMBER
    if m.role != role:
        m.role = role
        m.save(update_fields=["role"])
        audit.record(actor=acting_user, action="chat_member.role_changed", target=channel,
                     changes={"user": user_id, "role": role.value})
        _send(channel, "members_changed")


@transaction.atomic
def check_open_direct(acting_user: User, *, user_ids: Sequence[int]) -> Channel:
    """The direct message between `acting_user` and `user_ids` (one to eight others; none: notes to oneself),
    opened the first time and found again afterwards."""
    require_perm(acting_user, Perm.CHAT_USE)
    others = _chat_users([i for i in user_ids if i != acting_user.pk])
    people = sorted({acting_user.pk, *(u.pk for u in others)})
    if len(people) > GROUP_MAX_MEMBERS:
        raise ActionError("too_many_people", _("Un mensaje directo reúne hasta %(n)d personas: cree un canal "
                                               "privado para más.") % {"n": GROUP_MAX_MEMBERS}, field="members")
    key = ":".join(str(i) for i in people)
    channel = Channel.objects.filter(direct_key=key).first()
    if channel is not None:
        return channel
    kind = ChannelKind.GROUP if len(people) > 2 else ChannelKind.DIRECT
    try:
        with transaction.atomic():
            channel = Channel.objects.create(kind=kind, direct_key=key, created_by=acting_user)
    except IntegrityError:  # opened by the other person at the same moment
        return Channel.objects.get(direct_key=key)
    Membership.objects.bulk_create([Membership(channel=channel, user_id=i) for i in people])
    rooms_changed_on_commit(people, join=[room(channel.pk)])
    return channel


# --- team channels ---------------------------------------------------------------------------------------------------


def _chat_user_ids(user_ids: Iterable[int]) -> set[int]:
    return {u.pk for u in User.objects.filter(pk__in=set(user_ids), is_active=True) if u.has_perm_code(Perm.CHAT_USE)}


def do_sync_team_channels(*, user: User | None = None) -> int:
    """One channel per team, its members the team's active members who use the chat (an inactive team's channel
    is emptied); all teams, or only `user`'s memberships when given (the chat page calls it for its reader).
    Idempotent; reads first and writes only what changed, each team in its own transaction so that one team's
    trouble never blocks the others. Returns the memberships changed."""
    changed = 0
    teams = Team.objects.all()
    if user is not None:
        teams = teams.filter(Q(members=user) | Q(chat_channels__memberships__user=user)).distinct()
    for team in teams.prefetch_related("members"):
        try:
            changed += _sync_team(team, user=user)
        except Exception:  # a team that cannot be synced is logged and retried by the next sync
            logger.exception("team chat: team %s could not be synced", team.pk)
    return changed


def _sync_team(team: Team, *, user: User | None) -> int:
    channel = Channel.objects.filter(kind=ChannelKind.TEAM, team=team).first()
    wanted = _chat_user_ids(m.pk for m in team.members.all()) if team.is_active else set()
    if channel is None and not wanted:
        return 0
    present = set(Membership.objects.filter(channel=channel).values_list("user_id", flat=True)) if channel else set()
    if user is not None:
        wanted &= {user.pk}
        present &= {user.pk}
    add, remove = sorted(wanted - present), sorted(present - wanted)
    if channel is not None and not add and not remove:
        return 0  # the usual case: nothing written, no transaction
    with transaction.atomic():
        if channel is None:
            base = team.name[:NAME_MAX]
            name = base if not _name_taken(base) else f"{team.name[:NAME_MAX - len(team.code) - 3]} ({team.code})"
            try:
                with transaction.atomic():
                    channel = Channel.objects.create(kind=ChannelKind.TEAM, team=team, name=name,
                                                     topic=" ".join(team.description.split())[:TOPIC_MAX])
            except IntegrityError:
                return 0  # created concurrently, or the name is taken twice over: the next sync settles it
            emit(ChannelCreated(channel_id=channel.pk, name=channel.name, kind=channel.kind))
        changed = 0
        if add:
            changed += len(_add_members(channel, list(User.objects.filter(pk__in=add)), acting_user=None,
                                        reason="team"))
        if remove:
            changed += len(_remove_members(channel, remove, acting_user=None, reason="team"))
    return changed


# --- messages --------------------------------------------------------------------------------------------------------


def _clean_body(body: str, *, has_files: bool) -> str:
    text = (body or "").replace("\r\n", "\n").strip()
    if not text and not has_files:
        raise ActionError("body_required", _("Escriba un mensaje o adjunte un archivo."), field="body")
    if len(text) > BODY_MAX:
        raise ActionError("body_too_long", _("Un mensaje admite hasta %(n)d caracteres.") % {"n": BODY_MAX},
                          field="body")
    if (error := text_error(text, label=_("El mensaje"))) is not None:
        raise ActionError("body_invalid", error, field="body")
    return text


def find_refs(text: str) -> list[dict[str, Any]]:
    refs: list[dict[str, Any]] = []
    for kind, pattern in _REF_PATTERNS:
        for m in pattern.finditer(text or ""):
            ref = {"kind": kind, "id": int(m.group(1))}
            if ref not in refs:
                refs.append(ref)
    return refs[:REFS_MAX]


def _mentions(channel: Channel, text: str) -> tuple[list[int], bool, str]:
    """The members named with @usuario, whether @canal (or @todos, @here…) was written, and the text rendered with
    those members' mentions marked."""
    names = mentioned_names(text)
    if not names:
        return [], False, render_chat(text)
    people = list(Membership.objects.filter(channel=channel, user__username__in=[n for n in names
                                                                                  if n not in CHANNEL_WORDS])
                  .values_list("user_id", "user__username"))
    # usernames compare case-insensitively (people type @Ana for "ana")
    if len(people) < len(names - CHANNEL_WORDS):
        lower = {n for n in names if n not in CHANNEL_WORDS}
        people = [(uid, uname) for uid, uname in Membership.objects.filter(channel=channel)
                  .values_list("user_id", "user__username") if uname.lower() in lower]
    return (sorted({uid for uid, _name in people}), bool(names & CHANNEL_WORDS),
            render_chat(text, mention_names=[uname for _uid, uname in people]))


def message_payload(message: Message, *, author: User | None) -> dict[str, Any]:
    """What a member's browser needs to update counts, notify and fetch the message rendered for its reader."""
    preview = (message.body or "").strip()
    if not preview and message.attachments:
        preview = "📎 " + str(message.attachments[0].get("name") or "")
    return {
        "message_id": message.pk, "parent_id": message.parent_id, "author_id": message.author_id,
        "author": author.display_name if author else "", "preview": preview[:140],
        "mentioned_ids": message.mentions, "mentions_channel": message.mentions_channel,
    }


def check_post_message(acting_user: User, channel_id: int, *, body: str, parent_id: int | None = None,
                       uploads: Sequence[Upload] = ()) -> Message:
    """Posts a message (a reply in a thread with `parent_id`). The files are checked and stored before the
    channel's lock is taken (storing 25 MB must not hold every other post of the channel), and deleted again if the
    post is refused or fails."""
    access_channel(acting_user, channel_id)  # who may write is checked again under the lock below
    text = _clean_body(body, has_files=bool(uploads))
    stored = store_uploads(f"chat/{channel_id}", uploads) if uploads else []
    try:
        return _post_message(acting_user, channel_id, text=text, parent_id=parent_id, attachments=stored)
    except BaseException:
        discard(stored)
        raise


@transaction.atomic
def _post_message(acting_user: User, channel_id: int, *, text: str, parent_id: int | None,
                  attachments: list[dict[str, Any]]) -> Message:
    channel, membership = access_channel(acting_user, channel_id, lock=True)
    _check_writable(channel)
    if membership is None:
        if channel.kind != ChannelKind.PUBLIC:
            raise PermissionDeniedError("not_member", _("Solo los miembros escriben en este canal."))
        _add_members(channel, [acting_user], acting_user=acting_user, reason="joined")
    parent = None
    if parent_id is not None:
        parent = Message.objects.select_for_update().filter(pk=parent_id, channel=channel).first()
        if parent is None or parent.deleted_at is not None:
            raise NotFoundError("message_not_found", _("El mensaje al que responde no existe."))
        if parent.parent_id is not None:  # a reply to a reply joins the same thread
            parent = Message.objects.select_for_update().get(pk=parent.parent_id)
    mentions, everyone, html = _mentions(channel, text)
    message = Message.objects.create(channel=channel, author=acting_user, parent=parent, body=text, html=html,
                                     mentions=mentions, mentions_channel=everyone, refs=find_refs(text),
                                     attachments=attachments)
    now = message.created_at
    if parent is not None:
        Message.objects.filter(pk=parent.pk).update(reply_count=F("reply_count") + 1, last_reply_at=now)
    else:
        Channel.objects.filter(pk=channel.pk).update(last_message_at=now)
        # One's own message is read by its author.
        Membership.objects.filter(channel=channel, user=acting_user).update(
            last_read_id=Greatest(F("last_read_id"), message.pk))
    _send(channel, "message", **message_payload(message, author=acting_user))
    return message


def _check_own_or_moderator(acting_user: User, message: Message, channel: Channel, *, editing: bool) -> None:
    if message.deleted_at is not None:
        raise NotFoundError("message_not_found", _("El mensaje fue borrado."))
    if message.author_id == acting_user.pk:
        return
    if not editing and can_manage(acting_user) and not channel.is_direct:
        return  # a chat manager removes what should not be there (recorded in the audit log)
    raise PermissionDeniedError("forbidden", _("Solo quien escribió el mensaje puede cambiarlo."))


@transaction.atomic
def check_edit_message(acting_user: User, message_id: int, *, body: str) -> Message:
    message, channel, _membership = access_message(acting_user, message_id, lock=True)
    _check_own_or_moderator(acting_user, message, channel, editing=True)
    _check_writable(channel)
    if timezone.now() - message.created_at > EDIT_WINDOW:
        raise ConflictError("edit_window_over", _("Un mensaje se puede editar durante 7 días."))
    text = _clean_body(body, has_files=bool(message.attachments))
    if text == message.body:
        return message
    MessageRevision.objects.create(message=message, body=message.body, editor=acting_user)
    message.body = text
    message.mentions, message.mentions_channel, message.html = _mentions(channel, text)
    message.refs = find_refs(text)
    message.edited_at = timezone.now()
    message.save(update_fields=["body", "html", "mentions", "mentions_channel", "refs", "edited_at"])
    _send(channel, "message_changed", message_id=message.pk, parent_id=message.parent_id)
    return message


@transaction.atomic
def check_delete_message(acting_user: User, message_id: int) -> Message:
    """Deletes the text and files of a message, leaving "Mensaje borrado" in its place (its replies stay); the
    earlier texts go too. The audit log records who deleted whose message (not its text)."""
    message, channel, _membership = access_message(acting_user, message_id, lock=True)
    _check_own_or_moderator(acting_user, message, channel, editing=False)
    files = list(message.attachments or [])
    message.body, message.html, message.attachments, message.mentions, message.refs = "", "", [], [], []
    message.mentions_channel = False
    message.deleted_at = timezone.now()
    message.save(update_fields=["body", "html", "attachments", "mentions", "mentions_channel", "refs", "deleted_at"])
    MessageRevision.objects.filter(message=message).delete()
    Reaction.objects.filter(message=message).delete()
    if message.parent_id is not None:
        Message.objects.filter(pk=message.parent_id, reply_count__gt=0).update(reply_count=F("reply_count") - 1)
    audit.record(actor=acting_user, action="chat_message.deleted", target=channel,
                 changes={"message": message.pk, "author": message.author_id, "files": len(files)})
    if files:
        transaction.on_commit(lambda: discard(files))
    _send(channel, "message_changed", message_id=message.pk, parent_id=message.parent_id)
    return message


@transaction.atomic
def check_toggle_reaction(acting_user: User, message_id: int, *, emoji: str) -> bool:
    """Adds the reaction, or takes it back if the user had already reacted so; True when it is now there."""
    message, channel, membership = access_message(acting_user, message_id, lock=True)
    _check_writable(channel)
    if membership is None:
        if channel.kind != ChannelKind.PUBLIC:
            raise PermissionDeniedError("not_member", _("Solo los miembros reaccionan en este canal."))
        _add_members(channel, [acting_user], acting_user=acting_user, reason="joined")
    if message.deleted_at is not None:
        raise NotFoundError("message_not_found", _("El mensaje fue borrado."))
    emoji = (emoji or "").strip()
    if not emoji or len(emoji) > EMOJI_MAX or not _EMOJI.match(emoji):
        raise ActionError("emoji_invalid", _("Elija un emoji."), field="emoji")
    existing = Reaction.objects.filter(message=message, user=acting_user, emoji=emoji)
    if existing.exists():
        existing.delete()
        added = False
    else:
        if Reaction.objects.filter(message=message).values("emoji").distinct().count() >= REACTIONS_PER_MESSAGE_MAX:
            raise ConflictError("too_many_reactions", _("Este mensaje ya tiene demasiadas reacciones distintas."))
        Reaction.objects.create(message=message, user=acting_user, emoji=emoji)
        added = True
    _send(channel, "message_changed", message_id=message.pk, parent_id=message.parent_id)
    return added


# --- reading and typing ---------------------------------------------------------------------------------------------


@transaction.atomic
def check_mark_read(acting_user: User, channel_id: int, *, up_to: int | None = None) -> int:
    """Moves the user's read mark forward to `up_to` (or the channel's latest message); never back. Returns the
    mark. The user's other tabs update their counts."""
    channel, membership = access_channel(acting_user, channel_id)
    if membership is None:
        return 0
    latest = (Message.objects.filter(channel=channel, parent=None).order_by("-id").values_list("id", flat=True)
              .first()) or 0
    target = latest if up_to is None else max(0, min(int(up_to), latest))
    if target > membership.last_read_id:
        Membership.objects.filter(pk=membership.pk).update(last_read_id=Greatest(F("last_read_id"), target))
        send_event_on_commit(_event("read", channel, last_read_id=target), user_ids=[acting_user.pk])
        return target
    return membership.last_read_id


def check_mark_unread(acting_user: User, channel_id: int, *, from_id: int) -> int:
    """Marks the channel unread from message `from_id` on ("Marcar como no leído")."""
    channel, membership = access_channel(acting_user, channel_id)
    if membership is None:
        return 0
    mark = max(0, int(from_id) - 1)
    Membership.objects.filter(pk=membership.pk).update(last_read_id=mark)
    send_event_on_commit(_event("read", channel, last_read_id=mark), user_ids=[acting_user.pk])
    return mark


def on_typing(user: User, content: dict[str, Any]) -> None:
    """A websocket client message {"type": "chat_typing", "channel_id": n}: the other members see "… está
    escribiendo" for a few seconds. Nothing is stored; anything malformed is ignored."""
    try:
        channel_id = int(content.get("channel_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return
    if not can_use(user) or not 0 < channel_id < 2**63:
        return
    # At most one typing event per person and channel every 2 seconds, whatever a client sends.
    if not cache.add(f"chat-typing:{user.pk}:{channel_id}", 1, timeout=TYPING_EVERY_SECONDS):
        return
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None or channel.is_archived or membership_of(user, channel) is None:
        return
    # To the whole room (one send); the typist's own pages ignore their own user_id.
    _send(channel, "typing", user_id=user.pk, name=user.display_name)


# --- retention -------------------------------------------------------------------------------------------------------

PURGE_BATCH: Final = 2000


@transaction.atomic
def check_set_retention(acting_user: User, *, days: int) -> ChatSettings:
    require_perm(acting_user, Perm.CHAT_MANAGE)
    if days < 0 or days > 36500:
        raise ActionError("retention_invalid", _("Escriba un número de días entre 0 (conservar siempre) y 36500."),
                          field="retention_days")
    current = ChatSettings.load()
    if current.retention_days != days:
        audit.record(actor=acting_user, action="chat_settings.retention", target=None,
                     changes={"retention_days": [current.retention_days, days]})
        current.retention_days = days
        current.save(update_fields=["retention_days"])
    return current


def do_purge_expired(*, batch: int = PURGE_BATCH) -> int:
    """Deletes messages older than the retention setting (their replies, revisions, reactions and files with them),
    one bounded batch; returns how many were deleted (the task runs again while a full batch was deleted)."""
    days = ChatSettings.load().retention_days
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    with transaction.atomic():
        rows = list(Message.objects.filter(created_at__lt=cutoff).order_by("id")
                    .values_list("id", "attachments")[:batch])
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        # Replies of an expired root go with it (cascade), however recent: their files and count go too.
        replies = list(Message.objects.filter(parent_id__in=ids).exclude(pk__in=ids).values_list("attachments",
                                                                                              flat=True))
        files = [f for r in rows for f in (r[1] or [])] + [f for a in replies for f in (a or [])]
        roots = set(Message.objects.filter(pk__in=ids, parent__isnull=False).values_list("parent_id", flat=True))
        Message.objects.filter(pk__in=ids).delete()
        # A root that stays counts only its remaining replies (deleted ones are not counted, as on deletion).
        for root_id in Message.objects.filter(pk__in=roots).values_list("id", flat=True):
            Message.objects.filter(pk=root_id).update(
                reply_count=Message.objects.filter(parent_id=root_id, deleted_at__isnull=True).count())
        deleted = len(ids) + len(replies)
        audit.record(actor=None, action="chat_message.purged", target=None,
                     changes={"messages": deleted, "retention_days": days})
        if files:
            transaction.on_commit(lambda: discard(files))
    return len(ids)


def retention_settings() -> ChatSettings:
    return ChatSettings.load()


def file_limit_mb() -> int:
    return int(settings.ATTACHMENT_MAX_BYTES // (1024 * 1024))
