"""The call screen's htmx endpoints: each answers with only the regions it changed (the control's region plus
out-of-band swaps), a plain POST still redirects, and the reassign picker offers only eligible people."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.choices import Availability
from accounts.roles import Role
from accounts.tests.factories import TeamFactory
from leads import actions
from leads.choices import WorkStatus
from leads.models import LeadSettings
from leads.tests.factories import LeadFactory, with_phone
from orders.models import Order
from orders.tests.factories import product, ready_lead

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}


def ids(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


def oob_ids(html: str) -> set[str]:
    tags = re.findall(r"<\w+[^>]*\bhx-swap-oob=[^>]*>", html)
    return {m.group(1) for tag in tags if (m := re.search(r'\bid="([^"]+)"', tag))}


def test_detail_page_has_every_region_a_tel_link_and_the_copy_button(agent, client_for):
    lead = LeadFactory(name="Pedido web")
    with_phone(lead.customer, "+573105551234")
    html = client_for(agent).get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert {"lead-status", "holder-panel", "note-panel", "notes-list", "lead-history", "customer-panel",
            "lead-phones", "call-feedback", "copy-status"} <= ids(html)
    assert 'href="tel:+573105551234"' in html
    assert 'data-copy="+573105551234"' in html and 'aria-label="Copiar el teléfono +573105551234"' in html
    assert 'role="status" aria-live="polite"' in html


def test_note_answers_the_note_panel_and_out_of_band_regions(agent, client_for):
    lead = LeadFactory()
    response = client_for(agent).post(reverse("leads:detail", args=[lead.pk]),
                                      {"action": "note", "text": "Contestó, llamar mañana", "outcome": "parcial"},
                                      headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="note-panel"')
    assert {"notes-list", "lead-history", "lead-status", "holder-panel", "customer-tags"} <= oob_ids(html)
    assert "Contestó, llamar mañana" in html and "Parcial" in html and "Nota guardada." in html
    assert "customer-panel" not in ids(html) and "order-panel" not in ids(html)


def test_notes_show_the_outcome_label_and_the_short_datetime_format(agent, client_for):
    lead = LeadFactory()
    actions.check_add_note(agent, lead.pk, text="Hola", outcome="positivo")
    html = client_for(agent).get(reverse("leads:detail", args=[lead.pk])).content.decode()
    notes = html[html.index('id="notes-list"'):]
    assert "Positivo" in notes
    assert re.search(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", notes)  # d/m/Y H:i, not Y-m-d


def test_predefined_note_tags_the_customer_in_place(agent, supervisor, client_for):
    lead = LeadFactory()
    template = actions.check_save_note_template(supervisor, title="Rellamar", text="Llamar mañana",
                                                outcome="parcial", tags=["rellamar"])
    html = client_for(agent).post(reverse("leads:detail", args=[lead.pk]),
                                  {"action": "note", "template_id": template.pk, "outcome": "parcial"},
                                  headers=HX).content.decode()
    tags = html[html.index('id="customer-tags"'):]
    assert 'data-testid="customer-tag">rellamar<' in tags
    assert "Llamar mañana" in html


def test_note_on_a_lead_held_by_someone_else_is_a_409_next_to_the_form(make_user, client_for):
    holder = make_user(Role.AGENTE, full_name="Ana Operadora")
    other = make_user(Role.AGENTE)
    LeadSettings.objects.update_or_create(pk=1, defaults={"reservation_roles": [Role.AGENTE]})
    lead = LeadFactory()
    actions.check_add_note(holder, lead.pk, text="Mío")
    response = client_for(other).post(reverse("leads:detail", args=[lead.pk]),
                                      {"action": "note", "text": "Yo también", "outcome": "parcial"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 409
    assert "<html" not in html
    assert 'data-testid="note-error"' in html and "Ana Operadora" in html
    assert "holder-panel" in oob_ids(html)


def test_plain_post_still_redirects(agent, client_for):
    lead = LeadFactory()
    response = client_for(agent).post(reverse("leads:detail", args=[lead.pk]),
                                      {"action": "note", "text": "Sin JavaScript", "outcome": "parcial"})
    assert response.status_code == 302
    assert lead.notes.get().text == "Sin JavaScript"


def test_empty_note_is_a_400_with_the_error_at_the_field(agent, client_for):
    lead = LeadFactory()
    response = client_for(agent).post(reverse("leads:detail", args=[lead.pk]),
                                      {"action": "note", "text": " ", "outcome": "parcial"}, headers=HX)
    assert response.status_code == 400
    assert "Escriba la nota" in response.content.decode()


def test_customer_save_answers_the_customer_panel_with_phones_and_tags(agent, client_for):
    lead = LeadFactory()
    response = client_for(agent).post(reverse("leads:detail", args=[lead.pk]), {
        "action": "customer", "name": "Lucía Ñáñez", "phones": "+57 310 555 1234", "emails": "",
        "address": "Cra 7", "city": "Bogotá", "department": "Cundinamarca"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<div id="customer-panel"')
    assert {"lead-phones", "customer-tags"} <= oob_ids(html)
    assert 'href="tel:+573105551234"' in html and "Datos del cliente actualizados." in html


def test_close_answers_the_note_panel_status_and_history(agent, client_for):
    lead = LeadFactory()
    client = client_for(agent)
    response = client.post(reverse("leads:close", args=[lead.pk]), {"text": "Venta cerrada", "outcome": "positivo"},
                           headers=HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert {"lead-status", "holder-panel", "notes-list", "lead-history"} <= oob_ids(html)
    assert "Completado" in html and 'id="note-form"' not in html
    lead.refresh_from_db()
    assert lead.work_status == WorkStatus.DONE


def test_close_without_a_note_shows_the_reason_in_the_close_form(agent, client_for):
    lead = LeadFactory()
    response = client_for(agent).post(reverse("leads:close", args=[lead.pk]), {"text": "", "outcome": "parcial"},
                                      headers=HX)
    html = response.content.decode()
    assert response.status_code == 400
    assert "Agregue una nota antes de cerrar" in html and "<details open>" in html


@pytest.mark.parametrize("name", ["release", "reopen"])
def test_holder_actions_answer_the_holder_panel(name, supervisor, agent, client_for):
    lead = LeadFactory()
    actions.check_add_note(agent, lead.pk, text="Hola")
    if name == "reopen":
        actions.check_close_lead(agent, lead.pk)
    response = client_for(supervisor).post(reverse(f"leads:{name}", args=[lead.pk]), headers=HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<div class="panel call-holder" id="holder-panel"')
    assert {"lead-status", "note-panel", "lead-history"} <= oob_ids(html)


def test_reassign_in_place_and_plain(supervisor, make_user, client_for):
    lead = LeadFactory()
    beto = make_user(Role.AGENTE, full_name="Beto Operador")
    client = client_for(supervisor)
    response = client.post(reverse("leads:reassign", args=[lead.pk]), {"to_user": beto.pk}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "Beto Operador" in html and "Lead reasignado." in html
    lead.refresh_from_db()
    assert lead.held_by == beto
    # without JavaScript the typed username still works, and the answer is a redirect
    carla = make_user(Role.AGENTE, username="carla")
    assert client.post(reverse("leads:reassign", args=[lead.pk]), {"q": "carla"}).status_code == 302
    lead.refresh_from_db()
    assert lead.held_by == carla


def test_reassign_to_nobody_shows_the_error_in_the_holder_panel(supervisor, client_for):
    lead = LeadFactory()
    response = client_for(supervisor).post(reverse("leads:reassign", args=[lead.pk]), {"to_user": ""}, headers=HX)
    assert response.status_code == 400
    assert 'data-testid="holder-error"' in response.content.decode()


def test_agents_cannot_reassign_nor_list_people(agent, make_user, client_for):
    lead = LeadFactory()
    other = make_user(Role.AGENTE)
    client = client_for(agent)
    assert client.get(reverse("leads:people", args=[lead.pk])).status_code == 403
    assert client.post(reverse("leads:reassign", args=[lead.pk]), {"to_user": other.pk}, headers=HX).status_code == 403
    lead.refresh_from_db()
    assert lead.held_by is None


def test_people_picker_offers_only_people_who_can_take_the_lead(supervisor, make_user, client_for,
                                                                 django_assert_max_num_queries):
    team = TeamFactory(name="Ventas Norte")
    ana = make_user(Role.AGENTE, full_name="Ana Operadora", availability=Availability.AVAILABLE, teams=[team])
    beto = make_user(Role.AGENTE, full_name="Beto Operador")
    held = make_user(Role.AGENTE, full_name="Dora Actual")
    make_user(Role.ANALISTA, full_name="Ana Analista")  # cannot work leads
    make_user(Role.AGENTE, full_name="Ana Inactiva", is_active=False)
    make_user(Role.AGENTE, full_name="Ana Importada", can_login=False)
    for _ in range(2):
        actions.check_reassign_lead(supervisor, LeadFactory().pk, to_user=beto.pk)
    lead = LeadFactory()
    actions.check_reassign_lead(supervisor, lead.pk, to_user=held.pk)
    client = client_for(supervisor)
    client.get(reverse("leads:people", args=[lead.pk]), {"q": "x"})  # site settings row, first request only
    # session, user, lead, people (with load), teams: flat however many people there are
    with django_assert_max_num_queries(6):
        html = client.get(reverse("leads:people", args=[lead.pk]), headers=HX).content.decode()
    assert "<html" not in html
    offered = re.findall(r'data-user-id="(\d+)"', html)
    assert str(ana.pk) in offered and str(beto.pk) in offered and str(supervisor.pk) in offered
    assert str(held.pk) not in offered  # already holds it
    assert "Analista" not in html and "Inactiva" not in html and "Importada" not in html
    assert offered[0] == str(ana.pk)  # available first
    beto_item = html[html.index(f'data-user-id="{beto.pk}"'):]
    assert "2 leads abiertos" in beto_item[:800]
    assert 'role="option"' in html and "Ventas Norte" in html and "avail-disponible" in html
    by_team = client.get(reverse("leads:people", args=[lead.pk]), {"q": "norte"}).content.decode()
    assert re.findall(r'data-user-id="(\d+)"', by_team) == [str(ana.pk)]
    nobody = client.get(reverse("leads:people", args=[lead.pk]), {"q": "zzz"}).content.decode()
    assert 'aria-disabled="true"' in nobody and "zzz" in nobody


def test_order_panel_endpoints_answer_the_panel_only(agent, client_for):
    product("A", stock=3, name="Plan Hogar")
    lead = ready_lead()
    client = client_for(agent)
    added = client.post(reverse("orders:draft_add"), {"lead_id": lead.pk, "sku": "A", "quantity": 1}, headers=HX)
    assert added.status_code == 200 and "<html" not in added.content.decode()
    short = client.post(reverse("orders:draft_add"), {"lead_id": lead.pk, "sku": "A", "quantity": 5}, headers=HX)
    assert short.status_code == 409
    assert 'id="order-panel"' in short.content.decode() and "disponibles 3 de 6" in short.content.decode()
    order = Order.objects.get()
    changed = client.post(reverse("orders:draft_lines", args=[order.pk]), {"qty-A": "2"}, headers=HX)
    assert changed.status_code == 200 and "20.000\u00a0COP" in changed.content.decode()
    confirmed = client.post(reverse("orders:confirm", args=[order.pk]), headers=HX)
    html = confirmed.content.decode()
    assert confirmed.status_code == 200 and "<html" not in html
    assert 'id="order-panel"' in html and 'data-testid="lead-orders"' in html and order.number in html
    assert "call-feedback" in oob_ids(html) and "confirmado" in html
    # without JavaScript, a line change redirects back to the call screen
    assert client.post(reverse("orders:draft_add"), {"lead_id": lead.pk, "sku": "A", "quantity": 1}).status_code == 302


def test_confirm_with_missing_delivery_data_is_shown_in_the_panel(agent, client_for):
    product("A", stock=3)
    lead = LeadFactory()
    client = client_for(agent)
    client.post(reverse("orders:draft_add"), {"lead_id": lead.pk, "sku": "A", "quantity": 1}, headers=HX)
    order = Order.objects.get()
    response = client.post(reverse("orders:confirm", args=[order.pk]), headers=HX)
    assert response.status_code == 400
    assert 'data-testid="order-error"' in response.content.decode()


def test_queue_rows_are_labelled_for_cards_and_use_the_short_date(agent, client_for):
    LeadFactory(name="Pedido con un nombre muy largo")
    html = client_for(agent).get(reverse("leads:queue")).content.decode()
    assert "leads/call.css" in html and 'data-label="Llegó"' in html
    assert re.search(r'data-f="arrived"[^>]*><small><time[^>]*>\d{2}/\d{2}/\d{4} \d{2}:\d{2}', html)


def test_history_speaks_in_sentences_with_names(supervisor, make_user, client_for):
    lead = LeadFactory()
    beto = make_user(Role.AGENTE, full_name="Beto Operador")
    html = client_for(supervisor).post(reverse("leads:reassign", args=[lead.pk]), {"to_user": beto.pk},
                                       headers=HX).content.decode()
    history = html[html.index('id="lead-history"'):]
    assert "Beto Operador" in history and supervisor.display_name in history
    assert "→" not in history and beto.username not in history
