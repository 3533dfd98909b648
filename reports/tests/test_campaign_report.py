"""The campaigns report in the reports section: campaigns launched in the window with their results and ROI, totals
by channel, the same numbers as CSV; who may see it."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from campaigns.models import Campaign, CampaignRecipient
from leads.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _campaign(name: str, channel: str, *, launched_days_ago: int, sent: int, converted: int, cost: str,
              revenue: str) -> Campaign:
    launched = timezone.now() - timedelta(days=launched_days_ago)
    c = Campaign.objects.create(name=name, channel=channel, state="terminada", launched_at=launched,
                                currency="COP")
    for i in range(sent):
        CampaignRecipient.objects.create(
            campaign=c, customer=CustomerFactory(), channel=channel, address=f"+5730055{i:05d}", state="entregado",
            sent_at=launched, delivered_at=launched, cost=Decimal(cost),
            converted_at=launched if i < converted else None, revenue=Decimal(revenue) if i < converted else 0)
    CampaignRecipient.objects.create(campaign=c, customer=CustomerFactory(), channel=channel, state="omitido",
                                     skip_reason="sin_consentimiento")
    return c


@pytest.fixture
def campaigns(db):
    return [_campaign("Reactivación de noviembre", "whatsapp", launched_days_ago=5, sent=4, converted=1,
                      cost="100", revenue="250000"),
            _campaign("Boletín", "email", launched_days_ago=10, sent=3, converted=0, cost="0", revenue="0"),
            _campaign("Antigua", "sms", launched_days_ago=200, sent=2, converted=0, cost="50", revenue="0")]


def test_the_report_lists_the_windows_campaigns_with_roi(client_for, make_user, campaigns):
    client = client_for(make_user(Role.GERENTE))
    page = client.get(reverse("reports:campaigns"))
    assert page.status_code == 200
    html = page.content.decode()
    # the two campaigns of the last 90 days, not the one of 200 days ago
    assert "Reactivación de noviembre" in html and "Boletín" in html and "Antigua" not in html
    report = page.context["report"]
    wa = next(r for r in report.rows if r.campaign.channel == "whatsapp").summary
    # ROI = (250,000 − 400) / 400
    assert (wa.sent, wa.converted, wa.cost, wa.revenue) == (4, 1, Decimal("400"), Decimal("250000"))
    assert wa.roi == (Decimal("250000") - Decimal("400")) / Decimal("400")
    assert report.total.sent == 7 and report.total.skipped == 2


def test_the_csv_has_one_row_per_campaign_with_the_same_numbers(client_for, make_user, campaigns):
    client = client_for(make_user(Role.ANALISTA))
    response = client.get(reverse("reports:campaigns"), {"format": "csv", "headers": "name"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["campaign"] for r in rows] == ["Reactivación de noviembre", "Boletín"]
    assert rows[0]["sent"] == "4" and rows[0]["revenue"] == "250000.00" and rows[0]["roi"] == "624.00"
    assert rows[1]["roi"] == ""


def test_agents_cannot_open_it_and_a_bad_date_is_said_not_crashed(client_for, make_user, campaigns):
    assert client_for(make_user(Role.AGENTE)).get(reverse("reports:campaigns")).status_code == 403
    page = client_for(make_user(Role.GERENTE)).get(reverse("reports:campaigns"), {"start": "ayer"})
    assert page.status_code == 200 and "Fecha inválida" in page.content.decode()
    bad = client_for(make_user(Role.GERENTE)).get(reverse("reports:campaigns"), {"format": "csv", "dialect": "x"})
    assert bad.status_code == 400
