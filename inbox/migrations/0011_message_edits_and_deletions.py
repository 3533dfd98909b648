"""A customer's edits and deletions of their messages (WhatsApp `edit` / `revoke`): when the message changed and
its earlier versions (inbox.revision_actions). Nullable columns and a new table: no backfill, no table rewrite."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inbox', '0010_conversation_open_counts_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='message',
            name='deleted_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='message',
            name='edited_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name='MessageRevision',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('target_external_id', models.CharField(blank=True, max_length=200)),
                ('kind', models.CharField(choices=[('original', 'Texto original'), ('edit', 'Edición'), ('delete', 'Eliminación')], max_length=8)),
                ('body', models.TextField(blank=True)),
                ('meta', models.JSONField(blank=True, default=dict)),
                ('external_id', models.CharField(blank=True, max_length=200)),
                ('at', models.DateTimeField()),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('message', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='revisions', to='inbox.message')),
            ],
            options={
                'ordering': ['at', 'id'],
                'indexes': [models.Index(condition=models.Q(('message__isnull', True)), fields=['target_external_id'], name='message_revision_pending_idx')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('external_id', ''), _negated=True), fields=('external_id',), name='message_revision_external_id_unique'), models.CheckConstraint(condition=models.Q(('kind__in', ['original', 'edit', 'delete'])), name='message_revision_kind_valid')],
            },
        ),
    ]
