"""IMAP polling with UID bookkeeping (standard library `imaplib`; no extra dependency).

* Messages are fetched with BODY.PEEK[] (fetching never marks them read) and flagged \\Seen only after the
  transaction that stored them has committed; a mail that fails to store stays unseen and is retried.
* `Mailbox.last_uid` advances in the same transaction as the stored message, so nothing is taken twice even if
  flagging fails; the Message-ID-based external id is the second guard (UIDVALIDITY changes, two mailboxes).
* The first poll of a folder (or after its UIDVALIDITY changed) takes only UNSEEN mail: what people already read
  there is history, not new work. Afterwards every UID above `last_uid` is taken, read or not.
* Mail keeps its order: a failure stops the batch so later mail of the same thread never overtakes it; after
  MAX_ATTEMPTS the mail is skipped (left unseen on the server, logged as failed for the administrator). A mail
  whose own content is the problem (CONTENT_ERRORS: it cannot be parsed or stored as it is) is given up at once
  and the batch moves on: retrying cannot change its bytes, and it must not hold the mail behind it. Its raw
  bytes are kept on its InboundMail row (`raw`), so it is never lost even though the poll moves past its UID.
"""

from __future__ import annotations

import contextlib
import email.errors
import imaplib
import logging
import re
import ssl
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DataError, transaction
from django.db.models import Q
from django.utils import timezone

from connectors.mail.intake import MAX_ATTEMPTS, do_ingest
from connectors.mail.models import InboundMail, Mailbox, Security

logger = logging.getLogger(__name__)

BATCH = 50  # mails per poll of one mailbox; a full batch re-enqueues the poll at once
TIMEOUT = 30
LEASE = timedelta(minutes=5)
_UID = re.compile(rb"\bUID (\d+)")
# Raised by the mail's bytes themselves (malformed MIME, a bogus charset, absurd nesting, text the database
# refuses), as opposed to the environment (OSError: storage or network; other database errors) which a later
# poll may not meet. Deliberately narrow: TypeError, AttributeError or a plain ValueError are usually a bug of
# ours, and a bug must stop the batch and be retried after the fix, not skip the mail for good.
# LookupError only as itself (codecs' "unknown encoding" for a bogus charset): its subclasses KeyError and
# IndexError are bugs.
CONTENT_ERRORS = (email.errors.MessageError, UnicodeError, RecursionError, DataError)


def is_content_error(exc: BaseException) -> bool:
    return isinstance(exc, CONTENT_ERRORS) or type(exc) is LookupError


def tls_context() -> ssl.SSLContext:
    """Verified TLS; MAIL_CA_FILE adds a private CA (a company mail server with its own certificate)."""
    return ssl.create_default_context(cafile=getattr(settings, "MAIL_CA_FILE", None) or None)


def _quote(folder: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9._/\-]+", folder):
        return folder
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def connect(mailbox: Mailbox) -> imaplib.IMAP4:
    conn: imaplib.IMAP4
    if mailbox.imap_security == Security.SSL:
        conn = imaplib.IMAP4_SSL(mailbox.imap_host, mailbox.imap_port, ssl_context=tls_context(), timeout=TIMEOUT)
    else:
        conn = imaplib.IMAP4(mailbox.imap_host, mailbox.imap_port, timeout=TIMEOUT)
        if mailbox.imap_security == Security.STARTTLS:
            conn.starttls(ssl_context=tls_context())
    conn.login(mailbox.imap_user or mailbox.address, mailbox.imap_password)
    return conn


def _select(conn: imaplib.IMAP4, folder: str) -> tuple[int, int]:
    """(UIDVALIDITY, UIDNEXT) of the selected folder."""
    typ, data = conn.select(_quote(folder))
    if typ != "OK":
        raise imaplib.IMAP4.error(f"cannot select {folder!r}: {data!r}")
    _typ, validity = conn.response("UIDVALIDITY")
    _typ, uidnext = conn.response("UIDNEXT")
    return (int(validity[0]) if validity and validity[0] else 0,
            int(uidnext[0]) if uidnext and uidnext[0] else 0)


def _search(conn: imaplib.IMAP4, criteria: str) -> list[int]:
    typ, data = conn.uid("SEARCH", criteria)
    if typ != "OK":
        raise imaplib.IMAP4.error(f"search failed: {data!r}")
    return sorted(int(u) for u in (data[0] or b"").split())


def _fetch(conn: imaplib.IMAP4, uid: int) -> bytes | None:
    typ, data = conn.uid("FETCH", str(uid), "(UID BODY.PEEK[])")
    if typ != "OK":
        raise imaplib.IMAP4.error(f"fetch {uid} failed: {data!r}")
    for item in data:
        if isinstance(item, tuple) and _UID.search(item[0]) and int(_UID.search(item[0]).group(1)) == uid:  # type: ignore[union-attr]
            return bytes(item[1])
    return None  # expunged between SEARCH and FETCH


def _mark_seen(conn: imaplib.IMAP4, uid: int) -> None:
    try:
        conn.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Seen)")
    except (imaplib.IMAP4.error, OSError):  # stored already; a missing flag only shows as unread in webmail
        logger.warning("mail: could not flag uid %s as seen", uid)


@dataclass
class PollResult:
    fetched: int = 0
    stored: int = 0
    skipped: int = 0
    failed: int = 0
    more: bool = False
    error: str = ""
    busy: bool = False


