"""/api/v1/chat/…: the team chat — the caller's channels with unread counts, creating a channel or opening a direct
message, a channel's history (keyset-paged) and its threads, posting, editing and deleting messages, reactions,
read marks and files. The same actions and selectors as the chat pages (teamchat.actions decides who may read and
write what; a private channel or someone else's direct message answers 404, as if it did not exist).

Realtime: nothing to subscribe to here. The actions send their events (`{"type": "chat", "op": "message" |
"message_changed" | "read" | "channel_added" | …}`) to the members' existing websocket (`/ws/events/`), whether the
change came from a page or from this API."""

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Body, Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from accounts.models import User
from accounts.roles import Perm
from core.api import (
    END,
    INT64_MAX,
    NOT_BLANK,
    WHITESPACE,
    DbId,
    ErrorOut,
    InputSchema,
    QuerySchema,
    api_require,
    api_user,
)
from core.errors import ActionError, NotFoundError
from inbox.api import FileIn, uploads_from
from inbox.attachments import MAX_FILES_PER_MESSAGE, file_response
from teamchat import actions, selectors
from teamchat.models import (
    BODY_MAX,
    EMOJI_MAX,
    GROUP_MAX_MEMBERS,
    NAME_MAX,
    TOPIC_MAX,
    Channel,
    Membership,
    Message,
    Reaction,
)

router = Router(tags=["chat"])

MEMBERS_MAX: Final = 200
# What the actions accept, said first by the schema: a name with something besides spaces and "#" (the action strips
# a leading "#"); an emoji without spaces, markup characters or letters and digits (teamchat.actions._EMOJI). The
# pattern spells out only the ASCII letters and digits: engines disagree on the others (Python's `\w` takes "¼" and
# "é", the fuzzer's generator does not), so those the action refuses (400 `emoji_invalid`).
NAME_PATTERN: Final = rf"[^{WHITESPACE}#]"
EMOJI_PATTERN: Final = rf"^[^A-Za-z0-9_{WHITESPACE}<>&\"'`]{{1,{EMOJI_MAX}}}{END}"
FileIndex = Annotated[int, Field(ge=0, le=MAX_FILES_PER_MESSAGE - 1, description="The file's position in "
                                                                                "`attachments`, from 0")]
FILES_DOC: Final = (f"Files sent with it (at most {MAX_FILES_PER_MESSAGE}), base64-encoded like the inbox's "
                    "(400 `invalid_attachment`, `too_many_attachments`, `empty_attachment`, "
                    "`attachment_too_large`). The request body's 5 MB limit caps them at about 3.7 MB together "
                    "once decoded; larger files go through the chat page.")


# --- schemas --------------------------------------------------------------------------------------------------------


class ChatUserRefOut(Schema):
    id: int
    username: str
    name: str = Field(..., description="The full name, or the username when there is none")


class ChatChannelOut(Schema):
    id: int
    kind: str = Field(..., description="equipo | publico | privado | directo | grupo (the last two: direct "
                                       "messages)")
    name: str = Field(..., description="A channel's name; a direct message's is the other people's names (your "
                                       "own for notes to yourself)")
    topic: str
    state: str = Field(..., description="activo | archivado (read-only: its history stays, nobody writes)")
    unread: int = Field(..., description="Top-level messages of others after your read mark (0 when not a member)")
    last_message_at: datetime | None
    is_member: bool
    direct_with: list[ChatUserRefOut] = Field(..., description="A direct message's other people; [] for a channel")


class ChatMemberOut(ChatUserRefOut):
    role: str = Field(..., description="propietario | miembro")


class ChatChannelDetailOut(ChatChannelOut):
    members: list[ChatMemberOut] = Field(..., description="Its active members, by name")
    created_at: datetime


class ChatChannelListQuery(QuerySchema):
    browse: bool = Field(False, description="Instead of your channels: the team and public channels you may join "
                                            "(you are not a member), by name")


