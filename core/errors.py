"""Domain errors raised by actions; one handler per adapter maps them to HTTP."""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise


class ActionError(Exception):
    """A request that the rules refuse. `code` is stable for API clients; `message` is translated."""

    status = 400

    def __init__(self, code: str, message: str | Promise, **details: Any) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = str(message)
        self.details = details


class PermissionDeniedError(ActionError):
    status = 403


class NotFoundError(ActionError):
    status = 404


class ConflictError(ActionError):
    status = 409


class InvalidTransition(ConflictError):
    pass
