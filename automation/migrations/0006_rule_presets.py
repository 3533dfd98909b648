"""The rules the team's guide asks for (seed 003), seeded **disabled**: an administrator reads them, adapts the texts
to the business (hours, prices, address) and turns them on at Automatización → Reglas. Editable like any other rule;
the texts are Spanish, as the installation's customers are (docs/automation.md)."""

from django.db import migrations

KEYWORDS = [
    ("keyword_hours", "Respuesta a «horario»", ["horario", "horarios", "a que hora", "abren", "atienden"],
     "Nuestro horario de atención es de lunes a viernes de 8:00 a 18:00 y los sábados de 9:00 a 13:00. "
     "¿En qué le podemos ayudar?"),
    ("keyword_price", "Respuesta a «precio»", ["precio", "precios", "cuanto cuesta", "cuanto vale", "costo", "valor"],
     "Con gusto le compartimos precios: en unos minutos un asesor le envía la cotización. "
     "¿Qué producto le interesa?"),
    ("keyword_shipping", "Respuesta a «envío»", ["envio", "envios", "domicilio", "despacho", "entrega"],
     "Hacemos envíos a todo el país: de 1 a 3 días hábiles en ciudades principales y de 3 a 6 en el resto. "
     "Un asesor le confirma el costo para su ciudad."),
    ("keyword_location", "Respuesta a «ubicación»", ["ubicacion", "direccion", "donde quedan", "donde estan", "sede"],
     "Nos encuentra en nuestra sede principal (escriba aquí la dirección y el enlace del mapa). "
     "¿Desea que un asesor le indique cómo llegar?"),
]


def presets():
    rules = [
        {"preset": "welcome", "name": "Bienvenida en el primer contacto", "event": "message.received",
         "description": "Saluda a quien escribe por primera vez, en cualquier canal.",
         "conditions": [{"field": "first_message", "op": "yes", "value": ""}],
         "actions": [{"type": "send_message", "template": "", "variables": {},
                      "body": "¡Hola, {{cliente.primer_nombre}}! Gracias por escribirnos. En un momento le atiende "
                              "una persona de nuestro equipo."}],
         "frequency": "customer", "position": 10},
        {"preset": "out_of_hours", "name": "Fuera del horario de atención", "event": "message.received",
         "description": "Avisa cuándo se le responderá a quien escribe fuera del horario (festivos incluidos).",
         "conditions": [{"field": "business_hours", "op": "outside", "value": ""}],
         "actions": [{"type": "send_message", "template": "", "variables": {},
                      "body": "Gracias por escribirnos. En este momento estamos fuera del horario de atención: "
                              "le responderemos desde el {{equipo.proxima_apertura}}."}],
         "frequency": "every_time", "cooldown_seconds": 12 * 3600, "position": 20},
    ]
    for position, (code, name, words, body) in enumerate(KEYWORDS, start=3):
        rules.append({"preset": code, "name": name, "event": "message.received",
                      "description": "Respuesta inmediata a una pregunta frecuente (sin importar tildes ni "
                                     "mayúsculas).",
                      "conditions": [{"field": "text", "op": "contains", "value": words}],
                      "actions": [{"type": "send_message", "body": body, "template": "", "variables": {}}],
                      "frequency": "every_time", "cooldown_seconds": 3600, "position": position * 10})
    rules += [
        {"preset": "order_confirmation", "name": "Confirmación del pedido al cliente", "event": "order.confirmed",
         "description": "Envía al cliente el número, los productos y el total del pedido confirmado (por WhatsApp "
                        "con la plantilla si la ventana de 24 horas está cerrada, o por correo).",
         "conditions": [],
         "actions": [{"type": "send_message",
                      "body": "Hola, {{cliente.primer_nombre}}: confirmamos su pedido {{pedido.numero}}.\n"
                              "{{pedido.lineas}}\nTotal: {{pedido.total}}. ¡Gracias por su compra!",
                      "template": "confirmacion_pedido",
                      "variables": {"1": "{{cliente.primer_nombre}}", "2": "{{pedido.numero}}",
                                    "3": "{{pedido.total}}"}}],
         "frequency": "every_time", "position": 10},
        {"preset": "post_sale_follow_up", "name": "Seguimiento posventa a los 3 días", "event": "order.confirmed",
         "description": "Tres días después de confirmar un pedido, pregunta al cliente cómo le fue.",
         "conditions": [],
         "actions": [{"type": "schedule_message", "delay_minutes": 3 * 24 * 60,
                      "body": "Hola, {{cliente.primer_nombre}}: ¿cómo le fue con su pedido {{pedido.numero}}? "
                              "Si necesita algo, responda este mensaje.",
                      "template": "seguimiento_posventa",
                      "variables": {"1": "{{cliente.primer_nombre}}", "2": "{{pedido.numero}}"}}],
         "frequency": "every_time", "position": 20},
    ]
    return rules


def forwards(apps, schema_editor):
    rule = apps.get_model("automation", "AutomationRule")
    for values in presets():
        code = values.pop("preset")
        rule.objects.get_or_create(preset=code, defaults={**values, "active": False, "match": "all"})


def backwards(apps, schema_editor):
    apps.get_model("automation", "AutomationRule").objects.exclude(preset="").delete()


class Migration(migrations.Migration):
    dependencies = [("automation", "0005_automation_rules")]
    operations = [migrations.RunPython(forwards, backwards)]
