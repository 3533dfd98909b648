"""Issue 17: the customers REST API — the list with the page's filters and keyset pagination, the full profile,
creating and editing a customer (partial PATCH, consent recorded with method `api`), and the timeline across apps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, get_args

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from core.models import AuditLog
from customers import timeline as customer_timeline
from customers.activity import do_refresh_activity
from customers.api import CustomerListQuery
from customers.choices import LeadState
from customers.models import NEVER, Consent, Customer, CustomerEmail, CustomerPhone, MarketingList, Tag
from customers.selectors import CHANNEL_COLUMNS, SORTS
from customers.timeline import Entry
from inbox.actions import do_receive_inbound
from leads.choices import WorkStatus
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
URL = "/api/v1/customers"


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def api(make_user, api_client_for):
    return api_client_for(make_user(Role.AGENTE, username="agente-api"))


def customer(name: str, *, phones: tuple[str, ...] = (), emails: tuple[str, ...] = (),
             tags: tuple[str, ...] = (), **fields: Any) -> Customer:
    c = Customer.objects.create(name=name, **fields)
    for e164 in phones:
        CustomerPhone.objects.create(customer=c, e164=e164)
    for email in emails:
        CustomerEmail.objects.create(customer=c, email=email)
    for tag in tags:
        c.tags.add(Tag.objects.get_or_create(name=tag)[0])
    return c


def set_activity(c: Customer, **columns: Any) -> None:
    """The activity columns customers.activity derives (with the contact order it keeps beside them)."""
    if "last_contact_at" in columns:
        columns["contact_sort_at"] = columns["last_contact_at"] or NEVER
    Customer.objects.filter(pk=c.pk).update(**columns)


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["name"] for item in response.json()["results"]]


# --- list --------------------------------------------------------------------------------------------------------

def test_q_finds_a_name_without_its_accents_or_case_and_a_phone_written_another_way(api):
    # given customers with accented names and phones stored in E.164
    customer("José Peña", phones=("+573001234567",))
    customer("Lucía Gómez", phones=("+573009998877",))
    # when searching by the name as typed without accents, in capitals, and by the phone in the local format
    by_name = names(api.get(URL, {"q": "jose pena"}))
    by_capitals = names(api.get(URL, {"q": "PEÑA"}))
    by_phone = names(api.get(URL, {"q": "300 123 4567"}))
    # then each finds José only
    assert by_name == by_capitals == by_phone == ["José Peña"]


def test_the_list_item_carries_phones_emails_tags_and_activity(api):
    # given a customer with two phones, an email, tags and activity
    customer("Ana Peña", phones=("+573001112233", "+573004445566"), emails=("ana@example.com",),
             tags=("vip", "frecuente"), city="Bogotá")
    Customer.objects.update(total_spent=Decimal("125000.50"), orders_count=2, lead_state="en_proceso")
    # when listing
    item = api.get(URL).json()["results"][0]
    # then the item has them, the phones in the order they were added and the money as a decimal string
    assert item["phones"] == ["+573001112233", "+573004445566"]
    assert item["emails"] == ["ana@example.com"]
    assert item["tags"] == ["frecuente", "vip"]
    assert (item["city"], item["total_spent"], item["orders_count"], item["lead_state"]) == (
        "Bogotá", "125000.50", 2, "en_proceso")


def test_lead_state_filter_uses_the_state_of_the_customers_most_recent_lead(api):
    # given a customer whose lead is in progress, one whose lead is done, and one without leads
    calling = customer("En llamada")
    done = customer("Terminado")
    customer("Sin leads")
    LeadFactory(customer=calling, work_status=WorkStatus.IN_PROGRESS)
    LeadFactory(customer=done, work_status=WorkStatus.DONE)
    do_refresh_activity(Customer.objects.values_list("pk", flat=True))
    # when filtering by each state
    # then only the customers in that state answer
    assert names(api.get(URL, {"lead_state": "en_proceso"})) == ["En llamada"]
    assert names(api.get(URL, {"lead_state": "completado"})) == ["Terminado"]
    assert names(api.get(URL, {"lead_state": "ninguno"})) == []


def test_filters_by_tag_list_channel_contact_window_spending_and_open_conversation(api, frozen):
    # given customers that differ in tag, list, channel, last contact, spending and open conversations
    vip = MarketingList.objects.create(name="VIP", code="vip")
    recent = customer("Reciente", tags=("frecuente",))
    recent.marketing_lists.add(vip)
    old = customer("Antigua")
    set_activity(recent, last_contact_at=NOW - timedelta(days=2), on_whatsapp=True, total_spent=Decimal(500),
                 open_conversations=1)
    set_activity(old, last_contact_at=NOW - timedelta(days=60), on_email=True, total_spent=Decimal(50))
    # when filtering / then each filter selects as the page does
    assert names(api.get(URL, {"tag": "frecuente"})) == ["Reciente"]
    assert names(api.get(URL, {"marketing_list": "vip"})) == ["Reciente"]
    assert names(api.get(URL, {"channel": "email"})) == ["Antigua"]
    assert names(api.get(URL, {"contacted_within": 7})) == ["Reciente"]
    assert names(api.get(URL, {"not_contacted_within": 30})) == ["Antigua"]
    assert names(api.get(URL, {"spent_min": "100"})) == ["Reciente"]
    assert names(api.get(URL, {"spent_max": "100.5"})) == ["Antigua"]
    assert names(api.get(URL, {"open_conversation": "true"})) == ["Reciente"]
    assert names(api.get(URL, {"open_conversation": "false"})) == ["Antigua"]
    assert names(api.get(URL, {"tag": "desconocida"})) == []
    # and the default order is the most recently in touch first
    assert names(api.get(URL)) == ["Reciente", "Antigua"]


@pytest.mark.parametrize("sort", ["contact", "spent", "name", "created"])
def test_walking_the_cursor_visits_every_customer_once_in_the_sort_order(api, frozen, sort):
    # given 23 customers with ties on every sort key (same instant, same name, same spending), some never contacted
    for n in range(23):
        c = customer(f"Cliente {n % 4}")
        set_activity(c, total_spent=Decimal(n % 3),
                     last_contact_at=None if n % 5 == 0 else NOW - timedelta(days=n % 2))
    # when following next_cursor five at a time
    seen: list[int] = []
    cursor, pages = "", 0
    while True:
        body = api.get(URL, {"sort": sort, "limit": 5, **({"cursor": cursor} if cursor else {})}).json()
        seen += [item["id"] for item in body["results"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    # then every customer came exactly once (no duplicates, no gaps), in the order of one unpaged request
    everyone = [item["id"] for item in api.get(URL, {"sort": sort, "limit": 200}).json()["results"]]
    assert len(seen) == len(set(seen)) == 23
    assert seen == everyone
    assert pages == 5


def test_the_enumerated_parameters_offer_exactly_the_selectors_values():
    # given the API's enumerated query parameters / then they offer exactly what the selectors know
    def offered(name: str) -> set[str]:
        return set(get_args(CustomerListQuery.model_fields[name].annotation)) - {""}

    assert offered("sort") == set(SORTS)
    assert offered("lead_state") == set(LeadState.values)
    assert offered("channel") == {str(channel) for channel in CHANNEL_COLUMNS}


def test_listing_costs_the_same_queries_for_3_or_30_customers(api):
    # given customers with phones, emails and tags
    def make(count: int) -> None:
        start = Customer.objects.count()
        for n in range(start, start + count):
            customer(f"Cliente {n}", phones=(f"+5730012{n:05d}", f"+5731012{n:05d}"),
                     emails=(f"c{n}@example.com",), tags=("vip", f"t{n}"))

    make(3)
    api.get(URL)  # a token's first use records it (one write a minute), outside what is compared
    with CaptureQueriesContext(connection) as few:
        assert len(api.get(URL).json()["results"]) == 3
    make(27)
    # when listing 30 instead of 3
    with CaptureQueriesContext(connection) as many:
        assert len(api.get(URL).json()["results"]) == 30
    # then the query count is the same (phones, emails and tags prefetched)
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize("params", [
    {"lead_state": "abierto"}, {"channel": "fax"}, {"channel": "telegram"}, {"sort": "precio"},
    {"open_conversation": "quizas"}, {"limit": 0}, {"limit": 201}, {"contacted_within": "siete"},
    {"spent_min": "mucho"}, {"spent_min": "NaN"}, {"spent_max": "-5"},
])
def test_a_value_outside_the_documented_ones_is_a_400_naming_the_parameter(api, params):
    # when listing with an invalid value
    response = api.get(URL, params)
    # then it is a 400 naming the parameter, never a server error
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_request"
    assert response.json()["field"] == next(iter(params))


@pytest.mark.parametrize("cursor", [
    "no-es-un-cursor", "WzEsMl0=",  # [1, 2]: a list, but not this order's values
    "WyJ4IiwgIngiXQ==",  # ["x", "x"]: text where a date and an id belong
    "W251bGwsIDFlKzMwXQ==",  # [null, 1e+30]: an id beyond any column
    "WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzA1OjAwIiwgMV0=",  # ["0001-01-01T00:00:00+05:00", 1]: before any instant UTC holds
])
def test_a_cursor_this_endpoint_did_not_give_is_a_400(api, cursor):
    # given a customer
    customer("Ana")
    # when listing after a forged cursor
    response = api.get(URL, {"cursor": cursor})
    # then it is refused naming the cursor, not read as the first page (a client would loop forever)
    assert response.status_code == 400, response.content
    assert (response.json()["code"], response.json()["field"]) == ("invalid_cursor", "cursor")


def test_every_role_may_list_and_an_anonymous_caller_gets_401(make_user, api_client_for, client):
    # given a customer
    customer("Ana")
    # when each role lists / then each sees it
    for role in Role:
        assert names(api_client_for(make_user(role)).get(URL)) == ["Ana"], role
    # and without a token it is a 401
    assert client.get(URL).status_code == 401


# --- detail --------------------------------------------------------------------------------------------------------

def test_the_profile_has_data_lists_preferences_consent_and_activity(api, frozen):
    # given a customer with everything
    c = customer("Ana Peña", phones=("+573001112233",), emails=("ana@example.com",), tags=("vip",),
                 document_id="1020304050", address="Cra 7 # 12-34", city="Bogotá", department="Cundinamarca",
                 notes="Prefiere llamadas en la tarde.", language="es", preferred_channel="whatsapp")
    c.marketing_lists.add(MarketingList.objects.create(name="Boletín", code="boletin"))
    Consent.objects.create(customer=c, channel="whatsapp", status="opted_in", source="tienda", opted_in_at=NOW)
    set_activity(
        c, first_contact_at=NOW - timedelta(days=30), last_contact_at=NOW, conversations_count=3, open_conversations=1,
        on_whatsapp=True, on_phone=True, orders_count=2, total_spent=Decimal("80000"), spent_12m=Decimal("80000"),
        orders_90d=1, lead_state="completado")
    # when reading it
    response = api.get(f"{URL}/{c.pk}")
    # then it has every part, consent only for the channel with a row
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["uuid"] == str(c.uuid)
    assert (body["phones"], body["emails"], body["tags"], body["marketing_lists"]) == (
        ["+573001112233"], ["ana@example.com"], ["vip"], ["boletin"])
    assert body["preferences"] == {"language": "es", "preferred_channel": "whatsapp", "contact_from": None,
                                   "contact_to": None}
    assert list(body["consent"]) == ["whatsapp"]
    assert body["consent"]["whatsapp"]["status"] == "opted_in"
    assert body["consent"]["whatsapp"]["source"] == "tienda"
    activity = body["activity"]
    assert activity["channels"] == ["whatsapp", "phone"]
    assert (activity["conversations_count"], activity["open_conversations"], activity["orders_count"]) == (3, 1, 2)
    assert (activity["total_spent"], activity["spent_12m"], activity["lead_state"]) == ("80000.00", "80000.00",
                                                                                       "completado")


def test_an_unknown_customer_is_a_404_on_every_operation(api):
    # when reading, editing or asking the timeline of a customer that does not exist
    responses = [api.get(f"{URL}/999999"), patch(api, 999999, {"city": "Cali"}), api.get(f"{URL}/999999/timeline")]
    # then each is a 404 customer_not_found
    assert [(r.status_code, r.json()["code"]) for r in responses] == [(404, "customer_not_found")] * 3


# --- create --------------------------------------------------------------------------------------------------------

def test_post_creates_the_customer_with_its_data_preferences_and_consent(api, frozen):
    # given a marketing list
    MarketingList.objects.create(name="Boletín", code="boletin")
    # when an integration creates a customer
    response = api.post(URL, {
        "name": "Lucía Gómez", "phones": ["300 123 4567"], "emails": ["Lucia@Example.com"], "city": "Medellín",
        "tags": ["nueva", "web"], "marketing_lists": ["boletin"],
        "preferences": {"language": "es", "preferred_channel": "email", "contact_from": "08:00",
                        "contact_to": "12:30"},
        "consent": {"email": {"status": "opted_in", "source": "formulario web"}},
    }, content_type="application/json")
    # then it answers 201 with the customer as stored: the phone in E.164, the email in lower case
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["phones"], body["emails"], body["city"]) == (
        "Lucía Gómez", ["+573001234567"], ["lucia@example.com"], "Medellín")
    assert (body["tags"], body["marketing_lists"]) == (["nueva", "web"], ["boletin"])
    assert body["preferences"] == {"language": "es", "preferred_channel": "email", "contact_from": "08:00",
                                   "contact_to": "12:30"}
    assert body["consent"]["email"]["status"] == "opted_in"
    assert body["consent"]["email"]["source"] == "formulario web"
    assert AuditLog.objects.filter(action="customer.created", target_id=str(body["id"])).exists()


def test_post_with_a_phone_of_another_customer_is_a_400_naming_it_and_creates_nobody(api):
    # given a customer who has the phone
    customer("Ana", phones=("+573001234567",))
    # when creating another customer with the same phone written another way
    response = api.post(URL, {"name": "Otra Ana", "phones": ["300 123 4567"]}, content_type="application/json")
    # then it is refused naming the phone, and nothing was created
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_customer"
    assert "+573001234567" in response.json()["errors"]["phones"]
    assert Customer.objects.count() == 1


@pytest.mark.parametrize(("payload", "field"), [
    ({"name": "   "}, "name"),
    ({"name": "Ana", "emails": ["no-es-correo"]}, "emails.0"),
    ({"name": "Ana", "preferences": {"language": "fr"}}, "preferences.language"),
    ({"name": "Ana", "preferences": {"contact_from": "25:00"}}, "preferences.contact_from"),
    ({"name": "Ana", "preferences": {"contact_to": "a las 08:00"}}, "preferences.contact_to"),
    ({"name": "Ana", "consent": {"fax": {"status": "opted_in"}}}, "consent.fax"),
    ({"name": "Ana", "consent": {"sms": {"status": "tal_vez"}}}, "consent.sms.status"),
    ({"name": "Ana", "assignee": 1}, "assignee"),
])
def test_post_refuses_a_malformed_body_naming_the_field(api, payload, field):
    # when creating with a malformed field
    response = api.post(URL, payload, content_type="application/json")
    # then it is a 400 naming it
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert not Customer.objects.exists()


def test_post_with_an_unknown_marketing_list_is_a_400_naming_it(api):
    # when creating with a list code that does not exist
    response = api.post(URL, {"name": "Ana", "marketing_lists": ["no-existe"]}, content_type="application/json")
    # then it names the code
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_marketing_list"
    assert "no-existe" in response.json()["detail"]


def test_post_with_contact_hours_ending_before_they_start_is_refused(api):
    # when creating with contact hours backwards
    response = api.post(URL, {"name": "Ana", "preferences": {"contact_from": "18:00", "contact_to": "09:00"}},
                        content_type="application/json")
    # then the rule names the hours
    assert response.status_code == 400
    assert "contact_hours" in response.json()["errors"]


# --- patch ---------------------------------------------------------------------------------------------------------

@pytest.fixture
def ana():
    c = customer("Ana Peña", phones=("+573001112233",), emails=("ana@example.com",), tags=("vip", "frecuente"),
                 city="Bogotá", notes="Cliente desde 2020.", language="es", preferred_channel="whatsapp")
    Customer.objects.filter(pk=c.pk).update(contact_from="08:00", contact_to="12:00")
    return c


def patch(api: Any, customer_id: int, payload: dict[str, Any]) -> Any:
    return api.patch(f"{URL}/{customer_id}", payload, content_type="application/json")


def test_patch_changes_what_is_given_and_keeps_the_rest(api, ana):
    # when changing only the city
    response = patch(api, ana.pk, {"city": "Medellín"})
    # then the city changed and everything else is as it was
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["city"] == "Medellín"
    assert (body["name"], body["phones"], body["emails"], body["notes"]) == (
        "Ana Peña", ["+573001112233"], ["ana@example.com"], "Cliente desde 2020.")
    assert sorted(body["tags"]) == ["frecuente", "vip"]
    assert body["preferences"] == {"language": "es", "preferred_channel": "whatsapp", "contact_from": "08:00",
                                   "contact_to": "12:00"}


def test_patch_null_keeps_the_value(api, ana):
    # when sending null for fields
    response = patch(api, ana.pk, {"name": None, "tags": None, "city": "Cali"})
    # then they keep their value
    assert response.status_code == 200, response.content
    assert (response.json()["name"], sorted(response.json()["tags"])) == ("Ana Peña", ["frecuente", "vip"])


def test_patch_tags_replace_the_customers_tags(api, ana):
    # when sending a new tag list
    body = patch(api, ana.pk, {"tags": ["potencial", "vip"]}).json()
    # then it replaces the old one (frecuente gone, potencial added)
    assert sorted(body["tags"]) == ["potencial", "vip"]
    assert sorted(ana.tags.values_list("name", flat=True)) == ["potencial", "vip"]


def test_patch_preferences_merge_with_the_current_ones(api, ana):
    # when changing only the language, then clearing the contact hours
    first = patch(api, ana.pk, {"preferences": {"language": "en"}}).json()
    second = patch(api, ana.pk, {"preferences": {"contact_from": None, "contact_to": None}}).json()
    # then the fields not given are kept each time
    assert first["preferences"] == {"language": "en", "preferred_channel": "whatsapp", "contact_from": "08:00",
                                    "contact_to": "12:00"}
    assert second["preferences"] == {"language": "en", "preferred_channel": "whatsapp", "contact_from": None,
                                     "contact_to": None}


def test_patch_marketing_lists_by_code(api, ana):
    # given two lists
    MarketingList.objects.create(name="Boletín", code="boletin")
    MarketingList.objects.create(name="VIP", code="vip")
    # when setting the customer's lists by code, then an unknown code
    body = patch(api, ana.pk, {"marketing_lists": ["vip", "boletin"]}).json()
    refused = patch(api, ana.pk, {"marketing_lists": ["vip", "nada"]})
    # then the lists are set; the unknown code is named and nothing changes
    assert body["marketing_lists"] == ["boletin", "vip"]
    assert (refused.status_code, refused.json()["code"], refused.json()["field"]) == (
        400, "unknown_marketing_list", "marketing_lists")
    assert "nada" in refused.json()["detail"]
    assert sorted(ana.marketing_lists.values_list("code", flat=True)) == ["boletin", "vip"]


def test_consent_opt_in_then_opt_out_is_recorded_with_method_api(api, ana, frozen):
    # when an integration records an opt-in, then (a day later) an opt-out
    opted_in = patch(api, ana.pk, {"consent": {"sms": {"status": "opted_in", "source": "tienda"}}}).json()
    frozen.shift(timedelta(days=1))
    opted_out = patch(api, ana.pk, {"consent": {"sms": {"status": "opted_out"}}}).json()
    # then both are on the profile, the opt-out with how it came
    assert opted_in["consent"]["sms"]["status"] == "opted_in"
    assert opted_in["consent"]["sms"]["source"] == "tienda"
    sms = opted_out["consent"]["sms"]
    assert (sms["status"], sms["opt_out_method"], sms["source"]) == ("opted_out", "api", "tienda")
    assert datetime.fromisoformat(sms["opted_out_at"]) == NOW + timedelta(days=1)
    assert datetime.fromisoformat(sms["opted_in_at"]) == NOW
    # and the change is audited with the method
    log = AuditLog.objects.filter(action="customer.consent_changed").order_by("pk").last()
    assert log is not None and log.changes["method"] == "api"


def test_patch_with_a_phone_of_another_customer_is_refused_and_nothing_changes(api, ana):
    # given another customer's phone
    customer("Otro", phones=("+573009998877",))
    # when adding it to Ana along with a new city
    response = patch(api, ana.pk, {"phones": ["+573001112233", "3009998877"], "city": "Cali"})
    # then it is refused naming the phone; Ana's city is unchanged
    assert response.status_code == 400
    assert "+573009998877" in response.json()["errors"]["phones"]
    ana.refresh_from_db()
    assert ana.city == "Bogotá"


def test_a_role_without_customers_edit_cannot_create_or_patch_but_can_read(make_user, api_client_for, ana):
    # given an analyst (customers.view, not customers.edit)
    analyst = api_client_for(make_user(Role.ANALISTA))
    # when they try to edit and create / then 403, and the customer is unchanged
    edited = analyst.patch(f"{URL}/{ana.pk}", {"city": "Cali"}, content_type="application/json")
    created = analyst.post(URL, {"name": "Nuevo"}, content_type="application/json")
    assert [(r.status_code, r.json()["code"]) for r in (edited, created)] == [(403, "forbidden")] * 2
    assert Customer.objects.count() == 1
    # but reading works
    assert analyst.get(f"{URL}/{ana.pk}").status_code == 200


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SUPERVISOR, Role.AGENTE])
def test_roles_with_customers_edit_may_patch(make_user, api_client_for, ana, role):
    # when each role that edits customers changes the city / then it is saved
    response = api_client_for(make_user(role)).patch(f"{URL}/{ana.pk}", {"city": "Cali"},
                                                     content_type="application/json")
    assert (response.status_code, response.json()["city"]) == (200, "Cali")


# --- timeline ------------------------------------------------------------------------------------------------------

def test_the_timeline_pages_through_the_registered_sources_by_time(api, ana, monkeypatch):
    # given a source with five entries an hour apart, newest first
    def calls(user: Any, c: Customer, before: datetime | None, limit: int) -> list[Entry]:
        entries = [Entry(at=NOW - timedelta(hours=n), kind="call.noted", text=f"Llamada número {n}.",
                         url=f"/llamadas/{n}/", channel="phone", ref={"call": n}) for n in range(5)]
        return [e for e in entries if before is None or e.at < before][:limit]

    monkeypatch.setattr(customer_timeline, "_sources", {"calls": calls})
    # when reading two at a time, following next_before
    first = api.get(f"{URL}/{ana.pk}/timeline", {"limit": 2}).json()
    second = api.get(f"{URL}/{ana.pk}/timeline", {"limit": 2, "before": first["next_before"]}).json()
    third = api.get(f"{URL}/{ana.pk}/timeline", {"limit": 2, "before": second["next_before"]}).json()
    # then each page continues where the last ended, and the last says nothing is left
    texts = [e["text"] for page in (first, second, third) for e in page["results"]]
    assert texts == [f"Llamada número {n}." for n in range(5)]
    assert third["next_before"] is None
    assert first["results"][0] == {"at": NOW.isoformat().replace("+00:00", "Z"), "kind": "call.noted",
                                   "text": "Llamada número 0.", "url": "/llamadas/0/", "channel": "phone",
                                   "ref": {"call": 0}}


@pytest.mark.parametrize("before", ["2026-03-10T15:00:00+18:19", "0001-01-01T00:00:00+05:00",
                                    "9999-12-31T23:59:59-05:00"])
def test_the_timeline_takes_any_instant_iso_8601_allows(api, ana, before):
    # when asking with an offset PostgreSQL would refuse, or an instant at the edge of the calendar
    response = api.get(f"{URL}/{ana.pk}/timeline", {"before": before})
    # then it answers (the instant is read in UTC)
    assert response.status_code == 200, response.content


def test_the_timeline_refuses_a_time_without_zone(api, ana):
    # when asking with a naive time / then it is a 400 naming `before`
    response = api.get(f"{URL}/{ana.pk}/timeline", {"before": "2026-03-10T15:00:00"})
    assert (response.status_code, response.json()["field"]) == (400, "before")


def test_the_timeline_shows_a_conversation_as_a_sentence(api, frozen):
    # given a customer who wrote on WhatsApp
    conversation, _message, _new = do_receive_inbound(channel="whatsapp", body="Hola, ¿tienen envíos a Cali?",
                                                      customer_name="Marta Ruiz", phones=["+573005556677"])
    # when reading their timeline
    response = api.get(f"{URL}/{conversation.customer_id}/timeline")
    # then the conversation is there, told in a sentence (not a code), with its id for integrations
    assert response.status_code == 200, response.content
    entries = response.json()["results"]
    about = [e for e in entries if e["ref"].get("conversation_id") == conversation.pk]
    assert about, entries
    for entry in entries:
        assert entry["text"][0].isupper() and " " in entry["text"], entry
        assert entry["kind"] not in entry["text"] and "%(" not in entry["text"], entry
