"""Every mailbox has a webhook token, so after 0003 filled them every row has its lookup hash: constrain it."""

from django.db import migrations

import core.fields


class Migration(migrations.Migration):

    dependencies = [("mail", "0003_encrypt_mailbox_secrets")]

    operations = [
        migrations.AlterField(
            model_name="mailbox",
            name="webhook_token_hash",
            field=core.fields.LookupHashField(source="webhook_token", unique=True),
        ),
    ]
