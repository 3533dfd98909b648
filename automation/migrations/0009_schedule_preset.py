"""A suggested rule at a scheduled time, seeded **disabled** like the others (0006): on weekdays at 10:00, a reminder
to the customers who have not answered in two days (conversations *En espera*), once per conversation. On WhatsApp
its window is closed by then, so it uses the template named here once the business has it approved; until then
the run records why it was skipped and, nothing having been done, tries again the next day (only an applied run
counts for "once per conversation": docs/automation.md)."""

from django.db import migrations

PRESET = {
    "preset": "waiting_reminder", "name": "Recordatorio a quien no respondió en 2 días", "event": "schedule",
    "description": "De lunes a viernes a las 10:00, un recordatorio a las conversaciones en espera del cliente sin "
                   "actividad desde hace 48 horas (una vez por conversación).",
    "schedule": {"days": [0, 1, 2, 3, 4], "time": "10:00"},
    "conditions": [{"field": "state", "op": "is", "value": ["en_espera"]},
                   {"field": "idle_hours", "op": "at_least", "value": 48}],
    "actions": [{"type": "send_message",
                 "body": "Hola, {{cliente.primer_nombre}}: ¿pudo revisar nuestro último mensaje? Si tiene alguna "
                         "duda, responda aquí y le ayudamos.",
                 "template": "recordatorio_conversacion", "variables": {"1": "{{cliente.primer_nombre}}"}}],
    "frequency": "conversation", "position": 10,
}


def forwards(apps, schema_editor):
    rule = apps.get_model("automation", "AutomationRule")
    values = dict(PRESET)
    code = values.pop("preset")
    rule.objects.get_or_create(preset=code, defaults={**values, "active": False, "match": "all"})


def backwards(apps, schema_editor):
    apps.get_model("automation", "AutomationRule").objects.filter(preset=PRESET["preset"]).delete()


class Migration(migrations.Migration):
    dependencies = [("automation", "0008_rule_schedule")]
    operations = [migrations.RunPython(forwards, backwards)]
