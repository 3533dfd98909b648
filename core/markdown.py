"""Markdown written by people (help articles, and any other text an app lets them format) as HTML that is safe to
show in a page: markdown-it-py (CommonMark, with tables, strikethrough and single line breaks kept), then nh3 (the
Rust ammonia sanitizer) with an allow list.

Why markdown-it-py and not Python-Markdown (which campaigns' email bodies use): Python-Markdown slows down
quadratically on some inputs — 36 s of CPU for "[a](" repeated 12,000 times, a body any article editor could save
and every reader of the public help page would then pay for; markdown-it-py renders that, and the other
pathological inputs we tried, in under a second at the 50,000-character limit (core/tests/test_markdown.py).

What survives: paragraphs, headings, emphasis, lists, quotes, code, tables, horizontal rules, links (http, https,
mailto and tel only; each gets rel="noopener noreferrer nofollow") and images (http, https and this site's /paths;
the pages' Content-Security-Policy shows only this site's). What does not: script,
style, iframe, object, form and the like (dropped with their content), every other tag (dropped, its text kept),
every attribute outside the list (event handlers such as onerror, style, class, id), javascript: and data: URLs, and
HTML comments. Raw HTML inside the Markdown goes through the same list. The page's CSP (no inline scripts or styles)
is the second fence.

campaigns.emailing has its own, stricter list for email bodies (its links are rewritten for tracking).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
    "kbd", "li", "ol", "p", "pre", "s", "small", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr",
    "u", "ul",
})
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"}, "abbr": {"title"},
    "td": {"align"}, "th": {"align"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
IMAGE_SCHEMES = ("http://", "https://")
LINK_REL = "noopener noreferrer nofollow"
# Removed with their content (every other unknown tag loses only its tags).
DROPPED_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template", "noscript", "title",
                                  "head", "textarea", "select", "svg", "math"})
# CommonMark (fenced code and sane lists included) with GFM tables and ~~strikethrough~~; a single line break stays
# one, as people expect from a text box; raw HTML passes to nh3, which keeps only the allow list.
_MARKDOWN = MarkdownIt("commonmark", {"breaks": True, "html": True}).enable(["table", "strikethrough"])
# Characters no HTML document may carry (nh3 cannot take a lone surrogate either).
_UNSAFE_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ud800-\udfff]")


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    # nh3 calls this for attributes already allowed; a link may be mailto:/tel:, an image only http(s).
    # Root-relative images (/media/…) are this site's; the page's CSP (img-src 'self') blocks other hosts anyway.
    if tag == "img" and attribute == "src" and not (value.lower().startswith(IMAGE_SCHEMES)
                                                    or (value.startswith("/") and not value.startswith("//"))):
        return None
    return value


def sanitize_html(raw_html: str) -> str:
    """HTML from any source reduced to the allow list above."""
    return nh3.clean(
        _UNSAFE_CHARS.sub("", raw_html), tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()}, clean_content_tags=set(DROPPED_WITH_CONTENT),
        url_schemes=set(URL_SCHEMES), link_rel=LINK_REL, strip_comments=True, attribute_filter=_attribute_filter,
    ).strip()


def render_markdown(text: str) -> SafeString:
    """`text` (Markdown, raw HTML allowed) as sanitized HTML, safe to put in a template as is."""
    rendered = _MARKDOWN.render(_UNSAFE_CHARS.sub("", text or ""))
    return mark_safe(sanitize_html(rendered))  # noqa: S308 - nh3's output: only the allow list above


_BLOCKS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "tr", "ul", "ol",
                     "hr"})


class _TextExtractor(HTMLParser):
    """Sanitized HTML as plain text: paragraphs on their own lines, list items with "- ", a link's address after
    its text when they differ, images as their alternative text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._href: list[str | None] = []
        self._link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in _BLOCKS:
            self.parts.append("\n\n")
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in {"td", "th"}:
            self.parts.append(" ")
        elif tag == "img" and values.get("alt"):
            self.parts.append(values["alt"] or "")
        elif tag == "a":
            self._href.append(values.get("href"))
            self._link_text.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href:
            href, text = self._href.pop(), self._link_text.pop()
            if href and href.rstrip("/") != text.strip().rstrip("/") and not href.startswith(("mailto:", "tel:")):
                self.parts.append(f" ({href})")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if "\n" in data and not data.strip():
            return  # the line breaks Markdown puts between tags; the tags themselves say where lines go
        self.parts.append(data)
        if self._link_text:
            self._link_text[-1] += data


def markdown_to_text(text: str) -> str:
    """`text` (Markdown) as plain text for places that show no HTML: a reply to a customer, a snippet, a WhatsApp
    message. Formatting marks are gone; paragraphs and list items stay on their own lines."""
    extractor = _TextExtractor()
    extractor.feed(str(render_markdown(text)))
    extractor.close()
    joined = "".join(extractor.parts)  # the parser decoded the character references already
    lines = [" ".join(line.split()) for line in joined.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
