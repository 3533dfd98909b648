"""Issue 15: one money and date format everywhere. The main pages, rendered in Spanish and in English with real data
(a call with its order, a conversation, products, the audit log, the reports), never show a person an ISO date
("2026-12-04") or a raw decimal ("828800.00", "499000,00"): amounts go through core.money and dates through the
locale's formats (config/formats)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from accounts.roles import Role
from catalog.models import Product
from inbox.actions import do_receive_inbound
from leads import actions as leads
from leads.choices import Outcome
from orders import actions as orders
from orders.tests.factories import product, ready_lead

pytestmark = pytest.mark.django_db

ISO_DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
RAW_DECIMAL = re.compile(r"(?<![\d.,])\d{4,}[.,]\d{2}(?![\d])")  # 4+ digits without grouping, then cents


class VisibleText(HTMLParser):
    """The text a person reads: text nodes outside scripts, styles and JSON islands (attributes are not read)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template"):
            self._hidden = max(0, self._hidden - 1)

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


def visible(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return "\n".join(parser.parts)


@pytest.fixture
def world(make_user):
    admin = make_user(Role.ADMIN, username="admin-formatos", full_name="Administración Formatos")
    agent = make_user(Role.AGENTE, username="agente-formatos", full_name="Ana Formatos")
    product("PLAN-HOGAR", price="828800", stock=5, name="Plan Hogar")
    product("CAM-01", price="129900.50", stock=3, name="Cámara")
    lead = ready_lead(price="499000")
    leads.check_next_lead(agent)
    order = orders.check_create_order(agent, lead_id=lead.pk, lines=[("PLAN-HOGAR", 1), ("CAM-01", 1)])
    orders.check_confirm_order(agent, order.pk)
    leads.check_add_note(agent, lead.pk, text="Venta confirmada", outcome=Outcome.POSITIVE)
    conversation, _m, _new = do_receive_inbound(channel="whatsapp", body="Hola, ¿tienen envíos?",
                                                customer_name="Rosa Díaz", phones=["+573001234567"])
    return {"admin": admin, "lead": lead, "order": order, "conversation": conversation,
            "product": Product.objects.get(sku="CAM-01")}


def pages(w) -> list[str]:
    return [reverse("accounts:home"), reverse("inbox:list"), reverse("inbox:detail", args=[w["conversation"].pk]),
            reverse("leads:queue"), reverse("leads:detail", args=[w["lead"].pk]), reverse("orders:list"),
            reverse("orders:detail", args=[w["order"].pk]), reverse("catalog:product_list"),
            reverse("catalog:product_detail", args=[w["product"].pk]), reverse("reports:dashboard"),
            reverse("reports:leadflow"), reverse("auditlog:audit"), reverse("core:system"),
            reverse("sync:list"), reverse("webhooks:endpoints")]


@pytest.mark.parametrize("language", ["es", "en"])
def test_no_page_shows_an_iso_date_or_a_raw_decimal(world, client_for, language):
    world["admin"].language = language
    world["admin"].save(update_fields=["language"])
    client = client_for(world["admin"])
    for url in pages(world):
        response = client.get(url, headers={"accept-language": language})
        assert response.status_code == 200, url
        text = visible(response.content.decode())
        assert not ISO_DATE.findall(text), (url, ISO_DATE.findall(text))
        assert not RAW_DECIMAL.findall(text), (url, RAW_DECIMAL.findall(text))


def test_the_same_amount_reads_the_same_on_every_page(world, client_for):
    # the order's total (828.800 + 129.900,50 = 958.700,50 COP → COP has no cents: 958.701)
    client = client_for(world["admin"])
    for url in (reverse("orders:list"), reverse("orders:detail", args=[world["order"].pk])):
        assert "958.701\u00a0COP" in visible(client.get(url).content.decode()), url
