"""What the agent sees of an email: sanitized HTML, and the quoted history split off to be shown collapsed.

Sanitizing happens at ingest (the stored HTML is already clean) and again when rendering, so a message whose
meta was written by another path can never inject markup. Remote images are dropped: they are tracking pixels
more often than content, and inline images arrive as attachments anyway.

Splitting the customer's new text from the quoted history is done by **quotequail** (Close's maintained library:
plain text and HTML, reply/forward patterns in several languages, Outlook-style header blocks, and the text
*below* a quote — Thunderbird and mailing-list people answer under it), plus our own small rules for what it
misses: localized attributions (Russian Gmail and Outlook, German "… schrieb am …:", Yahoo's "--- On … wrote:",
Portuguese/Spanish Outlook headers such as "Enviada em:" / "Enviado el:"), Lotus Notes (iNotes) history and the
HTML markers of common clients. The earliest cut either finds wins. When in doubt nothing is hidden: a message
whose every line would be "quoted", or that answers between quoted lines, is shown whole. docs/email.md has the
evaluation (corpus in connectors/mail/tests/corpus/).
"""

from __future__ import annotations

import html as htmllib
import itertools
import re
from dataclasses import dataclass

import nh3
import quotequail

ALLOWED_TAGS = frozenset(nh3.ALLOWED_TAGS - {"img", "map", "area"})
ALLOWED_ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items() if tag in ALLOWED_TAGS}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})

# Where quoted history starts in the HTML of common clients (Gmail, Apple Mail/Thunderbird, Outlook, Yahoo,
# IBM iNotes / Lotus Notes). Structural markers survive languages the text patterns do not know.
_HTML_QUOTE_MARKERS = re.compile(
    r"<div[^>]*\bclass=\"?[^\">]*\bgmail_quote\b|<blockquote[^>]*\btype=\"?cite|<div[^>]*\bclass=\"?[^\">]*"
    r"\bmoz-cite-prefix\b|<div[^>]*\bid=\"?(?:appendonsend|divRplyFwdMsg)\b|<hr[^>]*\bid=\"?stopSpelling\b"
    r"|<div[^>]*\bclass=\"?[^\">]*\byahoo_quoted\b|<blockquote[^>]*\bclass=\"?[^\">]*\bgmail_quote\b"
    r"|<div[^>]*\bclass=\"?[^\">]*\biNotesHistory\b",
    re.IGNORECASE)

# --- our rules for plain text (a line, or up to three wrapped lines joined with spaces) ---------------------

_WROTE = r"(?:wrote|writes|escribió|escreveu|a\s+écrit|schrieb|ha\s+scritto|schreef|napisał(?:\(a\))?|пишет|" \
         r"написал(?:\(а\)|а)?|пише|skrev|sent)"
_ATTRIBUTION = [
    # "On … wrote:", "El … escribió:", "Em … escreveu:", "Le … a écrit :", "Am … schrieb …:", "Il … ha scritto:",
    # Yahoo's "--- On … wrote:", Android's "---- Name wrote ----", Lotus Notes' "-----"Name" <a@b> wrote: -----"
    re.compile(r"^[\s>*-]*(?:On|El|Em|Le|Am|Il|Op|W dniu|Dnia|Den|At)\s.{1,300}?\b" + _WROTE + r"\b[^:\n]{0,120}:"
               r"[\s*-]*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*.{1,200}?\b" + _WROTE + r"\b\s*:?\s*-{2,}\s*$", re.IGNORECASE),
    # German and English Gmail: "Max <max@x.de> schrieb am Fr., 28. Apr. 2017 um 11:53 Uhr:"
    re.compile(r"^.{1,200}\b(?:schrieb|wrote)\s+(?:am|on)\b.{0,60}\d.{0,60}:\s*$", re.IGNORECASE),
    # Russian/Ukrainian/Polish: "понедельник, 6 октября 2014 г. пользователь lidel написал:", "… пишет:"
    re.compile(r"^.{0,200}\d{1,4}.{0,200}\s" + _WROTE.replace("|sent)", ")") + r"\s*:\s*$", re.IGNORECASE),
    # Gmail in many languages: a date, then "Name <address>:" ("вт, 5 янв. 2016 г. в 23:39, Ana <a@b.c>:",
    # "2017-02-05 13:29 GMT+02:00 Ana <a@b.c>:", "26.06.2014, 14:41, "Alexander L" <abc@example.com>:")
    re.compile(r"^.{0,120}\d{1,4}.{1,160}<[^<>@\s]+@[^<>@\s]+>\s*:\s*$"),
    # "Name <address> wrote:" (no date)
    re.compile(r"^.{1,120}<[^<>@\s]+@[^<>@\s]+>\s*" + _WROTE + r"\s*:\s*$", re.IGNORECASE),
]
_SEPARATOR = re.compile(
    r"^[\s>*]*-{2,}\s*(?:Original Message|Mensaje original|Mensagem original|Ursprüngliche Nachricht|"
    r"Message d'origine|Messaggio originale|Oorspronkelijk bericht|Исходное сообщение|Forwarded message|"
    r"Mensaje reenviado|Mensagem encaminhada|Message transféré|Weitergeleitete Nachricht|Reply Message)"
    r"\s*-{2,}|^[\s>]*(?:Begin forwarded message|Inicio del mensaje reenviado|Início da mensagem encaminhada|"
    r"Début du message réexpédié|Anfang der weitergeleiteten E-Mail)\s*:", re.IGNORECASE)
