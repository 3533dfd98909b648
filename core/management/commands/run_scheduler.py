from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand

from core.scheduler import tick
from core.tasks import touch_heartbeat


class Command(BaseCommand):
    help = "Enqueue the periodic jobs declared in core/schedule.py when they are due (runs until stopped)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between checks.")
        parser.add_argument("--once", action="store_true", help="Check once and exit.")

    def handle(self, *args: Any, interval: float, once: bool, **options: Any) -> None:
        running = True

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal running
            running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write("scheduler started")
        while running:
            for name in tick():
                self.stdout.write(f"enqueued {name}")
            touch_heartbeat("scheduler")
            if once:
                break
            time.sleep(interval)
        self.stdout.write("scheduler stopped")