def _claim(mailbox_id: int) -> bool:
    now = timezone.now()
    return bool(Mailbox.objects.filter(Q(poll_lease_until__isnull=True) | Q(poll_lease_until__lt=now),
                                       pk=mailbox_id).update(poll_lease_until=now + LEASE))


def _record_failure(mailbox: Mailbox, uid: int, validity: int, exc: BaseException, *, give_up: bool = False,
                    raw: bytes = b"") -> int:
    """Counts a failed attempt; a mail given up keeps its raw bytes on the row (`raw`), because the poll then
    moves past its UID: the bytes stay available for a reprocess once the parser copes with them."""
    row, _created = InboundMail.objects.get_or_create(
        mailbox=mailbox, uid_validity=validity, imap_uid=uid,
        defaults={"source": InboundMail.Source.IMAP, "status": InboundMail.Status.FAILED})
    attempts = max(row.attempts + 1, MAX_ATTEMPTS) if give_up else row.attempts + 1
    fields: dict[str, object] = {"status": InboundMail.Status.FAILED, "error": repr(exc)[:1000], "attempts": attempts}
    if give_up and raw:
        fields["raw"] = raw
    InboundMail.objects.filter(pk=row.pk).update(**fields)
    return attempts


def do_poll_mailbox(mailbox_id: int) -> PollResult:
    """One bounded poll of one mailbox. Safe to run concurrently (a lease lets one poller in) and to repeat."""
    result = PollResult()
    if not _claim(mailbox_id):
        result.busy = True
        return result
    mailbox = Mailbox.objects.select_related("inbox").get(pk=mailbox_id)
    conn: imaplib.IMAP4 | None = None
    try:
        conn = connect(mailbox)
        validity, uidnext = _select(conn, mailbox.imap_folder)
        baseline = mailbox.uid_validity != validity
        if baseline:
            uids = _search(conn, "UNSEEN")
        else:
            uids = [u for u in _search(conn, f"UID {mailbox.last_uid + 1}:*") if u > mailbox.last_uid]
        given_up = set(InboundMail.objects.filter(mailbox=mailbox, uid_validity=validity, imap_uid__in=uids,
                                                  status=InboundMail.Status.FAILED, attempts__gte=MAX_ATTEMPTS)
                       .values_list("imap_uid", flat=True))
        result.more = len(uids) > BATCH
        stopped = False
        for uid in uids[:BATCH]:
            if uid in given_up:
                result.skipped += 1
                Mailbox.objects.filter(pk=mailbox.pk, last_uid__lt=uid).update(last_uid=uid)
                continue
            raw = _fetch(conn, uid)
            if raw is None:
                continue
            result.fetched += 1
            try:
                with transaction.atomic():
                    log = (InboundMail.objects.select_for_update()
                           .filter(mailbox=mailbox, uid_validity=validity, imap_uid=uid).first()
                           or InboundMail(mailbox=mailbox, uid_validity=validity, imap_uid=uid,
                                          source=InboundMail.Source.IMAP))
                    if log.pk is None or log.status == InboundMail.Status.FAILED:
                        do_ingest(mailbox, raw, log=log)
                    Mailbox.objects.filter(pk=mailbox.pk, last_uid__lt=uid).update(last_uid=uid)
            except Exception as exc:
                logger.exception("mail: storing uid %s of %s failed", uid, mailbox.address)
                result.failed += 1
                if is_content_error(exc):  # this mail alone: recorded, left unseen, the batch moves on
                    _record_failure(mailbox, uid, validity, exc, give_up=True, raw=raw)
                    Mailbox.objects.filter(pk=mailbox.pk, last_uid__lt=uid).update(last_uid=uid)
                    continue
                _record_failure(mailbox, uid, validity, exc)
                stopped = True
                break
            result.stored += 1
            _mark_seen(conn, uid)  # only now: the message and its log row are committed
        if baseline and not stopped and not result.more:
            # The folder is now known: from here on every UID above the highest one seen is new mail.
            # (UIDNEXT was read before searching: mail arriving since has a higher UID and is taken next time.)
            highest = max([*uids, uidnext - 1, 0])
            Mailbox.objects.filter(pk=mailbox.pk).update(uid_validity=validity, last_uid=highest)
        Mailbox.objects.filter(pk=mailbox.pk).update(last_polled_at=timezone.now(), last_error="")
    except (imaplib.IMAP4.error, OSError, ssl.SSLError) as exc:
        result.error = str(exc) or exc.__class__.__name__
        logger.warning("mail: polling %s failed: %s", mailbox.address, result.error)
        Mailbox.objects.filter(pk=mailbox.pk).update(last_error=result.error[:500], last_error_at=timezone.now(),
                                                     last_polled_at=timezone.now())
    finally:
        if conn is not None:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                conn.logout()
        Mailbox.objects.filter(pk=mailbox_id).update(poll_lease_until=None)
    return result


def check_connection(mailbox: Mailbox) -> str:
    """Logs in and selects the folder; returns "" or the error, for the admin page and `mail_connect --check`."""
    try:
        conn = connect(mailbox)
        try:
            _select(conn, mailbox.imap_folder)
        finally:
            conn.logout()
    except (imaplib.IMAP4.error, OSError, ssl.SSLError) as exc:
        return str(exc) or exc.__class__.__name__
    return ""
