"""Chat text as safe HTML ("Markdown-lite"): *emphasis*, **bold**, `code`, fenced code, ~~strike~~, lists, quotes,
links and bare addresses made links; no headings, images, tables or raw HTML (a chat line is not a document).
The result passes the same allow list as every other rendered text (core.markdown.sanitize_html), so a colleague's
message can never run script in a reader's browser. @menciones of members are highlighted."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from core.markdown import sanitize_html

_LITE = (MarkdownIt("commonmark", {"breaks": True, "html": False})
         .disable(["heading", "lheading", "image", "html_block", "html_inline", "reference", "hr"])
         .enable(["strikethrough"]))
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ud800-\udfff]")
# A bare address written in the text becomes an autolink (<https://…>) before rendering; one already inside a
# Markdown link or autolink is left alone.
_BARE_URL = re.compile(r"(?<![<(\[\w/=\"'])(https?://[^\s<>()\[\]\"']{1,2000})")
_TRAILING = ".,;:!?"
MENTION = re.compile(r"(?<![\w@.])@([\w.+-]{1,150})")
CHANNEL_WORDS = frozenset({"canal", "channel", "todos", "here", "aqui", "aquí"})


def _autolink(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        url = m.group(1)
        tail = ""
        while url and url[-1] in _TRAILING:
            tail = url[-1] + tail
            url = url[:-1]
        return f"<{url}>{tail}"

    return _BARE_URL.sub(repl, text)


def render_chat(text: str, *, mention_names: Iterable[str] = ()) -> SafeString:
    """`text` as sanitized HTML; `@name` of a member in `mention_names` (usernames) and `@canal` are marked."""
    html = sanitize_html(_LITE.render(_autolink(_CONTROL.sub("", text or ""))))
    names = {n.lower() for n in mention_names} | CHANNEL_WORDS

    def mark(m: re.Match[str]) -> str:
        word = m.group(1).rstrip(_TRAILING)
        if word.lower() not in names:
            return m.group(0)
        rest = m.group(1)[len(word):]
        return f'<strong class="chat-mention">@{escape(word)}</strong>{escape(rest)}'

    # Only in text between tags (never inside an attribute such as a mailto: address).
    parts = re.split(r"(<[^>]*>)", html)
    in_code = 0
    for i, part in enumerate(parts):
        if part.startswith("<"):
            tag = part[1:].split(">")[0].split()[0].lower() if len(part) > 2 else ""
            in_code += 1 if tag == "code" else -1 if tag == "/code" else 0
        elif part and not in_code:
            parts[i] = MENTION.sub(mark, part)
    return mark_safe("".join(parts))  # noqa: S308 - sanitized above; the mention markup is ours, its text escaped


def mentioned_names(text: str) -> set[str]:
    """The lower-cased words written after "@" (usernames or a channel word)."""
    return {m.group(1).rstrip(_TRAILING).lower() for m in MENTION.finditer(text or "")}
