from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from accounts.roles import Role
from core.errors import ActionError, ConflictError, InvalidTransition, PermissionDeniedError
from customers.models import Customer, DuplicateCandidate
from leads import actions
from leads.choices import WORK_STATUS_TRANSITIONS, LeadEventKind, WorkStatus
from leads.models import Lead, LeadEvent, LeadSettings
from leads.selectors import QueueFilters, queue_queryset
from leads.tests.factories import CustomerFactory, LeadFactory, with_phone

pytestmark = pytest.mark.django_db


def upsert(kommo_id=1, *, in_stage=True, updated_at=100, contact=None, **extra):
    data = {"kommo_id": kommo_id, "name": f"Lead {kommo_id}", "price": Decimal("1000"), "pipeline_id": 1,
            "status_id": 10 if in_stage else 20, "stage_name": "Ventas / Para Llamar" if in_stage else "Otra",
            "updated_at": updated_at, "responsible_id": None, "tags": ["vip"], "custom_fields": [],
            "contact": contact if contact is not None else {"id": 500 + kommo_id, "name": "Ana Muñoz",
                                                            "phones": ["300 123 4567"], "emails": ["Ana@Example.com"]},
            "in_stage": in_stage}
    data.update(extra)
    return actions.do_upsert_lead_from_kommo(**data)


def test_lead_entering_stage_joins_queue_with_customer_in_e164():
    # when Kommo reports a lead in "Para Llamar"
    lead = upsert()
    # then it is queued, its customer has the phone in E.164 and the email lower-cased, and history says so
    assert lead.in_queue and lead.work_status == WorkStatus.NONE
    assert list(lead.customer.phones.values_list("e164", flat=True)) == ["+573001234567"]
    assert list(lead.customer.emails.values_list("email", flat=True)) == ["ana@example.com"]
    assert list(lead.tags.values_list("name", flat=True)) == ["vip"]
    assert LeadEvent.objects.filter(lead=lead, kind=LeadEventKind.ARRIVED).count() == 1


def test_same_change_twice_is_one_lead_one_entry_one_history_row():
    upsert(updated_at=100)
    upsert(updated_at=100)
    assert Lead.objects.count() == 1 and Customer.objects.count() == 1
    assert LeadEvent.objects.filter(kind=LeadEventKind.ARRIVED).count() == 1


def test_leaving_the_stage_leaves_the_queue_but_keeps_history(agent):
    lead = upsert(updated_at=100)
    actions.check_add_note(agent, lead.pk, text="Primera llamada", outcome="parcial")
    # when Kommo moves it to another stage
    actions.do_lead_left_stage(kommo_id=1, status_id=20, pipeline_id=1, stage_name="Otra", updated_at=200)
    lead.refresh_from_db()
    # then it is out of the queue, and notes and events stay
    assert not lead.in_queue and lead.stage_name == "Otra"
    assert lead.notes.count() == 1
    assert LeadEvent.objects.filter(lead=lead, kind=LeadEventKind.LEFT_QUEUE).count() == 1
    assert lead not in queue_queryset(QueueFilters(status="all"))


def test_out_of_order_delivery_cannot_undo_a_newer_move():
    upsert(updated_at=200, in_stage=False)  # known lead, newer state: not in stage
    lead = upsert(updated_at=100, in_stage=True)  # an older "in stage" arrives late
    assert not lead.in_queue


def test_same_person_from_two_sources_is_one_customer():
    upsert(1, contact={"id": 501, "name": "Ana", "phones": ["+57 300 123 4567"], "emails": []})
    upsert(2, contact={"id": 502, "name": "Ana M.", "phones": ["300-123-4567"], "emails": []})
    assert Customer.objects.count() == 1


def test_conflicting_identifiers_are_flagged_not_merged():
    upsert(1, contact={"id": 501, "name": "Ana", "phones": ["3001234567"], "emails": []})
    upsert(2, contact={"id": 502, "name": "Beto", "phones": [], "emails": ["beto@example.com"]})
    # a third contact has Ana's phone and Beto's email
    upsert(3, contact={"id": 503, "name": "¿?", "phones": ["3001234567"], "emails": ["beto@example.com"]})
    assert Customer.objects.count() == 2
    assert DuplicateCandidate.objects.count() == 1


def test_first_note_holds_the_lead_and_blocks_other_agents(make_user):
    # given two agents and an unheld lead
    a, b = make_user(Role.AGENTE), make_user(Role.AGENTE)
    lead = LeadFactory()
    # when the first writes a note
    actions.check_add_note(a, lead.pk, text="Hablé con el cliente", outcome="positivo")
    lead.refresh_from_db()
    # then she holds it, the status is En proceso, and the second agent is refused with 409
    assert lead.held_by == a and lead.work_status == WorkStatus.IN_PROGRESS
    with pytest.raises(ConflictError) as exc:
        actions.check_add_note(b, lead.pk, text="Yo también", outcome="parcial")
    assert exc.value.status == 409 and exc.value.details["held_by"] == a.username
    assert lead.notes.count() == 1