_UNDERSCORES = re.compile(r"^\s*_{20,}\s*$")
# Outlook-style header blocks: a "From" line and, within the next lines, another header (any language).
_HEADER_FROM = re.compile(r"^[\s>*]*(?:From|De|Von|Van|От|От кого|Da|Fra|Från|Od|Expéditeur)\s*\*?\s*:", re.IGNORECASE)
_HEADER_OTHER = re.compile(
    r"^[\s>*]*(?:Sent|Date|To|Cc|Subject|Reply-To|Enviado(?: el)?|Enviada em|Fecha|Data|Para|Asunto|Assunto|CC|"
    r"Envoyé|À|Objet|Gesendet|Datum|An|Betreff|Отправлено|Дата|Кому|Тема|Копия|Inviato|Oggetto|A|Verzonden|Aan|"
    r"Onderwerp|Sendt|Til|Emne|Skickat|Till|Ämne)\s*\*?\s*:", re.IGNORECASE)
_QUOTED = re.compile(r"^\s*>")
MAX_LINES = 3000
MAX_HTML_CHARS = 2_000_000
_LINE_TAGS = re.compile(r"<(?:br|p|div|li|tr|h[1-6]|blockquote)\b", re.IGNORECASE)
_DELIMITER = re.compile(r"^\s*[-_=*~]{3,}\s*$")
_SENTENCE_END = re.compile(r"(?<![\d.])[.!?…]\s*$")  # "28." ends a German date, not a sentence


def sanitize(html: str) -> str:
    if not html.strip():
        return ""
    return nh3.clean(html, tags=set(ALLOWED_TAGS), attributes=ALLOWED_ATTRIBUTES,
                     clean_content_tags={"script", "style", "title", "head", "template"},
                     url_schemes=set(URL_SCHEMES), link_rel="noopener noreferrer nofollow",
                     set_tag_attribute_values={"a": {"target": "_blank"}}).strip()


@dataclass(frozen=True)
class _Cut:
    """Lines [start, end) are quoted history; lines before are the new text, lines from `end` on the text the
    customer wrote below the quote (end == len(lines) when there is none)."""

    start: int
    end: int


def _attribution_at(lines: list[str], i: int, *, look_ahead: bool = True) -> int:
    """How many lines (1 to 3) an attribution or separator starting at line i spans; 0 when there is none."""
    if not lines[i].strip() or (_QUOTED.match(lines[i]) and not _SEPARATOR.match(lines[i])):
        return 0
    if _SEPARATOR.match(lines[i]):
        return 1
    for span in (1, 2, 3):
        if i + span > len(lines) or (span > 1 and (not lines[i + span - 1].strip()
                                                   or _QUOTED.match(lines[i + span - 1]))):
            break
        # A wrapped attribution breaks mid-phrase: after a finished sentence, or when the next line starts an
        # attribution of its own, this line is the customer's text.
        if span == 2 and (_SENTENCE_END.search(lines[i])
                          or (look_ahead and _attribution_at(lines, i + 1, look_ahead=False))):
            break
        joined = " ".join(line.strip() for line in lines[i:i + span])
        if len(joined) <= 400 and any(p.match(joined) for p in _ATTRIBUTION):
            return span
    return 0


