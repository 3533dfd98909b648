"""Demo inbox (a `seed_demo` seeder): a believable month of WhatsApp, email and web chat for a Colombian retailer.

Customers with real-looking names write during business hours about what each inbox handles (sales, support,
marketing); agents answer in minutes on WhatsApp and web chat and within the hour by email — with a realistic tail
past the service levels — and close in hours with a documented reason, a result and the customer's state. A few
recent conversations are still unanswered or waiting for the customer. Every action runs at its own moment
(core.demo.at), so the dashboard's times are the ones a real month would give.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.conf import settings
from django.core.management.base import OutputWrapper
from django.utils import timezone

from accounts.models import Team, User
from core.demo import at, business_moment, lognormal_seconds
from customers import demo as people
from inbox import actions
from inbox.choices import ConversationOutcome, CustomerState
from inbox.defaults import ensure_default_inboxes
from inbox.models import Inbox

TOPICS: dict[str | None, list[tuple[str, str]]] = {
    "ventas": [
        ("Hola, ¿el Plan Hogar de 600 megas tiene instalación gratis?",
         "¡Hola! Sí, este mes la instalación es gratis. ¿Te agendo una visita técnica?"),
        ("Buenas tardes, quiero el combo oficina para 5 puestos. ¿Qué precio tiene?",
         "Con gusto. El Combo Oficina cuesta $259.000 al mes; te envío la propuesta al correo."),
        ("¿Tienen el router WiFi 6 disponible para entrega en Medellín?",
         "Sí, hay disponibilidad y llega en 2 días hábiles a Medellín."),
        ("¿Puedo pagar contra entrega?", "Sí, aceptamos pago contra entrega en las ciudades principales."),
    ],
    "soporte": [
        ("Mi internet está muy lento desde ayer en la noche",
         "Lamentamos la falla. Reiniciamos tu equipo desde aquí; cuéntanos si ya mejoró."),
        ("El técnico no llegó a la cita de hoy", "Qué pena contigo. Reprogramamos la visita para mañana a las 9:00."),
        ("No me llegó la factura de noviembre", "Te la reenviamos al correo registrado; revisa también el spam."),
        ("El decodificador muestra un error E-104", "Ese código se corrige reiniciando; te enviamos los pasos."),
    ],
    "marketing": [
        ("Vi la promoción de Black Friday, ¿sigue vigente?", "¡Sí! Hasta el domingo tienes 20 % de descuento."),
        ("¿Cómo funciona el programa de referidos?",
         "Por cada amigo que se afilie recibes un mes gratis. Te envío el enlace."),
        ("Quiero dejar de recibir mensajes promocionales", "Listo, te retiramos de la lista de promociones."),
    ],
    None: [
        ("Hola, buenos días", "¡Buenos días! ¿En qué te podemos ayudar?"),
        ("¿Cuál es el horario de atención?", "Atendemos de lunes a sábado de 8:00 a 19:00."),
    ],
}
FOLLOW_UPS = ["Perfecto, muchas gracias", "Listo, quedo atento", "Gracias por la ayuda", "Ok, ya funcionó 👍"]
# First answer: median and spread per channel (service levels: WhatsApp 5 min, email 2 h, web chat 1 min).
FIRST_ANSWER = {"whatsapp": (150, 0.9), "email": (40 * 60, 0.8), "webchat": (35, 0.7)}
COUNTS = {"small": 150, "large": 400}
DAYS = 30


MORNING_BACKLOG = {"small": 7, "large": 40}


def _outcome(rng: random.Random, inbox: str | None) -> tuple[str, str]:
    roll = rng.random()
    if inbox == "ventas":
        if roll < 0.35:
            return ConversationOutcome.RESOLVED, CustomerState.INTERESTED
        if roll < 0.65:
            return ConversationOutcome.RESOLVED, CustomerState.FOLLOW_UP
        return ConversationOutcome.UNSOLVED, CustomerState.NOT_INTERESTED
    if roll < 0.85:
        return ConversationOutcome.RESOLVED, CustomerState.CONVERTED if inbox == "marketing" else ""
    return ConversationOutcome.UNSOLVED, ""


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
    count = COUNTS.get(scale, COUNTS["small"])
    seen: list[tuple[datetime, str, str, str, str]] = []  # (when, name, phone, email, channel) of earlier customers
    still_open: set[str] = set()  # customers whose conversation is left open: they do not come back with a new one
    for i in range(count):
        # Older days first, so the conversations are written in the order they happened.
        day = DAYS - 1 - (i * DAYS) // count
        started = business_moment(rng, day, now=now)
        channel = rng.choice(["whatsapp", "whatsapp", "whatsapp", "email", "webchat"])
        inbox_code = rng.choice(["ventas", "ventas", "soporte", "soporte", "marketing", None])
        question, answer = rng.choice(TOPICS[inbox_code])
        # About a quarter are customers who wrote before (past the reopening window: a new conversation).
        # (Past the reopening window counted from the earlier conversation's close, which comes hours after its
        # start: three days of margin, so a returning customer never reopens an old conversation by chance.)
        earlier = [s for s in seen
                   if started - s[0] > timedelta(days=settings.INBOX_REOPEN_DAYS + 3) and s[1] not in still_open]
        if earlier and rng.random() < 0.3:
            chosen = rng.choice(earlier)
            _when, name, phone, email, channel = chosen  # the same person, where they wrote before
            seen[seen.index(chosen)] = (started, name, phone, email, channel)  # their latest contact from now on
        else:
            name = people.full_name(rng)
            phone, email = people.phone(rng), people.email_for(name, i)
            seen.append((started, name, phone, email, channel))
        with at(started):
            c, _m, _ = actions.do_receive_inbound(
                channel=channel, body=question, customer_name=name, inbox_code=inbox_code,
                phones=[phone] if channel != "email" else [], emails=[email] if channel == "email" else [])
        still_open.add(name)  # until it is closed below
        recent = now - started < timedelta(hours=6)
        if recent and rng.random() < 0.4:
            continue  # still waiting for its first answer
        members = [a for a in agents if c.inbox.is_global or set(a.teams.all()) & set(c.inbox.teams.all())]
        agent = c.assignee or rng.choice(members or agents)
        handled_by_phone = not recent and rng.random() < 0.015
        handled_at = started + timedelta(seconds=lognormal_seconds(rng, 3 * 3600, 0.6))
        if handled_by_phone and handled_at < now:
            # Handled on the phone before anyone wrote back: closed without a written answer (a KPI in amber).
            with at(handled_at):
                if c.assignee is None:
                    actions.check_assign(agent, c.pk, assignee=agent.username)
                actions.check_close_conversation(agent, c.pk, reason="derived_documented",
                                                 comment="El cliente llamó y se le atendió por teléfono.")
            still_open.discard(name)
            continue
        median, spread = FIRST_ANSWER[channel]
        answered = min(now, started + timedelta(seconds=lognormal_seconds(rng, median, spread)))
        with at(answered):
            if c.assignee is None:
                actions.check_assign(agent, c.pk, assignee=agent.username)
            actions.check_send_reply(agent, c.pk, body=answer)
        if recent or rng.random() < 0.12:
            continue  # waiting for the customer
        replied = answered + timedelta(seconds=lognormal_seconds(rng, 20 * 60, 1.0))
        closed = replied + timedelta(seconds=lognormal_seconds(rng, 40 * 60, 0.9))
        if closed >= now:
            continue
        with at(replied):
            actions.do_receive_inbound(channel=channel, body=rng.choice(FOLLOW_UPS), conversation_id=c.pk)
        outcome, customer_state = _outcome(rng, inbox_code)
        with at(closed):
            actions.check_send_reply(agent, c.pk, body="¡Con gusto! Que tengas un excelente día.")
            actions.check_close_conversation(agent, c.pk, reason="answered", outcome=outcome,
                                             customer_state=customer_state)
        still_open.discard(name)
    # This morning's queue: messages that arrived in the last two hours and nobody has answered yet (the
    # "Abiertas sin respuesta" KPI shows it in red, as a supervisor would see it at 10 a.m.).
    backlog = MORNING_BACKLOG.get(scale, MORNING_BACKLOG["small"])
    for i in range(backlog):
        name = people.full_name(rng)
        channel = rng.choice(["whatsapp", "whatsapp", "webchat", "email"])
        inbox_code = rng.choice(["ventas", "soporte", None])
        with at(now - timedelta(minutes=rng.randint(5, 120))):
            actions.do_receive_inbound(
                channel=channel, body=rng.choice(TOPICS[inbox_code])[0], customer_name=name, inbox_code=inbox_code,
                phones=[people.phone(rng)] if channel != "email" else [],
                emails=[people.email_for(name, count + i)] if channel == "email" else [])
    stdout.write(f"inbox: {count} conversations over {DAYS} days, {backlog} waiting in this morning's queue")
