"""Per-customer local time: the recipient's time zone (from the phone number) and the first moment inside the
campaign's allowed hours there."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

import phonenumbers
from django.conf import settings
from phonenumbers import timezone as phone_timezones


def zone_for(address: str) -> zoneinfo.ZoneInfo:
    """The recipient's time zone: from the phone number's country and area (libphonenumber's geocoding), the
    organisation's for an email address."""
    if not address.startswith("+"):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)
    try:
        zones = phone_timezones.time_zones_for_number(phonenumbers.parse(address))
    except phonenumbers.NumberParseException:
        zones = ()
    name = next((z for z in zones if z != phone_timezones.UNKNOWN_TIMEZONE), settings.TIME_ZONE)
    return zoneinfo.ZoneInfo(name)


def local_send_time(start: datetime, zone: zoneinfo.ZoneInfo, window: tuple[time, time]) -> datetime:
    """The first moment at or after `start` that falls inside the allowed hours in the recipient's zone."""
    local = start.astimezone(zone)
    begin, end = window
    if begin <= local.time() < end:
        return start
    day = local.date() if local.time() < begin else local.date() + timedelta(days=1)
    return datetime.combine(day, begin, tzinfo=zone).astimezone(start.tzinfo)
