"""Migration operations shared by several apps (imported by migration files, so keep them free of app models)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class PortableAddIndexConcurrently(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL (an installation with data keeps writing while it builds); a plain
    CREATE INDEX elsewhere (SQLite has no such option). The migration must set `atomic = False`."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


def encrypt_secrets(model: str, fields: tuple[str, ...]) -> migrations.RunPython:
    """A data migration for secrets at rest: encrypts the existing plaintext values of `fields` (EncryptedTextFields
    of `model`, "app_label.ModelName") and fills the LookupHashFields computed from them. Safe to repeat.

    Reading through the historical model decrypts (or passes legacy plaintext through), saving encrypts with the
    first FIELD_ENCRYPTION_KEY. The reverse writes the plaintext back with plain SQL, so the reversed schema
    migration returns to the original columns with their original values."""
    app_label, model_name = model.split(".")

    def hash_fields(model_class: Any) -> list[str]:
        return [f.name for f in model_class._meta.concrete_fields if getattr(f, "source", None) in fields]

    def forwards(apps: Any, schema_editor: Any) -> None:
        model_class = apps.get_model(app_label, model_name)
        update = [*fields, *hash_fields(model_class)]
        for row in model_class._default_manager.using(schema_editor.connection.alias).iterator(chunk_size=200):
            row.save(update_fields=update)

    def backwards(apps: Any, schema_editor: Any) -> None:
        model_class = apps.get_model(app_label, model_name)
        meta, qn = model_class._meta, schema_editor.quote_name
        columns = [meta.get_field(name).column for name in fields]
        sql = (f"UPDATE {qn(meta.db_table)} SET {', '.join(f'{qn(c)} = %s' for c in columns)} "  # noqa: S608
               f"WHERE {qn(meta.pk.column)} = %s")
        with schema_editor.connection.cursor() as cursor:
            for row in model_class._default_manager.using(schema_editor.connection.alias).iterator(chunk_size=200):
                cursor.execute(sql, [*(getattr(row, name) for name in fields), row.pk])

    return migrations.RunPython(forwards, backwards, elidable=False)


def add_uuid(model: str) -> list[Any]:
    """Adds a unique `uuid` column to a model whose table may already hold rows: the column is added empty, each
    existing row gets its own random UUID (gen_random_uuid() on PostgreSQL; batches of parameters on SQLite), then
    the column becomes NOT NULL and unique with uuid4 as the default of new rows. (A plain AddField with
    default=uuid4 would give every existing row the same value.)"""
    app_label, model_name = model.split(".")
    lower = model_name.lower()

    def fill(apps: Any, schema_editor: Any) -> None:
        model_class = apps.get_model(app_label, model_name)
        connection = schema_editor.connection
        table = connection.ops.quote_name(model_class._meta.db_table)
        if connection.vendor == "postgresql":
            schema_editor.execute(f"UPDATE {table} SET uuid = gen_random_uuid() WHERE uuid IS NULL")  # noqa: S608
            return
        pks = list(model_class.objects.filter(uuid__isnull=True).values_list("pk", flat=True))
        with connection.cursor() as cursor:
            for start in range(0, len(pks), 5000):
                cursor.executemany(f"UPDATE {table} SET uuid = %s WHERE id = %s",  # noqa: S608
                                   [(uuid.uuid4().hex, pk) for pk in pks[start:start + 5000]])

    return [
        migrations.AddField(model_name=lower, name="uuid", field=models.UUIDField(null=True, editable=False)),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(model_name=lower, name="uuid",
                              field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
    ]