class ChatChannelIn(InputSchema):
    """`kind: "channel"` (the default) creates a channel; `kind: "direct"` opens the direct message with `members`
    (found again, with the same id, when it already exists)."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["name"],
         "properties": {"kind": {"const": "channel"}, "name": {"pattern": NAME_PATTERN}}},
        {"required": ["kind"],
         "properties": {"kind": {"const": "direct"}, "name": {"maxLength": 0}, "topic": {"maxLength": 0},
                        "private": {"const": False}, "members": {"maxItems": GROUP_MAX_MEMBERS}}}]})

    kind: Literal["channel", "direct"] = Field("channel", description="channel | direct")
    name: str = Field("", max_length=NAME_MAX, description="A channel's name, unique among channels regardless of "
                                                          "case (409 `name_taken`); a direct message has none")
    topic: str = Field("", max_length=TOPIC_MAX, description="A channel's description")
    private: bool = Field(False, description="A private channel: only its members read it, and its owners add them")
    members: list[DbId] = Field(default_factory=list, max_length=MEMBERS_MAX,
                                description="User ids. A channel: who joins you in it (you are its owner). A "
                                            f"direct message: the other people, up to {GROUP_MAX_MEMBERS - 1} (400 "
                                            "`too_many_people`; [] is notes to yourself). 400 `user_not_found` "
                                            "when one does not exist or does not use the chat")


class ChatAttachmentOut(Schema):
    name: str
    content_type: str
    size: int
    url: str = Field(..., description="The file on the chat's pages (a browser session)")
    api_url: str = Field(..., description="The same file through this API (the bearer token)")


class ChatReactionOut(Schema):
    emoji: str
    count: int
    mine: bool = Field(..., description="Whether you reacted with it")
    names: list[str] = Field(..., description="Who reacted, in order")


class ChatMessageOut(Schema):
    id: int
    channel_id: int
    author: ChatUserRefOut | None = Field(..., description="null when the author's account was deleted")
    body: str = Field(..., description="The text as written (Markdown-lite); \"\" when deleted")
    html: str = Field(..., description="The text rendered as the chat shows it (sanitized HTML, members' "
                                       "@mentions marked); \"\" when deleted")
    parent_id: int | None = Field(..., description="A reply: its thread's first message")
    reply_count: int
    last_reply_at: datetime | None
    attachments: list[ChatAttachmentOut]
    reactions: list[ChatReactionOut] = Field(..., description="Grouped by emoji, in the order each was first used")
    mentions: list[int] = Field(..., description="Ids of the members named with @usuario")
    mentions_channel: bool = Field(..., description="Whether @canal (or @todos) was written")
    edited_at: datetime | None = Field(..., description="When last edited (\"editado\"); null if never")
    deleted: bool = Field(..., description="Deleted: its text and files are gone, its replies stay")
    created_at: datetime


class ChatMessagePageOut(Schema):
    results: list[ChatMessageOut] = Field(..., description="Oldest first")
    next_before: int | None = Field(..., description="Pass as `before` for the older messages; null when there are "
                                                     "none (always null in a thread)")
    next_after: int | None = Field(..., description="When reading with `after` or a `thread`: pass as `after` for "
                                                    "the newer ones; null once you have them all")


class ChatHistoryQuery(QuerySchema):
    before: DbId | None = Field(None, description="A message id: the messages before it (scrolling up)")
    after: int | None = Field(None, ge=0, le=INT64_MAX, description="A message id: the messages after it, oldest "
                                                                    "first (catching up; 0 for the beginning)")
    limit: int = Field(selectors.PAGE_SIZE, ge=1, le=selectors.PAGE_MAX)
    thread: DbId | None = Field(None, description="A message id: its thread's replies instead of the channel's "
                                                  "messages (with `after`, not `before`)")


class ChatMessageIn(InputSchema):
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["body"], "properties": {"body": {"pattern": NOT_BLANK}}},
        {"required": ["attachments"], "properties": {"attachments": {"minItems": 1}}}]})

    body: str = Field("", max_length=BODY_MAX, description="Markdown-lite; @usuario and @canal mention. May be "
                                                          "empty when files are attached (400 `body_required`)")
    parent_id: DbId | None = Field(None, description="Reply in this message's thread (a reply to a reply joins the "
                                                     "same thread; 404 `message_not_found`)")
    attachments: list[FileIn] = Field(default_factory=list, max_length=MAX_FILES_PER_MESSAGE, description=FILES_DOC)


class ChatMessagePatchIn(InputSchema):
    body: str = Field(..., max_length=BODY_MAX, description="The new text (the earlier one is kept in its edit "
                                                           "history); empty only for a message with files")


class ChatReactionIn(InputSchema):
    emoji: str = Field(..., min_length=1, max_length=EMOJI_MAX, pattern=EMOJI_PATTERN,
                       description="An emoji: no letters or digits of any script, spaces or markup characters "
                                   "(400 `emoji_invalid`)")


class ChatReactionToggledOut(Schema):
    added: bool = Field(..., description="true: your reaction is now there; false: it was taken back")
    reactions: list[ChatReactionOut]


class ChatReadIn(InputSchema):
    up_to: int | None = Field(None, ge=0, le=INT64_MAX, description="A message id; absent: the latest message. "
                                                                    "The mark only moves forward")


class ChatReadOut(Schema):
    last_read_id: int = Field(..., description="Your read mark now (0 when you are not a member)")


class ChatUnreadOut(Schema):
    total: int
    channels: dict[str, int] = Field(..., description="Channel id → unread, for each active channel you are in")


# --- serializing ----------------------------------------------------------------------------------------------------


def _user_ref(user: User) -> dict[str, Any]:
    return {"id": user.pk, "username": user.username, "name": user.display_name}


def _channel_out(entry: selectors.SidebarEntry) -> dict[str, Any]:
    ch = entry.channel
    return {"id": ch.pk, "kind": ch.kind, "name": entry.title, "topic": ch.topic, "state": ch.state,
            "unread": entry.unread, "last_message_at": ch.last_message_at, "is_member": entry.is_member,
            "direct_with": [_user_ref(u) for u in entry.others]}


def _channel_detail(reader: User, channel: Channel, membership: Membership | None) -> dict[str, Any]:
    members = selectors.members(channel)
    others = [m.user for m in members if m.user_id != reader.pk]
    entry = selectors.SidebarEntry(
        channel, selectors.display_title(channel, others) or reader.display_name,
        selectors.unread_counts(reader).get(channel.pk, 0) if membership is not None else 0,
        others if channel.is_direct else [], membership is not None)
    return {**_channel_out(entry), "created_at": channel.created_at,
            "members": [{**_user_ref(m.user), "role": m.role} for m in members]}


def _attachments(request: HttpRequest, message: Message) -> list[dict[str, Any]]:
    return [{"name": str(f.get("name") or ""), "content_type": str(f.get("content_type") or ""),
             "size": int(f.get("size") or 0),
             "url": request.build_absolute_uri(reverse("teamchat:file", args=[message.pk, i])),
             "api_url": request.build_absolute_uri(
                 reverse("api:chat_message_file", kwargs={"chat_message_id": message.pk, "file_index": i}))}
            for i, f in enumerate(message.attachments or [])]


def _messages_out(request: HttpRequest, reader: User, channel: Channel, messages: list[Message]
                  ) -> list[dict[str, Any]]:
    """Each message as the reader sees it. Expects authors and reactions (with their users) loaded, as the
    selectors load them."""
    html = selectors.bodies_html(channel, messages)
    out = []
    for m in messages:
        deleted = m.deleted_at is not None
        out.append({
            "id": m.pk, "channel_id": m.channel_id,
            "author": _user_ref(m.author) if m.author is not None else None,
            "body": "" if deleted else m.body,
            "html": str(html.get(m.pk, "")),
            "parent_id": m.parent_id, "reply_count": m.reply_count, "last_reply_at": m.last_reply_at,
            "attachments": _attachments(request, m),
            "reactions": selectors.grouped_reactions(m, reader),
            "mentions": list(m.mentions or []), "mentions_channel": m.mentions_channel,
            "edited_at": m.edited_at, "deleted": deleted, "created_at": m.created_at,
        })
    return out


def _reloaded(message_id: int) -> Message:
    """A message just written, loaded as the selectors load a page (its author; its reactions with their users)."""
    return (Message.objects.select_related("author")
            .prefetch_related(Prefetch("reactions", queryset=Reaction.objects.select_related("user").order_by("id")))
            .get(pk=message_id))


def _has_top_level(channel: Channel, *, before: int | None = None, after: int | None = None) -> bool:
    """Whether the channel has top-level messages beyond a page (one probe of the chat_message_top index), so the
    cursors are null exactly when nothing is left, rather than after an empty page."""
    qs = Message.objects.filter(channel=channel, parent__isnull=True)
    return (qs.filter(id__lt=before) if before is not None else qs.filter(id__gt=after or 0)).exists()


def _paging_error(message: str, field: str) -> ActionError:
    return ActionError("invalid_paging", message, field=field)


# --- channels -------------------------------------------------------------------------------------------------------


@router.get("/chat/channels", response=list[ChatChannelOut],
            summary="Your channels and direct messages with unread counts (the chat's sidebar)",
            description="Named channels by name, then direct messages by their latest message; archived channels "
                        "are left out (read one by its id). Not paged: every channel you are in, with its unread "
                        "count, in one answer. `browse=1`: the team and public channels you may join instead.")
def list_channels(request: HttpRequest, query: Query[ChatChannelListQuery]) -> Any:
    user = api_require(request, Perm.CHAT_USE)
    if query.browse:
        return [_channel_out(selectors.SidebarEntry(ch, ch.name, 0, [], False))
                for ch in selectors.browsable_channels(user)]
    return [_channel_out(entry) for entry in selectors.sidebar(user)]


@router.post("/chat/channels", response={200: ChatChannelDetailOut, 201: ChatChannelDetailOut, 409: ErrorOut},
             summary="Create a channel, or open a direct message",
             description="`{\"name\", \"topic\", \"private\", \"members\"}` creates a channel (201; you are its "
                         "owner; 400 `name_required`, `name_invalid`; 409 `name_taken`). `{\"kind\": \"direct\", "
                         "\"members\": [ids]}` opens the direct message with those people — two people, or a group "
                         f"of up to {GROUP_MAX_MEMBERS} — or finds the one that exists (200, the same id every "
                         "time; 400 `too_many_people`). The members receive a `chat`/`channel_added` event over "
                         "their websocket when a channel is created, and a direct message appears to the others "
                         "with its first message.")
def create_channel(request: HttpRequest, payload: ChatChannelIn) -> Any:
    user = api_user(request)
    if payload.kind == "direct":
        given = [f for f in ("name", "topic", "private") if getattr(payload, f)]
        if given:
            raise ActionError("invalid_request", _("Un mensaje directo no tiene nombre, descripción ni privacidad: "
                                                   "indique solo las personas (members)."), field=given[0])
        channel = actions.check_open_direct(user, user_ids=payload.members)
        status = 200
    else:
        channel = actions.check_create_channel(user, name=payload.name, topic=payload.topic,
                                               private=payload.private, member_ids=payload.members)
        status = 201
    channel, membership = actions.access_channel(user, channel.pk)
    return Status(status, _channel_detail(user, channel, membership))


@router.get("/chat/channels/{channel_id}", response={200: ChatChannelDetailOut},
            summary="One channel with its members (404 `channel_not_found` for a private channel or direct "
                    "message you are not in)")
def get_channel(request: HttpRequest, channel_id: DbId) -> Any:
    user = api_user(request)
    channel, membership = actions.access_channel(user, channel_id)
    return _channel_detail(user, channel, membership)


# --- messages -------------------------------------------------------------------------------------------------------


@router.get("/chat/channels/{channel_id}/messages", response={200: ChatMessagePageOut},
            summary="A channel's messages (keyset-paged) or a thread's replies",
            description="Without cursors: the latest `limit` top-level messages. Scroll back with "
                        "`before=next_before` until it is null; catch up with `after` (the last id you have) and "
                        "`after=next_after` until it is null. Each page costs the same however long the history, "
                        "and messages arriving meanwhile never shift the pages. `thread=<id>`: that message's "
                        "thread's replies, oldest first (page with `after`). Replies are not in the channel's "
                        "pages: a thread's first message carries `reply_count`. 400 `invalid_paging` for `before` "
                        "with `after`, or `before` in a thread; 404 `message_not_found` for a `thread` of another "
                        "channel. New messages also arrive as `chat`/`message` events over the websocket.")
def list_messages(request: HttpRequest, channel_id: DbId, query: Query[ChatHistoryQuery]) -> Any:
    user = api_user(request)
    channel, _membership = actions.access_channel(user, channel_id)
    if query.before is not None and (query.after is not None or query.thread is not None):
        raise _paging_error(_("Pida los mensajes anteriores («before») o los siguientes («after»), no ambos: en "
                              "un hilo, solo los siguientes."), "before")
    if query.thread is not None:
        root, root_channel, _m = actions.access_message(user, query.thread)
        if root_channel.pk != channel.pk:
            raise NotFoundError("message_not_found", _("El mensaje no existe."))
        if root.parent_id is not None:  # a reply names its thread too
            root, _c, _m = actions.access_message(user, root.parent_id)
        replies = selectors.thread(root, after=query.after)
        page = replies[:query.limit]
        return {"results": _messages_out(request, user, channel, page), "next_before": None,
                "next_after": page[-1].pk if len(replies) > query.limit else None}
    page = selectors.history(channel, before=query.before, after=query.after, limit=query.limit)
    more_after = (query.after is not None and len(page) == query.limit
                  and _has_top_level(channel, after=page[-1].pk))
    return {"results": _messages_out(request, user, channel, page),
            "next_before": page[0].pk if page and _has_top_level(channel, before=page[0].pk) else None,
            "next_after": page[-1].pk if more_after else None}


@router.post("/chat/channels/{channel_id}/messages", response={201: ChatMessageOut, 409: ErrorOut},
             summary="Write in a channel, or reply in a thread (`parent_id`)",
             description="Writing in a public channel you are not in joins it; a private channel or a team's "
                         "answers 403 `not_member`; an archived one 409 `channel_archived`. The members receive a "
                         "`chat`/`message` event over their websocket (a thread's first message gets "
                         "`reply_count` + 1). 400 `body_required`, `body_too_long`, `body_invalid`.")
def post_message(request: HttpRequest, channel_id: DbId, payload: ChatMessageIn) -> Any:
    message = actions.check_post_message(api_user(request), channel_id, body=payload.body,
                                         parent_id=payload.parent_id, uploads=uploads_from(payload.attachments))
    return Status(201, _messages_out(request, api_user(request), message.channel, [_reloaded(message.pk)])[0])


@router.patch("/chat/messages/{chat_message_id}", response={200: ChatMessageOut, 409: ErrorOut},
              summary="Edit your message (403 `forbidden` for someone else's)",
              description="Within 7 days of writing it (409 `edit_window_over`), in a channel that is not archived "
                          "(409 `channel_archived`); the earlier text is kept in its edit history and `edited_at` "
                          "is set. 404 `message_not_found` for a deleted one. The members receive a "
                          "`chat`/`message_changed` event.")
def edit_message(request: HttpRequest, chat_message_id: DbId, payload: ChatMessagePatchIn) -> Any:
    user = api_user(request)
    message = actions.check_edit_message(user, chat_message_id, body=payload.body)
    return _messages_out(request, user, message.channel, [_reloaded(message.pk)])[0]


@router.delete("/chat/messages/{chat_message_id}", response={204: None},
               summary="Delete your message (a chat manager may delete any in a channel)",
               description="Its text, files, reactions and earlier texts go; \"Mensaje borrado\" stays in its place "
                           "(`deleted: true`) and its replies stay. 403 `forbidden` for someone else's; the audit "
                           "log records who deleted whose. The members receive a `chat`/`message_changed` event.")
def delete_message(request: HttpRequest, chat_message_id: DbId) -> HttpResponse:
    actions.check_delete_message(api_user(request), chat_message_id)
    return HttpResponse(status=204)


@router.post("/chat/messages/{chat_message_id}/reactions", response={200: ChatReactionToggledOut, 409: ErrorOut},
             summary="Toggle your reaction: adds it, or takes it back if you had reacted so",
             description="Members only (403 `not_member`: join the channel first); 409 `channel_archived`, "
                         "`too_many_reactions` (50 different emoji); 400 `emoji_invalid`. The members receive a "
                         "`chat`/`message_changed` event.")
def toggle_reaction(request: HttpRequest, chat_message_id: DbId, payload: ChatReactionIn) -> Any:
    user = api_user(request)
    added = actions.check_toggle_reaction(user, chat_message_id, emoji=payload.emoji)
    return {"added": added, "reactions": selectors.grouped_reactions(_reloaded(chat_message_id), user)}


@router.get("/chat/messages/{chat_message_id}/files/{file_index}", url_name="chat_message_file",
            response={200: None},
            openapi_extra={"responses": {200: {"description": "The file's bytes",
                                               "content": {"*/*": {"schema": {"type": "string",
                                                                              "format": "binary"}}}}}},
            summary="A file of a message (`attachments[i].api_url`), to those who may read its channel",
            description="Raster images (PNG, JPEG, GIF, WebP) inline, everything else as a download, sandboxed; "
                        "the inbox's serving rules. 404 `not_found` for an index beyond the message's files.")
def message_file(request: HttpRequest, chat_message_id: DbId, file_index: FileIndex) -> HttpResponseBase:
    message, _channel, _membership = actions.access_message(api_user(request), chat_message_id)
    files = message.attachments or []
    if file_index >= len(files):
        raise NotFoundError("not_found", _("No se encontró el recurso solicitado."))
    return file_response(files[file_index])


# --- reading --------------------------------------------------------------------------------------------------------


@router.post("/chat/channels/{channel_id}/read", response={200: ChatReadOut},
             summary="Mark read up to a message (absent: everything); the mark never moves back",
             description="Your other tabs and devices receive a `chat`/`read` event and update their counts. "
                         "A channel you read without being a member has no mark: 0. The body may be empty.")
def mark_read(request: HttpRequest, channel_id: DbId, payload: Body[ChatReadIn | None] = None) -> Any:
    up_to = payload.up_to if payload is not None else None
    return {"last_read_id": actions.check_mark_read(api_user(request), channel_id, up_to=up_to)}


@router.get("/chat/unread", response=ChatUnreadOut,
            summary="Unread messages per channel and in total (the menu's badge), in one query")
def unread(request: HttpRequest) -> Any:
    counts = selectors.unread_counts(api_require(request, Perm.CHAT_USE))
    return {"total": sum(counts.values()), "channels": {str(k): v for k, v in counts.items()}}

