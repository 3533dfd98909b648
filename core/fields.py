"""Model fields for secrets at rest (core.crypto): `EncryptedTextField` and its companion `LookupHashField`."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.exceptions import FieldError
from django.db import models
from django.db.models.lookups import Exact, IsNull, Lookup, Transform

from core import crypto


class _EmptyOnlyExact(Exact):
    """`field=""` ("not set") works; any other value cannot match randomised ciphertext, so it is refused instead
    of silently finding nothing."""

    def get_prep_lookup(self) -> Any:
        if self.rhs not in ("", None):
            raise FieldError(f"{self.lhs.target.name} is encrypted: rows cannot be filtered by its value "
                             "(use a LookupHashField).")
        return super().get_prep_lookup()


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """Text stored encrypted with FIELD_ENCRYPTION_KEY (``fernet:<token>``); the attribute holds the plaintext.

    * Reading decrypts; a legacy plaintext value (no prefix) reads as is and is encrypted on the next save.
      A value no configured key opens raises core.crypto.SecretDecryptionError naming the field and the remedy.
    * Empty stays empty and unencrypted: "not set" is no secret, and forms and checks test for it.
    * The column is ``text`` whatever ``max_length`` says (ciphertext is longer than the plaintext);
      ``max_length`` still limits the plaintext in forms.
    * No lookups but ``isnull`` and ``=""``: find rows by a secret through a LookupHashField.
    * Serialization (dumpdata) writes the encrypted form, so a dump holds no plaintext secret.
    """

    description = "Text encrypted at rest"

    def _label(self) -> str:
        model = getattr(self, "model", None)
        return f"{model._meta.label}.{self.name}" if model is not None else "A stored secret"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if not value:
            return value
        return crypto.decrypt(value, label=self._label())

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        if isinstance(value, str) and crypto.is_encrypted(value):
            return crypto.decrypt(value, label=self._label())
        return value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value))

    def value_to_string(self, obj: models.Model) -> str:
        value = self.value_from_object(obj)
        return crypto.encrypt(value) if value else ""

    def get_lookup(self, lookup_name: str) -> type[Lookup[Any]] | None:
        if lookup_name == "isnull":
            return IsNull
        if lookup_name == "exact":
            return _EmptyOnlyExact
        return None

    def get_transform(self, lookup_name: str) -> type[Transform] | None:
        return None


class LookupHashField(models.CharField):  # type: ignore[type-arg]
    """HMAC-SHA256 (hex) of the sibling field `source`, recomputed whenever the row is saved with this field.

    For secrets a row is found by (a token in a webhook URL): query with
    ``filter(<this>__in=core.crypto.lookup_hashes(value))``, which also matches rows hashed with a key that is
    being rotated out. An empty source stores NULL. A model whose code saves `source` with ``update_fields`` must
    add this field to them (see Mailbox.save)."""

    def __init__(self, *args: Any, source: str, **kwargs: Any) -> None:
        self.source = source
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        if kwargs.get("max_length") == 64:
            del kwargs["max_length"]
        if kwargs.get("editable") is False:
            del kwargs["editable"]
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> str | None:
        raw = getattr(model_instance, self.source)
        value = crypto.lookup_hash(raw) if raw else None
        setattr(model_instance, self.attname, value)
        return value


def encrypted_fields() -> list[tuple[type[models.Model], list[str], list[str]]]:
    """Every concrete model with encrypted fields: (model, encrypted field names, lookup-hash field names)."""

    found = []
    for model in apps.get_models():
        fields = model._meta.concrete_fields
        encrypted = [f.name for f in fields if isinstance(f, EncryptedTextField)]
        if encrypted:
            found.append((model, encrypted, [f.name for f in fields if isinstance(f, LookupHashField)]))
    return found
