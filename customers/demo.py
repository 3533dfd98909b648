"""Names and numbers for demo customers (shared by the call-center and inbox seeders): Colombian, Peruvian and
Mexican first names and surnames, valid Colombian mobile numbers as people type them, real city names."""

from __future__ import annotations

import random
import unicodedata
from typing import Any

from django.db import transaction
from django.utils import timezone

from customers.activity import rebuild_customer_activity
from customers.choices import ConsentStatus
from customers.models import Consent, Customer, Tag
from customers.segments import recompute_all

FIRST = ["Valentina", "Santiago", "Camila", "Mateo", "Lucía", "Juan Pablo", "Ximena", "Diego", "Mariana", "Andrés",
         "Guadalupe", "Renzo", "Fiorella", "Óscar", "Ángela", "Jhon Jairo", "Rocío", "Emiliano", "Daniela",
         "Sebastián", "Luisa Fernanda", "Carlos Alberto", "Natalia", "Alejandro", "Paola", "Fernando", "Yolanda",
         "Héctor", "Gabriela", "Miguel Ángel", "Milagros", "Luis Enrique", "Sofía", "Ricardo", "Patricia", "Julián"]
LAST = ["Peña", "Muñoz", "Quispe", "Hernández", "Ospina", "Zúñiga", "Castaño", "Núñez", "Flores", "Ibáñez",
        "Villaseñor", "Rojas", "Salazar", "Mamani", "Londoño", "Ávila", "Echeverría", "Cárdenas", "Gómez", "Restrepo",
        "Torres", "Vargas", "Chávez", "Ramírez", "Gutiérrez", "Morales", "Jiménez", "Castillo", "Mendoza", "Paredes"]
CITIES = [("Bogotá", "Cundinamarca"), ("Medellín", "Antioquia"), ("Cali", "Valle del Cauca"),
          ("Barranquilla", "Atlántico"), ("Bucaramanga", "Santander"), ("Pereira", "Risaralda"),
          ("Cartagena", "Bolívar"), ("Manizales", "Caldas")]
MOBILE_PREFIXES = ["300", "301", "302", "304", "305", "310", "311", "312", "313", "314", "315", "316", "317",
                   "318", "319", "320", "321", "322", "323", "350", "351"]


STREETS = ["Calle", "Carrera", "Avenida", "Transversal", "Diagonal"]


def address(rng: random.Random) -> str:
    """A delivery address as Colombians write it (Calle 80 # 12-34), sometimes with an apartment."""
    street = f"{rng.choice(STREETS)} {rng.randint(1, 150)} # {rng.randint(1, 99)}-{rng.randint(1, 99)}"
    return street + (f", apto {rng.randint(1, 20)}0{rng.randint(1, 4)}" if rng.random() < 0.4 else "")


def full_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)} {rng.choice(LAST)}"


def phone(rng: random.Random) -> str:
    """A valid Colombian mobile number, written the way people type it."""
    return f"+57 {rng.choice(MOBILE_PREFIXES)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"


def email_for(name: str, n: int) -> str:
    first = name.split(maxsplit=1)[0]
    ascii_first = unicodedata.normalize("NFKD", first).encode("ascii", "ignore").decode().lower()
    return f"{ascii_first}.{n}@correo.example"


def seed_customer_profiles(rng: random.Random, scale: str, stdout: Any) -> None:
    """After the other seeders: every customer's activity columns, and consents and preferences for some of them
    (a store form's WhatsApp opt-ins, newsletter emails, a "BAJA" reply), so the profile and campaigns have data."""
    seen, _changed = rebuild_customer_activity()
    # Demo rows describe the past, as imported history does: written in bulk, without an audit line or an event
    # each (one by one they cost the `make run` start several seconds).
    now = timezone.now()
    consents: list[Consent] = []
    preferring: list[Customer] = []
    with transaction.atomic():
        for customer in Customer.objects.order_by("pk").only("pk").iterator(chunk_size=500):
            roll = rng.random()
            if roll < 0.6:
                consents.append(Consent(customer=customer, channel="whatsapp", status=ConsentStatus.OPTED_IN,
                                        source="Formulario de la tienda", opted_in_at=now, updated_at=now))
            elif roll < 0.65:
                consents.append(Consent(customer=customer, channel="whatsapp", status=ConsentStatus.OPTED_OUT,
                                        opted_out_at=now, opt_out_method=Consent.Method.KEYWORD, updated_at=now))
            if rng.random() < 0.3:
                consents.append(Consent(customer=customer, channel="email", status=ConsentStatus.OPTED_IN,
                                        source="Boletín del sitio web", opted_in_at=now, updated_at=now))
            if rng.random() < 0.25:
                customer.preferred_channel = rng.choice(["whatsapp", "email", "phone"])
                customer.language = "es"
                preferring.append(customer)
        Consent.objects.bulk_create(consents)
        Customer.objects.bulk_update(preferring, ["preferred_channel", "language"])
        vip, _created = Tag.objects.get_or_create(name="VIP")
        for customer in Customer.objects.filter(orders_count__gt=0).order_by("-total_spent", "pk")[:3]:
            customer.tags.add(vip)
    recompute_all()  # the segments' baseline (announces nobody), with the VIP tags above
    stdout.write(f"customer profiles: {seen} customers")
