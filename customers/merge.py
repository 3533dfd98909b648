"""Customer merge across apps: each app that keeps rows of a customer moves them to the kept one.

Apps depend one way (customers sits below leads, inbox, orders, the connectors and reports), so `do_merge_customers`
cannot import them. Each of them registers a *participant* from its AppConfig.ready(): a function called inside the
merge's transaction, after the identifiers moved and before the duplicate is deleted, that re-points its rows from
`gone` to `keep`. Participants run in registration order (INSTALLED_APPS order: reports after inbox and orders).
`customers/tests/test_merge.py` checks that every relation to Customer is either owned by this app or has one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from customers.models import Customer

Participant = Callable[["Customer", "Customer"], None]
_participants: dict[str, Participant] = {}


def register_merge_participant(app_label: str, participant: Participant) -> None:
    """`participant(keep, gone)` moves `app_label`'s rows of `gone` to `keep` (registering again replaces it)."""
    _participants[app_label] = participant


def merge_participants() -> dict[str, Participant]:
    return dict(_participants)


def move_rows(model: type, field: str = "customer") -> Participant:
    """The usual participant: `model.objects.filter(<field>=gone).update(<field>=keep)`."""

    def participant(keep: Customer, gone: Customer) -> None:
        model._default_manager.filter(**{field: gone}).update(**{field: keep})  # type: ignore[attr-defined]

    return participant
