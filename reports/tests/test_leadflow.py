"""The lead-flow selectors against a hand-computed data set (reports/tests/leadflow_data.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import override_settings

from accounts.roles import Role
from accounts.tests.factories import UserFactory
from core.errors import ActionError
from leads.tests.factories import LeadFactory
from reports.leadflow import (
    QUERIES,
    LeadFlowFilters,
    check_leadflow_filters,
    lead_flow_report,
)
from reports.templatetags.reports_format import duration
from reports.tests.leadflow_data import END, START, LeadNoteFactory, build_dataset, local

pytestmark = pytest.mark.django_db


def test_every_number_of_the_hand_computed_data_set():
    # given the data set described in leadflow_data.py
    build_dataset()
    # when the report covers 2026-03-01 … 2026-03-10 for everyone
    report = lead_flow_report(filters=LeadFlowFilters(start=START, end=END))
    # then the totals count notes, distinct noted leads and closures in the window (L5 closed without notes)
    assert (report.totals.calls, report.totals.unique_leads, report.totals.closed) == (8, 6, 2)
    rows = {r.operator: r for r in report.by_operator}
    assert [r.operator for r in report.by_operator] == ["ana", "beto", "sara"]  # most calls first
    ana, beto, sara = rows["ana"], rows["beto"], rows["sara"]
    assert (ana.calls, ana.unique_leads, ana.closed) == (5, 4, 0)
    assert (ana.positivo, ana.negativo, ana.parcial, ana.no_clasificado) == (3, 1, 1, 0)
    assert (ana.speed_to_lead_mean_seconds, ana.speed_to_lead_median_seconds, ana.speed_to_lead_count) == (
        1800.0, 1200.0, 3)
    assert ana.operator_name == "Ana Operadora"
    assert (beto.calls, beto.unique_leads, beto.closed) == (3, 3, 1)
    assert (beto.positivo, beto.negativo, beto.parcial, beto.no_clasificado) == (0, 1, 1, 1)
    # L9's first note predates its (re)arrival: left out; L1's note by beto is not L1's first note
    assert (beto.speed_to_lead_mean_seconds, beto.speed_to_lead_median_seconds, beto.speed_to_lead_count) == (
        53999.0, 53999.0, 1)
    # sara only closed a lead: a row with her closure and no speed (means of nothing are null)
    assert (sara.calls, sara.unique_leads, sara.closed, sara.speed_to_lead_count) == (0, 0, 1, 0)
    assert sara.speed_to_lead_mean_seconds is None and sara.speed_to_lead_median_seconds is None
    # hours are local (Bogota): 00:00:00 on the first day and 23:59:59 on the inclusive last day are in
    assert [h.hour for h in report.by_hour] == list(range(24))
    assert {h.hour: h.calls for h in report.by_hour if h.calls} == {0: 1, 8: 1, 10: 2, 11: 2, 23: 2}
    assert [(o.outcome, o.label, o.calls) for o in report.outcomes] == [
        ("positivo", "Positivo", 3), ("negativo", "Negativo", 2), ("parcial", "Parcial", 2),
        ("no_clasificado", "No clasificado", 1)]
    assert (report.start, report.end, report.time_zone, report.operator) == (START, END, "America/Bogota", None)


def test_an_operator_filter_limits_every_table_to_that_operator():
    # given the data set
    data = build_dataset()
    # when the report is limited to beto
    report = lead_flow_report(filters=LeadFlowFilters(start=START, end=END, operator=data.beto))
    # then totals, rows, hours and outcomes are beto's alone (closures by closed_by)
    assert (report.totals.calls, report.totals.unique_leads, report.totals.closed) == (3, 3, 1)
    assert [r.operator for r in report.by_operator] == ["beto"]
    assert {h.hour: h.calls for h in report.by_hour if h.calls} == {11: 1, 23: 2}
    assert [o.calls for o in report.outcomes] == [0, 1, 1, 1]
    assert report.operator == "beto"


def test_the_window_ends_at_the_next_local_midnight():
    # given the data set
    build_dataset()
    # when the window is the single last day, then the day after it
    last_day = lead_flow_report(filters=LeadFlowFilters(start=END, end=END))
    next_day = lead_flow_report(filters=LeadFlowFilters(start=END + timedelta(days=1), end=END + timedelta(days=1)))
    # then 03-10 23:59:59 belongs to the last day and 03-11 00:00:00 to the next one
    assert last_day.totals.calls == 1 and last_day.by_hour[23].calls == 1
    assert next_day.totals.calls == 1 and next_day.by_hour[0].calls == 1
    # and L4's first note (03-11) is a first contact of that day: 12 h after its arrival
    assert next_day.by_operator[0].speed_to_lead_median_seconds == 12 * 3600


def test_an_empty_window_has_zero_counts_24_hours_4_outcomes_and_no_rows():
    report = lead_flow_report(filters=LeadFlowFilters(start=date(2026, 1, 1), end=date(2026, 1, 31)))
    assert (report.totals.calls, report.totals.unique_leads, report.totals.closed) == (0, 0, 0)
    assert report.by_operator == []
    assert [h.calls for h in report.by_hour] == [0] * 24
    assert [o.calls for o in report.outcomes] == [0, 0, 0, 0]


def test_the_median_of_an_even_count_is_the_mean_of_the_two_middle_values():
    # given three first contacts by one operator: 60 s, 180 s and 600 s, plus a 30 s one by another
    ana, beto = UserFactory(username="ana"), UserFactory(username="beto")
    for seconds, author in ((60, ana), (180, ana), (600, ana), (600, ana), (30, beto)):
        lead = LeadFactory(queue_entered_at=local(3, 2, 9))
        LeadNoteFactory(lead=lead, author=author, created_at=local(3, 2, 9) + timedelta(seconds=seconds))
    # when the report runs
    rows = {r.operator: r for r in lead_flow_report(filters=LeadFlowFilters(start=START, end=END)).by_operator}
    # then ana's median is (180 + 600) / 2 and her mean 1440 / 4; on both databases
    assert (rows["ana"].speed_to_lead_median_seconds, rows["ana"].speed_to_lead_mean_seconds) == (390.0, 360.0)
    assert rows["beto"].speed_to_lead_median_seconds == 30.0


def test_a_closure_by_a_deleted_user_counts_in_the_total_only():
    # given a lead closed by a user who was later deleted
    gone = UserFactory(username="gone")
    LeadFactory(queue_entered_at=local(3, 1, 9), closed_at=local(3, 2, 9), closed_by=gone)
    gone.delete()
    # when the report runs / then the closure is in the total but on nobody's row
    report = lead_flow_report(filters=LeadFlowFilters(start=START, end=END))
    assert report.totals.closed == 1
    assert report.by_operator == []


@override_settings(TIME_ZONE="Europe/Madrid")
def test_days_and_hours_follow_the_organisation_zone_across_a_dst_change():
    # given Madrid, where 2026-03-29 has 23 hours (02:00 CET → 03:00 CEST)
    ana = UserFactory(username="ana")
    utc = ZoneInfo("UTC")
    for at in (datetime(2026, 3, 28, 22, 59, tzinfo=utc),  # 03-28 23:59 CET: the day before
               datetime(2026, 3, 28, 23, 30, tzinfo=utc),  # 03-29 00:30 CET
               datetime(2026, 3, 29, 1, 30, tzinfo=utc),   # 03-29 03:30 CEST
               datetime(2026, 3, 29, 21, 59, tzinfo=utc),  # 03-29 23:59 CEST
               datetime(2026, 3, 29, 22, 30, tzinfo=utc)):  # 03-30 00:30 CEST: the day after
        LeadNoteFactory(author=ana, created_at=at, lead=LeadFactory(queue_entered_at=at))
    # when the report covers 03-29 only
    report = lead_flow_report(filters=LeadFlowFilters(start=date(2026, 3, 29), end=date(2026, 3, 29)))
    # then exactly that local day's three notes count, at their local hours
    assert report.totals.calls == 3
    assert {h.hour: h.calls for h in report.by_hour if h.calls} == {0: 1, 3: 1, 23: 1}
    assert report.time_zone == "Europe/Madrid"


def test_the_report_costs_the_same_queries_whatever_the_number_of_notes(django_assert_num_queries):
    # given the data set plus 40 notes by 8 more operators
    build_dataset()
    filters = LeadFlowFilters(start=START, end=END)
    with django_assert_num_queries(QUERIES):
        small = lead_flow_report(filters=filters)
    operators = UserFactory.create_batch(8)
    for i in range(40):
        lead = LeadFactory(queue_entered_at=local(3, 2, 8))
        LeadNoteFactory(lead=lead, author=operators[i % 8], created_at=local(3, 2, 8, i), outcome="positivo")
    # when the report runs again / then the query count is unchanged
    with django_assert_num_queries(QUERIES):
        big = lead_flow_report(filters=filters)
    assert (small.totals.calls, big.totals.calls, len(big.by_operator)) == (8, 48, 11)
    assert QUERIES == 7


# --- filters and scope -------------------------------------------------------------------------------


@time_machine.travel(datetime(2026, 3, 15, 0, 30, tzinfo=ZoneInfo("America/Bogota")), tick=False)
def test_the_default_window_is_the_last_30_days_ending_today_in_the_organisation_zone():
    # given it is 00:30 on 03-15 in Bogota (already 05:30 UTC)
    supervisor = UserFactory(role=Role.SUPERVISOR)
    # when no dates are given / then the window is 02-14 … 03-15 (30 days, both inclusive)
    filters = check_leadflow_filters(supervisor, start=None, end=None, operator=None)
    assert (filters.start, filters.end, filters.operator) == (date(2026, 2, 14), date(2026, 3, 15), None)
    # and an end date alone gets the 29 days before it
    only_end = check_leadflow_filters(supervisor, start=None, end=date(2026, 1, 31), operator=None)
    assert only_end.start == date(2026, 1, 2)


def test_an_agent_always_gets_their_own_numbers_whatever_operator_they_ask_for():
    # given an agent and another operator
    data = build_dataset()
    # when the agent asks for beto's numbers
    filters = check_leadflow_filters(data.ana, start=START, end=END, operator="beto")
    # then the filter is the agent herself
    assert filters.operator == data.ana
    report = lead_flow_report(filters=filters)
    assert (report.totals.calls, report.totals.unique_leads, report.totals.closed) == (5, 4, 0)
    assert [r.operator for r in report.by_operator] == ["ana"]


def test_a_supervisor_may_pick_any_operator_and_an_unknown_one_is_refused():
    data = build_dataset()
    assert check_leadflow_filters(data.sara, start=START, end=END, operator="beto").operator == data.beto
    with pytest.raises(ActionError) as exc:
        check_leadflow_filters(data.sara, start=START, end=END, operator="nadie")
    assert exc.value.code == "unknown_operator"


@pytest.mark.parametrize(("start", "end", "code"), [
    (date(2026, 3, 10), date(2026, 3, 1), "invalid_window"),
    (date(2025, 1, 1), date(2026, 1, 2), "window_too_long"),
])
def test_reversed_or_too_long_windows_are_refused(start, end, code):
    with pytest.raises(ActionError) as exc:
        check_leadflow_filters(UserFactory(role=Role.SUPERVISOR), start=start, end=end, operator=None)
    assert exc.value.code == code


def test_a_366_day_window_is_allowed():
    filters = check_leadflow_filters(UserFactory(role=Role.ANALISTA), start=date(2025, 1, 1),
                                     end=date(2026, 1, 1), operator=None)
    assert (filters.end - filters.start).days + 1 == 366


@pytest.mark.parametrize(("seconds", "shown"), [
    (None, "—"), (0, "0 s"), (45.4, "45 s"), (200, "3 min 20 s"), (7500, "2 h 05 min"),
    (3 * 86400 + 4 * 3600, "3 d 4 h"),
])
def test_durations_are_shown_in_human_units(seconds, shown):
    assert duration(seconds) == shown
