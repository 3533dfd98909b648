"""Open conversations whose last message is the customer's have been waiting since that message (the best the
stored history tells). Batched by primary key so a large installation never holds one long transaction."""

from django.db import migrations
from django.db.models import F

OPEN = ["nueva", "pendiente", "en_espera", "escalada"]
BATCH = 5000


def forwards(apps, schema_editor):
    Conversation = apps.get_model("inbox", "Conversation")
    qs = Conversation.objects.filter(state__in=OPEN, awaiting_reply=True, waiting_since__isnull=True,
                                     last_customer_message_at__isnull=False)
    last = 0
    while True:
        ids = list(qs.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:BATCH])
        if not ids:
            break
        Conversation.objects.filter(pk__in=ids).update(waiting_since=F("last_customer_message_at"))
        last = ids[-1]


def backwards(apps, schema_editor):
    apps.get_model("inbox", "Conversation").objects.update(waiting_since=None)


class Migration(migrations.Migration):
    atomic = False  # one transaction per batch

    dependencies = [
        ("inbox", "0007_conversation_waiting_since"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
