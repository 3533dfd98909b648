from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0006_reporting_facts"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="waiting_since",
            field=models.DateTimeField(blank=True, null=True, verbose_name="esperando desde"),
        ),
    ]