def _header_block_at(lines: list[str], i: int) -> bool:
    if not _HEADER_FROM.match(lines[i]):
        return False
    following = [line for line in lines[i + 1:i + 7] if line.strip()][:5]
    return any(_HEADER_OTHER.match(line) for line in following)


def _is_quote_start(lines: list[str], i: int) -> bool:
    if _attribution_at(lines, i) or _header_block_at(lines, i):
        return True
    if _UNDERSCORES.match(lines[i]):  # Outlook's line above its header block
        following = [n for n in range(i + 1, min(len(lines), i + 4)) if lines[n].strip()]
        return bool(following) and _header_block_at(lines, following[0])
    return False


def _bottom_after(lines: list[str], start: int) -> int:
    """Where the customer's text below a `>` quote begins (bottom-posting), len(lines) when it does not.
    Only `>` quotes have an end we can see; an Outlook header block quotes everything below it."""
    i = start + max(1, _attribution_at(lines, start))
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or not _QUOTED.match(lines[i]):
        return len(lines)
    while i < len(lines) and (_QUOTED.match(lines[i]) or not lines[i].strip()):
        i += 1
    if i >= len(lines) or _is_quote_start(lines, i):
        return len(lines)
    return i


def _our_cut(lines: list[str]) -> _Cut | None:
    for i in range(len(lines)):
        if not _QUOTED.match(lines[i]) and _is_quote_start(lines, i):  # a quote's own headers belong to it
            return _Cut(i, _bottom_after(lines, i))
    # A trailing block of "> " lines under the new text (no attribution line at all).
    i = len(lines)
    while i > 0 and (_QUOTED.match(lines[i - 1]) or not lines[i - 1].strip()):
        i -= 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if any(_QUOTED.match(line) for line in lines[i:]):
        return _Cut(i, len(lines))
    return None


def _library_cut(lines: list[str]) -> _Cut | None:
    """quotequail's unwrap, mapped back to line numbers (it returns the top and bottom texts, stripped)."""
    text = "\n".join(lines)
    found = quotequail.unwrap(text)
    if not found:
        return None
    top, bottom = str(found.get("text_top") or "").strip(), str(found.get("text_bottom") or "").strip()
    ends = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))  # ends[k]-1: end of line k-1
    lead = len(text) - len(text.lstrip())
    start = end = None
    if not top:
        start = 0
    elif text[lead:lead + len(top)] == top:
        start = next((k for k in range(len(lines) + 1) if ends[k] - 1 >= lead + len(top)), None)
    trail = len(text.rstrip())
    if not bottom:
        end = len(lines)
    elif text[trail - len(bottom):trail] == bottom:
        end = next((m for m in range(len(lines), -1, -1) if ends[m] <= trail - len(bottom)), None)
    if start is None or end is None or end < start:
        return None
    return _Cut(start, end)


