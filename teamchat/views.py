"""The team chat's pages: the chat (sidebar, a channel's history, the composer, a thread beside it), new channel,
direct messages, browse channels, channel settings and members, a message's edit history, search, files, and the
chat's settings (retention). Each view parses, calls an action or a selector and renders; the page's script
(teamchat/static/teamchat/chat-page.js) fetches the fragments these views render when a realtime event arrives."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from accounts.roles import Perm
from core.errors import ActionError
from core.permissions import perm_required
from inbox.attachments import MAX_FILES_PER_MESSAGE, Upload, file_response
from teamchat import actions, cards, selectors
from teamchat.choices import ChannelKind, MemberRole
from teamchat.forms import ChannelForm, DirectForm, MembersForm, RetentionForm, SearchForm
from teamchat.models import BODY_MAX, Channel, Membership, Message


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _int(value: object) -> int | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 2**63 else None


def _refusal(exc: ActionError) -> HttpResponse:
    """A refused action answered to the page's script: the status and the sentence to show."""
    if exc.status == 404:
        raise Http404(exc.message)
    return JsonResponse({"code": exc.code, "detail": exc.message}, status=exc.status)


# --- rendering -------------------------------------------------------------------------------------------------------


def _message_context(messages_: list[Message], reader: User, channel: Channel) -> list[dict[str, Any]]:
    """Each message as its row shows it to `reader`: the text rendered with its members' mentions, the cards of the
    objects it links that the reader may see, reactions grouped, what the reader may do with it."""
    html = selectors.bodies_html(channel, messages_)
    visible_cards = cards.cards_for(reader, [m for m in messages_ if m.refs and m.deleted_at is None])
    manage = actions.can_manage(reader) and not channel.is_direct
    rows = []
    for m in messages_:
        own = m.author_id == reader.pk
        rows.append({
            "m": m, "html": html.get(m.pk, ""),
            "cards": visible_cards.get(m.pk, []), "reactions": selectors.grouped_reactions(m, reader),
            "own": own, "can_edit": own and m.deleted_at is None and not channel.is_archived,
            "can_delete": (own or manage) and m.deleted_at is None,
            "mentions_me": reader.pk in (m.mentions or []) or m.mentions_channel,
            "images": [(i, f) for i, f in enumerate(m.attachments or []) if cards.is_image(f)],
            "files": [(i, f) for i, f in enumerate(m.attachments or []) if not cards.is_image(f)],
        })
    return rows


def _channel_context(request: HttpRequest, channel: Channel, membership: Membership | None) -> dict[str, Any]:
    user = _user(request)
    members = selectors.members(channel)
    others = [m.user for m in members if m.user_id != user.pk]
    page = selectors.history(channel)
    first_unread = selectors.first_unread_id(channel, membership, reader=user)
    has_later = False
    if first_unread is not None and page and first_unread < page[0].pk:
        # More unread than one page: open at the first unread message, never skip what was not read.
        page, has_later = selectors.unread_window(channel, first_unread)
    return {
        "channel": channel, "membership": membership, "members": members,
        "title": selectors.display_title(channel, others) if channel.is_direct else channel.name,
        "others": others if channel.is_direct else [],
        "rows": _message_context(page, user, channel),
        "has_earlier": bool(page) and Message.objects.filter(channel=channel, parent__isnull=True,
                                                              id__lt=page[0].pk).exists(),
        "first_unread": first_unread, "has_later": has_later,
        "can_write": not channel.is_archived and (membership is not None or channel.kind == ChannelKind.PUBLIC),
        "can_join": membership is None and channel.kind == ChannelKind.PUBLIC and not channel.is_archived,
        "can_administer": not channel.is_direct and (actions.can_manage(user) or (
            membership is not None and membership.role == MemberRole.OWNER)),
        "body_max": BODY_MAX, "max_files": MAX_FILES_PER_MESSAGE, "max_mb": actions.file_limit_mb(),
    }