def test_supervisors_are_not_bound_by_reservation_by_default(agent, supervisor):
    lead = LeadFactory()
    actions.check_add_note(agent, lead.pk, text="Primera")
    note = actions.check_add_note(supervisor, lead.pk, text="Comentario del supervisor")
    lead.refresh_from_db()
    assert note.author == supervisor and lead.held_by == agent


def test_reservation_can_be_turned_off_per_role(make_user):
    settings_row = LeadSettings.load()
    settings_row.reservation_roles = []
    settings_row.save()
    a, b = make_user(Role.AGENTE), make_user(Role.AGENTE)
    lead = LeadFactory()
    actions.check_add_note(a, lead.pk, text="uno")
    actions.check_add_note(b, lead.pk, text="dos")
    lead.refresh_from_db()
    assert lead.held_by is None and lead.notes_count == 2


def test_predefined_note_applies_its_tags_to_the_customer(agent, supervisor):
    template = actions.check_save_note_template(supervisor, title="No interesado", text="No le interesa",
                                                outcome="negativo", tags=["no-interesado", "no-llamar"])
    lead = LeadFactory()
    note = actions.check_add_note(agent, lead.pk, template_id=template.pk)
    assert note.text == "No le interesa" and note.outcome == "negativo"
    assert sorted(lead.customer.tags.values_list("name", flat=True)) == ["no-interesado", "no-llamar"]


@pytest.mark.parametrize(("text", "outcome", "code"), [("", "positivo", "empty_note"),
                                                        ("x", "excelente", "invalid_outcome"),
                                                        ("x" * 5001, "positivo", "note_too_long")])
def test_bad_notes_are_refused(agent, text, outcome, code):
    lead = LeadFactory()
    with pytest.raises(ActionError) as exc:
        actions.check_add_note(agent, lead.pk, text=text, outcome=outcome)
    assert exc.value.code == code
    lead.refresh_from_db()
    assert lead.held_by is None and lead.notes_count == 0


def test_close_needs_a_note_then_completes(agent):
    lead = LeadFactory()
    with pytest.raises(ActionError) as exc:
        actions.check_close_lead(agent, lead.pk)
    assert exc.value.code == "close_needs_note"
    actions.check_close_lead(agent, lead.pk, text="Venta cerrada por teléfono", outcome="positivo")
    lead.refresh_from_db()
    assert lead.work_status == WorkStatus.DONE and lead.closed_by == agent and lead.closed_at is not None


@pytest.mark.parametrize("current", list(WorkStatus))
@pytest.mark.parametrize("target", list(WorkStatus))
def test_work_status_transition_table_exhaustively(current, target, agent):
    lead = LeadFactory(work_status=current, closed_at=timezone.now() if current == WorkStatus.DONE else None)
    if current == target:
        assert actions.do_transition_lead(lead, to=target, acting_user=agent) is False
    elif target in WORK_STATUS_TRANSITIONS[current]:
        assert actions.do_transition_lead(lead, to=target, acting_user=agent) is True
        assert LeadEvent.objects.filter(lead=lead, kind=LeadEventKind.STATUS).count() == 1
    else:
        with pytest.raises(InvalidTransition):
            actions.do_transition_lead(lead, to=target, acting_user=agent)


def test_release_and_reassign_by_supervisor(agent, supervisor, make_user):
    other = make_user(Role.AGENTE, username="otro")
    lead = LeadFactory()
    actions.check_add_note(agent, lead.pk, text="Hola")
    actions.check_reassign_lead(supervisor, lead.pk, to_user="otro")
    lead.refresh_from_db()
    assert lead.held_by == other
    actions.check_release_lead(supervisor, lead.pk)
    lead.refresh_from_db()
    assert lead.held_by is None
    with pytest.raises(PermissionDeniedError):
        actions.check_reassign_lead(agent, lead.pk, to_user="otro")


def test_next_lead_order_never_contacted_first_then_oldest_contact(make_user):
    caller, other = make_user(Role.AGENTE), make_user(Role.AGENTE)
    settings_row = LeadSettings.load()
    settings_row.reservation_roles = []  # let `other` write notes without holding
    settings_row.save()
    with time_machine.travel(timezone.now() - timedelta(days=3), tick=False):
        contacted_long_ago = LeadFactory(name="contactado hace 3 días")
        actions.check_add_note(other, contacted_long_ago.pk, text="a")
    with time_machine.travel(timezone.now() - timedelta(days=1), tick=False):
        contacted_yesterday = LeadFactory(name="contactado ayer")
        actions.check_add_note(other, contacted_yesterday.pk, text="b")
    fresh_old = LeadFactory(name="nuevo 1", queue_entered_at=timezone.now() - timedelta(hours=5),
                            queue_sort_at=timezone.now() - timedelta(hours=5))
    fresh_new = LeadFactory(name="nuevo 2")
    settings_row.reservation_roles = ["agente"]
    settings_row.save()
    order = []
    for _ in range(4):
        lead = actions.check_next_lead(caller)
        actions.check_add_note(caller, lead.pk, text="llamado")
        order.append(lead.pk)
    assert order == [fresh_old.pk, fresh_new.pk, contacted_long_ago.pk, contacted_yesterday.pk]
    assert actions.check_next_lead(caller) is None


