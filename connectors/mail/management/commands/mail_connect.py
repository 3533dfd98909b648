from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from connectors.mail.actions import check_mailbox_connections, check_save_mailbox
from connectors.mail.models import Mailbox
from connectors.mail.threads import reply_address
from core.errors import ActionError

# option name → Mailbox field; options left out keep the stored value (or the default for a new mailbox)
FIELDS = ("display_name", "imap_host", "imap_port", "imap_security", "imap_user", "imap_folder", "poll_interval",
          "smtp_host", "smtp_port", "smtp_security", "smtp_user", "reply_address")
SECRETS = {"imap_password": "MAIL_IMAP_PASSWORD", "smtp_password": "MAIL_SMTP_PASSWORD",
           "mailgun_signing_key": "MAIL_MAILGUN_SIGNING_KEY"}


class Command(BaseCommand):
    help = ("Create or update the mailbox of an address (automated deployments) and print what it configured. "
            "Secrets may come from MAIL_IMAP_PASSWORD / MAIL_SMTP_PASSWORD / MAIL_MAILGUN_SIGNING_KEY instead of "
            "the command line.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--address", required=True)
        parser.add_argument("--display-name")
        parser.add_argument("--inbox", help="target inbox code (default: Global)")
        parser.add_argument("--imap-host")
        parser.add_argument("--imap-port", type=int)
        parser.add_argument("--imap-security", choices=["ssl", "starttls", "none"])
        parser.add_argument("--imap-user")
        parser.add_argument("--imap-password")
        parser.add_argument("--imap-folder")
        parser.add_argument("--poll-interval", type=int, help="seconds between polls")
        parser.add_argument("--smtp-host")
        parser.add_argument("--smtp-port", type=int)
        parser.add_argument("--smtp-security", choices=["ssl", "starttls", "none"])
        parser.add_argument("--smtp-user")
        parser.add_argument("--smtp-password")
        parser.add_argument("--reply-address", help='e.g. "reply+{token}@inbound.example.com"')
        parser.add_argument("--mailgun-signing-key")
        parser.add_argument("--disabled", action="store_true", help="save it disabled (no polling, no sending)")
        parser.add_argument("--check", action="store_true", help="log in to IMAP/SMTP after saving")

    def handle(self, *args: Any, **o: Any) -> None:
        existing = Mailbox.objects.filter(address=o["address"].strip().lower()).select_related("inbox").first()
        kwargs: dict[str, Any] = {}
        for field in FIELDS:
            value = o.get(field)
            if value is None and existing is not None:
                value = getattr(existing, field)
            if value is not None:
                kwargs[field] = value
        for field, env in SECRETS.items():
            kwargs[field] = o.get(field) or os.environ.get(env) or None
        inbox = o["inbox"] if o["inbox"] is not None else (existing.inbox.code if existing and existing.inbox else "")
        try:
            mailbox = check_save_mailbox(None, mailbox_id=existing.pk if existing else None, address=o["address"],
                                         inbox_code=inbox, enabled=not o["disabled"], **kwargs)
            checks = check_mailbox_connections(None, mailbox.pk) if o["check"] else {}
        except ActionError as exc:
            raise CommandError(exc.message) from exc
        out = self.stdout.write
        out(f"{'updated' if existing else 'created'} mailbox #{mailbox.pk} {mailbox.address}"
            f"{' (disabled)' if not mailbox.enabled else ''}")
        out(f"target inbox: {mailbox.inbox.code if mailbox.inbox else 'global'}")
        if mailbox.imap_host:
            out(f"IMAP: {mailbox.imap_security} {mailbox.imap_host}:{mailbox.imap_port} user "
                f"{mailbox.imap_user or mailbox.address} folder {mailbox.imap_folder} every {mailbox.poll_interval}s"
                f" (password {'set' if mailbox.imap_password else 'MISSING'})")
        else:
            out("IMAP: not configured (webhook intake only)")
        if mailbox.smtp_host:
            out(f"SMTP: {mailbox.smtp_security} {mailbox.smtp_host}:{mailbox.smtp_port} user "
                f"{mailbox.smtp_user or '-'} (password {'set' if mailbox.smtp_password else 'not set'})")
        else:
            out("SMTP: not configured (answers cannot be sent)")
        out(f"reply address: {reply_address(mailbox, 123)} (for conversation 123)")
        base = settings.SITE_URL.rstrip("/")
        for provider in ("mailgun", "postmark", "raw"):
            out(f"webhook {provider}: {base}{reverse('mail:webhook', args=[provider, mailbox.webhook_token])}")
        for protocol, problem in checks.items():
            out(f"check {protocol}: {'ok' if not problem else 'FAILED: ' + problem}")
        if any(checks.values()):
            raise CommandError("connection check failed")
