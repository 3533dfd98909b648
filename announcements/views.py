"""The announcements pages: the list (category filter, pinned first), an announcement with its confirmation list for
the publishers, the editor with its live preview, the state buttons; the banner above every page (a core.panels
PAGE_TOP region) and its fragment for live refreshes; confirming, reading and closing; the image. Each view parses,
calls an action or a selector and renders."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accounts.models import Team, User
from accounts.roles import Perm
from announcements import actions, selectors
from announcements.choices import EDITABLE_STATES, AnnouncementState
from announcements.forms import AnnouncementForm, FilterForm, PinForm
from announcements.models import BODY_MAX, Announcement, AnnouncementRecipient
from core.errors import ActionError
from core.forms import show_action_errors
from core.markdown import markdown_to_text, render_markdown
from core.permissions import perm_required
from inbox.attachments import Upload, file_response

LIST_LIMIT: Final = 100
EXCERPT_CHARS: Final = 180
ACK_STATUSES: Final = ("", "pending", "done")


_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def excerpt(body: str) -> str:
    """The first words of an announcement as one line of plain text (Markdown marks and list bullets removed)."""
    # Only the start is converted: the banner draws this on every page, and a 20,000-character body cost ~60 ms.
    lines = (_LIST_MARK.sub("", line).strip() for line in markdown_to_text(body[:EXCERPT_CHARS * 8]).splitlines())
    return Truncator(" ".join(line for line in lines if line)).chars(EXCERPT_CHARS)


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _hx_target(request: HttpRequest) -> str:
    """The id htmx swaps into (`HX-Target: tag#id`), or "" for a full request."""
    if not getattr(request, "htmx", False):
        return ""
    return request.headers.get("HX-Target", "").rpartition("#")[2]


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return fallback


# --- the banner -------------------------------------------------------------------------------------------------

def _current_announcement_id(request: HttpRequest) -> int | None:
    """The announcement the page shows (its own banner would repeat it), or None."""
    match = request.resolver_match
    if match is not None and match.view_name == "announcements:detail":
        return int(match.kwargs["announcement_id"])
    raw = request.POST.get("except") or request.GET.get("except") or ""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


def banner_context(user: User, request: HttpRequest) -> dict[str, Any]:
    """The banner above every signed-in page (core.panels.PAGE_TOP): the person's announcements still to confirm
    or to read, one query (announcements.selectors.banner_rows). Always a context, even empty: the region stays on
    the page for the live refreshes."""
    current = _current_announcement_id(request)
    rows = selectors.banner_rows(user, exclude_id=current)
    items = [{"row": row, "announcement": row.announcement,
              "excerpt": excerpt(row.announcement.body)}
             for row in rows[:selectors.BANNER_LIMIT]]
    # where a banner's button sends back without JavaScript: this page, or (a fragment htmx fetched) the page it is on
    here = urlsplit(request.headers.get("HX-Current-URL", "")) if getattr(request, "htmx", False) else None
    path = f"{here.path}?{here.query}" if here and here.query else (here.path if here else "")
    return {"banner_items": items, "banner_more": len(rows) > selectors.BANNER_LIMIT, "banner_except": current,
            "banner_next": path or request.get_full_path()}


@perm_required()
def banner(request: HttpRequest) -> HttpResponse:
    """The banner's content, for its live refresh (an announcement published to this person, confirmed in another
    tab, reminded, archived)."""
    return render(request, "announcements/_banner_items.html", banner_context(_user(request), request))


# --- the list -----------------------------------------------------------------------------------------------------

@perm_required()
def announcement_list(request: HttpRequest) -> HttpResponse:
    """The announcements the person may read, pinned ones first, then newest; publishers see drafts and scheduled
    ones too, with how many confirmed. htmx swaps only the results."""
    user = _user(request)
    form = FilterForm(request.GET or None)
    category = state = ""
    pending = False
    if form.is_valid():
        category, state, pending = (form.cleaned_data["category"], form.cleaned_data["state"],
                                    form.cleaned_data["pending"])
    publisher = selectors.can_publish(user)
    rows = list(selectors.listed(user, category=category, state=state, pending=pending)[:LIST_LIMIT])
    for row in rows:
        row.excerpt = excerpt(row.body)  # type: ignore[attr-defined]
    context = {"announcements": rows, "form": form, "can_publish": publisher, "limit": LIST_LIMIT,
               "filtered": bool(category or state or pending)}
    if _hx_target(request) == "ann-results":
        return render(request, "announcements/_results.html", context)
    return render(request, "announcements/list.html", context)


# --- one announcement ---------------------------------------------------------------------------------------------

def _access(request: HttpRequest, announcement_id: int) -> Announcement:
    try:
        return actions.access_announcement(_user(request), announcement_id=announcement_id)
    except ActionError as exc:
        raise Http404(exc.message) from exc


def _my_context(user: User, announcement: Announcement) -> dict[str, Any]:
    """The reader's own part: their row, and whether they may press "Leído y entendido" now (also somebody who
    joined the audience after publication)."""
    row = AnnouncementRecipient.objects.filter(announcement=announcement, user=user).first()
    can_ack = (announcement.requires_ack and announcement.state == AnnouncementState.PUBLISHED
               and (row is not None or selectors.in_audience(user, announcement)))
    return {"announcement": announcement, "my_row": row, "can_ack": can_ack}


def _acks_context(request: HttpRequest, announcement: Announcement) -> dict[str, Any]:
    status = request.GET.get("estado", "")
    status = {"pendientes": "pending", "confirmados": "done"}.get(status, "")
    rows = list(selectors.confirmation_rows(announcement, status=status)[:selectors.ACKS_LIMIT + 1])
    counts = selectors.confirmation_counts(announcement)
    last = selectors.last_reminder_at(announcement)
    retry_at = last + actions.REMINDER_INTERVAL if last is not None else None
    return {"announcement": announcement, "rows": rows[:selectors.ACKS_LIMIT],
            "more": len(rows) > selectors.ACKS_LIMIT, "limit": selectors.ACKS_LIMIT, "counts": counts,
            "status": status, "last_reminder": announcement.reminder_log.select_related("sent_by").first(),
            "can_remind": (announcement.requires_ack and announcement.state == AnnouncementState.PUBLISHED
                           and counts["remindable"] > 0 and (retry_at is None or retry_at <= timezone.now())),
            "retry_at": retry_at}


@perm_required()
def detail(request: HttpRequest, announcement_id: int) -> HttpResponse:
    """An announcement. Opening it counts as read (its banner goes, unless it asks for confirmation); publishers
    see who confirmed it, live."""
    user = _user(request)
    announcement = _access(request, announcement_id)
    actions.do_mark_read(announcement, user=user)
    publisher = selectors.can_publish(user)
    context: dict[str, Any] = {**_my_context(user, announcement), "html": render_markdown(announcement.body),
                               "can_publish": publisher, "editable": announcement.state in EDITABLE_STATES}
    if publisher:
        context.update(_acks_context(request, announcement))
        context["teams"] = list(announcement.teams.all())
        context["pin_form"] = PinForm(initial={"pinned_until": announcement.pinned_until})
        # one history, newest first: its moves and its reminders
        transitions = announcement.transitions.select_related("actor").order_by("-at", "-pk")[:20]
        moves: list[tuple[str, Any, Any]] = [("move", t.at, t) for t in transitions]
        reminders = [("reminder", r.at, r) for r in announcement.reminder_log.select_related("sent_by")[:20]]
        context["history"] = sorted([*moves, *reminders], key=lambda item: item[1], reverse=True)
    return render(request, "announcements/detail.html", context)


@perm_required(Perm.ANNOUNCEMENTS_PUBLISH)
def acks(request: HttpRequest, announcement_id: int) -> HttpResponse:
    """The confirmation list (publishers), for its live refresh and its filter."""
    announcement = _access(request, announcement_id)
    return render(request, "announcements/_acks.html", _acks_context(request, announcement))


@perm_required()
def image(request: HttpRequest, announcement_id: int) -> HttpResponseBase:
    """The announcement's image, to those who may read it (never a public media URL), served as inbox attachments
    are: raster images inline, sandboxed and never sniffed."""
    announcement = _access(request, announcement_id)
    if not announcement.has_image:
        raise Http404
    return file_response(announcement.image)


# --- confirming and reading -----------------------------------------------------------------------------------

def _after_reader_action(request: HttpRequest, announcement_id: int) -> HttpResponse:
    target = _hx_target(request)
    if target == "ann-banner":
        return render(request, "announcements/_banner_items.html", banner_context(_user(request), request))
    if target == "ann-my-ack":
        announcement = _access(request, announcement_id)
        return render(request, "announcements/_my_ack.html", _my_context(_user(request), announcement))
    return redirect(_safe_next(request, reverse("announcements:detail", args=[announcement_id])))


@require_POST
@perm_required()
def acknowledge(request: HttpRequest, announcement_id: int) -> HttpResponse:
    """"Leído y entendido" (from the banner or the announcement's page)."""
    try:
        actions.check_acknowledge(_user(request), announcement_id=announcement_id)
    except ActionError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from exc
        messages.error(request, exc.message)
    return _after_reader_action(request, announcement_id)


@require_POST
@perm_required()
def dismiss(request: HttpRequest, announcement_id: int) -> HttpResponse:
    """Closes the banner of an announcement that asks for no confirmation: it counts as read."""
    try:
        actions.check_mark_read(_user(request), announcement_id=announcement_id)
    except ActionError as exc:
        raise Http404(exc.message) from exc
    return _after_reader_action(request, announcement_id)


# --- writing ------------------------------------------------------------------------------------------------------

def _teams() -> list[Team]:
    return list(Team.objects.filter(is_active=True).order_by("name"))


_ONCE = re.compile(r"[0-9a-f]{32}")


def _edit(request: HttpRequest, announcement: Announcement | None) -> HttpResponse:
    user = _user(request)
    # A new announcement's form carries a one-time token: sent twice (a double click on "Publicar", a resend after
    # a slow answer), it still creates one announcement (check_save_announcement).
    once = ""
    if announcement is None:
        sent = request.POST.get("once", "") if request.method == "POST" else ""
        once = sent if _ONCE.fullmatch(sent) else secrets.token_hex(16)
    initial: dict[str, Any] = {"audience": "todos", "category": "novedad"}
    if announcement is not None:
        initial = {"title": announcement.title, "body": announcement.body, "category": announcement.category,
                   "audience": "todos" if announcement.everyone else "equipos",
                   "teams": list(announcement.teams.values_list("pk", flat=True)),
                   "requires_ack": announcement.requires_ack, "pinned_until": announcement.pinned_until,
                   "publish_at": announcement.publish_at}
    form = AnnouncementForm(request.POST or None, request.FILES or None, initial=initial, teams=_teams())
    status = 200
    if request.method == "POST":
        publish = request.POST.get("intent") == "publish"
        if form.is_valid():
            d = form.cleaned_data
            upload = None
            if d["image"] is not None:
                f = d["image"]
                # read at most one byte more than allowed: the action refuses it without holding a huge file
                upload = Upload(name=f.name or "", content_type=f.content_type or "",
                                data=f.read(actions.IMAGE_MAX_BYTES + 1))
            data = actions.AnnouncementInput(
                title=d["title"], body=d["body"], category=d["category"], everyone=d["audience"] == "todos",
                team_ids=list(d["teams"] or []), requires_ack=d["requires_ack"], pinned_until=d["pinned_until"],
                publish_at=d["publish_at"], image=upload, remove_image=d["remove_image"])
            try:
                saved = actions.check_save_announcement(
                    user, announcement_id=announcement.pk if announcement else None, data=data, publish=publish,
                    form_token=once if request.POST.get("once") == once else "")
            except ActionError as exc:
                show_action_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _done_message(saved))
                return redirect("announcements:detail", announcement_id=saved.pk)
        else:
            status = 400
    body = form.data.get("body", "") if form.is_bound else initial.get("body", "")
    return render(request, "announcements/edit.html", {
        "form": form, "announcement": announcement, "preview": render_markdown(str(body)[:BODY_MAX]),
        "once": once}, status=status)