def test_next_lead_does_not_hoard(agent):
    first, _second = LeadFactory(), LeadFactory()
    assert actions.check_next_lead(agent) == first
    assert actions.check_next_lead(agent) == first  # not noted yet: the same lead again


def test_search_by_phone_in_any_format_name_and_email():
    lead = LeadFactory(name="Pedido 77")
    with_phone(lead.customer, "+573001234567")
    lead.customer.name = "Ñandú Peña"
    lead.customer.save()
    # (others with fixed names: a random Colombian name may well be a "Peña" too)
    for n in range(3):
        LeadFactory(name=f"Otro pedido {n}", customer__name=f"Cliente Ruiz {n}")
    for q in ["+57 300 123 4567", "3001234567", "300-123-4567", "573001234567", "ñandú", "PEÑA", "pedido 77"]:
        assert list(queue_queryset(QueueFilters(q=q))) == [lead], q


def test_queue_filters_status_tag_operator_list_and_date(agent):
    from customers.models import MarketingList

    vip = LeadFactory()
    vip.customer.tags.add(*[__import__("customers.models", fromlist=["Tag"]).Tag.objects.create(name="vip")])
    worked = LeadFactory()
    actions.check_add_note(agent, worked.pk, text="x")
    listed = LeadFactory()
    lst = MarketingList.objects.create(name="Black Friday", code="bf")
    listed.customer.marketing_lists.add(lst)
    assert list(queue_queryset(QueueFilters(tag="vip"))) == [vip]
    assert list(queue_queryset(QueueFilters(status="en_proceso"))) == [worked]
    assert list(queue_queryset(QueueFilters(operator=agent.username))) == [worked]
    assert list(queue_queryset(QueueFilters(marketing_list="bf"))) == [listed]
    assert set(queue_queryset(QueueFilters(operator="none"))) == {vip, listed}
    today = timezone.localdate()
    assert len(queue_queryset(QueueFilters(arrived_from=today, arrived_to=today))) == 3
    assert len(queue_queryset(QueueFilters(arrived_to=today - timedelta(days=1)))) == 0


def test_queue_limited_to_configured_lists(supervisor):
    from customers.models import MarketingList

    lst = MarketingList.objects.create(name="Clientes 2026", code="c26")
    inside, _outside = LeadFactory(), LeadFactory()
    inside.customer.marketing_lists.add(lst)
    actions.check_update_lead_settings(supervisor, reservation_roles=["agente"], queue_list_ids=[lst.pk],
                                       extra_customer_fields=["plan"])
    assert list(queue_queryset(QueueFilters())) == [inside]


def test_customer_edit_validates_every_field_and_writes_nothing_on_error(agent):
    from customers.actions import do_update_customer

    customer = CustomerFactory(name="Ana")
    with pytest.raises(ActionError) as exc:
        do_update_customer(customer.pk, acting_user=agent, name="", phones=["12"], emails=["no-es-correo"])
    assert set(exc.value.details["errors"]) == {"name", "phones", "emails"}
    customer.refresh_from_db()
    assert customer.name == "Ana"
    do_update_customer(customer.pk, acting_user=agent, name="Ana Peña", address="Cra 7 # 45-10", city="Bogotá",
                       department="Cundinamarca", phones=["3001234567"], emails=["ana@example.com"])
    customer.refresh_from_db()
    assert customer.city == "Bogotá" and customer.phones.get().e164 == "+573001234567"


def test_merge_duplicates_moves_identifiers_and_leads(supervisor):
    from customers.actions import do_merge_customers

    upsert(1, contact={"id": 501, "name": "Ana", "phones": ["3001234567"], "emails": []})
    upsert(2, contact={"id": 502, "name": "Beto", "phones": [], "emails": ["beto@example.com"]})
    upsert(3, contact={"id": 503, "name": "¿?", "phones": ["3001234567"], "emails": ["beto@example.com"]})
    pair = DuplicateCandidate.objects.get()
    keep = do_merge_customers(keep_id=pair.customer_id, merge_id=pair.other_id, acting_user=supervisor)
    assert Customer.objects.count() == 1 and not DuplicateCandidate.objects.exists()
    assert set(keep.phones.values_list("e164", flat=True)) == {"+573001234567"}
    assert set(keep.emails.values_list("email", flat=True)) == {"beto@example.com"}
    assert Lead.objects.filter(customer=keep).count() == 3
