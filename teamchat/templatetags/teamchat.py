"""`{% chat_emoji as emoji_set %}`: the reactions offered under a message."""

from __future__ import annotations

from typing import Final

from django import template

register = template.Library()

EMOJI: Final = ("👍", "❤️", "😂", "🎉", "👀", "✅", "🙏", "🔥")


@register.simple_tag
def chat_emoji() -> tuple[str, ...]:
    return EMOJI
