"""The scenario registry. Each issue adds a module here and appends its scenarios to MODULES.

Scenario modules must not import Django models at module level: the parent process reads this
registry (names for --scenario) without configuring Django; imports go inside setup/run.
"""

from __future__ import annotations

from bench.harness import Scenario
from bench.scenarios import (
    automation,
    bots,
    callcenter,
    campaigns,
    catalog,
    customers,
    dashboard,
    events,
    foundation,
    inbox,
    knowledge,
    orders,
    scaleout,
    teamchat,
    whatsapp,
)

MODULES = (foundation, callcenter, orders, inbox, whatsapp, dashboard, catalog, scaleout, events, automation,
           customers, campaigns, knowledge, bots, teamchat)

SCENARIOS: dict[str, Scenario] = {scenario.name: scenario for module in MODULES for scenario in module.SCENARIOS}
