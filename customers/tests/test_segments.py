"""Issue 17: segments — declared rules at their boundaries with a frozen clock, membership history and the events
that announce it, the editor and its preview, and what segments change elsewhere: routing VIPs to senior agents
first in the queue, rules that react to a customer entering a segment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from accounts.models import Skill
from accounts.roles import Role
from accounts.tests.factories import TeamFactory, UserFactory
from core.models import EventLog
from customers import segments
from customers.actions import apply_tags
from customers.activity import do_refresh_activity, rebuild_customer_activity
from customers.models import Customer, Segment, SegmentMembership, Tag
from inbox import actions as inbox
from inbox.models import Inbox
from leads.tests.factories import CustomerFactory
from orders.choices import OrderState
from orders.models import Order

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
DEFAULTS = {
    "vip": {"any": [{"spent_12m_min": "2000000"}, {"tag": "VIP"}]},
    "frecuente": {"any": [{"orders_90d_min": 3}]},
    "nuevo": {"any": [{"first_contact_within": 30}]},
    "inactivo": {"any": [{"no_purchase_days": 90, "no_inbound_days": 90, "customer_for_days_min": 90}]},
}


@pytest.fixture
def defaults():
    """The four default segments (0007_default_segments), computed once: their baseline."""
    Tag.objects.get_or_create(name="VIP")
    skill, _created = Skill.objects.get_or_create(code="senior", defaults={"name": "Senior"})
    made = {}
    for position, (code, rules) in enumerate(DEFAULTS.items()):
        made[code] = Segment.objects.update_or_create(code=code, defaults={
            "name": code.title(), "rules": rules, "position": position, "priority": "alta" if code == "vip" else "",
            "skill": skill if code == "vip" else None, "builtin": False})[0]
    with time_machine.travel(NOW, tick=False):
        for segment in made.values():
            segments.recompute(segment)
    return made


def buy(customer: Customer, *, days_ago: float, total: str) -> None:
    Order.objects.create(customer=customer, agent=UserFactory(role=Role.AGENTE), state=OrderState.CONFIRMED,
                         total=Decimal(total), confirmed_at=NOW - timedelta(days=days_ago))


def members(code: str) -> set[str]:
    return set(SegmentMembership.objects.filter(segment__code=code, left_at__isnull=True)
               .values_list("customer__name", flat=True))


def test_each_default_rule_at_its_boundary(defaults):
    # given customers just inside and just outside each boundary
    vip, almost = CustomerFactory(name="VIP justo"), CustomerFactory(name="Casi VIP")
    buy(vip, days_ago=364, total="2000000")
    buy(almost, days_ago=364, total="1999999.99")
    frequent, two = CustomerFactory(name="Tres compras"), CustomerFactory(name="Dos compras")
    for days in (1, 45, 89.9):
        buy(frequent, days_ago=days, total="1000")
    buy(two, days_ago=1, total="1000")
    buy(two, days_ago=2, total="1000")
    buy(two, days_ago=91, total="1000")  # outside the 90 days
    quiet = CustomerFactory(name="Silencioso", created_at=NOW - timedelta(days=200))
    buy(quiet, days_ago=91, total="1000")
    recent_buyer = CustomerFactory(name="Compró hace 89", created_at=NOW - timedelta(days=200))
    buy(recent_buyer, days_ago=89, total="1000")
    newcomer = CustomerFactory(name="Recién llegado", created_at=NOW - timedelta(days=400))
    # when the nightly job runs at NOW
    with time_machine.travel(NOW - timedelta(days=29, hours=23), tick=False):
        inbox.do_receive_inbound(channel="whatsapp", body="Hola", customer_id=newcomer.pk,
                                 customer_name=newcomer.name, phones=["+573005550000"])
    with time_machine.travel(NOW, tick=False):
        rebuild_customer_activity()
        segments.recompute_all()
    # then each customer is where a person would put them
    assert {"VIP justo"} <= members("vip") and "Casi VIP" not in members("vip")
    assert "Tres compras" in members("frecuente") and "Dos compras" not in members("frecuente")
    assert "Recién llegado" in members("nuevo")
    assert "Silencioso" in members("inactivo") and "Compró hace 89" not in members("inactivo")
    assert "Recién llegado" not in members("inactivo")  # wrote 30 days ago
    # and one second later in the calendar the newcomer is still new; a day later no longer
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        rebuild_customer_activity()
    assert "Recién llegado" not in members("nuevo")


def test_entering_and_leaving_keep_history_and_announce_it(defaults, django_capture_on_commit_callbacks):
    # given a customer outside VIP
    lucia = CustomerFactory(name="Lucía Peña")
    # when she is tagged VIP (the tag refreshes her after commit)
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        apply_tags(lucia, ["vip"])  # the tag condition ignores case
    # then she entered, and the event says so with the segment's code and name
    assert "Lucía Peña" in members("vip")
    entered = EventLog.objects.filter(type="segment.entered").latest("pk")
    assert entered.payload == {"customer_id": lucia.pk, "segment": "vip", "segment_name": "Vip"}
    # when the tag goes and she is refreshed a day later
    lucia.tags.clear()
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        do_refresh_activity([lucia.pk])
    # then she left, the stay is kept with both dates, and segment.left was emitted
    stay = SegmentMembership.objects.get(segment__code="vip", customer=lucia)
    assert (stay.entered_at, stay.left_at) == (NOW, NOW + timedelta(days=1))
    assert EventLog.objects.filter(type="segment.left", payload__customer_id=lucia.pk).count() == 1
    assert segments.member_counts().get(Segment.objects.get(code="vip").pk, 0) == 0


def test_a_new_or_edited_segment_announces_nobody(admin_user, django_capture_on_commit_callbacks):
    # given 3 customers tagged "mayorista"
    for name in ("A", "B", "C"):
        CustomerFactory(name=name).tags.add(Tag.objects.get_or_create(name="mayorista")[0])
    # when an admin creates a segment for them (its computation runs after commit)
    from customers.actions import check_save_segment

    with django_capture_on_commit_callbacks(execute=True):
        segment = check_save_segment(admin_user, None, name="Mayoristas", code="mayoristas",
                                     rules={"any": [{"tag": "mayorista"}]})
    from connectors.mail.tests.helpers import run_queued

    run_queued("recompute_segment")
    # then they are members, and no event announced thousands of "entries" nobody made
    segment.refresh_from_db()
    assert segments.member_counts()[segment.pk] == 3 and members("mayoristas") == {"A", "B", "C"}
    assert not EventLog.objects.filter(type="segment.entered").exists()


def test_bad_rules_are_refused_with_a_sentence(admin_user):
    from core.errors import ActionError
    from customers.actions import check_save_segment

    for rules, words in (({"any": []}, "al menos una condición"), ({"any": [{"tag": "no-existe"}]}, "no-existe"),
                         ({"any": [{"orders_90d_min": "-1"}]}, "entero positivo"),
                         ({"any": [{"magia": 1}]}, "desconocida")):
        with pytest.raises(ActionError) as caught:
            check_save_segment(admin_user, None, name="X", code="x", rules=rules)
        assert words in caught.value.message


def test_rules_read_as_sentences(defaults):
    sentence = segments.describe(defaults["inactivo"].rules)
    assert sentence == ("no compró en los últimos 90 días y no nos escribió en los últimos 90 días y es cliente hace "
                        "al menos 90 días")
    assert "o tiene la etiqueta «VIP»" in segments.describe(defaults["vip"].rules)


def test_a_vip_conversation_gets_priority_and_a_senior_agent_first(defaults):
    # given an inbox with two available agents, one of them senior
    team = TeamFactory(code="ventas", name="Ventas")
    ventas = Inbox.objects.update_or_create(code="ventas", defaults={"name": "Ventas", "auto_assign": True})[0]
    ventas.teams.set([team])
    junior = UserFactory(role=Role.AGENTE, availability="disponible")
    senior = UserFactory(role=Role.AGENTE, availability="disponible")
    for agent in (junior, senior):
        agent.teams.add(team)
    senior.skills.add(Skill.objects.get(code="senior"))
    vip = CustomerFactory(name="Cliente VIP")
    vip.tags.add(Tag.objects.get(name="VIP"))
    do_refresh_activity([vip.pk])
    # when the VIP writes, twice on two channels, and a regular customer writes
    first, _m, _new = inbox.do_receive_inbound(channel="whatsapp", body="Hola", customer_id=vip.pk,
                                               customer_name=vip.name, phones=["+573001112233"], inbox_code="ventas")
    second, _m, _new = inbox.do_receive_inbound(channel="email", body="Hola", customer_id=vip.pk,
                                                customer_name=vip.name, emails=["vip@example.com"],
                                                inbox_code="ventas")
    regular, _m, _new = inbox.do_receive_inbound(channel="whatsapp", body="Hola", customer_name="Otro",
                                                 phones=["+573009998877"], inbox_code="ventas")
    # then the VIP's conversations are "alta" and go to the senior agent, though she is the more loaded one
    assert (first.priority, second.priority, regular.priority) == ("alta", "alta", "normal")
    assert first.assignee == senior and second.assignee == senior
    assert regular.assignee == junior


def test_the_list_filters_by_segment_and_shows_badges(defaults, agent, client_for):
    lucia = CustomerFactory(name="Lucía Peña")
    lucia.tags.add(Tag.objects.get(name="VIP"))
    CustomerFactory(name="Mateo Ruiz")
    do_refresh_activity(Customer.objects.values_list("pk", flat=True))
    response = client_for(agent).get(reverse("customers:list"), {"segment": "vip"})
    assert [c.name for c in response.context["customers"]] == ["Lucía Peña"]
    assert 'class="badge seg seg-gold"' in response.content.decode() or "seg-" in response.content.decode()


def test_the_editor_previews_and_saves(defaults, make_user, client_for):
    supervisor = make_user(Role.SUPERVISOR)
    CustomerFactory(name="Comprador").tags.add(Tag.objects.get(name="VIP"))
    client = client_for(supervisor)
    preview = client.get(reverse("customers:segment_preview"), {"g0_tag": "VIP"})
    assert "<strong>1 cliente</strong> cumple hoy" in preview.content.decode()
    assert "Comprador" in preview.content.decode()
    response = client.post(reverse("customers:segment_edit", args=[defaults["vip"].pk]), {
        "name": "VIP", "code": "vip", "tone": "gold", "priority": "urgente", "active": "on",
        "g0_spent_12m_min": "5000000", "g1_tag": "VIP"})
    assert response.status_code == 302
    vip = Segment.objects.get(code="vip")
    assert vip.priority == "urgente" and vip.rules == {"any": [{"spent_12m_min": "5000000"}, {"tag": "VIP"}]}
    # an agent may see segments but not edit them
    agent = make_user(Role.AGENTE)
    assert client_for(agent).get(reverse("customers:segments")).status_code == 200
    assert client_for(agent).get(reverse("customers:segment_edit", args=[vip.pk])).status_code == 403


def test_a_builtin_segment_cannot_be_deleted_a_custom_one_can(defaults, admin_user, client_for):
    Segment.objects.filter(code="vip").update(builtin=True)
    client = client_for(admin_user)
    client.post(reverse("customers:segment_delete", args=[defaults["vip"].pk]))
    assert Segment.objects.filter(code="vip").exists()
    client.post(reverse("customers:segment_delete", args=[defaults["nuevo"].pk]))
    assert not Segment.objects.filter(code="nuevo").exists()
