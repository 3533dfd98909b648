from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from connectors.mail.imap import do_poll_mailbox
from connectors.mail.models import Mailbox


class Command(BaseCommand):
    help = ("Poll IMAP mailboxes now, in this process (the worker does it on schedule: core/schedule.py). "
            "Runs batches until each mailbox is drained.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--mailbox", action="append", default=[], help="address (repeatable); default: all")

    def handle(self, *args: Any, mailbox: list[str], **options: Any) -> None:
        qs = Mailbox.objects.filter(enabled=True).exclude(imap_host="").order_by("pk")
        if mailbox:
            qs = qs.filter(address__in=[a.strip().lower() for a in mailbox])
        boxes = list(qs)
        if not boxes:
            raise CommandError("no enabled IMAP mailbox matches")
        failed = False
        for box in boxes:
            total = {"stored": 0, "fetched": 0, "skipped": 0, "failed": 0}
            while True:
                result = do_poll_mailbox(box.pk)
                for key in total:
                    total[key] += getattr(result, key)
                if result.error or result.busy or result.failed or not result.more:
                    break
            status = f"error: {result.error}" if result.error else ("busy (another poll runs)" if result.busy
                                                                      else "ok")
            failed = failed or bool(result.error or total["failed"])
            self.stdout.write(f"{box.address}: fetched {total['fetched']}, stored {total['stored']}, "
                              f"skipped {total['skipped']}, failed {total['failed']} — {status}")
        if failed:
            raise CommandError("some mailboxes could not be polled completely")
