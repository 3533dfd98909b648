"""Message.html: the body rendered once when written. Messages stored before it get theirs here (the history would
render them on every page otherwise)."""

from django.db import migrations, models


def render_stored(apps, schema_editor):
    from teamchat.render import render_chat  # a pure function of the text and the mentioned usernames

    Message = apps.get_model("teamchat", "Message")
    User = apps.get_model("accounts", "User")
    last = 0
    while True:
        batch = list(Message.objects.filter(pk__gt=last, html="", deleted_at__isnull=True).exclude(body="")
                     .order_by("pk").only("pk", "body", "mentions")[:1000])
        if not batch:
            return
        ids = {i for m in batch for i in (m.mentions or [])}
        usernames = dict(User.objects.filter(pk__in=ids).values_list("pk", "username")) if ids else {}
        for m in batch:
            m.html = str(render_chat(m.body, mention_names=[usernames[i] for i in m.mentions or []
                                                             if i in usernames]))
        Message.objects.bulk_update(batch, ["html"])
        last = batch[-1].pk


class Migration(migrations.Migration):

    dependencies = [
        ("teamchat", "0002_full_text_search"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="html",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.RunPython(render_stored, migrations.RunPython.noop, elidable=True),
    ]
