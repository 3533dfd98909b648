"""The four segments seed 003 asks for, each editable afterwards (thresholds, treatment) and computed on the next
nightly recompute (or at once, when an admin saves it):

- VIP: spent at least 2,000,000 in the last 12 months, or tagged «VIP»; their conversations get priority «alta» and
  go first to agents with the skill «senior» (created here when missing); its badge shows in the inbox's list too;
- Frecuente: at least 3 purchases in the last 90 days;
- Nuevo: first contact in the last 30 days;
- Inactivo: a customer for at least 90 days with no purchase and no message from them in the last 90 days.
"""

from django.db import migrations

DEFAULTS = [
    ("vip", "VIP", "Los clientes que más compran: atención prioritaria y agentes senior.", "gold", "alta", 10,
     {"any": [{"spent_12m_min": "2000000"}, {"tag": "VIP"}]}),
    ("frecuente", "Frecuente", "Compran seguido: reconocimiento y sus preferencias a mano.", "green", "", 20,
     {"any": [{"orders_90d_min": 3}]}),
    ("nuevo", "Nuevo", "Primer contacto hace poco: bienvenida.", "blue", "", 30,
     {"any": [{"first_contact_within": 30}]}),
    ("inactivo", "Inactivo", "Ni compras ni mensajes en 90 días: reactivación.", "gray", "", 40,
     {"any": [{"no_purchase_days": 90, "no_inbound_days": 90, "customer_for_days_min": 90}]}),
]


def forwards(apps, schema_editor):
    Segment = apps.get_model("customers", "Segment")
    Skill = apps.get_model("accounts", "Skill")
    Tag = apps.get_model("customers", "Tag")
    senior, _ = Skill.objects.get_or_create(code="senior", defaults={"name": "Senior"})
    Tag.objects.get_or_create(name="VIP")
    for code, name, description, tone, priority, position, rules in DEFAULTS:
        if not Segment.objects.filter(code=code).exists() and not Segment.objects.filter(name=name).exists():
            Segment.objects.create(code=code, name=name, description=description, tone=tone, priority=priority,
                                   position=position, rules=rules, builtin=True,
                                   skill=senior if code == "vip" else None, in_lists=code == "vip")


def backwards(apps, schema_editor):
    apps.get_model("customers", "Segment").objects.filter(builtin=True).delete()


class Migration(migrations.Migration):
    dependencies = [("customers", "0006_segments"), ("accounts", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
