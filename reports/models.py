"""Pre-aggregated dashboard data (issue 7): per-conversation facts and the rollups derived from them.

The dashboard never scans conversations. `ConversationFact` is the reporting snapshot of one conversation inside
the two-year horizon; every rollup row is a sum over facts, kept exact by applying the difference between a
conversation's old and new fact (reports.rollups). Conversations marked dirty (`DirtyConversation`, written in
the same transaction as the change) are folded in by the periodic job, by the dashboard itself before it reads,
and by import_history before it returns.

The rollups serve the unfiltered dashboard (per day and channel, per day and agent); a filtered view (team, inbox,
channel, agent — and an agent's own numbers) aggregates the facts of its window instead. "None" dimensions are
stored as 0 (unassigned agent, no team) so keys and filters never meet NULL.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext_lazy as _


class _Row(models.Model):
    """Rollup rows are read in aggregate, never shown one by one."""

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self._meta.model_name} {self.pk}"


class DirtyConversation(_Row):
    """A conversation whose facts must be recomputed. `marked_at` changes on every mark, so a worker only
    clears the mark it read (a change during the refresh marks it again)."""

    conversation_id = models.BigIntegerField(primary_key=True)
    marked_at = models.DateTimeField(default=timezone.now)


class ConversationFact(_Row):
    conversation_id = models.BigIntegerField(primary_key=True)
    customer_id = models.BigIntegerField()
    started_at = models.DateTimeField()
    start_day = models.DateField()  # in TIME_ZONE
    closed_day = models.DateField(null=True)  # in TIME_ZONE
    agent_id = models.BigIntegerField(default=0)
    team_id = models.BigIntegerField(default=0)
    inbox_id = models.BigIntegerField(default=0)
    channel = models.CharField(max_length=16)
    state = models.CharField(max_length=12)
    outcome = models.CharField(max_length=20, blank=True)
    customer_state = models.CharField(max_length=16, blank=True)
    first_response_seconds = models.PositiveIntegerField(null=True)
    resolution_seconds = models.PositiveIntegerField(null=True)
    reply_seconds_sum = models.BigIntegerField(default=0)
    reply_count = models.PositiveIntegerField(default=0)
    sales = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField(max_digits=18, decimal_places=2, default=0)

    class Meta:
        indexes = [
            models.Index(fields=["start_day"], name="fact_start_day_idx"),
            models.Index(fields=["closed_day"], name="fact_closed_day_idx"),
            models.Index(fields=["agent_id", "start_day"], name="fact_agent_day_idx"),
            models.Index(fields=["customer_id", "started_at"], name="fact_customer_idx"),
        ]


class _Measures(_Row):
    """Sums over the facts of the conversations that started on `day`."""

    day = models.DateField()
    started = models.IntegerField(default=0)
    successful = models.IntegerField(default=0)
    first_response_sum = models.BigIntegerField(default=0)
    first_response_count = models.IntegerField(default=0)
    resolution_sum = models.BigIntegerField(default=0)
    resolution_count = models.IntegerField(default=0)
    resolved_within_48h = models.IntegerField(default=0)
    reply_sum = models.BigIntegerField(default=0)
    reply_count = models.IntegerField(default=0)
    closed = models.IntegerField(default=0)
    closed_with_sale = models.IntegerField(default=0)
    closed_without_response = models.IntegerField(default=0)
    open_without_response = models.IntegerField(default=0)
    sales = models.IntegerField(default=0)
    revenue = models.DecimalField(max_digits=18, decimal_places=2, default=0)

    class Meta:
        abstract = True


class DailyStats(_Measures):
    """Per start day and channel: totals, KPIs, sales by channel (unfiltered dashboard)."""

    channel = models.CharField(max_length=16)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "channel"], name="dailystats_key")]


class DailyAgentStats(_Measures):
    """Per start day and agent (0 = unassigned): the per-agent charts (unfiltered dashboard)."""

    agent_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "agent_id"], name="dailyagentstats_key")]


class MonthlyAgentStats(_Measures):
    """DailyAgentStats summed by month (`day` = the month's first day): a two-year window reads 24 months per agent
    instead of 730 days, so long windows cost about what short ones do."""

    agent_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "agent_id"], name="monthlyagentstats_key")]


class DailyResolved(_Row):
    """Conversations in state resuelta counted on the day of their `closed_at` (chart 7's second line)."""

    day = models.DateField(primary_key=True)
    resolved = models.IntegerField(default=0)


class CustomerDay(_Row):
    """Days on which a customer started conversations (retention: active and new customers)."""

    customer_id = models.BigIntegerField()
    day = models.DateField()
    conversations = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer_id", "day"], name="customerday_key")]
        indexes = [models.Index(fields=["day", "customer_id"], name="customerday_day_idx")]


class CustomerFirstDay(_Row):
    """The day of each customer's first conversation inside the horizon."""

    customer_id = models.BigIntegerField(primary_key=True)
    day = models.DateField(db_index=True)


class MonthlyCustomers(_Row):
    """Per calendar month: customers with a conversation that month (`active`) and those whose first one ever
    is that month (`new`). Months wholly inside a window are read from here; the partial months at a window's
    edges are counted from CustomerDay."""

    month = models.DateField(primary_key=True)  # the month's first day
    active = models.IntegerField(default=0)
    new = models.IntegerField(default=0)


class CustomerMonth(_Row):
    customer_id = models.BigIntegerField()
    month = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer_id", "month"], name="customermonth_key")]


class CustomerStateTrail(_Row):
    """A customer's contribution to StateDelta: the days on which the state of their latest stated
    conversation begins (+1) and ends (-1), kept so a change can be applied as a difference."""

    customer_id = models.BigIntegerField(primary_key=True)
    deltas = models.JSONField(default=list)  # [[YYYY-MM-DD, state, ±1], …]


class StateDelta(_Row):
    """Sum of the customers' state changes per day: customers in state S at the end of day D =
    Σ delta(S) for days ≤ D (chart 5)."""

    day = models.DateField()
    state = models.CharField(max_length=16)
    delta = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "state"], name="statedelta_key")]