def _done_message(announcement: Announcement) -> str:
    if announcement.state == AnnouncementState.PUBLISHED:
        return _("Anuncio «%s» publicado.") % announcement.title
    if announcement.state == AnnouncementState.SCHEDULED:
        return _("Anuncio «%s» programado.") % announcement.title
    return _("Anuncio «%s» guardado como borrador.") % announcement.title


@perm_required(Perm.ANNOUNCEMENTS_PUBLISH)
def create(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@perm_required(Perm.ANNOUNCEMENTS_PUBLISH)
def edit(request: HttpRequest, announcement_id: int) -> HttpResponse:
    announcement = _access(request, announcement_id)
    if announcement.state not in EDITABLE_STATES:
        messages.info(request, _("Un anuncio publicado ya no se cambia: archívelo y publique otro."))
        return redirect("announcements:detail", announcement_id=announcement.pk)
    return _edit(request, announcement)


@require_POST
@perm_required(Perm.ANNOUNCEMENTS_PUBLISH)
def preview(request: HttpRequest) -> HttpResponse:
    """The editor's live preview: the Markdown posted, as the sanitized HTML the announcement shows."""
    body = request.POST.get("body", "")[:BODY_MAX]
    return render(request, "announcements/_preview.html", {"preview": render_markdown(body)})


def _state_action(request: HttpRequest, announcement_id: int, action: Callable[..., Any], done: str) -> HttpResponse:
    try:
        result = action(_user(request), announcement_id=announcement_id)
    except ActionError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from exc
        messages.error(request, exc.message)
    else:
        messages.success(request, done % result.title if isinstance(result, Announcement) else done)
    return redirect("announcements:detail", announcement_id=announcement_id)


@require_POST
@perm_required(Perm.ANNOUNCEMENTS_PUBLISH)
def publish(request: HttpRequest, announcement_id: int) -> HttpResponse:
    try:
        announcement = actions.check_publish(_user(request), announcement_id=announcement_id)
    except ActionError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from exc
        messages.error(request, exc.message)
    else:
        messages.success(request, _done_message(announcement))
    return redirect("announcements:detail", announcement_id=announcement_id)


@require_POST
@perm_required(Perm.ANNOUNCEMENTS_PUBLISH)
def unschedule(request: HttpRequest, announcement_id: int) -> HttpResponse:
    return _state_action(request, announcement_id, actions.check_unschedule,
                         _("Anuncio «%s» devuelto a borrador: no se publicará solo."))


@require_POST
@perm_required(Perm.ANNOUNCEMENTS_PUBLISH)
def archive(request: HttpRequest, announcement_id: int) -> HttpResponse:
    return _state_action(request, announcement_id, actions.check_archive,
                         _("Anuncio «%s» archivado: ya no aparece a nadie."))


@require_POST
@perm_required(Perm.ANNOUNCEMENTS_PUBLISH)
def delete(request: HttpRequest, announcement_id: int) -> HttpResponse:
    try:
        actions.check_delete(_user(request), announcement_id=announcement_id)
    except ActionError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from exc
        messages.error(request, exc.message)
        return redirect("announcements:detail", announcement_id=announcement_id)
    messages.success(request, _("Anuncio borrado."))
    return redirect("announcements:list")


@require_POST
@perm_required(Perm.ANNOUNCEMENTS_PUBLISH)
def remind(request: HttpRequest, announcement_id: int) -> HttpResponse:
    """"Recordar a quienes no lo han confirmado"; htmx swaps the confirmation list."""
    try:
        n = actions.check_remind(_user(request), announcement_id=announcement_id)
    except ActionError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from exc
        error, notice = exc.message, ""
    else:
        error = ""
        notice = ngettext("Recordatorio enviado a %(n)d persona.", "Recordatorio enviado a %(n)d personas.", n) % {
            "n": n}
    if _hx_target(request) == "ann-acks":
        announcement = _access(request, announcement_id)
        return render(request, "announcements/_acks.html",
                      {**_acks_context(request, announcement), "error": error, "notice": notice})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("announcements:detail", announcement_id=announcement_id)


@require_POST
@perm_required(Perm.ANNOUNCEMENTS_PUBLISH)
def pin(request: HttpRequest, announcement_id: int) -> HttpResponse:
    form = PinForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Fecha inválida."))
        return redirect("announcements:detail", announcement_id=announcement_id)
    try:
        actions.check_set_pin(_user(request), announcement_id=announcement_id,
                              pinned_until=form.cleaned_data["pinned_until"])
    except ActionError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from exc
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Fijación guardada."))
    return redirect("announcements:detail", announcement_id=announcement_id)
