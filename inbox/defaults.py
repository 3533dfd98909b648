"""The inboxes of the team's guide. The data migration creates them on a fresh database (with its own copy of
this list, as migrations must not import app code); seeders and tests call ensure_default_inboxes()."""

from __future__ import annotations

from inbox.models import Inbox, InboxCategory

DEFAULT_INBOXES = [
    ("global", "Global", True, []),
    ("marketing", "Marketing", False, ["Leads", "Campañas", "Consultas informativas", "Formularios y redes sociales"]),
    ("ventas", "Ventas", False, ["Cotizaciones", "Seguimiento comercial", "Negociaciones activas"]),
    ("soporte", "Servicio y Soporte", False, ["Fallas", "Solicitudes técnicas", "Garantías", "Postventa"]),
]


def ensure_default_inboxes() -> None:
    for sort, (code, name, is_global, categories) in enumerate(DEFAULT_INBOXES):
        inbox, created = Inbox.objects.get_or_create(code=code, defaults={
            "name": name, "is_global": is_global, "auto_assign": not is_global, "sort": sort})
        if created:
            for position, category in enumerate(categories):
                InboxCategory.objects.get_or_create(inbox=inbox, name=category, defaults={"sort": position})
