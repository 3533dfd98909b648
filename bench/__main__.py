from bench.harness import main
from bench.scenarios import SCENARIOS, workspace

# Issue 11's browser scenarios (bench/scenarios/workspace.py), registered here next to the registry's MODULES.
SCENARIOS.update((scenario.name, scenario) for scenario in workspace.SCENARIOS)

raise SystemExit(main())
