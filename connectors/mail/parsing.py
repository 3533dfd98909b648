"""RFC 5322 parsing for the email channel: raw bytes (IMAP, Mailgun's body-mime, a raw POST) or a Postmark JSON
payload become one `ParsedMail`, and `classify` tells human mail from auto-replies and bounces.

Pure functions on bytes; nothing here touches the database, so every source shares one tested path.
"""

from __future__ import annotations

import base64
import email
import email.header
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage, Message
from typing import Any
from urllib.parse import parse_qsl

MSGID = re.compile(r"<([^<>\s]+)>")
# Headers kept on the stored message (meta["headers"]): threading, auto-reply markers and provenance.
KEPT_HEADERS = ("Message-ID", "In-Reply-To", "References", "From", "To", "Cc", "Reply-To", "Subject", "Date",
                "Auto-Submitted", "Precedence", "X-Autoreply", "X-Autorespond", "Return-Path", "List-Id",
                "X-Failed-Recipients", "Delivered-To", "X-Original-To")
BULK_PRECEDENCE = frozenset({"bulk", "junk", "auto_reply", "list"})
DAEMON_LOCALPARTS = frozenset({"mailer-daemon", "postmaster"})


@dataclass
class ParsedAttachment:
    name: str
    content_type: str
    data: bytes
    content_id: str = ""
    inline: bool = False


@dataclass(frozen=True)
class DsnRecipient:
    """One per-recipient block of a delivery report (RFC 3464 §2.3): `action` is failed / delayed / delivered /
    relayed / expanded, `status` the enhanced code (`5.2.2`, `4.2.2`)."""

    recipient: str
    action: str
    status: str
    diagnostic: str = ""

    @property
    def failed(self) -> bool:
        """Only a permanent failure fails our message; `delayed` (4.x.x) means the server is still trying."""
        return self.action == "failed" or (not self.action and self.status.startswith("5"))

    @property
    def delayed(self) -> bool:
        return self.action == "delayed" or (not self.action and self.status.startswith("4"))


@dataclass
class ParsedMail:
    message_id: str
    in_reply_to: list[str]
    references: list[str]
    from_name: str
    from_address: str
    reply_to: list[str]
    to: list[str]
    cc: list[str]
    delivered_to: list[str]
    subject: str
    date: datetime | None
    text: str
    html: str
    attachments: list[ParsedAttachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/plain"
    report_type: str = ""
    # Message-IDs found in a delivery report's copy of the original message (to mark our send as failed).
    reported_message_ids: list[str] = field(default_factory=list)
    # The per-recipient blocks of a message/delivery-status part (empty for heuristic bounces).
    dsn: list[DsnRecipient] = field(default_factory=list)
    raw_sha256: str = ""

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.delivered_to]

    def dedupe_id(self) -> str:
        """The Message-ID, or a digest of the raw bytes for mail without one (RFC 5322 says SHOULD, not MUST)."""
        return self.message_id or f"sha256:{self.raw_sha256}"


def message_ids(value: str) -> list[str]:
    """Every <id> in a header (In-Reply-To may hold several; References holds the chain), without brackets."""
    found = MSGID.findall(value or "")
    if not found and value and value.strip() and " " not in value.strip():
        found = [value.strip()]  # a bare id without brackets: seen from broken clients
    return list(dict.fromkeys(found))


def _header(msg: Message, name: str) -> str:
    try:
        values = msg.get_all(name) or []
        return ", ".join(str(v) for v in values).strip()
    except (ValueError, TypeError, IndexError):  # a malformed header must not lose the mail
        return ""


