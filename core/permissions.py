"""Server-side permission checks for pages (the codes: core.perms). A forbidden page answers 403, not a hidden
link."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from core.perms import Perm


def forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "403.html", status=403)


def perm_required(*perms: Perm) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Login required; then every listed permission. No permission listed = any logged-in user."""

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not all(user.has_perm_code(p) for p in perms):
                return forbidden(request)
            return view(request, *args, **kwargs)

        wrapped.required_perms = perms  # type: ignore[attr-defined]
        return wrapped

    return decorator
