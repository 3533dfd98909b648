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
from crm.models import KommoAccount
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
FIRST = ["Valentina", "Santiago", "Camila", "Mateo", "Lucía", "Juan Pablo", "Ximena", "Diego", "Mariana", "Andrés",
         "Guadalupe", "Renzo", "Fiorella", "Óscar", "Ángela", "Jhon Jairo", "Begoña", "Iñaki", "Rocío", "Emiliano"]
LAST = ["Peña", "Muñoz", "Quispe", "Hernández", "Ospina", "Zúñiga", "Castaño", "Núñez", "Flores", "Ibáñez",
        "Villaseñor", "Rojas", "Salazar", "Mamani", "Londoño", "Ávila", "Echeverría", "Cárdenas"]
CITIES = [("Bogotá", "Cundinamarca"), ("Medellín", "Antioquia"), ("Cali", "Valle del Cauca"),
          ("Barranquilla", "Atlántico"), ("Bucaramanga", "Santander"), ("Pereira", "Risaralda")]
LEADS_BY_SCALE = {"small": 40, "large": 1000}


MOBILE_PREFIXES = ["300", "301", "302", "304", "305", "310", "311", "312", "313", "314", "315", "316", "317",
                   "318", "319", "320", "321", "322", "323", "350", "351"]


def _phone(rng: random.Random) -> str:
    """A valid Colombian mobile number, written the way people type it."""
    return f"+57 {rng.choice(MOBILE_PREFIXES)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"


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
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {rng.choice(LAST)}"
        city, department = rng.choice(CITIES)
        phone = _phone(rng)
        email = f"{name.split(maxsplit=1)[0].lower()}.{i}@correo.example"
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
        arrived = now - timedelta(days=rng.randint(0, 20), minutes=rng.randint(0, 600))
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
        actions.check_add_note(agent, lead.pk, template_id=template.pk)
        if roll > 0.85:
            actions.check_close_lead(agent, lead.pk, text="Cliente atendido; caso cerrado.", outcome="positivo")
        if rng.random() < 0.2:
            apply_tags(customer, ["vip"])
    stdout.write(f"call center: {count} leads, {len(TEMPLATES)} predefined notes, {len(LISTS)} marketing lists")
