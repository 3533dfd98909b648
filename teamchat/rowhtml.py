"""One message's row in the history, as HTML (`{% chat_row r %}`, teamchat.templatetags.teamchat).

It was the template `teamchat/_row.html`. Drawn 50 times per history page, the template engine cost ~0.4 ms a row
(about 50 variable lookups, 17 `{% if %}`, three date formats, icons and translated labels each), two thirds of the
history fragment's time. Here the labels and icons are built once per language and the row is put together with
`format_html`, which escapes every value it is given: the only markup passed as is comes from this module, from
`lucide`, or is the message's stored HTML (rendered and sanitized by teamchat.render when it was written).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.middleware.csrf import get_token
from django.template.defaultfilters import filesizeformat
from django.urls import get_script_prefix, reverse
from django.utils import dateformat, formats
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import localtime
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from lucide import _render_icon


def _icon(name: str, size: int) -> SafeString:
    return mark_safe(_render_icon(name, size, aria_hidden="true", focusable="false", **{"class": "inline-icon"}))  # noqa: S308 - lucide's own SVG


@lru_cache(maxsize=16)
def _labels(language: str | None) -> dict[str, SafeString | str]:
    """What is the same in every row, per language (the cache key; the texts are read in that language)."""
    return {
        "deleted_person": _("Persona eliminada"), "edited": _("(editado)"), "deleted": _("Mensaje borrado"),
        "reply": format_html("{} {}", _icon("reply", 14), _("Responder")),
        "react": format_html("{} {}", _icon("smile-plus", 14), _("Reaccionar")),
        "edit": format_html("{} {}", _icon("pencil", 14), _("Editar")),
        "delete": format_html("{} {}", _icon("trash-2", 14), _("Borrar")),
        "unread": _("Marcar como no leído"), "paperclip": _icon("paperclip", 14),
    }


_PK, _INDEX = 987654321, 123456789


@lru_cache(maxsize=64)
def _url_template(name: str, prefix: str, with_index: bool) -> str:
    return reverse(name, args=[_PK, _INDEX] if with_index else [_PK])


def _url(name: str, pk: int, index: int | None = None) -> str:
    """reverse(), once per URL name: a row draws up to ten links, 50 rows a page."""
    url = _url_template(name, get_script_prefix(), index is not None).replace(str(_PK), str(pk), 1)
    return url if index is None else url.replace(str(_INDEX), str(index), 1)


def _csrf(request: Any) -> SafeString:
    """The form field, once per request (get_token masks the secret anew on every call)."""
    field = getattr(request, "_chat_csrf_field", None)
    if field is None:
        field = format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request))
        request._chat_csrf_field = field
    return field


def _when(value: Any, fmt: str) -> str:
    return formats.date_format(localtime(value), fmt)


def row_html(r: dict[str, Any], *, in_thread: bool, request: Any) -> SafeString:
    """The row of `r` (an entry of teamchat.views._message_context) for the reader of `request`."""
    m = r["m"]
    labels = _labels(get_language())
    pk, hist = m.pk, f"hist-{m.pk}{'-t' if in_thread else ''}"
    csrf = _csrf(request)
    hilo = mark_safe('<input type="hidden" name="hilo" value="1">') if in_thread else ""
    author = m.author
    name = author.display_name if author is not None else ""
    classes = "chat-row" + (" chat-row-mention" if r["mentions_me"] else "") + (
        " chat-row-deleted" if m.deleted_at else "")

    meta = format_html(
        '<p class="chat-meta"><strong>{}</strong>\n      <time datetime="{}" title="{}">{}</time>\n      {}\n    </p>',
        name or labels["deleted_person"], dateformat.format(localtime(m.created_at), "c"),
        _when(m.created_at, "DATETIME_FORMAT"), _when(m.created_at, "SHORT_DATETIME_FORMAT"),
        format_html('<button type="button" class="btn-link chat-edited" hx-get="{}" hx-target="#{}" title="{}">{}'
                    '</button>', _url("teamchat:history", pk), hist,
                    _("Editado el %(at)s: ver versiones anteriores") % {
                        "at": _when(m.edited_at, "SHORT_DATETIME_FORMAT")}, labels["edited"])
        if m.edited_at and not m.deleted_at else "")
    text = (format_html('<p class="muted chat-deleted">{}</p>', labels["deleted"]) if m.deleted_at
            else format_html('<div class="chat-text" data-chat-text>{}</div>', r["html"]))
    parts = [meta, text, format_html('<div id="{}"></div>', hist)]

    if r["images"]:
        parts.append(format_html('<div class="chat-images">{}</div>', format_html_join(
            "", '<a href="{0}" target="_blank" rel="noopener"><img src="{0}" alt="{1}" loading="lazy" '
                'data-testid="chat-image"></a>',
            ((_url("teamchat:file", pk, i), f.get("name", "")) for i, f in r["images"]))))
    if r["files"]:
        parts.append(format_html('<ul class="chat-attachments">{}</ul>', format_html_join(
            "", '<li><a href="{}" download>{} {}</a> <small class="muted">{}</small></li>',
            ((_url("teamchat:file", pk, i), labels["paperclip"], f.get("name", ""),
              filesizeformat(f.get("size") or 0)) for i, f in r["files"]))))
    parts.extend(format_html(
        '<a class="chat-card chat-card-{}" href="{}" data-testid="chat-card">{}<span><small class="muted">{}'
        '</small> <strong>{}</strong>{}{}</span></a>', c["kind"], c["url"], _icon(c["icon"], 18), c["kind_label"],
        c["title"], format_html(' <span class="badge">{}</span>', c["state"]) if c["state"] else "",
        format_html('<br><small class="muted">{}</small>', c["detail"]) if c["detail"] else "") for c in r["cards"])
    if r["reactions"]:
        react_url = _url("teamchat:react", pk)
        parts.append(format_html('<div class="chat-reactions">{}</div>', format_html_join(
            "", '<form method="post" action="{}" class="inline" data-chat-action>{}<input type="hidden" name="emoji" '
                'value="{}">{}<button class="chat-reaction{}" aria-pressed="{}" title="{}">{} {}</button></form>',
            ((react_url, csrf, g["emoji"], hilo, " chat-reaction-mine" if g["mine"] else "",
              "true" if g["mine"] else "false", ", ".join(g["names"]), g["emoji"], g["count"])
             for g in r["reactions"]))))
    if not in_thread and m.reply_count:
        count = ngettext("%(n)s respuesta", "%(n)s respuestas", m.reply_count) % {"n": m.reply_count}
        parts.append(format_html(
            '<button type="button" class="btn-link chat-replies" data-chat-open-thread="{}" '
            'data-testid="chat-replies">{}{}</button>', pk, count,
            format_html(' · <small class="muted">{}</small>', _when(m.last_reply_at, "SHORT_DATETIME_FORMAT"))
            if m.last_reply_at else ""))
    if not m.deleted_at:
        tools = []
        if not in_thread:
            tools.append(format_html('<button type="button" class="btn-link" data-chat-open-thread="{}" '
                                     'data-testid="chat-reply">{}</button>', pk, labels["reply"]))
        tools.append(format_html('<details class="chat-react-picker" data-react-url="{}"{}><summary class="btn-link">'
                                 '{}</summary>\n        <div class="chat-emoji"></div></details>',
                                 _url("teamchat:react", pk), mark_safe(" data-hilo") if in_thread else "",
                                 labels["react"]))
        if r["can_edit"]:
            tools.append(format_html('<button type="button" class="btn-link" hx-get="{}{}" hx-target="closest '
                                     '.chat-bubble" hx-swap="innerHTML" data-testid="chat-edit">{}</button>',
                                     _url("teamchat:edit", pk), "?hilo=1" if in_thread else "",
                                     labels["edit"]))
        if r["can_delete"]:
            tools.append(format_html('<form method="post" action="{}" class="inline" data-chat-action data-confirm>{}{}'
                                     '<button class="btn-link chat-delete" data-testid="chat-delete">{}</button>'
                                     '</form>', _url("teamchat:delete", pk), csrf, hilo, labels["delete"]))
        if not in_thread and not r["own"]:
            tools.append(format_html('<button type="button" class="btn-link" data-chat-unread-from="{}">{}</button>',
                                     pk, labels["unread"]))
        parts.append(format_html('<div class="chat-tools">\n      {}\n    </div>',
                                 format_html_join("\n      ", "{}", ((t,) for t in tools))))

    return format_html(
        '<li class="{}" id="{}-{}" data-message-id="{}" data-author-id="{}" data-testid="chat-message">\n'
        '  <span class="chat-avatar" aria-hidden="true">{}<span class="chat-dot avail-dot avail-{}" '
        'data-presence-user="{}"></span></span>\n  <div class="chat-bubble">\n    {}\n  </div>\n</li>',
        classes, "t" if in_thread else "m", pk, pk, m.author_id or "", (name or "?")[:1].upper(),
        author.availability if author is not None else "", m.author_id or "",
        format_html_join("\n    ", "{}", ((p,) for p in parts)))
