"""Demo inbox (a `seed_demo` seeder): inboxes linked to the demo teams and conversations over the last 90 days
on WhatsApp, email and web chat, answered, waiting and resolved with the guide's closure reasons."""

from __future__ import annotations

import random
from datetime import timedelta

from django.core.management.base import OutputWrapper
from django.utils import timezone

from accounts.models import Team, User
from inbox import actions
from inbox.defaults import ensure_default_inboxes
from inbox.models import Inbox

QUESTIONS = ["Hola, ¿tienen disponibilidad del plan hogar?", "Buenas tardes, mi router no enciende",
             "¿Cuánto cuesta el envío a Medellín?", "Quiero cambiar la fecha de instalación",
             "¿Me pueden enviar la factura de octubre?", "El técnico no llegó hoy", "¿Aceptan pago contra entrega?"]
ANSWERS = ["¡Hola! Sí, está disponible; te comparto los detalles.", "Lamentamos la falla; ya abrimos un caso técnico.",
           "El envío a Medellín cuesta $12.000 y llega en 2 días.",
           "Listo, reprogramamos la instalación para el lunes.", "Te la enviamos a tu correo registrado."]
COUNTS = {"small": 60, "large": 200}


def seed_inbox(rng: random.Random, scale: str, stdout: OutputWrapper) -> None:
    ensure_default_inboxes()
    for code in ("ventas", "marketing", "soporte"):
        inbox, team = Inbox.objects.filter(code=code).first(), Team.objects.filter(code=code).first()
        if inbox is not None and team is not None:
            inbox.teams.add(team)
    agents = list(User.objects.filter(role="agente", teams__code__in=["ventas", "soporte", "marketing"]).distinct())
    if not agents:
        return
    now = timezone.now()
    count = COUNTS.get(scale, 60)
    for i in range(count):
        when = now - timedelta(days=rng.uniform(0, 89), minutes=rng.randint(0, 600))
        channel = rng.choice(["whatsapp", "whatsapp", "email", "webchat"])
        c, _m, _ = actions.do_receive_inbound(
            channel=channel, body=rng.choice(QUESTIONS), customer_name=f"Cliente demo {i + 1}",
            phones=[f"+57 31{rng.randint(0, 9)} {rng.randint(100, 999)} {i:04d}"] if channel != "email" else [],
            emails=[f"cliente{i + 1}@correo.example"] if channel == "email" else [],
            inbox_code=rng.choice(["ventas", "soporte", "marketing", None]), received_at=when)
        members = [a for a in agents if c.inbox.is_global or set(a.teams.all()) & set(c.inbox.teams.all())]
        agent = c.assignee or rng.choice(members or agents)
        roll = rng.random()
        if roll < 0.15:
            continue  # still new / unanswered
        if c.assignee is None:
            actions.check_assign(agent, c.pk, assignee=agent.username)
        actions.check_send_reply(agent, c.pk, body=rng.choice(ANSWERS))
        if roll < 0.35:
            continue  # waiting for the customer
        actions.check_close_conversation(agent, c.pk, reason="answered")
    stdout.write(f"inbox: {count} conversations")
