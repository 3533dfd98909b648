"""Recomputes every customer's activity columns (the nightly job, on demand: after a restore, or to backfill)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from customers.activity import rebuild_customer_activity


class Command(BaseCommand):
    help = "Recompute every customer's activity: contacts, channels, purchases, spend and lead state."

    def handle(self, *args: Any, **options: Any) -> None:
        seen, changed = rebuild_customer_activity()
        self.stdout.write(f"{seen} customers, {changed} changed")
