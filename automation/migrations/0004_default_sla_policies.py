"""The communication protocol of the team's guide (seed 003) as the default policies: first response within 5
minutes on WhatsApp, 2 hours by email and 1 minute on web chat; a case not resolved 15 minutes after its
assignment goes to a supervisor (the clock pauses while the conversation waits for the customer). By email the
escalation comes at 2 hours instead: at 15 minutes every email would reach a supervisor long before its own agent
is late (docs/automation.md says so). Editable on Niveles de servicio and through PUT /api/v1/sla-policies."""

from django.db import migrations

DEFAULTS = {"whatsapp": 5 * 60, "email": 2 * 3600, "webchat": 60}
ESCALATION = {"whatsapp": 15 * 60, "email": 2 * 3600, "webchat": 15 * 60}


def forwards(apps, schema_editor):
    policy = apps.get_model("automation", "SlaPolicy")
    for channel, first in DEFAULTS.items():
        policy.objects.get_or_create(channel=channel, inbox=None, defaults={
            "first_response_seconds": first, "next_response_seconds": first, "escalate_after_seconds": ESCALATION[channel], "pause_on_hold": True})


def backwards(apps, schema_editor):
    apps.get_model("automation", "SlaPolicy").objects.filter(inbox=None, channel__in=list(DEFAULTS)).delete()


class Migration(migrations.Migration):
    dependencies = [("automation", "0003_sla_policies_and_timers")]
    operations = [migrations.RunPython(forwards, backwards)]
