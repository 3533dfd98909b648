"""Receivers for Django's auth signals: parse, then call one action (the logic lives in accounts.actions)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from accounts import actions
from accounts.models import User


@receiver(user_logged_in, dispatch_uid="accounts.availability_on_login")
def availability_on_login(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    # Client.force_login/login build a bare HttpRequest with no method. That is a test or a script opening a
    # session, not a person starting a shift; making them Disponible would route conversations to them.
    if request is None or request.method is None:
        return
    actions.do_apply_availability_on_login(user)