def split_text(text: str) -> tuple[str, str]:
    """(the new text, the quoted history). The new text is what the customer wrote above the quote and, when
    they answered below it, under it. Nothing is split when the whole message would be "quoted" or when they
    answered between quoted lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    head = lines[:MAX_LINES]  # a quote starts near the top; a 50 000-line log paste is not scanned to its end
    cuts = [cut for cut in (_our_cut(head), _library_cut(head)) if cut is not None]
    if not cuts:
        return text.strip(), ""
    cut = min(cuts, key=lambda c: (c.start, -(c.end < len(head))))
    if cut.end == len(head):
        cut = _Cut(cut.start, len(lines))
    if any(_QUOTED.match(line) for line in lines[cut.end:]):  # answers between quotes: show it all
        return text.strip(), ""
    start, end = cut.start, cut.end
    if "\n".join(lines[:start]).strip() and any(_is_quote_start(lines, i) for i in range(end, len(lines))):
        end = len(lines)  # under a top-posted answer, text that quotes again is older history, not news
    while start > 0 and (not lines[start - 1].strip() or _DELIMITER.match(lines[start - 1])):
        start -= 1  # the "-----" line Outlook draws above its headers
    top, quoted = "\n".join(lines[:start]).strip(), "\n".join(lines[start:end]).strip()
    bottom = "\n".join(lines[end:]).strip()
    reply = "\n\n".join(part for part in (top, bottom) if part)
    if not reply or not quoted:
        return text.strip(), ""
    return reply, quoted


# --- HTML ------------------------------------------------------------------------------------------------

_BLOCK_START = re.compile(r"<(?:div|p|br|blockquote|table|tr|td|hr|font|span|b|strong)\b", re.IGNORECASE)


def _cut_trailing_attribution(top: str, *, reply_below: bool) -> tuple[str, str]:
    """A language quotequail does not know leaves its attribution line ("…, Ana <a@b.c>:", "… пишет:") or
    header block at the end of the new text: find that line's first words in the markup and cut at the tag that
    holds them. With nothing above it, only when the customer wrote below the quote."""
    lines = html_to_text(top).split("\n")[-40:]  # only the end of the new part can hold a dangling attribution
    cut = _our_cut(lines)
    if cut is None or cut.end < len(lines) or not (reply_below or "\n".join(lines[:cut.start]).strip()):
        return top, ""
    # Addresses and quotes are marked up differently by every client (&lt;<a href=…>…</a>&gt;): match words.
    words = [w for w in lines[cut.start].split() if not set(w) & set('<>@"\'')][:4]
    if not words:
        return top, ""
    gap = r"(?:\s|&nbsp;|&#160;|&#xa0;|<[^>]*>)+"
    pattern = re.compile(gap.join(re.escape(htmllib.escape(w, quote=False)) for w in words), re.IGNORECASE)
    found = list(pattern.finditer(top))
    if not found:
        return top, ""
    position = found[-1].start()
    starts = [m.start() for m in _BLOCK_START.finditer(top, 0, position)]
    position = starts[-1] if starts else position
    return top[:position], top[position:]


def _summary(found: dict[str, str]) -> str:
    """The quoted message's sender, date and subject (quotequail reads them from the attribution or headers)."""
    facts = [found[key] for key in ("from", "date", "subject") if found.get(key)]
    return f"<p>{htmllib.escape(' · '.join(facts))}</p>" if facts else ""


def split_html(html: str) -> tuple[str, str]:
    """(sanitized new part, sanitized quoted history). quotequail finds the quote in the markup's lines (above and
    below it), then our markers of known clients and attribution lines cut what it left in the new part."""
    if not html.strip() or len(html) > MAX_HTML_CHARS:
        return sanitize(html), ""
    # quotequail reads the markup line by line (about 50 µs a line); a newsletter-sized body gets the markers only.
    found = quotequail.unwrap_html(html) if len(_LINE_TAGS.findall(html)) <= MAX_LINES else None
    if found:
        top, bottom = str(found.get("html_top") or ""), str(found.get("html_bottom") or "")
        quoted = _summary(found) + str(found.get("html") or "")
        if not bottom:
            # A reply on top: keep the history's own markup, attribution line included, when quote_html cuts at
            # the same line (it knows the reply patterns, not Outlook's header blocks).
            parts = quotequail.quote_html(html, quote_intro_line=True)
            if len(parts) == 2 and html_to_text(sanitize(parts[0][1])) == html_to_text(sanitize(top)):
                quoted = parts[1][1]
    else:
        top, bottom, quoted = html, "", ""
    reply_below = bool(html_to_text(sanitize(bottom)).strip())
    match = _HTML_QUOTE_MARKERS.search(top)
    if match is not None and (reply_below or html_to_text(sanitize(top[:match.start()])).strip()):
        top, quoted = top[:match.start()], top[match.start():] + quoted
    top, dangling = _cut_trailing_attribution(top, reply_below=reply_below)
    quoted = dangling + quoted
    reply = sanitize(top) + ("\n" + sanitize(bottom) if reply_below else "")
    if not html_to_text(reply).strip() or not html_to_text(sanitize(quoted)).strip():
        return sanitize(html), ""
    return reply.strip(), sanitize(quoted)


_BLOCK_END = re.compile(r"<\s*(?:br\s*/?|/p|/div|/li|/tr|/h[1-6]|/blockquote|/table)\s*>", re.IGNORECASE)


def html_to_text(html: str) -> str:
    """Readable text of an HTML-only mail, for the message body, previews and search."""
    text = _BLOCK_END.sub("\n", html)
    text = nh3.clean(text, tags=set(), clean_content_tags={"script", "style", "title", "head"})
    text = htmllib.unescape(text)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
