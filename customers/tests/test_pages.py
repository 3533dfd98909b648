"""Issue 17: the customer list (/clientes/) and the profile in the browser's terms: search in any format, filters,
keyset pages, the profile's sections from every app in a constant number of queries, editing, consent."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.roles import Role
from core.models import AuditLog
from customers.activity import rebuild_customer_activity
from customers.models import Consent, Customer, CustomerPhone, Tag
from inbox.actions import do_receive_inbound
from inbox.models import Conversation
from leads.tests.factories import CustomerFactory, LeadFactory
from orders.choices import OrderState
from orders.models import Order, OrderLine, Sale
from orders.tests.factories import product

pytestmark = pytest.mark.django_db


def names(response) -> list[str]:
    return [c.name for c in response.context["customers"]]


@pytest.fixture
def people():
    lucia = CustomerFactory(name="Lucía Peña")
    CustomerPhone.objects.create(customer=lucia, e164="+573001112233")
    mateo = CustomerFactory(name="Mateo Ruiz", document_id="1020304050")
    mateo.tags.add(Tag.objects.get_or_create(name="VIP")[0])
    LeadFactory(customer=mateo, work_status="completado")
    rebuild_customer_activity()
    return lucia, mateo


@pytest.mark.parametrize("q", ["lucia", "PEÑA", "300 111 2233", "(300) 111-2233", "+57 300 1112233", "2233"])
def test_search_finds_a_customer_by_name_without_accents_or_by_phone_in_any_format(q, people, agent, client_for):
    response = client_for(agent).get(reverse("customers:list"), {"q": q})
    assert response.status_code == 200 and names(response) == ["Lucía Peña"]


def test_filters_by_tag_lead_state_and_document(people, agent, client_for):
    client = client_for(agent)
    assert names(client.get(reverse("customers:list"), {"tag": "VIP"})) == ["Mateo Ruiz"]
    assert names(client.get(reverse("customers:list"), {"lead_state": "completado"})) == ["Mateo Ruiz"]
    assert names(client.get(reverse("customers:list"), {"q": "1020304050"})) == ["Mateo Ruiz"]
    # an unknown value selects nobody, never everybody, and never an error
    response = client.get(reverse("customers:list"), {"lead_state": "<script>", "spent_min": "abc"})
    assert response.status_code == 200 and names(response) == []


def test_keyset_pages_cover_everyone_once_in_every_order(agent, client_for, settings):
    # given 120 customers with spends that tie in groups
    for i in range(120):
        CustomerFactory(name=f"Cliente {i:03d}")
    Customer.objects.update(total_spent=Decimal(0))
    for i, pk in enumerate(Customer.objects.order_by("pk").values_list("pk", flat=True)):
        Customer.objects.filter(pk=pk).update(total_spent=Decimal(i % 7 * 1000))
    client = client_for(agent)
    for sort in ("contact", "spent", "name", "created"):
        seen: list[int] = []
        query: dict[str, str] = {"sort": sort}
        while True:
            response = client.get(reverse("customers:list"), query)
            seen += [c.pk for c in response.context["customers"]]
            if not response.context["next_query"]:
                break
            query = QueryDict(response.context["next_query"]).dict()
        # then every customer appears exactly once
        assert sorted(seen) == sorted(Customer.objects.values_list("pk", flat=True)), sort


def test_the_htmx_filter_swaps_only_the_results(people, agent, client_for):
    response = client_for(agent).get(reverse("customers:list"), {"q": "mateo"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Mateo Ruiz" in body and "<html" not in body and 'id="customer-filters"' not in body


def profile_of(customer: Customer, *, orders: int, conversations: int, agent) -> None:
    item = product(f"P-{orders}-{conversations}", price="1000", stock=10_000)
    for i in range(orders):
        order = Order.objects.create(customer=customer, agent=agent, state=OrderState.CONFIRMED, total=Decimal(2000),
                                     confirmed_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=i))
        OrderLine.objects.create(order=order, product=item, sku=item.sku, name=item.name, unit_price=Decimal(1000),
                                 quantity=2, line_total=Decimal(2000))
    # one conversation as a message opens it; the rest, each its own thread, in the same inbox
    first, _message, _created = do_receive_inbound(
        channel="api", body="Mensaje 0", customer_id=customer.pk, customer_name=customer.name, conversation_id=None,
        external_id=f"hilo-{customer.pk}-0", subject="Hilo 0")
    inbox = first.inbox
    Conversation.objects.bulk_create(
        Conversation(customer=customer, channel="api", inbox=inbox, subject=f"Hilo {i}",
                     created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=i),
                     last_activity_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=i))
        for i in range(1, conversations))


def test_the_profile_costs_the_same_queries_for_2_or_40_orders_and_conversations(make_user, client_for):
    supervisor = make_user(Role.SUPERVISOR)
    small, large = CustomerFactory(name="Poca Historia"), CustomerFactory(name="Mucha Historia")
    profile_of(small, orders=2, conversations=2, agent=supervisor)
    profile_of(large, orders=40, conversations=40, agent=supervisor)
    LeadFactory(customer=small)
    LeadFactory(customer=large)
    rebuild_customer_activity()
    client = client_for(supervisor)
    client.get(reverse("customers:detail", args=[small.pk]))  # warm caches (session, site settings)
    counts = []
    for customer in (small, large):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("customers:detail", args=[customer.pk]))
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    body = response.content.decode()
    # every app's section is there, with hand-computed totals: 40 orders of 2,000
    assert 'data-section="conversations"' in body and 'data-section="purchases"' in body
    assert 'data-section="leads"' in body
    assert response.context["customer"].total_spent == Decimal(80000)
    assert response.context["average"] == Decimal(2000)


def _follow(client, body: str, pattern: str) -> list[str]:
    """The bodies of every "show more" page the first body leads to, following each page's own button."""
    pages = []
    while match := re.search(pattern, body):
        response = client.get(html.unescape(match.group(1)), HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        body = response.content.decode()
        assert "<html" not in body  # only the rows: they replace the button
        pages.append(body)
    return pages


def test_a_long_history_shows_a_page_and_the_rest_one_button_at_a_time_each_row_once(make_user, client_for):
    # given a customer with 45 orders, two imported sales (of two conversations) dated among them, 45 conversations
    # and a long timeline
    supervisor = make_user(Role.SUPERVISOR)
    customer = CustomerFactory(name="Mucha Historia")
    profile_of(customer, orders=45, conversations=45, agent=supervisor)
    for day, conversation in zip((10, 30), customer.conversations.order_by("id")[:2], strict=True):
        Sale.objects.create(conversation=conversation, product_name="Colchón", quantity=1, amount=Decimal(5000),
                            created_at=datetime(2026, 1, 1, 12, tzinfo=UTC) + timedelta(days=day))
    Conversation.objects.filter(customer=customer).update(last_activity_at=datetime(2026, 3, 1, tzinfo=UTC))
    rebuild_customer_activity()
    client = client_for(supervisor)

    # when the profile opens
    body = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()

    # then each section shows its first 20 rows and a button for the rest
    purchases = body[body.index('data-section="purchases"'):]
    purchases = purchases[:purchases.index("</section>")]
    conversations = body[body.index('data-section="conversations"'):]
    conversations = conversations[:conversations.index("</section>")]
    assert purchases.count('<td data-label="Fecha">') == 20 and "Ver compras anteriores" in purchases
    assert conversations.count('<td data-label="Canal">') == 20 and "Ver conversaciones anteriores" in conversations
    # and following the buttons shows every order and imported sale once, newest first
    order_pages = _follow(client, purchases, r'hx-get="([^"]*/secciones/orders[^"]*)"')
    rows = purchases + "".join(order_pages)
    numbers = re.findall(r'href="/orders/(\d+)/"', rows)
    expected = [str(pk) for pk in Order.objects.filter(customer=customer).order_by("-confirmed_at", "-id")
                .values_list("pk", flat=True)]
    assert numbers == expected and rows.count("Venta importada") == 2 and len(order_pages) == 2
    # (the newer imported sale, day 30 at noon, sits between the orders of days 31 and 30: the 14th and 15th)
    assert rows.index(f'/orders/{expected[13]}/') < rows.index("Venta importada") < \
        rows.index(f'/orders/{expected[14]}/')
    # and every conversation once, the ties on last activity kept in a stable order
    conversation_pages = _follow(client, conversations, r'hx-get="([^"]*/secciones/inbox[^"]*)"')
    seen = re.findall(r'<a href="/inbox/(\d+)/"', conversations + "".join(conversation_pages))
    assert set(seen) == {str(pk) for pk in customer.conversations.values_list("pk", flat=True)}
    assert len(seen) == 45 == len(set(seen))
    # and the timeline pages by position: every entry once (45 orders, 45 conversations opened)
    timeline_url = re.search(r'class="timeline customer-timeline" hx-get="([^"]+)" hx-trigger="revealed"', body)
    assert timeline_url is not None and "data-kind" not in body  # the timeline loads when it scrolls into view
    timeline = client.get(timeline_url.group(1), HTTP_HX_REQUEST="true").content.decode()
    timeline_pages = _follow(client, timeline, r'hx-get="([^"]*/historial[^"]*)"')
    kinds = re.findall(r'data-kind="([a-z._]+)"', timeline + "".join(timeline_pages))
    assert kinds.count("order.confirmed") == 45 and kinds.count("conversation.opened") == 45


def test_a_section_page_refuses_a_bad_offset_and_hides_what_the_user_may_not_see(make_user, client_for):
    customer = CustomerFactory(name="Poca Historia")
    url = reverse("customers:section_page", args=[customer.pk, "orders"])
    analyst = client_for(make_user(Role.ANALISTA))  # sees customers, not their conversations
    supervisor = client_for(make_user(Role.SUPERVISOR))
    assert supervisor.get(url, {"desde": "-1"}).status_code == 400
    assert supervisor.get(url, {"desde": "abc"}).status_code == 400
    assert supervisor.get(url, {"desde": "²"}).status_code == 400  # a digit, not a row number
    assert supervisor.get(url, {"desde": "9" * 5000}).status_code == 400  # past what int() accepts
    assert supervisor.get(reverse("customers:timeline_page", args=[customer.pk]), {"desde": "1" * 5000}) \
        .status_code == 400
    assert supervisor.get(url).status_code == 200  # the first page
    assert supervisor.get(url, {"desde": "20"}).status_code == 200
    assert supervisor.get(reverse("customers:section_page", args=[customer.pk, "nada"]), {"desde": "0"}) \
        .status_code == 404
    assert analyst.get(reverse("customers:section_page", args=[customer.pk, "inbox"]), {"desde": "0"}) \
        .status_code == 404
    assert supervisor.get(reverse("customers:timeline_page", args=[customer.pk]), {"desde": "x"}).status_code == 400
    assert supervisor.get(reverse("customers:section_page", args=[999999, "orders"]), {"desde": "0"}) \
        .status_code == 404


def test_the_end_of_a_number_finds_only_the_numbers_ending_so(people, agent, client_for):
    # given two customers whose numbers share their last four digits
    other = CustomerFactory(name="Otra Persona")
    CustomerPhone.objects.create(customer=other, e164="+573009992233")
    client = client_for(agent)
    # then four digits find both, and more digits only the number ending in them
    assert sorted(names(client.get(reverse("customers:list"), {"q": "2233"}))) == ["Lucía Peña", "Otra Persona"]
    assert names(client.get(reverse("customers:list"), {"q": "1112233"})) == ["Lucía Peña"]
    assert names(client.get(reverse("customers:list"), {"q": "9992233"})) == ["Otra Persona"]
    assert CustomerPhone.objects.get(customer=other).tail == "2233"


def test_an_agent_edits_tags_and_preferences_and_the_audit_says_so(people, agent, client_for):
    lucia, _mateo = people
    response = client_for(agent).post(reverse("customers:edit", args=[lucia.pk]), {
        "name": "Lucía Peña Díaz", "phones": "+573001112233\n311 222 3344", "emails": "lucia@example.com",
        "tags": "VIP, frecuente", "preferred_channel": "whatsapp", "language": "es",
        "contact_from": "09:00", "contact_to": "18:00"})
    assert response.status_code == 302
    lucia.refresh_from_db()
    assert lucia.name == "Lucía Peña Díaz" and lucia.preferred_channel == "whatsapp"
    assert sorted(lucia.tags.values_list("name", flat=True)) == ["VIP", "frecuente"]
    assert sorted(lucia.phones.values_list("e164", flat=True)) == ["+573001112233", "+573112223344"]
    assert AuditLog.objects.filter(action="customer.updated", target_id=str(lucia.pk)).exists()


def test_a_phone_of_another_customer_is_refused_naming_it(people, agent, client_for):
    _lucia, _mateo = people
    response = client_for(agent).post(reverse("customers:create"), {"name": "Otra Lucía", "phones": "3001112233"})
    assert response.status_code == 400
    assert "+573001112233" in response.content.decode()
    assert not Customer.objects.filter(name="Otra Lucía").exists()


def test_contact_hours_must_start_before_they_end(people, agent, client_for):
    lucia, _mateo = people
    response = client_for(agent).post(reverse("customers:edit", args=[lucia.pk]), {
        "name": lucia.name, "contact_from": "18:00", "contact_to": "09:00"})
    assert response.status_code == 400
    assert "El horario de contacto debe empezar antes de terminar." in response.content.decode()


def test_consent_is_recorded_with_its_source_and_an_opt_out_with_how(people, agent, client_for):
    lucia, _mateo = people
    client = client_for(agent)
    client.post(reverse("customers:consent", args=[lucia.pk]),
                {"channel": "whatsapp", "status": "opted_in", "source": "Formulario de la tienda"})
    consent = Consent.objects.get(customer=lucia, channel="whatsapp")
    assert consent.status == "opted_in" and consent.source == "Formulario de la tienda" and consent.opted_in_at
    client.post(reverse("customers:consent", args=[lucia.pk]), {"channel": "whatsapp", "status": "opted_out"})
    consent.refresh_from_db()
    assert consent.status == "opted_out" and consent.opt_out_method == "agent" and consent.opted_out_at
    page = client.get(reverse("customers:detail", args=[lucia.pk])).content.decode()
    assert "no acepta" in page and "Registrado por un agente" in page


@pytest.mark.parametrize(("role", "view", "edit", "export"), [
    (Role.AGENTE, 200, 200, 403), (Role.ANALISTA, 200, 403, 200), (Role.GERENTE, 200, 403, 403),
    (Role.DIRECTOR_VENTAS, 200, 403, 403), (Role.SUPERVISOR, 200, 200, 403), (Role.ADMIN, 200, 200, 200)])
def test_who_may_see_edit_and_export(role, view, edit, export, people, make_user, client_for):
    lucia, _mateo = people
    client = client_for(make_user(role))
    assert client.get(reverse("customers:list")).status_code == view
    assert client.get(reverse("customers:detail", args=[lucia.pk])).status_code == view
    assert client.get(reverse("customers:edit", args=[lucia.pk])).status_code == edit
    assert client.get(reverse("customers:export")).status_code == export


def test_an_unknown_customer_is_a_404(agent, client_for):
    assert client_for(agent).get(reverse("customers:detail", args=[999999])).status_code == 404
