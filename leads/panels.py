"""Regions other apps add to the call screen (the lead page): the order builder (orders) is one. See core.panels."""

from __future__ import annotations

from core.panels import Panels
from leads.models import Lead

call_screen: Panels[Lead] = Panels()
