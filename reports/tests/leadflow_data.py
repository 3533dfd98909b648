"""A small lead-flow data set whose every number is computed by hand in the comments below.

Organisation zone America/Bogota (UTC-5, no DST). The window is 2026-03-01 … 2026-03-10 (inclusive), i.e.
[2026-03-01 05:00 UTC, 2026-03-11 05:00 UTC). Local times, MM-DD:

| lead | arrived     | notes (time author outcome)                                        | closed             |
|------|-------------|--------------------------------------------------------------------|--------------------|
| L1   | 03-01 08:00 | 03-01 08:10 ana positivo (first: 600 s); 03-02 23:59:59 beto neg.  | 03-03 by beto      |
| L2   | 02-28 23:00 | 02-28 23:30 ana (its first, before the window); 03-01 00:00 ana parcial |               |
| L3   | 03-10 09:00 | 03-10 23:59:59 beto no_clasificado (last day; first: 53,999 s)     |                    |
| L4   | 03-10 12:00 | 03-11 00:00 ana (the day after the window)                         |                    |
| L5   | 03-04 10:00 | none                                                               | 03-05 by sara      |
| L6   | 02-20 10:00 | none                                                               | 02-28 23:59:59 ana |
| L7   | 03-04 10:00 | 03-04 10:20 ana positivo (first: 1,200 s); 03-04 11:00 ana positivo |                   |
| L8   | 03-05 09:00 | 03-05 10:00 ana negativo (first: 3,600 s)                          |                    |
| L9   | 03-06 12:00 | 03-06 11:00 beto parcial (first, but before its re-arrival: no speed) |                 |

Totals: calls 8 (ana 5, beto 3); unique leads 6 (L1 L2 L3 L7 L8 L9; ana 4: L1 L2 L7 L8; beto 3: L1 L3 L9);
closed 2 (L1 beto, L5 sara).
Outcomes: positivo 3 (ana 3), negativo 2 (ana 1, beto 1), parcial 2 (ana 1, beto 1), no_clasificado 1 (beto).
By hour: 00 → 1, 08 → 1, 10 → 2, 11 → 2, 23 → 2, every other hour 0.
Speed-to-lead: ana 600, 1200, 3600 → mean 1800, median 1200, count 3; beto 53,999 → mean = median = 53,999,
count 1 (L9 excluded, L1's note is not its first); sara none (null, null, 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import factory

from accounts.models import User
from accounts.roles import Role
from accounts.tests.factories import UserFactory
from leads.models import Lead, LeadNote
from leads.tests.factories import LeadFactory

BOGOTA = ZoneInfo("America/Bogota")
START, END = date(2026, 3, 1), date(2026, 3, 10)


def local(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=BOGOTA)


class LeadNoteFactory(factory.django.DjangoModelFactory[LeadNote]):
    class Meta:
        model = LeadNote

    lead = factory.SubFactory(LeadFactory)
    author = factory.SubFactory(UserFactory)
    text = "Llamada"
    outcome = "no_clasificado"


@dataclass(frozen=True)
class DataSet:
    ana: User
    beto: User
    sara: User


def build_dataset() -> DataSet:
    ana = UserFactory(username="ana", full_name="Ana Operadora", role=Role.AGENTE)
    beto = UserFactory(username="beto", full_name="Beto Operador", role=Role.AGENTE)
    sara = UserFactory(username="sara", full_name="Sara Supervisora", role=Role.SUPERVISOR)

    def lead(arrived: datetime, **kwargs: object) -> Lead:
        return LeadFactory(queue_entered_at=arrived, **kwargs)

    def note(on: Lead, author: User, at: datetime, outcome: str) -> None:
        LeadNoteFactory(lead=on, author=author, created_at=at, outcome=outcome)

    l1 = lead(local(3, 1, 8), closed_at=local(3, 3, 15), closed_by=beto)
    note(l1, ana, local(3, 1, 8, 10), "positivo")
    note(l1, beto, local(3, 2, 23, 59, 59), "negativo")
    l2 = lead(local(2, 28, 23))
    note(l2, ana, local(2, 28, 23, 30), "positivo")
    note(l2, ana, local(3, 1, 0), "parcial")
    l3 = lead(local(3, 10, 9))
    note(l3, beto, local(3, 10, 23, 59, 59), "no_clasificado")
    l4 = lead(local(3, 10, 12))
    note(l4, ana, local(3, 11, 0), "positivo")
    lead(local(3, 4, 10), closed_at=local(3, 5, 10), closed_by=sara)
    lead(local(2, 20, 10), closed_at=local(2, 28, 23, 59, 59), closed_by=ana)
    l7 = lead(local(3, 4, 10))
    note(l7, ana, local(3, 4, 10, 20), "positivo")
    note(l7, ana, local(3, 4, 11), "positivo")
    l8 = lead(local(3, 5, 9))
    note(l8, ana, local(3, 5, 10), "negativo")
    l9 = lead(local(3, 6, 12))
    note(l9, beto, local(3, 6, 11), "parcial")
    return DataSet(ana=ana, beto=beto, sara=sara)