class HorizonMark(_Row):
    """The first day of the two-year horizon the rollups were last trimmed to (one row)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    first_day = models.DateField()
    version = models.BigIntegerField(default=0)  # bumped by every change to the rollups (dashboard cache key)


def _import_upload_to(instance: ImportJob, filename: str) -> str:
    """imports/YYYY/MM/<random>/<original name>: the file keeps its name (errors cite it) and never collides."""
    return f"imports/{timezone.now():%Y/%m}/{secrets.token_hex(6)}/{get_valid_filename(Path(filename).name)}"


class ImportJob(models.Model):
    """One history import started from /reportes/importar/ and run by the `run_history_import` task.

    `stage`, `done` and `total` are the progress the page polls; `errors` lists every bad row with its file and
    line (all of them: a refused import shows why, a --skip-invalid one which rows it left out)."""

    class State(models.TextChoices):
        PENDING = "pendiente", _("Pendiente")
        PROCESSING = "procesando", _("Procesando")
        DONE = "terminado", _("Terminado")
        FAILED = "fallido", _("Fallido")

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    conversations_file = models.FileField(upload_to=_import_upload_to, max_length=255)
    sales_file = models.FileField(upload_to=_import_upload_to, max_length=255, blank=True)
    skip_invalid = models.BooleanField(default=False)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    stage = models.CharField(max_length=20, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)  # counts of ImportResult
    errors = models.JSONField(default=list, blank=True)  # ["conversaciones.csv línea 5: …", …]
    attempts = models.PositiveSmallIntegerField(default=0)  # runs started (a worker killed mid-import: re-queued)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in {self.State.DONE, self.State.FAILED}

    @property
    def file_names(self) -> list[str]:
        """The uploaded files' names, as the user called them."""
        return [Path(f.name or "").name for f in (self.conversations_file, self.sales_file) if f]

    @property
    def percent(self) -> int | None:
        return min(100, round(100 * self.done / self.total)) if self.total else None  # None: indeterminate