def _addresses(msg: Message, *names: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name in names:
        raw = _header(msg, name)
        if raw:
            pairs += [(n.strip(), a.strip().lower()) for n, a in email.utils.getaddresses([raw]) if "@" in a]
    return pairs


def _text(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except (LookupError, KeyError, ValueError, AttributeError):  # unknown charset or broken encoding
        pass
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    return ""


# An RFC 2047 encoded-word given as a bare parameter value (`filename==?UTF-8?Q?This_is_a_test.pdf?=`): invalid
# MIME (an encoded-word is not a token), so the policy's parser drops the parameter, but PHP's mail(), old Java
# servlets and some webmail write it and every mail client shows the decoded name.
_BARE_ENCODED_PARAM = re.compile(
    r"(?:^|;)\s*(?P<key>filename|name)\s*=\s*\"?(?P<value>(?:=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=\s*)+)\"?\s*(?:;|$)",
    re.IGNORECASE)


def _bare_encoded_filename(part: Message) -> str:
    """The decoded `filename` (Content-Disposition) or `name` (Content-Type) when written as a bare encoded-word."""
    for header, key in (("content-disposition", "filename"), ("content-type", "name")):
        for raw_name, raw_value in part.raw_items():
            if raw_name.lower() != header:
                continue
            for match in _BARE_ENCODED_PARAM.finditer(" ".join(str(raw_value).split())):
                if match.group("key").lower() != key:
                    continue
                try:
                    return str(email.header.make_header(email.header.decode_header(match.group("value").strip())))
                except (LookupError, ValueError, UnicodeDecodeError):  # unknown charset, broken base64
                    continue
    return ""


def _filename(part: Message, index: int) -> str:
    """The attachment's name as the sender wrote it: RFC 2231 (`filename*=UTF-8''…`, Latin-1 too) and quoted
    RFC 2047 values are decoded by the email policy; a bare encoded-word by `_bare_encoded_filename`."""
    try:
        name = part.get_filename()
    except (LookupError, ValueError):  # a charset Python does not know in an RFC 2231 value
        name = None
    if not name or "=?" in str(name):
        name = _bare_encoded_filename(part) or name
    if name:
        return str(name).replace("\x00", "").strip()[:255] or f"adjunto-{index}.bin"
    ctype = part.get_content_type()
    if ctype in {"message/rfc822", "text/rfc822-headers"}:
        return f"mensaje-{index}.eml"
    ext = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "application/pdf": ".pdf",
           "text/calendar": ".ics"}.get(ctype, ".bin")
    return f"adjunto-{index}{ext}"


def _walk(msg: Message) -> list[Message]:
    """Leaf parts in order, not descending into attached messages (a forwarded mail is one attachment)."""
    if msg.get_content_type() in {"message/rfc822", "message/delivery-status"} or not msg.is_multipart():
        return [msg]
    parts: list[Message] = []
    for sub in msg.get_payload():
        if isinstance(sub, Message):
            parts += _walk(sub)
    return parts


def _bytes_of(part: Message) -> bytes:
    inner = part.get_payload()
    if part.get_content_type() == "message/rfc822" and isinstance(inner, list) and inner and isinstance(
            inner[0], Message):
        return inner[0].as_bytes(policy=email.policy.SMTP)
    if part.get_content_type() == "message/delivery-status" and isinstance(inner, list):
        # per-message and per-recipient field blocks (RFC 3464), kept as text for the diagnostic
        return b"\r\n".join(block.as_bytes(policy=email.policy.SMTP) for block in inner if isinstance(block, Message))
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def _dsn_recipients(part: Message) -> list[DsnRecipient]:
    """The per-recipient field blocks (those with Action or Final-Recipient) of a message/delivery-status part."""
    blocks = part.get_payload()
    found = []
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, Message):
            continue
        action = _header(block, "Action").strip().lower()
        recipient = _header(block, "Final-Recipient") or _header(block, "Original-Recipient")
        if not action and not recipient:
            continue  # the per-message block (Reporting-MTA, Arrival-Date)
        status = _STATUS.search(_header(block, "Status"))
        found.append(DsnRecipient(recipient=recipient.split(";", 1)[-1].strip(), action=action,
                                  status=status.group(1) if status else "",
                                  diagnostic=" ".join(_header(block, "Diagnostic-Code").split())))
    return found


