"""Named fail points for fault-injection tests (`make faults`): a process can be stopped at an exact line.

Off unless the environment variable CENTRALITA_FAILPOINTS names the point (comma-separated) and
CENTRALITA_FAILPOINT_DIR is a directory: the process then writes `<name>.reached` there and waits until
`<name>.release` appears (or is killed there, which is the point). Production never sets them; the cost when off
is one lookup of a frozen set. Points: `history_import.before_sales` (inside the import's transaction, its
conversations written and not committed); `queue_probe.running` (a worker in the middle of a job).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ENABLED = frozenset(filter(None, os.environ.get("CENTRALITA_FAILPOINTS", "").split(",")))
POLL = 0.05


def failpoint(name: str) -> None:
    if name not in ENABLED:
        return
    directory = Path(os.environ["CENTRALITA_FAILPOINT_DIR"])
    (directory / f"{name}.reached").write_text(str(os.getpid()))
    release = directory / f"{name}.release"
    while not release.exists():
        time.sleep(POLL)
