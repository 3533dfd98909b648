"""The inboxes of the team's guide, created once (administrators edit them afterwards)."""

from django.db import migrations

DEFAULT = [
    ("global", "Global", True, []),
    ("marketing", "Marketing", False, ["Leads", "Campañas", "Consultas informativas", "Formularios y redes sociales"]),
    ("ventas", "Ventas", False, ["Cotizaciones", "Seguimiento comercial", "Negociaciones activas"]),
    ("soporte", "Servicio y Soporte", False, ["Fallas", "Solicitudes técnicas", "Garantías", "Postventa"]),
]


def create(apps, schema_editor):
    Inbox = apps.get_model("inbox", "Inbox")
    InboxCategory = apps.get_model("inbox", "InboxCategory")
    Team = apps.get_model("accounts", "Team")
    for sort, (code, name, is_global, categories) in enumerate(DEFAULT):
        inbox, created = Inbox.objects.get_or_create(code=code, defaults={
            "name": name, "is_global": is_global, "auto_assign": not is_global, "sort": sort})
        if not created:
            continue
        team = Team.objects.filter(code=code).first()
        if team is not None:
            inbox.teams.add(team)
        for position, category in enumerate(categories):
            InboxCategory.objects.get_or_create(inbox=inbox, name=category, defaults={"sort": position})


def remove(apps, schema_editor):
    apps.get_model("inbox", "Inbox").objects.filter(code__in=[d[0] for d in DEFAULT],
                                                    conversations__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("inbox", "0001_initial"), ("accounts", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
