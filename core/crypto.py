"""Secrets at rest: Fernet encryption (``cryptography``'s MultiFernet) and keyed lookup hashes.

Keys come from ``settings.FIELD_ENCRYPTION_KEYS`` (env ``FIELD_ENCRYPTION_KEY``, comma-separated). The first key
encrypts and every key decrypts, so a key is rotated by putting the new one first, running
``manage.py rotate_encryption_keys`` and then dropping the old one (docs/security.md).

A stored secret reads ``fernet:<token>``. A value without the prefix is legacy plaintext written before encryption:
it reads as is and is encrypted on its next save (the data migrations do that for every existing row).

Rows found *by* a secret (a token in a webhook URL) keep an HMAC-SHA256 of it in a separate indexed column
(``core.fields.LookupHashField``): ciphertext is randomised, so it cannot be filtered on.

This module must stay importable from the settings (no models, no app registry).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

PREFIX = "fernet:"
ENV_VAR = "FIELD_ENCRYPTION_KEY"
GENERATE_HINT = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
MASK = "••••"


class SecretDecryptionError(Exception):
    """A stored secret does not decrypt with any key in FIELD_ENCRYPTION_KEY (the key it was written with is
    missing). The message names the field and the remedy, never the value. Pages and the API answer it with 503
    and `user_message()` (core.middleware, core.api), the log gets this message without a stack trace."""

    code = "secrets_unreadable"

    @staticmethod
    def user_message() -> str:
        return _("El servidor no puede leer las credenciales guardadas: la clave de cifrado (FIELD_ENCRYPTION_KEY) "
                 "no es la que las cifró. Avise al administrador del sistema.")


def fernet_key_from_secret(secret_key: str) -> str:
    """Development fallback: a Fernet key derived from SECRET_KEY (the settings refuse this when DEBUG is off)."""
    digest = hmac.new(secret_key.encode(), b"centralita.field-encryption.v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def check_fernet_keys(name: str, keys: list[str]) -> None:
    """Refuses to start with a malformed key, naming its position but never echoing it."""
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError, binascii.Error):
            raise ImproperlyConfigured(
                f"{name}: key {position} of {len(keys)} is not a Fernet key (32 url-safe base64-encoded bytes). "
                f"Generate one with: {GENERATE_HINT}") from None


def _keys() -> tuple[str, ...]:
    keys = tuple(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        raise ImproperlyConfigured(f"{ENV_VAR} is empty: no key to encrypt secrets with.")
    return keys


@lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


@lru_cache(maxsize=8)
def _lookup_keys(keys: tuple[str, ...]) -> tuple[bytes, ...]:
    # A key of its own per Fernet key (domain separation): the lookup hash never reuses the encryption key as is.
    return tuple(hmac.new(base64.urlsafe_b64decode(key), b"centralita.lookup-hash.v1", hashlib.sha256).digest()
                 for key in keys)


def is_encrypted(stored: str) -> bool:
    return stored.startswith(PREFIX)


def encrypt(plaintext: str) -> str:
    """The stored form of `plaintext`, encrypted with the first key (a new random IV each time)."""
    return PREFIX + _multi_fernet(_keys()).encrypt(plaintext.encode()).decode("ascii")


def decrypt(stored: str, *, label: str = "a stored secret") -> str:
    """The plaintext of a stored value; legacy plaintext (no prefix) is returned unchanged.

    Raises SecretDecryptionError when no configured key opens it."""
    if not is_encrypted(stored):
        return stored
    try:
        return _multi_fernet(_keys()).decrypt(stored[len(PREFIX):].encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise SecretDecryptionError(
            f"{label} cannot be decrypted with the keys in {ENV_VAR}: the key it was encrypted with is missing. "
            f"Put that key back in {ENV_VAR} (after the current one) and run `manage.py rotate_encryption_keys`."
        ) from None


def lookup_hash(value: str) -> str:
    """HMAC-SHA256 (hex) of `value` with the first key's lookup key: what a LookupHashField stores."""
    return hmac.new(_lookup_keys(_keys())[0], value.encode(), hashlib.sha256).hexdigest()


def lookup_hashes(value: str) -> list[str]:
    """The hash of `value` under every key, for `filter(<hash>__in=…)`: a row hashed with a key that is being
    rotated out is still found until `rotate_encryption_keys` rewrites it."""
    return [hmac.new(key, value.encode(), hashlib.sha256).hexdigest() for key in _lookup_keys(_keys())]


def mask(value: str, *, visible: int = 4, min_length: int = 16) -> str:
    """A secret for display: "••••" plus its last `visible` characters, enough to tell two tokens apart.

    Short values (passwords, short keys) show no character at all; empty stays empty ("not set")."""
    if not value:
        return ""
    if len(value) < min_length:
        return MASK
    return MASK + value[-visible:]

