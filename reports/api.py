"""/api/v1/reports/…: the same JSON the report pages draw their charts from."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["reports"])