def _page(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    user = _user(request)
    actions.do_sync_team_channels(user=user)
    context = {"sidebar": selectors.sidebar(user), "can_manage": actions.can_manage(user), **context}
    return render(request, "teamchat/chat.html", context)


# --- pages -----------------------------------------------------------------------------------------------------------


@perm_required(Perm.CHAT_USE)
def home(request: HttpRequest) -> HttpResponse:
    return _page(request, {"channel": None})


@perm_required(Perm.CHAT_USE)
def channel_page(request: HttpRequest, channel_id: int) -> HttpResponse:
    try:
        channel, membership = actions.access_channel(_user(request), channel_id)
    except ActionError as exc:
        raise Http404(exc.message) from exc
    return _page(request, _channel_context(request, channel, membership))


@require_GET
@perm_required(Perm.CHAT_USE)
def channel_messages(request: HttpRequest, channel_id: int) -> HttpResponse:
    """A page of the history as rows: `?before=<id>` (scrolling up) or `?after=<id>` (messages that just arrived)."""
    user = _user(request)
    try:
        channel, _membership = actions.access_channel(user, channel_id)
    except ActionError as exc:
        raise Http404(exc.message) from exc
    before, after = _int(request.GET.get("before")), _int(request.GET.get("after"))
    if (request.GET.get("before") and before is None) or (request.GET.get("after") and after is None):
        return HttpResponse(_("Posición no válida."), status=400)
    page = selectors.history(channel, before=before, after=after)
    has_earlier = before is not None and bool(page) and Message.objects.filter(
        channel=channel, parent__isnull=True, id__lt=page[0].pk).exists()
    return render(request, "teamchat/_rows.html", {"rows": _message_context(page, user, channel),
                                                   "channel": channel, "has_earlier": has_earlier,
                                                   "paging": before is not None})


def _uploads(request: HttpRequest) -> list[Upload]:
    return [Upload(name=f.name or "", content_type=f.content_type or "", data=f.read())
            for f in request.FILES.getlist("files")[:MAX_FILES_PER_MESSAGE + 1]]


@require_POST
@perm_required(Perm.CHAT_USE)
def post_message(request: HttpRequest, channel_id: int) -> HttpResponse:
    """Posts a message (text and files; `parent` for a reply in a thread) and answers its row."""
    user = _user(request)
    parent_id = _int(request.POST.get("parent")) if request.POST.get("parent") else None
    try:
        message = actions.check_post_message(user, channel_id, body=request.POST.get("body", "")[:BODY_MAX + 1],
                                             parent_id=parent_id, uploads=_uploads(request))
    except ActionError as exc:
        return _refusal(exc)
    channel = message.channel
    return render(request, "teamchat/_rows.html", {"rows": _message_context([selectors.with_details(message)], user,
                                                                            channel),
                                                   "channel": channel, "in_thread": parent_id is not None})


def _message_or_404(request: HttpRequest, message_id: int) -> tuple[Message, Channel, Membership | None]:
    try:
        message, channel, membership = actions.access_message(_user(request), message_id)
    except ActionError as exc:
        raise Http404(exc.message) from exc
    return selectors.with_details(message), channel, membership


@require_GET
@perm_required(Perm.CHAT_USE)
def message_row(request: HttpRequest, msg_id: int) -> HttpResponse:
    """One message's row as the reader sees it now (after an edit, a deletion or a reaction)."""
    message, channel, _membership = _message_or_404(request, msg_id)
    return render(request, "teamchat/_rows.html", {"rows": _message_context([message], _user(request), channel),
                                                   "channel": channel,
                                                   "in_thread": request.GET.get("hilo") == "1"})


@perm_required(Perm.CHAT_USE)
def edit_message(request: HttpRequest, msg_id: int) -> HttpResponse:
    message, channel, _membership = _message_or_404(request, msg_id)
    if request.method == "POST":
        try:
            message = actions.check_edit_message(_user(request), msg_id,
                                                 body=request.POST.get("body", "")[:BODY_MAX + 1])
        except ActionError as exc:
            return _refusal(exc)
        return render(request, "teamchat/_rows.html", {
            "rows": _message_context([selectors.with_details(message)], _user(request), channel),
            "channel": channel, "in_thread": request.POST.get("hilo") == "1"})
    if message.deleted_at is not None:
        raise Http404
    if message.author_id != _user(request).pk:
        return HttpResponse(_("Solo quien escribió el mensaje puede cambiarlo."), status=403)
    return render(request, "teamchat/_edit.html", {"m": message, "body_max": BODY_MAX,
                                                   "in_thread": request.GET.get("hilo") == "1"})


@require_POST
@perm_required(Perm.CHAT_USE)
def delete_message(request: HttpRequest, msg_id: int) -> HttpResponse:
    try:
        message = actions.check_delete_message(_user(request), msg_id)
    except ActionError as exc:
        return _refusal(exc)
    return render(request, "teamchat/_rows.html", {"rows": _message_context([selectors.with_details(message)],
                                                                            _user(request), message.channel),
                                                   "channel": message.channel,
                                                   "in_thread": request.POST.get("hilo") == "1"})


@require_POST
@perm_required(Perm.CHAT_USE)
def react(request: HttpRequest, msg_id: int) -> HttpResponse:
    try:
        actions.check_toggle_reaction(_user(request), msg_id, emoji=request.POST.get("emoji", "")[:32])
    except ActionError as exc:
        return _refusal(exc)
    message, channel, _membership = _message_or_404(request, msg_id)
    return render(request, "teamchat/_rows.html", {"rows": _message_context([message], _user(request), channel),
                                                   "channel": channel, "in_thread": request.POST.get("hilo") == "1"})


@require_GET
@perm_required(Perm.CHAT_USE)
def thread(request: HttpRequest, msg_id: int) -> HttpResponse:
    """A thread: its first message, the replies and a composer (the pane beside the channel; a page on a phone).
    `?after=<id>` answers only the replies after that one."""
    user = _user(request)
    root, channel, membership = _message_or_404(request, msg_id)
    if root.parent_id is not None:
        root = Message.objects.get(pk=root.parent_id)
    after = _int(request.GET.get("after")) if request.GET.get("after") else None
    replies = selectors.thread(root, after=after)
    if after is not None:
        return render(request, "teamchat/_rows.html", {"rows": _message_context(replies, user, channel),
                                                       "channel": channel, "in_thread": True})
    context = {"root": _message_context([root], user, channel)[0], "rows": _message_context(replies, user, channel),
               "channel": channel, "in_thread": True, "body_max": BODY_MAX, "max_files": MAX_FILES_PER_MESSAGE,
               "max_mb": actions.file_limit_mb(),
               "can_write": not channel.is_archived and root.deleted_at is None and (
                   membership is not None or channel.kind == ChannelKind.PUBLIC)}
    if request.headers.get("HX-Request"):
        return render(request, "teamchat/_thread.html", context)
    return render(request, "teamchat/thread_page.html", context)


@require_GET
@perm_required(Perm.CHAT_USE)
def message_history(request: HttpRequest, msg_id: int) -> HttpResponse:
    """A message's earlier texts ("editado"): who changed it and when."""
    message, channel, _membership = _message_or_404(request, msg_id)
    revisions = list(message.revisions.select_related("editor").order_by("-edited_at", "-id"))
    return render(request, "teamchat/_history.html", {"m": message, "revisions": revisions, "channel": channel})


@require_GET
@perm_required(Perm.CHAT_USE)
def message_file(request: HttpRequest, msg_id: int, index: int) -> HttpResponseBase:
    """A file of a message, to those who may read its channel (the inbox's serving rules: raster images inline,
    everything else downloaded, sandboxed)."""
    message, _channel, _membership = _message_or_404(request, msg_id)
    files = message.attachments or []
    if index >= len(files):
        raise Http404
    return file_response(files[index])


@require_POST
@perm_required(Perm.CHAT_USE)
def mark_read(request: HttpRequest, channel_id: int) -> HttpResponse:
    up_to = _int(request.POST.get("up_to")) if request.POST.get("up_to") else None
    try:
        mark = actions.check_mark_read(_user(request), channel_id, up_to=up_to)
    except ActionError as exc:
        return _refusal(exc)
    return JsonResponse({"last_read_id": mark})


@require_POST
@perm_required(Perm.CHAT_USE)
def mark_unread(request: HttpRequest, channel_id: int) -> HttpResponse:
    from_id = _int(request.POST.get("from"))
    if from_id is None:
        return JsonResponse({"code": "invalid", "detail": _("Posición no válida.")}, status=400)
    try:
        mark = actions.check_mark_unread(_user(request), channel_id, from_id=from_id)
    except ActionError as exc:
        return _refusal(exc)
    return JsonResponse({"last_read_id": mark})


@require_GET
@perm_required(Perm.CHAT_USE)
def unread(request: HttpRequest) -> HttpResponse:
    """The unread snapshot the page reloads on (re)connect: per channel and in total."""
    counts = selectors.unread_counts(_user(request))
    return JsonResponse({"total": sum(counts.values()), "channels": {str(k): v for k, v in counts.items()}})


@require_POST
@perm_required(Perm.CHAT_USE)
def join(request: HttpRequest, channel_id: int) -> HttpResponse:
    try:
        actions.check_join_channel(_user(request), channel_id)
    except ActionError as exc:
        messages.error(request, exc.message)
    return redirect("teamchat:channel", channel_id=channel_id)


@require_POST
@perm_required(Perm.CHAT_USE)
def leave(request: HttpRequest, channel_id: int) -> HttpResponse:
    try:
        actions.check_remove_member(_user(request), channel_id, user_id=_user(request).pk)
    except ActionError as exc:
        messages.error(request, exc.message)
        return redirect("teamchat:channel", channel_id=channel_id)
    messages.success(request, _("Salió del canal."))
    return redirect("teamchat:home")


@perm_required(Perm.CHAT_USE)
def new_channel(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    people = selectors.chat_people(exclude=user)
    form = ChannelForm(request.POST or None, people=people)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            channel = actions.check_create_channel(user, name=d["name"], topic=d["topic"], private=d["private"],
                                                   member_ids=d["members"])
        except ActionError as exc:
            form.add_error(exc.details.get("field") if exc.details.get("field") in form.fields else None,
                           exc.message)
        else:
            return redirect("teamchat:channel", channel_id=channel.pk)
    return _page(request, {"channel": None, "panel": "new", "form": form})


@perm_required(Perm.CHAT_USE)
def new_direct(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    people = selectors.chat_people(exclude=user)
    form = DirectForm(request.POST or None, people=people)
    if request.method == "POST" and form.is_valid():
        try:
            channel = actions.check_open_direct(user, user_ids=form.cleaned_data["people"])
        except ActionError as exc:
            form.add_error("people", exc.message)
        else:
            return redirect("teamchat:channel", channel_id=channel.pk)
    return _page(request, {"channel": None, "panel": "direct", "form": form, "people": people})


@perm_required(Perm.CHAT_USE)
def browse(request: HttpRequest) -> HttpResponse:
    return _page(request, {"channel": None, "panel": "browse",
                           "browsable": list(selectors.browsable_channels(_user(request))[:200])})


@perm_required(Perm.CHAT_USE)
def channel_settings(request: HttpRequest, channel_id: int) -> HttpResponse:
    """Name, description, members and owners, archive — for the channel's owners and chat managers; everyone who
    reads the channel sees its members here."""
    user = _user(request)
    try:
        channel, membership = actions.access_channel(user, channel_id)
    except ActionError as exc:
        raise Http404(exc.message) from exc
    context = _channel_context(request, channel, membership)
    form = ChannelForm(request.POST if request.POST.get("op") == "edit" else None, people=[], editing=True,
                       initial={"name": channel.name, "topic": channel.topic})
    member_ids = {m.user_id for m in context["members"]}
    candidates = [u for u in selectors.chat_people() if u.pk not in member_ids]
    add_form = MembersForm(request.POST if request.POST.get("op") == "add" else None, people=candidates)
    if request.method == "POST":
        op = request.POST.get("op", "")
        try:
            if op == "edit" and form.is_valid():
                actions.check_update_channel(user, channel_id, name=form.cleaned_data["name"],
                                             topic=form.cleaned_data["topic"])
                messages.success(request, _("Canal actualizado."))
                return redirect("teamchat:settings", channel_id=channel_id)
            if op == "add" and add_form.is_valid():
                actions.check_add_members(user, channel_id, user_ids=add_form.cleaned_data["members"])
                messages.success(request, _("Miembros agregados."))
                return redirect("teamchat:settings", channel_id=channel_id)
            if op in ("remove", "owner", "member") and (target := _int(request.POST.get("user"))) is not None:
                if op == "remove":
                    actions.check_remove_member(user, channel_id, user_id=target)
                    messages.success(request, _("Miembro quitado del canal."))
                else:
                    actions.check_set_owner(user, channel_id, user_id=target, owner=op == "owner")
                return redirect("teamchat:settings", channel_id=channel_id)
            if op in ("archive", "unarchive"):
                actions.check_archive_channel(user, channel_id, archived=op == "archive")
                messages.success(request, _("Canal archivado.") if op == "archive" else _("Canal reactivado."))
                return redirect("teamchat:channel", channel_id=channel_id)
        except ActionError as exc:
            if exc.status == 404:
                raise Http404(exc.message) from exc
            messages.error(request, exc.message)
            return redirect("teamchat:settings", channel_id=channel_id)
    return _page(request, {**context, "panel": "settings", "form": form, "add_form": add_form,
                           "candidates": candidates})


@perm_required(Perm.CHAT_USE)
def search_page(request: HttpRequest) -> HttpResponse:
    from teamchat import search  # noqa: PLC0415 - the search module registers database schema on import

    user = _user(request)
    form = SearchForm(request.GET or None)
    hits: list[Any] = []
    q = ""
    if form.is_valid():
        q = form.cleaned_data["q"].strip()
        if q:
            hits = search.search_messages(user, q)
    context = {"channel": None, "panel": "search", "form": form, "q": q, "hits": hits}
    if request.headers.get("HX-Request") and request.GET.get("partial") == "1":
        return render(request, "teamchat/_search_results.html", context)
    return _page(request, context)


@perm_required(Perm.CHAT_USE, Perm.CHAT_MANAGE)
def chat_settings(request: HttpRequest) -> HttpResponse:
    current = actions.retention_settings()
    form = RetentionForm(request.POST or None, initial={"retention_days": current.retention_days})
    if request.method == "POST" and form.is_valid():
        try:
            actions.check_set_retention(_user(request), days=form.cleaned_data["retention_days"])
        except ActionError as exc:
            form.add_error("retention_days", exc.message)
        else:
            messages.success(request, _("Configuración del chat guardada."))
            return redirect(reverse("teamchat:chat_settings"))
    return _page(request, {"channel": None, "panel": "chat_settings", "form": form})
