"""Background work for customers: thin shims over actions (STYLE §8)."""

from __future__ import annotations

from django.tasks import task

from customers.activity import rebuild_customer_activity
from customers.models import Segment
from customers.segments import recompute, recompute_all


@task()
def rebuild_activity() -> int:
    """Periodic (daily): every customer's activity columns recomputed (their segments re-checked batch by batch),
    then every segment over everyone; returns how many customers changed."""
    changed = rebuild_customer_activity()[1]
    recompute_all()
    return changed


@task()
def recompute_segment(segment_id: int) -> int:
    """A segment created or edited: who matches now (its first computation announces nobody)."""
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        return 0
    entered, left = recompute(segment)
    return entered + left
