from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from django.db import models
from django.utils.translation import gettext_lazy as _


class Availability(models.TextChoices):
    AVAILABLE = "disponible", _("Disponible")
    BUSY = "ocupado", _("Ocupado")
    AWAY = "ausente", _("Ausente")
    OFFLINE = "desconectado", _("Desconectado")


A = Availability
# Any state may move to any other; the table exists so the transition function is the single gate
# (and so a future rule, e.g. "offline only through away", is a one-line change here).
AVAILABILITY_TRANSITIONS: Final[Mapping[Availability, frozenset[Availability]]] = {
    state: frozenset(set(A) - {state}) for state in A
}


class Language(models.TextChoices):
    ES = "es", _("Español")
    EN = "en", _("English")


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Lunes")
    TUESDAY = 1, _("Martes")
    WEDNESDAY = 2, _("Miércoles")
    THURSDAY = 3, _("Jueves")
    FRIDAY = 4, _("Viernes")
    SATURDAY = 5, _("Sábado")
    SUNDAY = 6, _("Domingo")
