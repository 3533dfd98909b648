from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _fresh_readiness() -> Iterator[None]:
    """/readyz reuses its last result for a second; each test probes for itself."""
    from core.health import reset_cache

    reset_cache()
    yield
    reset_cache()
