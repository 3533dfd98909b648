"""X-Twilio-Signature (contract §Signature; twilio.com/docs/usage/security#validating-requests).

The signature is base64(HMAC-SHA1(auth token, URL + every POST parameter sorted by name, each as name + value with no
separators)). The URL is the one Twilio called, exactly: scheme, host, port if any, path and query. Twilio's own
validators (twilio-python `RequestValidator`, twilio-node `validateRequest`) accept the URL with or without the
scheme's default port, because Twilio has signed both ways; so do we. A name that repeats contributes each of its
values, sorted.

Pure functions with no Django import (the fake server in fakes/sms.py signs with its own copy of these rules).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

HEADER = "X-Twilio-Signature"
DEFAULT_PORTS = {"https": 443, "http": 80}


def signed_text(url: str, params: Iterable[tuple[str, str]]) -> str:
    """The string Twilio signs: the URL, then name + value for each parameter, by name (then value)."""
    return url + "".join(name + value for name, value in sorted(params))


def compute(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    digest = hmac.new(auth_token.encode(), signed_text(url, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def url_variants(url: str) -> list[str]:
    """The URL as given, without its port and with the scheme's default port (Twilio has signed each)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    variants = [url, urlunsplit(parts._replace(netloc=prefix + host))]
    default = DEFAULT_PORTS.get(parts.scheme)
    if parts.port is None and default is not None:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    return list(dict.fromkeys(variants))


def is_valid(auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str) -> bool:
    """Constant-time comparison against every URL variant; an empty token or signature never validates."""
    if not auth_token or not signature:
        return False
    pairs = list(params)
    given = signature.strip().encode()
    return any(hmac.compare_digest(compute(auth_token, variant, pairs).encode(), given)
               for variant in url_variants(url))
