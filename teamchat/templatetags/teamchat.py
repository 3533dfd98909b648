"""`{% chat_emoji %}`: the reactions offered under a message, space-separated, for the page's `data-emoji` (the
picker is built in the browser when a message's "Reaccionar" opens: one list per page, not one form per row)."""

from __future__ import annotations

from typing import Final

from django import template

register = template.Library()

EMOJI: Final = ("👍", "❤️", "😂", "🎉", "👀", "✅", "🙏", "🔥")


@register.simple_tag
def chat_emoji() -> str:
    return " ".join(EMOJI)