def parse(raw: bytes) -> ParsedMail:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    from_pairs = _addresses(msg, "From") or _addresses(msg, "Sender")
    from_name, from_address = from_pairs[0] if from_pairs else ("", "")
    try:
        date = email.utils.parsedate_to_datetime(_header(msg, "Date")) if _header(msg, "Date") else None
    except (TypeError, ValueError):
        date = None

    body_parts: set[int] = set()
    text = html = ""
    if isinstance(msg, EmailMessage):
        try:
            plain_part = msg.get_body(preferencelist=("plain",))
            html_part = msg.get_body(preferencelist=("html",))
        except (KeyError, ValueError):
            plain_part = html_part = None
        if plain_part is not None:
            text = _text(plain_part)
            body_parts.add(id(plain_part))
        if html_part is not None:
            html = _text(html_part)
            body_parts.add(id(html_part))

    attachments: list[ParsedAttachment] = []
    reported: list[str] = []
    dsn: list[DsnRecipient] = []
    for index, part in enumerate(_walk(msg), start=1):
        if id(part) in body_parts or (part.is_multipart()
                                      and part.get_content_type() not in {"message/rfc822", "message/delivery-status"}):
            continue
        ctype = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        if ctype in {"message/rfc822", "text/rfc822-headers"}:  # a bounce's copy of what was sent
            inner = _bytes_of(part) if ctype == "message/rfc822" else (_text(part).encode())
            original = email.message_from_bytes(inner, policy=email.policy.default)
            reported += message_ids(_header(original, "Message-ID"))
        elif ctype == "message/delivery-status":
            dsn += _dsn_recipients(part)
        elif ctype.startswith("text/") and disposition != "attachment" and not part.get_filename():
            continue  # an alternative body we did not choose (e.g. text/enriched), not a file
        data = _bytes_of(part)
        attachments.append(ParsedAttachment(
            name=_filename(part, index), content_type=ctype, data=data,
            content_id=(_header(part, "Content-ID").strip("<>")), inline=disposition == "inline"))

    headers = {name: _header(msg, name)[:2000] for name in KEPT_HEADERS if _header(msg, name)}
    return ParsedMail(
        message_id=next(iter(message_ids(_header(msg, "Message-ID"))), ""),
        in_reply_to=message_ids(_header(msg, "In-Reply-To")),
        references=message_ids(_header(msg, "References")),
        from_name=from_name, from_address=from_address,
        reply_to=[a for _n, a in _addresses(msg, "Reply-To")],
        to=[a for _n, a in _addresses(msg, "To")], cc=[a for _n, a in _addresses(msg, "Cc")],
        delivered_to=[a for _n, a in _addresses(msg, "Delivered-To", "X-Original-To", "Envelope-To")],
        subject=" ".join(_header(msg, "Subject").split())[:250], date=date, text=text, html=html,
        attachments=attachments, headers=headers, content_type=msg.get_content_type(),
        report_type=str(msg.get_param("report-type") or "").lower(), reported_message_ids=reported,
        dsn=dsn, raw_sha256=hashlib.sha256(raw).hexdigest(),
    )


def classify(mail: ParsedMail) -> tuple[str, str]:
    """("bounce" | "auto_reply" | "", the rule that matched). RFC 3834 auto-replies and RFC 3464 delivery
    reports must never open a conversation or count as the customer answering. First matching rule wins."""
    h = {k.lower(): v.strip() for k, v in mail.headers.items()}
    local = mail.from_address.split("@", 1)[0].lower()
    auto = h.get("auto-submitted", "").split(";", 1)[0].strip().lower()
    precedence = h.get("precedence", "").lower()
    rules = (
        (mail.content_type == "multipart/report" and mail.report_type == "delivery-status",
         "bounce", "multipart/report delivery-status"),
        (local in DAEMON_LOCALPARTS, "bounce", f"From: {local}"),
        ("x-failed-recipients" in h, "bounce", "X-Failed-Recipients"),
        ("return-path" in h and h["return-path"].replace(" ", "") in {"<>", ""}, "bounce", "Return-Path: <>"),
        (bool(auto) and auto != "no", "auto_reply", f"Auto-Submitted: {auto}"),
        ("x-autoreply" in h, "auto_reply", "X-Autoreply"),
        ("x-autorespond" in h, "auto_reply", "X-Autorespond"),
        (precedence in BULK_PRECEDENCE, "auto_reply", f"Precedence: {precedence}"),
    )
    return next(((kind, reason) for matched, kind, reason in rules if matched), ("", ""))


