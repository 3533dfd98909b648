"""Demo data for the call center (a `seed_demo` seeder): marketing lists, predefined notes, customers with
LatAm names and phone numbers, and leads in "Para Llamar" — some already worked by the demo agents.

When Kommo is connected (demo mode: `make run` connects the local fake Kommo first), every demo lead is
also created in that Kommo, so later steps that talk to Kommo (orders → "Venta Confirmada") work on them.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

import httpx
from django.core.management.base import OutputWrapper
from django.utils import timezone

from accounts.models import User
from core.demo import at, business_moment, lognormal_seconds
from crm.models import KommoAccount
from customers import demo as people
from customers.actions import apply_tags, do_upsert_customer
from customers.models import MarketingList
from leads import actions
from leads.models import Lead, NoteTemplate

LISTS = [("black-friday", "Black Friday 2026"), ("clientes-frecuentes", "Clientes frecuentes"),
         ("referidos", "Referidos")]
TEMPLATES = [
    ("Llamar nuevamente", "El cliente pidió que lo llamemos más tarde.", "parcial", ["rellamar"]),
    ("No interesado", "El cliente no está interesado por ahora.", "negativo", ["no-interesado"]),
    ("Buzón de voz", "No contestó; dejé mensaje en el buzón de voz.", "no_clasificado", ["sin-respuesta"]),
    ("Venta probable", "Interesado; enviar cotización y cerrar en la próxima llamada.", "positivo", ["caliente"]),
    ("Número equivocado", "El número no corresponde al cliente.", "negativo", ["dato-erroneo"]),
]
PRODUCTS = ["Plan Hogar", "Combo Oficina", "Kit Escolar", "Seguro Moto", "Suscripción Premium", "Pedido web"]
LEADS_BY_SCALE = {"small": 40, "large": 1000}


def _kommo_lead(account: KommoAccount | None, name: str, contact: Mapping[str, object]) -> int | None:
    if account is None:
        return None
    try:
        response = httpx.post(f"{account.api_base}/_fake/leads", timeout=5, json={
            "name": name, "status_id": account.to_call_status_id, "pipeline_id": account.to_call_pipeline_id,
            "contact": contact, "emit": False})
        response.raise_for_status()
        return int(response.json()["id"])
    except (httpx.HTTPError, KeyError, ValueError):
        return None  # not the demo Kommo: keep the lead local


def seed_call_center(rng: random.Random, scale: str, stdout: OutputWrapper) -> None:
    lists = [MarketingList.objects.get_or_create(code=code, defaults={"name": name})[0] for code, name in LISTS]
    supervisor = User.objects.filter(role="supervisor").first()
    agents = list(User.objects.filter(role="agente").order_by("username")[:8])
    if supervisor is None or not agents:
        return
    for sort, (title, text, outcome, tags) in enumerate(TEMPLATES):
        if not NoteTemplate.objects.filter(title=title).exists():
            actions.check_save_note_template(supervisor, title=title, text=text, outcome=outcome, tags=tags, sort=sort)
    account = KommoAccount.current()
    account = account if account is not None and "127.0.0.1" in account.api_base else None
    now = timezone.now()
    count = LEADS_BY_SCALE.get(scale, 40)
    templates = list(NoteTemplate.objects.all())
    next_local_id = 9_000_000
    for i in range(count):
        name = people.full_name(rng)
        city, department = rng.choice(people.CITIES)
        phone = people.phone(rng)
        email = people.email_for(name, i)
        product = rng.choice(PRODUCTS)
        contact = {"name": name, "phones": [phone], "emails": [email]}
        kommo_id = _kommo_lead(account, f"{product} — {name.split(maxsplit=1)[0]}", contact) if i < 200 else None
        if kommo_id is None:
            next_local_id += 1
            kommo_id = next_local_id
        customer = do_upsert_customer(name=name, phones=[phone], emails=[email])
        customer.city, customer.department = city, department
        customer.address = f"Calle {rng.randint(1, 150)} # {rng.randint(1, 99)}-{rng.randint(1, 99)}"
        customer.extra = {"plan": rng.choice(["Básico", "Plus", "Premium"]),
                          "origen": rng.choice(["web", "feria", "referido"])}
        customer.save()
        if rng.random() < 0.5:
            customer.marketing_lists.add(rng.choice(lists))
        arrived = business_moment(rng, rng.randint(0, 20), now=now)
        first_name = name.split(maxsplit=1)[0]
        lead = Lead.objects.create(kommo_id=kommo_id, name=f"{product} — {first_name}", customer=customer,
                                   price=Decimal(rng.choice([89000, 149900, 259000, 499000])), in_queue=True,
                                   stage_name="Ventas / Para Llamar", status_id=account.to_call_status_id if account
                                   else None, queue_entered_at=arrived, queue_sort_at=arrived, created_at=arrived)
        roll = rng.random()
        if roll < 0.45:
            continue  # never contacted
        agent = rng.choice(agents)
        template = rng.choice(templates)
        # The call comes some minutes after the lead arrived (speed to lead), the note at the end of the call.
        called = min(now - timedelta(minutes=2), arrived + timedelta(seconds=lognormal_seconds(rng, 25 * 60, 1.0)))
        noted = min(now - timedelta(minutes=1), called + timedelta(seconds=lognormal_seconds(rng, 4 * 60, 0.6)))
        with at(called):  # the supervisor hands the day's leads out; the agent calls
            actions.check_reassign_lead(supervisor, lead.pk, to_user=agent.pk)
        with at(noted):
            actions.check_add_note(agent, lead.pk, template_id=template.pk)
            if roll > 0.85:
                actions.check_close_lead(agent, lead.pk, text="Cliente atendido; caso cerrado.", outcome="positivo")

        if rng.random() < 0.2:
            apply_tags(customer, ["VIP"])  # the tag the VIP segment reads (customers 0007)
    stdout.write(f"call center: {count} leads, {len(TEMPLATES)} predefined notes, {len(LISTS)} marketing lists")
