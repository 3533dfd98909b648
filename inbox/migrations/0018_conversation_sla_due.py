from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("inbox", "0017_drop_duplicate_name_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="sla_due_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="vencimiento del SLA"),
        ),
        migrations.AddField(
            model_name="conversation",
            name="sla_warn_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