# --- ESP payloads → RFC 822 bytes -------------------------------------------------------------------------


def parse_form(body: bytes, content_type: str) -> dict[str, Any]:
    """A form POST (Mailgun) from its stored raw body: urlencoded or multipart/form-data. Values are str, files
    bytes. Parsed with the email package so the view never has to keep Django's request around."""

    if content_type.lower().startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    if not content_type.lower().startswith("multipart/form-data"):
        raise ValueError(f"unexpected content type {content_type[:80]!r}")
    envelope = b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    form = email.message_from_bytes(envelope, policy=email.policy.HTTP)
    if not form.is_multipart():
        raise ValueError("multipart body without parts")
    fields: dict[str, Any] = {}
    for part in form.get_payload():
        if not isinstance(part, Message):
            continue
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else str(part.get_payload()).encode()
        fields[str(name)] = data if part.get_filename() else data.decode(
            part.get_content_charset() or "utf-8", errors="replace")
    return fields


def postmark_to_mime(payload: dict[str, Any]) -> bytes:
    """Postmark's inbound JSON (FromFull, ToFull, Headers[], TextBody, HtmlBody, Attachments[]) as RFC 822
    bytes; `RawEmail` wins when the server has "include raw email" on."""
    raw = payload.get("RawEmail")
    if isinstance(raw, str) and raw.strip():
        return raw.encode("utf-8", errors="surrogateescape")
    msg = EmailMessage(policy=email.policy.SMTP)

    def addr(entry: Any) -> str:
        if not isinstance(entry, dict):
            return ""
        return email.utils.formataddr((str(entry.get("Name") or ""), str(entry.get("Email") or "")))

    skip = {"content-type", "content-transfer-encoding", "mime-version", "from", "to", "cc", "subject"}
    for header in payload.get("Headers") or []:
        if isinstance(header, dict) and str(header.get("Name", "")).lower() not in skip:
            try:
                msg[str(header["Name"])] = str(header.get("Value", ""))
            except (KeyError, ValueError):
                continue
    msg["From"] = addr(payload.get("FromFull")) or str(payload.get("From") or "")
    to = [addr(e) for e in payload.get("ToFull") or [] if addr(e)]
    cc = [addr(e) for e in payload.get("CcFull") or [] if addr(e)]
    if to:
        msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    if payload.get("ReplyTo") and "Reply-To" not in msg:
        msg["Reply-To"] = str(payload["ReplyTo"])
    msg["Subject"] = str(payload.get("Subject") or "")
    if payload.get("Date") and "Date" not in msg:
        msg["Date"] = str(payload["Date"])
    msg.set_content(str(payload.get("TextBody") or ""))
    if payload.get("HtmlBody"):
        msg.add_alternative(str(payload["HtmlBody"]), subtype="html")
    for att in payload.get("Attachments") or []:
        if not isinstance(att, dict):
            continue
        maintype, _sep, subtype = str(att.get("ContentType") or "application/octet-stream").partition("/")
        msg.add_attachment(base64.b64decode(str(att.get("Content") or "")), maintype=maintype,
                           subtype=subtype or "octet-stream", filename=str(att.get("Name") or "adjunto"),
                           cid=f"<{att['ContentID']}>" if att.get("ContentID") else None)
    return msg.as_bytes()
