"""Demo quick replies (a `seed_demo` seeder): the shared ones a Colombian retailer's supervisor would write, one
per inbox, and an agent's personal ones."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.core.management.base import OutputWrapper
from django.utils import timezone

from accounts.models import User
from automation import sla
from automation.actions import check_save_quick_reply
from automation.choices import QuickReplyScope
from automation.models import QuickReply, Sequence, SlaTimer
from automation.rules import RuleInput, check_save_rule
from automation.sequences import SequenceInput, check_save_sequence
from core.demo import at

SHARED = [
    ("saludo", "Saludo", "ventas", "", "¡Hola {{cliente.primer_nombre}}! Le saluda {{agente.primer_nombre}} de "
     "Centralita Hogar. ¿En qué le puedo ayudar hoy?"),
    ("horario", "Horario de atención", "soporte", "", "Atendemos de lunes a viernes de 8:00 a 18:00 y los sábados "
     "de 9:00 a 13:00 (hora de Bogotá). Fuera de ese horario le respondemos a primera hora."),
    ("envio", "Tiempo de envío", "envíos", "", "Hola {{cliente.primer_nombre}}: los envíos a {{cliente.ciudad}} "
     "tardan de 2 a 3 días hábiles. Le compartimos la guía apenas salga su pedido."),
    ("pago", "Medios de pago", "pagos", "", "Puede pagar con Nequi, Daviplata, PSE, tarjeta de crédito o contra "
     "entrega en las ciudades principales."),
    ("pedido", "Confirmación de pedido", "ventas", "ventas", "¡Listo {{cliente.primer_nombre}}! Su pedido "
     "{{pedido.numero}} por {{pedido.total}} quedó confirmado. Le avisamos cuando salga."),
    ("garantia", "Garantía", "reclamos", "soporte", "Lamentamos el inconveniente, {{cliente.primer_nombre}}. "
     "Para tramitar la garantía envíenos una foto del producto y el número de su pedido, por favor."),
    ("despedida", "Despedida", "", "", "Gracias por escribirnos, {{cliente.primer_nombre}}. ¡Que tenga un excelente "
     "día!"),
]
PERSONAL = [
    ("ya", "Ya reviso", "Ya lo reviso y le confirmo en unos minutos."),
    ("cuenta", "Cuenta para transferencia", "La cuenta de ahorros Bancolombia es la 123-456789-00 a nombre de "
     "Centralita Hogar S.A.S."),
]


def seed_quick_replies(rng: random.Random, scale: str, stdout: OutputWrapper) -> None:
    supervisor = User.objects.filter(role="supervisor").order_by("id").first()
    agent = User.objects.filter(username="agente1").first()
    if supervisor is None or QuickReply.objects.exists():
        return
    for shortcut, title, category, inbox, body in SHARED:
        check_save_quick_reply(supervisor, title=title, shortcut=shortcut, body=body, category=category,
                               scope=QuickReplyScope.INBOX if inbox else QuickReplyScope.EVERYONE, inbox_code=inbox)
    if agent is not None:
        for shortcut, title, body in PERSONAL:
            check_save_quick_reply(agent, title=title, shortcut=shortcut, body=body)
    # a month of use: the most useful answers come first in the picker
    for reply in QuickReply.objects.all():
        QuickReply.objects.filter(pk=reply.pk).update(usage_count=rng.randint(3, 160))
    stdout.write(f"automation: {QuickReply.objects.count()} quick replies")


def seed_sla_breaches(rng: random.Random, scale: str, stdout: OutputWrapper) -> None:
    """The demo's conversations were written through the actions, so their clocks ran as they happened; what fell
    due is breached (and escalated) at its own moment, replayed in order, as the 2-second sweep would have."""
    total = 0
    now = timezone.now()
    seen: tuple[int, datetime] | None = None
    while True:
        first = (SlaTimer.objects.filter(check_at__lte=now).order_by("check_at").values_list("pk", "check_at")
                 .first())
        if first is None or first[1] is None or first == seen:
            break  # the same earliest row twice: nothing more the sweep can take (never expected here)
        seen = (first[0], first[1])
        moment = min(first[1] + timedelta(seconds=2), now)
        with at(moment):
            total += sla.do_detect_breaches(now=moment)
    stdout.write(f"automation: {total} conversations past their service level")


def seed_sequences(rng: random.Random, scale: str, stdout: OutputWrapper) -> None:
    """A post-sale sequence (days 1, 3 and 7) and the rule that starts it when an agent's call note tags the customer
    «compró», inactive like the suggested rules: the administrator reads them and turns the rule on."""
    admin = User.objects.filter(role="admin").order_by("pk").first()
    if admin is None or Sequence.objects.exists():
        return
    sequence = check_save_sequence(admin, SequenceInput(
        name="Posventa: día 1, 3 y 7", stop_on_close=False,
        description="Acompaña al cliente después de la compra; se detiene si responde.",
        steps=[{"delay_minutes": 1440, "body": "Hola {{cliente.primer_nombre}}, ¿le llegó bien su pedido "
                                               "{{pedido.numero}}?", "template": "seguimiento_pedido",
                "variables": {"1": "{{cliente.primer_nombre}}", "2": "{{pedido.numero}}"}},
               {"delay_minutes": 3 * 1440, "body": "¿Pudo estrenarlo, {{cliente.primer_nombre}}? Si tiene "
                                                   "cualquier duda, respóndanos aquí."},
               {"delay_minutes": 7 * 1440, "body": "¿Nos recomendaría a un amigo? Responda con un número del 1 "
                                                   "al 10."}]))
    check_save_rule(admin, RuleInput(
        name="Posventa al etiquetar «compró»", event="customer.tagged", active=False,
        description="Una nota de llamada que etiqueta «compró» inicia la secuencia posventa.",
        conditions=[{"field": "customer_tag", "op": "has", "value": ["compró"]}],
        actions=[{"type": "start_sequence", "sequence": sequence.pk}]))
    stdout.write("  automation: a post-sale sequence and its rule (inactive)")
