"""`{% chat_emoji %}`: the reactions offered under a message, space-separated, for the page's `data-emoji` (the
picker is built in the browser when a message's "Reaccionar" opens: one list per page, not one form per row)."""

from __future__ import annotations

from typing import Any, Final

from django import template
from django.utils.safestring import SafeString

from teamchat.rowhtml import row_html

register = template.Library()

EMOJI: Final = ("👍", "❤️", "😂", "🎉", "👀", "✅", "🙏", "🔥")


@register.simple_tag
def chat_emoji() -> str:
    return " ".join(EMOJI)


@register.simple_tag(takes_context=True)
def chat_row(context: template.Context, r: dict[str, Any]) -> SafeString:
    """One message's row (teamchat.rowhtml), in a thread when the context says `in_thread`."""
    return row_html(r, in_thread=bool(context.get("in_thread")), request=context.get("request"))
