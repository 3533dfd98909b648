"""GET /api/v1/reports/dashboard: every pinned definition on a small data set computed by hand.

Black-box: data goes in through `import_history` (reports/tests/csvdata.py), numbers come out of the API.
"Today" is frozen at Wednesday 2026-11-25 10:00 in America/Bogota (UTC-5 all year, no DST), so:
  - the default window is 2026-10-27 … 2026-11-25;
  - the two-year horizon starts on 2024-11-25 (a conversation started on 2024-11-24 is excluded).
Datetimes without an offset are Bogotá time; "…Z" is UTC, i.e. five hours ahead of Bogotá.
Calendar: 2026-11-09 and 2026-11-16 are Mondays; 2026-11-15 is a Sunday.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from django.test import Client

from accounts.models import User
from accounts.roles import Role
from reports.tests.csvdata import (
    BOGOTA,
    DASHBOARD_URL,
    conv,
    dashboard,
    import_rows,
    sale,
    without_ids,
)

pytestmark = pytest.mark.django_db

approx = pytest.approx


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(datetime(2026, 11, 25, 10, 0, tzinfo=BOGOTA), tick=False)


@pytest.fixture
def api(make_user, api_client_for):
    """An analyst sees every key with the full data."""
    return api_client_for(make_user(Role.ANALISTA))


def nonzero(rows):
    """sales_by_channel rows that count at least one sale (whether empty channels get a 0 row is not pinned)."""
    return [row for row in rows if row["sales"]]


# --- 1. agent_volume --------------------------------------------------------------------------------------


def test_agent_volume_counts_conversations_successes_and_rate(tmp_path, api):
    # given, for the window 2026-11-09 … 2026-11-15:
    #   Ana: genero_venta, resuelta (successful), escalada, cerrada_sin_solucion, an open one without outcome
    #        (23:30 on the window's last day) → 5 conversations, 2 successful, rate 2/5 = 0.4;
    #        plus one on 11-08 23:59 and one on 11-16 00:00 (outside: not counted)
    #   Beto: one escalada → 1, 0, 0.0
    #   an unassigned resuelta conversation → no row; Carla only has a conversation outside → left out
    import_rows(tmp_path, [
        conv("C1", "K1", "2026-11-09T08:00:00", agent="ana", state="resuelta", closed_at="2026-11-09T09:00:00",
             outcome="genero_venta"),
        conv("C2", "K2", "2026-11-10T08:00:00", agent="ana", state="resuelta", closed_at="2026-11-10T09:00:00",
             outcome="resuelta"),
        conv("C3", "K3", "2026-11-11T08:00:00", agent="ana", state="escalada", closed_at="2026-11-11T09:00:00",
             outcome="escalada"),
        conv("C4", "K4", "2026-11-12T08:00:00", agent="ana", state="resuelta", closed_at="2026-11-12T09:00:00",
             outcome="cerrada_sin_solucion"),
        conv("C5", "K5", "2026-11-15T23:30:00", agent="ana", state="activa"),
        conv("C6", "K6", "2026-11-08T23:59:00", agent="ana", state="resuelta", closed_at="2026-11-09T09:00:00",
             outcome="genero_venta"),
        conv("C7", "K7", "2026-11-16T00:00:00", agent="ana", state="resuelta", closed_at="2026-11-16T09:00:00",
             outcome="genero_venta"),
        conv("C8", "K8", "2026-11-13T10:00:00", agent="beto", state="escalada", closed_at="2026-11-13T11:00:00",
             outcome="escalada"),
        conv("C9", "K9", "2026-11-13T11:00:00", state="resuelta", closed_at="2026-11-13T12:00:00",
             outcome="resuelta"),
        conv("C10", "K10", "2026-11-01T10:00:00", agent="carla", state="resuelta",
             closed_at="2026-11-01T11:00:00", outcome="genero_venta"),
    ])
    # when the analyst asks for the window
    body = dashboard(api, "2026-11-09", "2026-11-15")
    # then one row per agent with conversations in the window, sorted by name, agent_id a user id
    assert without_ids(body["agent_volume"]) == [
        {"agent_name": "Ana Agente", "conversations": 5, "successful": 2, "success_rate": approx(0.4)},
        {"agent_name": "Beto Agente", "conversations": 1, "successful": 0, "success_rate": approx(0.0)},
    ]
    assert all(isinstance(row["agent_id"], int) for row in body["agent_volume"])


# --- 2. agent_response_times ------------------------------------------------------------------------------


def test_agent_response_times_average_only_known_values(tmp_path, api):
    # given, in the window 2026-11-09 … 2026-11-15:
    #   Ana: (first 60, resolution 3600), (120, unknown), (unknown, 7200) → first (60+120)/2 = 90,
    #        resolution (3600+7200)/2 = 5400; her conversation on 11-02 (1000, 1800) is outside
    #   Beto: one conversation with both unknown → both means null, but he is listed (he has a conversation)
    import_rows(tmp_path, [
        conv("C1", "K1", "2026-11-09T08:00:00", agent="ana", state="resuelta", closed_at="2026-11-09T09:00:00",
             first_response_seconds="60", resolution_seconds="3600", outcome="resuelta"),
        conv("C2", "K2", "2026-11-10T08:00:00", agent="ana", state="activa", first_response_seconds="120"),
        conv("C3", "K3", "2026-11-11T08:00:00", agent="ana", state="resuelta", closed_at="2026-11-11T10:00:00",
             resolution_seconds="7200", outcome="resuelta"),
        conv("C4", "K4", "2026-11-12T08:00:00", agent="beto", state="activa"),
        conv("C5", "K5", "2026-11-02T08:00:00", agent="ana", state="resuelta", closed_at="2026-11-02T08:30:00",
             first_response_seconds="1000", resolution_seconds="1800", outcome="resuelta"),
    ])
    # when
    body = dashboard(api, "2026-11-09", "2026-11-15")
    # then
    assert without_ids(body["agent_response_times"]) == [
        {"agent_name": "Ana Agente", "avg_first_response_seconds": approx(90.0),
         "avg_resolution_seconds": approx(5400.0)},
        {"agent_name": "Beto Agente", "avg_first_response_seconds": None, "avg_resolution_seconds": None},
    ]


# --- 3. sales_conversations -------------------------------------------------------------------------------


def test_sales_conversations_split_closed_conversations_in_the_window_by_sale(tmp_path, api):
    # given, window 2026-11-09 … 2026-11-15 (in the window = started in it):
    #   C1 closed, 2 sales; C2 closed, 1 sale; C3 closed, none; C6 escalada and closed, none;
    #   C7 started 11-14 and closed 11-16 (after the window, still closed), 1 sale
    #   → closed 5 (C1 C2 C3 C6 C7), with sale 3 (C1 C2 C7), without 2, rate 3/5 = 0.6
    #   C4 open with a sale (not closed: not counted); C5 closed with a sale but started 11-05 (outside)
    import_rows(tmp_path, [
        conv("C1", "K1", "2026-11-09T08:00:00", state="resuelta", closed_at="2026-11-09T09:00:00",
             outcome="genero_venta"),
        conv("C2", "K2", "2026-11-10T08:00:00", state="resuelta", closed_at="2026-11-10T09:00:00",
             outcome="genero_venta"),
        conv("C3", "K3", "2026-11-11T08:00:00", state="resuelta", closed_at="2026-11-11T09:00:00",
             outcome="resuelta"),
        conv("C4", "K4", "2026-11-12T08:00:00", state="activa"),
        conv("C5", "K5", "2026-11-05T08:00:00", state="resuelta", closed_at="2026-11-10T09:00:00",
             outcome="genero_venta"),
        conv("C6", "K6", "2026-11-13T08:00:00", state="escalada", closed_at="2026-11-13T09:00:00",
             outcome="escalada"),
        conv("C7", "K7", "2026-11-14T08:00:00", state="resuelta", closed_at="2026-11-16T10:00:00",
             outcome="genero_venta"),
    ], [
        sale("S1", "C1", "100.00"), sale("S2", "C1", "50.00"), sale("S3", "C2", "70.00"),
        sale("S4", "C4", "10.00"), sale("S5", "C5", "20.00"), sale("S6", "C7", "30.00"),
    ])
    # when
    body = dashboard(api, "2026-11-09", "2026-11-15")
    # then
    assert body["sales_conversations"] == {"closed": 5, "with_sale": 3, "without_sale": 2,
                                           "conversion_rate": approx(0.6)}


# --- 4. revenue_by_agent ----------------------------------------------------------------------------------


def test_revenue_by_agent_sums_amounts_of_sales_of_conversations_in_the_window(tmp_path, api):
    # given, window 2026-11-09 … 2026-11-15:
    #   Ana: C1 sales 100000.00 + 50000.50, C2 sale 25000 → 175000.50; her C3 (11-05, 99999) is outside
    #   Beto: C4 in the window, no sale → "0.00"
    #   C5 unassigned (12345) → no row; Carla's C6 on 11-20 (777) is outside → Carla left out
    import_rows(tmp_path, [
        conv("C1", "K1", "2026-11-09T08:00:00", agent="ana", state="resuelta", closed_at="2026-11-09T09:00:00",
             outcome="genero_venta"),
        conv("C2", "K2", "2026-11-10T08:00:00", agent="ana", state="resuelta", closed_at="2026-11-10T09:00:00",
             outcome="genero_venta"),
        conv("C3", "K3", "2026-11-05T08:00:00", agent="ana", state="resuelta", closed_at="2026-11-09T09:00:00",
             outcome="genero_venta"),
        conv("C4", "K4", "2026-11-11T08:00:00", agent="beto", state="activa"),
        conv("C5", "K5", "2026-11-12T08:00:00", state="resuelta", closed_at="2026-11-12T09:00:00",
             outcome="genero_venta"),
        conv("C6", "K6", "2026-11-20T08:00:00", agent="carla", state="resuelta",
             closed_at="2026-11-20T09:00:00", outcome="genero_venta"),
    ], [
        sale("S1", "C1", "100000.00"), sale("S2", "C1", "50000.50"), sale("S3", "C2", "25000"),
        sale("S4", "C3", "99999"), sale("S5", "C5", "12345"), sale("S6", "C6", "777"),
    ])
    # when
    rows = without_ids(dashboard(api, "2026-11-09", "2026-11-15")["revenue_by_agent"])
    # then money is a two-decimal string
    assert rows[0] == {"agent_name": "Ana Agente", "revenue": "175000.50"}
    # and an agent with conversations but no sale in the window is listed with zero
    assert rows[1:] == [{"agent_name": "Beto Agente", "revenue": "0.00"}]


# --- 5. customer_states -----------------------------------------------------------------------------------


def test_customer_states_take_the_latest_stated_conversation_up_to_each_bucket_end(tmp_path, api):
    # given the window Wed 2026-11-04 … Thu 2026-11-12, weekly → buckets 2026-11-02 (starts before `start`;
    # cut-off Sun 11-08 end) and 2026-11-09 (cut-off = window end Thu 11-12, not Sun 11-15):
    #   K1: 10-20 interesado, 11-10 convertido              → b1 interesado,     b2 convertido
    #   K2: 11-05 en_seguimiento, 11-13 no_interesado       → b1 en_seguimiento, b2 en_seguimiento (11-13 > 11-12)
    #   K3: 11-03 no_interesado, 11-11 without a state      → b1 no_interesado,  b2 no_interesado (stateless skipped)
    #   K4: only a stateless conversation                   → never counted
    #   K5: 2024-11-20 convertido (before the horizon)      → never counted
    #   K6: 2026-11-09T04:30Z = Sun 11-08 23:30 local, interesado  → b1 interesado, b2 interesado
    #   K7: 2026-11-09T05:30Z = Mon 11-09 00:30 local, en_seguimiento → b1 nothing, b2 en_seguimiento
    # b1: interesado 2 (K1 K6), en_seguimiento 1 (K2), convertido 0, no_interesado 1 (K3)
    # b2: interesado 1 (K6), en_seguimiento 2 (K2 K7), convertido 1 (K1), no_interesado 1 (K3)
    import_rows(tmp_path, [
        conv("C1", "K1", "2026-10-20T10:00:00", customer_state="interesado"),
        conv("C2", "K1", "2026-11-10T10:00:00", customer_state="convertido"),
        conv("C3", "K2", "2026-11-05T10:00:00", customer_state="en_seguimiento"),
        conv("C4", "K2", "2026-11-13T10:00:00", customer_state="no_interesado"),
        conv("C5", "K3", "2026-11-03T10:00:00", customer_state="no_interesado"),
        conv("C6", "K3", "2026-11-11T10:00:00"),
        conv("C7", "K4", "2026-11-06T10:00:00"),
        conv("C8", "K5", "2024-11-20T10:00:00", customer_state="convertido"),
        conv("C9", "K6", "2026-11-09T04:30:00Z", customer_state="interesado"),
        conv("C10", "K7", "2026-11-09T05:30:00Z", customer_state="en_seguimiento"),
    ])
    # when
    body = dashboard(api, "2026-11-04", "2026-11-12", "week")
    # then
    assert body["customer_states"] == [
        {"bucket": "2026-11-02", "interesado": 2, "en_seguimiento": 1, "convertido": 0, "no_interesado": 1},
        {"bucket": "2026-11-09", "interesado": 1, "en_seguimiento": 2, "convertido": 1, "no_interesado": 1},
    ]


# --- 6. retention -----------------------------------------------------------------------------------------


def test_retention_new_versus_returning_customers_per_month(tmp_path, api):
    # given the window 2026-09-15 … 2026-11-10 → months 2026-09, 2026-10, 2026-11:
    #   K1: 08-20, 09-20                      → Sep active, returning (first ever in August)
    #   K2: 09-10 (before the window), 09-25  → Sep active, new (first ever is in September, window or not)
    #   K3: 09-16, 09-30 23:30, 10-05         → Sep new (counted once), Oct returning
    #   K4: 10-15, 10-16                      → Oct new (counted once)
    #   K5: 2024-11-05 (before the horizon), 2026-11-02 → Nov new (first ever *within the horizon*)
    #   K6: 09-05 only (before the window)    → not active
    #   K7: 11-11 only (after the window end) → not active
    #   K8: 2026-10-01T04:00Z = Sep 30 23:00 local, then 10-20 → Sep new, Oct returning
    # Sep: active 4 (K1 K2 K3 K8), new 3 (K2 K3 K8), returning 1, rate 1/4
    # Oct: active 3 (K3 K4 K8), new 1 (K4), returning 2, rate 2/3
    # Nov: active 1 (K5), new 1, returning 0, rate 0
    import_rows(tmp_path, [
        conv("C1", "K1", "2026-08-20T10:00:00"), conv("C2", "K1", "2026-09-20T10:00:00"),
        conv("C3", "K2", "2026-09-10T10:00:00"), conv("C4", "K2", "2026-09-25T10:00:00"),
        conv("C5", "K3", "2026-09-16T10:00:00"), conv("C6", "K3", "2026-09-30T23:30:00"),
        conv("C7", "K3", "2026-10-05T10:00:00"),
        conv("C8", "K4", "2026-10-15T10:00:00"), conv("C9", "K4", "2026-10-16T10:00:00"),
        conv("C10", "K5", "2024-11-05T10:00:00"), conv("C11", "K5", "2026-11-02T10:00:00"),
        conv("C12", "K6", "2026-09-05T10:00:00"),
        conv("C13", "K7", "2026-11-11T10:00:00"),
        conv("C14", "K8", "2026-10-01T04:00:00Z"), conv("C15", "K8", "2026-10-20T10:00:00"),
    ])
    # when
    body = dashboard(api, "2026-09-15", "2026-11-10")
    # then
    assert body["retention"] == [
        {"month": "2026-09", "active": 4, "new": 3, "returning": 1, "returning_rate": approx(0.25)},
        {"month": "2026-10", "active": 3, "new": 1, "returning": 2, "returning_rate": approx(2 / 3)},
        {"month": "2026-11", "active": 1, "new": 1, "returning": 0, "returning_rate": approx(0.0)},
    ]


# --- 7. daily_activity ------------------------------------------------------------------------------------

BORDER_ROWS = [
    conv("A1", "K1", "2026-11-15T23:30:00"),        # Sun 23:30 local
    conv("A2", "K2", "2026-11-16T04:10:00Z"),       # Sun 23:10 local
    conv("A3", "K3", "2026-11-16T05:10:00Z"),       # Mon 00:10 local
    conv("A4", "K4", "2026-11-16T00:10:00"),        # Mon 00:10 local
    conv("A5", "K5", "2026-11-10T12:00:00", state="resuelta", closed_at="2026-11-17T10:00:00", outcome="resuelta"),
    # started before any window below, resolved Sun 11-15 23:59:59 local: counted by closed_at
    conv("R1", "K6", "2026-11-01T10:00:00", state="resuelta", closed_at="2026-11-16T04:59:59Z", outcome="resuelta"),
    # resolved after the weekly window's end (11-22): not counted as resolved
    conv("R2", "K7", "2026-11-20T10:00:00", state="resuelta", closed_at="2026-11-23T01:00:00", outcome="resuelta"),
    # closed but escalada, not resuelta: never "resolved"
    conv("R3", "K8", "2026-11-11T10:00:00", state="escalada", closed_at="2026-11-12T10:00:00", outcome="escalada"),
]


@pytest.mark.parametrize(("granularity", "start", "end", "expected"), [
    # week 11-09: started A1 A2 A5 R3 = 4, resolved R1 = 1; week 11-16: started A3 A4 R2 = 3, resolved A5 = 1
    ("week", "2026-11-09", "2026-11-22", [
        {"bucket": "2026-11-09", "started": 4, "resolved": 1},
        {"bucket": "2026-11-16", "started": 3, "resolved": 1},
    ]),
    # day 11-15: started A1 A2, resolved R1; day 11-16: started A3 A4, nothing resolved
    ("day", "2026-11-15", "2026-11-16", [
        {"bucket": "2026-11-15", "started": 2, "resolved": 1},
        {"bucket": "2026-11-16", "started": 2, "resolved": 0},
    ]),
])
def test_daily_activity_splits_buckets_at_local_midnight(tmp_path, api, granularity, start, end, expected):
    # given conversations either side of Sunday/Monday midnight in Bogotá (see BORDER_ROWS)
    import_rows(tmp_path, BORDER_ROWS)
    # when
    body = dashboard(api, start, end, granularity)
    # then
    assert body["granularity"] == granularity
    assert body["daily_activity"] == expected


def test_daily_activity_monthly_buckets_start_before_start_but_count_only_the_window(tmp_path, api):
    # given the window 2026-10-20 … 2026-11-10, monthly → buckets 2026-10-01 (before `start`) and 2026-11-01:
    #   M1 10-05 (in October's bucket but before the window: not started-counted), resolved 10-19 (not counted)
    #   M2 10-20 00:00 (first instant of the window) → Oct; resolved 10-21 → Oct resolved 1
    #   M3 2026-11-01T03:00Z = Oct 31 22:00 local → Oct
    #   M4 11-10 23:59:59 (last second of the window) → Nov;  M5 11-11 00:00 → outside
    # Oct: started 2 (M2 M3), resolved 1 (M2); Nov: started 1 (M4), resolved 0
    import_rows(tmp_path, [
        conv("M1", "K1", "2026-10-05T10:00:00", state="resuelta", closed_at="2026-10-19T10:00:00",
             outcome="resuelta"),
        conv("M2", "K2", "2026-10-20T00:00:00", state="resuelta", closed_at="2026-10-21T10:00:00",
             outcome="resuelta"),
        conv("M3", "K3", "2026-11-01T03:00:00Z"),
        conv("M4", "K4", "2026-11-10T23:59:59"),
        conv("M5", "K5", "2026-11-11T00:00:00"),
    ])
    # when
    body = dashboard(api, "2026-10-20", "2026-11-10", "month")
    # then
    assert body["daily_activity"] == [
        {"bucket": "2026-10-01", "started": 2, "resolved": 1},
        {"bucket": "2026-11-01", "started": 1, "resolved": 0},
    ]
    assert [row["bucket"] for row in body["customer_states"]] == ["2026-10-01", "2026-11-01"]


# --- 8. sales_by_channel ----------------------------------------------------------------------------------


def test_sales_by_channel_counts_sale_rows_per_normalized_channel_and_start_bucket(tmp_path, api):
    # given the window 2026-11-09 … 2026-11-22, weekly:
    #   C1 WhatsApp 11-10, two sales rows of quantity 3 (rows count, not units) ; C2 "whatsapp" 11-12, one sale
    #   C3 Email 11-11, one; C4 Teléfono Sun 11-15 23:30 local, one → all in bucket 11-09
    #   C5 Web at 2026-11-16T05:10Z = Mon 00:10 local, one; C6 Instagram 11-17, two; C8 Correo 11-18, one → 11-16
    #   C7 WhatsApp 11-05 (started before the window, closed inside) with a sale → not counted
    # 11-09: email 1, phone 1, whatsapp 3; 11-16: email 1, instagram 2, webchat 1
    import_rows(tmp_path, [
        conv("C1", "K1", "2026-11-10T10:00:00", channel="WhatsApp"),
        conv("C2", "K2", "2026-11-12T10:00:00", channel="whatsapp"),
        conv("C3", "K3", "2026-11-11T10:00:00", channel="Email"),
        conv("C4", "K4", "2026-11-15T23:30:00", channel="Teléfono"),
        conv("C5", "K5", "2026-11-16T05:10:00Z", channel="Web"),
        conv("C6", "K6", "2026-11-17T10:00:00", channel="Instagram"),
        conv("C7", "K7", "2026-11-05T10:00:00", channel="WhatsApp", state="resuelta",
             closed_at="2026-11-10T10:00:00", outcome="genero_venta"),
        conv("C8", "K8", "2026-11-18T10:00:00", channel="Correo"),
    ], [
        sale("S1", "C1", "300", quantity=3), sale("S2", "C1", "300", quantity=3), sale("S3", "C2", "10"),
        sale("S4", "C3", "10"), sale("S5", "C4", "10"), sale("S6", "C5", "10"), sale("S7", "C6", "10"),
        sale("S8", "C6", "10"), sale("S9", "C7", "10"), sale("S10", "C8", "10"),
    ])
    # when
    body = dashboard(api, "2026-11-09", "2026-11-22", "week")
    # then rows are sorted by bucket, then channel
    assert nonzero(body["sales_by_channel"]) == [
        {"bucket": "2026-11-09", "channel": "email", "sales": 1},
        {"bucket": "2026-11-09", "channel": "phone", "sales": 1},
        {"bucket": "2026-11-09", "channel": "whatsapp", "sales": 3},
        {"bucket": "2026-11-16", "channel": "email", "sales": 1},
        {"bucket": "2026-11-16", "channel": "instagram", "sales": 2},
        {"bucket": "2026-11-16", "channel": "webchat", "sales": 1},
    ]


# --- KPIs -------------------------------------------------------------------------------------------------


def test_kpis_on_a_small_set(tmp_path, api):
    # given, window 2026-11-09 … 2026-11-15:
    #   K1 resuelta, first 60,   resolution 3600
    #   K2 resuelta, first 180,  resolution 200000 (> 48 h = 172800)
    #   K3 escalada, closed, first and resolution unknown      → closed without response
    #   K4 activa, open, first unknown                         → unanswered open
    #   K5 activa, open, first 300
    #   K6 resuelta, first unknown, resolution 7200            → closed without response
    #   K7 activa, first unknown, started 11-05 (outside)      → not counted
    # avg first = (60+180+300)/3 = 180; avg resolution = (3600+200000+7200)/3 = 70266.67;
    # within 48 h = 2 (K1 K6) of 3 known; no message data in imported history → avg reply null
    import_rows(tmp_path, [
        conv("K1", "U1", "2026-11-09T08:00:00", state="resuelta", closed_at="2026-11-09T09:00:00",
             first_response_seconds="60", resolution_seconds="3600", outcome="resuelta"),
        conv("K2", "U2", "2026-11-10T08:00:00", state="resuelta", closed_at="2026-11-12T15:33:20",
             first_response_seconds="180", resolution_seconds="200000", outcome="resuelta"),
        conv("K3", "U3", "2026-11-11T08:00:00", state="escalada", closed_at="2026-11-11T12:00:00",
             outcome="escalada"),
        conv("K4", "U4", "2026-11-12T08:00:00", state="activa"),
        conv("K5", "U5", "2026-11-13T08:00:00", state="activa", first_response_seconds="300"),
        conv("K6", "U6", "2026-11-14T08:00:00", state="resuelta", closed_at="2026-11-14T10:00:00",
             resolution_seconds="7200", outcome="resuelta"),
        conv("K7", "U7", "2026-11-05T08:00:00", state="activa"),
    ])
    # when
    body = dashboard(api, "2026-11-09", "2026-11-15")
    # then
    assert body["kpis"] == {
        "avg_first_response_seconds": approx(180.0),
        "avg_reply_seconds": None,
        "unanswered_open": 1,
        "closed_without_response": 2,
        "avg_resolution_seconds": approx(210800 / 3),
        "resolved_within_48h_rate": approx(2 / 3),
        # no sales among the three closed conversations of the window
        "sales": 0, "revenue": "0.00", "conversion_rate": 0.0,
    }


# --- horizon, empty window, default window, time zone -----------------------------------------------------


def test_two_year_horizon_excludes_older_conversations_and_their_sales(tmp_path, api):
    # given today 2026-11-25 → horizon starts 2024-11-25 00:00 local; customer K1, Ana, channel WhatsApp:
    #   H1 started 2024-11-24 23:59:59 (two years and one day ago): resuelta on 11-25 01:00, sale 500,
    #      first 60, convertido → excluded from everything, its sale too
    #   H2 started 2024-11-25 00:00:00 (exactly two years ago): resuelta on 11-25 02:00, sale 300,
    #      first 120, resolution 7200, interesado → included
    import_rows(tmp_path, [
        conv("H1", "K1", "2024-11-24T23:59:59", agent="ana", state="resuelta", closed_at="2024-11-25T01:00:00",
             first_response_seconds="60", resolution_seconds="3601", outcome="genero_venta",
             customer_state="convertido"),
        conv("H2", "K1", "2024-11-25T00:00:00", agent="ana", state="resuelta", closed_at="2024-11-25T02:00:00",
             first_response_seconds="120", resolution_seconds="7200", outcome="genero_venta",
             customer_state="interesado"),
    ], [sale("S1", "H1", "500"), sale("S2", "H2", "300")])
    # when the window covers both days
    body = dashboard(api, "2024-11-24", "2024-11-25", "day")
    # then only H2 and its sale count
    assert without_ids(body["agent_volume"]) == [
        {"agent_name": "Ana Agente", "conversations": 1, "successful": 1, "success_rate": approx(1.0)}]
    assert without_ids(body["agent_response_times"]) == [
        {"agent_name": "Ana Agente", "avg_first_response_seconds": approx(120.0),
         "avg_resolution_seconds": approx(7200.0)}]
    assert without_ids(body["revenue_by_agent"]) == [{"agent_name": "Ana Agente", "revenue": "300.00"}]
    assert body["sales_conversations"] == {"closed": 1, "with_sale": 1, "without_sale": 0,
                                           "conversion_rate": approx(1.0)}
    assert body["daily_activity"] == [{"bucket": "2024-11-24", "started": 0, "resolved": 0},
                                      {"bucket": "2024-11-25", "started": 1, "resolved": 1}]
    assert nonzero(body["sales_by_channel"]) == [{"bucket": "2024-11-25", "channel": "whatsapp", "sales": 1}]
    assert body["customer_states"] == [
        {"bucket": "2024-11-24", "interesado": 0, "en_seguimiento": 0, "convertido": 0, "no_interesado": 0},
        {"bucket": "2024-11-25", "interesado": 1, "en_seguimiento": 0, "convertido": 0, "no_interesado": 0}]
    assert body["retention"] == [
        {"month": "2024-11", "active": 1, "new": 1, "returning": 0, "returning_rate": approx(0.0)}]
    assert body["kpis"]["avg_first_response_seconds"] == approx(120.0)


def test_an_empty_window_gives_zero_counts_null_rates_and_null_means(tmp_path, api):
    # given data only outside the window 2026-11-02 … 2026-11-08 (Ana, 11-20, closed, with a sale)
    import_rows(tmp_path, [
        conv("C1", "K1", "2026-11-20T10:00:00", agent="ana", state="resuelta", closed_at="2026-11-20T11:00:00",
             first_response_seconds="60", resolution_seconds="3600", outcome="genero_venta",
             customer_state="convertido"),
    ], [sale("S1", "C1", "100")])
    # when
    body = dashboard(api, "2026-11-02", "2026-11-08", "week")
    # then agents without conversations in the window are left out, denominators of 0 give null rates
    assert body["agent_volume"] == body["agent_response_times"] == body["revenue_by_agent"] == []
    assert body["sales_conversations"] == {"closed": 0, "with_sale": 0, "without_sale": 0, "conversion_rate": None}
    assert body["retention"] == [{"month": "2026-11", "active": 0, "new": 0, "returning": 0, "returning_rate": None}]
    assert body["daily_activity"] == [{"bucket": "2026-11-02", "started": 0, "resolved": 0}]
    assert body["customer_states"] == [
        {"bucket": "2026-11-02", "interesado": 0, "en_seguimiento": 0, "convertido": 0, "no_interesado": 0}]
    assert nonzero(body["sales_by_channel"]) == []
    assert body["kpis"] == {"avg_first_response_seconds": None, "avg_reply_seconds": None, "unanswered_open": 0,
                            "closed_without_response": 0, "avg_resolution_seconds": None,
                            "resolved_within_48h_rate": None, "sales": 0, "revenue": "0.00",
                            "conversion_rate": None}


def test_the_default_window_is_the_last_30_days_ending_today_by_week(tmp_path, api):
    # given today Wed 2026-11-25 → default window 2026-10-27 (today − 29) … 2026-11-25, weekly;
    # Ana: 10-26 23:59:59 (outside), 10-27 00:00 (inside), today 09:00 (inside) → 2 conversations
    # weekly buckets from Monday 10-26 (before start) to Monday 11-23: started 1, 0, 0, 0, 1
    import_rows(tmp_path, [
        conv("D1", "K1", "2026-10-26T23:59:59", agent="ana"),
        conv("D2", "K2", "2026-10-27T00:00:00", agent="ana"),
        conv("D3", "K3", "2026-11-25T09:00:00", agent="ana"),
    ])
    # when no parameter is given
    body = dashboard(api)
    # then
    assert (body["start"], body["end"], body["granularity"], body["time_zone"]) == (
        "2026-10-27", "2026-11-25", "week", "America/Bogota")
    assert [row["conversations"] for row in body["agent_volume"]] == [2]
    assert body["daily_activity"] == [
        {"bucket": "2026-10-26", "started": 1, "resolved": 0},
        {"bucket": "2026-11-02", "started": 0, "resolved": 0},
        {"bucket": "2026-11-09", "started": 0, "resolved": 0},
        {"bucket": "2026-11-16", "started": 0, "resolved": 0},
        {"bucket": "2026-11-23", "started": 1, "resolved": 0},
    ]


def test_days_follow_the_configured_time_zone(tmp_path, api, settings):
    # given the organisation in UTC: "2026-11-15T23:30:00" (no offset) is Sunday 23:30 UTC and
    # "2026-11-16T04:10:00Z" is Monday 04:10 UTC (it would be Sunday in Bogotá)
    settings.TIME_ZONE = "UTC"
    import_rows(tmp_path, [conv("Z1", "K1", "2026-11-15T23:30:00"), conv("Z2", "K2", "2026-11-16T04:10:00Z")])
    # when
    body = dashboard(api, "2026-11-15", "2026-11-16", "day")
    # then one conversation each day
    assert body["time_zone"] == "UTC"
    assert body["daily_activity"] == [{"bucket": "2026-11-15", "started": 1, "resolved": 0},
                                      {"bucket": "2026-11-16", "started": 1, "resolved": 0}]


# --- access -----------------------------------------------------------------------------------------------


def two_agents(tmp_path):
    # Ana: A1 closed with a sale of 100 (genero_venta), A2 open → 2 conversations, 1 successful, closed 1 with sale
    # Beto: B1 closed with a sale of 200, B2 closed without sale, B3 open
    # everyone together: 5 started in week 11-09, closed 3 (all resuelta), with sale 2
    import_rows(tmp_path, [
        conv("A1", "K1", "2026-11-10T10:00:00", agent="ana", state="resuelta", closed_at="2026-11-10T11:00:00",
             outcome="genero_venta"),
        conv("A2", "K2", "2026-11-11T10:00:00", agent="ana"),
        conv("B1", "K3", "2026-11-10T10:00:00", agent="beto", state="resuelta", closed_at="2026-11-10T11:00:00",
             outcome="genero_venta"),
        conv("B2", "K4", "2026-11-12T10:00:00", agent="beto", state="resuelta", closed_at="2026-11-12T11:00:00",
             outcome="resuelta"),
        conv("B3", "K5", "2026-11-13T10:00:00", agent="beto"),
    ], [sale("S1", "A1", "100"), sale("S2", "B1", "200")])


def test_an_analyst_gets_every_key_over_everyone(tmp_path, api):
    # given two agents' conversations
    two_agents(tmp_path)
    # when the analyst asks
    body = dashboard(api, "2026-11-09", "2026-11-15")
    # then every documented key is there, with everyone's data
    assert set(body) >= {"start", "end", "granularity", "time_zone", "agent_volume", "agent_response_times",
                         "sales_conversations", "revenue_by_agent", "customer_states", "retention",
                         "daily_activity", "sales_by_channel", "kpis"}
    assert [row["agent_name"] for row in body["agent_volume"]] == ["Ana Agente", "Beto Agente"]
    assert body["sales_conversations"] == {"closed": 3, "with_sale": 2, "without_sale": 1,
                                           "conversion_rate": approx(2 / 3)}
    assert body["daily_activity"] == [{"bucket": "2026-11-09", "started": 5, "resolved": 3}]


def test_an_agent_gets_only_their_own_rows_and_aggregates(tmp_path, api, api_client_for):
    # given two agents' conversations, and Ana's imported profile turned into a working agent login
    two_agents(tmp_path)
    rows = dashboard(api, "2026-11-09", "2026-11-15")["agent_volume"]
    ana_id = next(row["agent_id"] for row in rows if row["agent_name"] == "Ana Agente")
    User.objects.filter(pk=ana_id).update(role=Role.AGENTE, is_active=True, can_login=True)
    # when Ana asks for the same window
    body = dashboard(api_client_for(User.objects.get(pk=ana_id)), "2026-11-09", "2026-11-15")
    # then agent lists hold only her, and aggregates cover only her conversations (A1 closed with sale, A2 open)
    assert without_ids(body["agent_volume"]) == [
        {"agent_name": "Ana Agente", "conversations": 2, "successful": 1, "success_rate": approx(0.5)}]
    assert [row["agent_name"] for row in body["agent_response_times"]] == ["Ana Agente"]
    assert without_ids(body["revenue_by_agent"]) == [{"agent_name": "Ana Agente", "revenue": "100.00"}]
    assert body["sales_conversations"] == {"closed": 1, "with_sale": 1, "without_sale": 0,
                                           "conversion_rate": approx(1.0)}
    assert body["daily_activity"] == [{"bucket": "2026-11-09", "started": 2, "resolved": 1}]


def test_anonymous_requests_get_401():
    assert Client().get(DASHBOARD_URL).status_code == 401
