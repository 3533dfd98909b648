"""The email sends' outbox (core.outbox): OutboundMail rows, one per outbound message."""

from __future__ import annotations

from datetime import timedelta

from connectors.mail.models import OutboundMail
from core.outbox import Outbox, Phase

S = OutboundMail.State
# Email has no separate retrying state: a retry waits as pending with its next_attempt_at. Backoff from 2 minutes
# doubling up to 3 hours (±20 %), so a mail server's outage of a few hours is ridden out as a mail server would.
OUTBOX = Outbox("mail", OutboundMail, {Phase.PENDING: S.PENDING, Phase.RETRYING: S.PENDING, Phase.DONE: S.SENT,
                                      Phase.FAILED: S.FAILED},
                lease=timedelta(minutes=2), backoff_base=120.0, backoff_cap=3 * 3600.0, error_max=500)
