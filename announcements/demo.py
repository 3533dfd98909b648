"""Demo announcements (seed_demo's SEEDERS, from AnnouncementsConfig.ready()): a policy change everyone must
confirm and a celebration, published by the first supervisor; a procedure scheduled for tomorrow."""

from __future__ import annotations

import random
from datetime import timedelta

from django.core.management.base import OutputWrapper
from django.utils import timezone

from accounts.models import User
from announcements.actions import AnnouncementInput, check_save_announcement
from announcements.choices import AnnouncementCategory
from announcements.models import Announcement

POLICY = """\
Desde el **lunes** cambia el plazo de devoluciones: pasa de 30 a **45 días** desde la entrega.

- Aplica a todos los pedidos entregados desde el 1 del mes.
- Los productos de higiene personal siguen sin devolución, salvo defecto de fábrica.
- Si un cliente pregunta por un pedido anterior, ofrezca igual los 45 días.

El artículo «Devoluciones y cambios» de la base de conocimiento ya está actualizado.
"""

CELEBRATION = """\
¡Cerramos el trimestre con **112 %** de la meta de ventas! 🎉

Gracias a cada persona del equipo. El viernes a las 5:00 p. m. hay torta en la sala de descanso.
"""

PROCEDURE = """\
A partir de mañana, toda venta por WhatsApp se confirma con el **resumen del pedido** antes de pedir el pago:

1. Envíe el resumen desde el panel del pedido.
2. Espere el «sí» del cliente.
3. Recién entonces comparta el enlace de pago.
"""


def seed_announcements(rng: random.Random, scale: str, stdout: OutputWrapper) -> None:
    author = User.objects.filter(role="supervisor", is_active=True).order_by("id").first()
    if author is None or Announcement.objects.exists():
        return
    today = timezone.localdate()
    check_save_announcement(author, announcement_id=None, publish=True, data=AnnouncementInput(
        title="Nueva política de devoluciones: 45 días", body=POLICY, category=AnnouncementCategory.POLICY,
        requires_ack=True, pinned_until=today + timedelta(days=14)))
    check_save_announcement(author, announcement_id=None, publish=True, data=AnnouncementInput(
        title="¡Superamos la meta del trimestre!", body=CELEBRATION, category=AnnouncementCategory.CELEBRATION))
    check_save_announcement(author, announcement_id=None, publish=True, data=AnnouncementInput(
        title="Confirmar el pedido antes de cobrar", body=PROCEDURE, category=AnnouncementCategory.PROCEDURE,
        requires_ack=True, publish_at=timezone.now() + timedelta(days=1)))
    stdout.write("announcements: 2 published (one asks for confirmation), 1 scheduled")
