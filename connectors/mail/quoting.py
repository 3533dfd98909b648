"""What the agent sees of an email: sanitized HTML, and the quoted history split off to be shown collapsed.

Sanitizing happens at ingest (the stored HTML is already clean) and again when rendering, so a message whose
meta was written by another path can never inject markup. Remote images are dropped: they are tracking pixels
more often than content, and inline images arrive as attachments anyway.
"""

from __future__ import annotations

import html as htmllib
import re

import nh3

ALLOWED_TAGS = frozenset(nh3.ALLOWED_TAGS - {"img", "map", "area"})
ALLOWED_ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items() if tag in ALLOWED_TAGS}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})

# Where quoted history starts in the HTML of common clients (Gmail, Apple Mail/Thunderbird, Outlook, Yahoo).
_HTML_QUOTE_MARKERS = re.compile(
    r"<div[^>]*\bclass=\"?[^\">]*\bgmail_quote\b|<blockquote[^>]*\btype=\"?cite|<div[^>]*\bclass=\"?[^\">]*"
    r"\bmoz-cite-prefix\b|<div[^>]*\bid=\"?(?:appendonsend|divRplyFwdMsg)\b|<hr[^>]*\bid=\"?stopSpelling\b"
    r"|<div[^>]*\bclass=\"?[^\">]*\byahoo_quoted\b|<blockquote[^>]*\bclass=\"?[^\">]*\bgmail_quote\b",
    re.IGNORECASE)
# Attribution lines and separators in plain text ("On … wrote:", "El … escribió:", Outlook headers).
_TEXT_QUOTE_MARKERS = [
    re.compile(r"^[ \t]*(?:On|El|Em|Le|Am)\s(?:(?!\n\s*\n).){0,300}?(?:wrote|escribió|escreveu|a écrit|schrieb)"
               r"\s*:[ \t]*$", re.IGNORECASE | re.MULTILINE | re.DOTALL),
    re.compile(r"^[ \t]*-{2,}\s*(?:Original Message|Mensaje original|Forwarded message|Mensaje reenviado)\s*-{2,}",
               re.IGNORECASE | re.MULTILINE),
    re.compile(r"^[ \t]*(?:From|De):[^\n]+\n[ \t]*(?:Sent|Enviado|Date|Fecha):", re.IGNORECASE | re.MULTILINE),
    re.compile(r"^_{20,}[ \t]*$", re.MULTILINE),
]


def sanitize(html: str) -> str:
    if not html.strip():
        return ""
    return nh3.clean(html, tags=set(ALLOWED_TAGS), attributes=ALLOWED_ATTRIBUTES,
                     clean_content_tags={"script", "style", "title", "head", "template"},
                     url_schemes=set(URL_SCHEMES), link_rel="noopener noreferrer nofollow",
                     set_tag_attribute_values={"a": {"target": "_blank"}}).strip()


def split_text(text: str) -> tuple[str, str]:
    """(the new text, the quoted history). Nothing is split when the whole message would be "quoted"."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    cuts = [m.start() for pattern in _TEXT_QUOTE_MARKERS if (m := pattern.search(text))]
    lines = text.split("\n")
    i = len(lines)
    while i > 0 and (lines[i - 1].startswith(">") or not lines[i - 1].strip()):
        i -= 1
    if any(line.startswith(">") for line in lines[i:]):  # a trailing block of "> " lines
        cuts.append(len("\n".join(lines[:i])))
    cut = min(cuts, default=None)
    if cut is None or not text[:cut].strip():
        return text.strip(), ""
    return text[:cut].rstrip(), text[cut:].strip()


def split_html(html: str) -> tuple[str, str]:
    """(sanitized new part, sanitized quoted history), split at the first quote marker of a known client."""
    match = _HTML_QUOTE_MARKERS.search(html)
    if match is None:
        return sanitize(html), ""
    reply, quoted = sanitize(html[:match.start()]), sanitize(html[match.start():])
    if not html_to_text(reply).strip():
        return sanitize(html), ""
    return reply, quoted


_BLOCK_END = re.compile(r"<\s*(?:br\s*/?|/p|/div|/li|/tr|/h[1-6]|/blockquote|/table)\s*>", re.IGNORECASE)


def html_to_text(html: str) -> str:
    """Readable text of an HTML-only mail, for the message body, previews and search."""
    text = _BLOCK_END.sub("\n", html)
    text = nh3.clean(text, tags=set(), clean_content_tags={"script", "style", "title", "head"})
    text = htmllib.unescape(text)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
