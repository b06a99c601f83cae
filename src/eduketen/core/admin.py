"""The admin credential and the unit of work of admin calls, shared by every domain's admin API."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eduketen.core.db import unit_of_work
from eduketen.core.errors import ApiError
from eduketen.core.platform import Platform


def require_admin(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    expected = platform.settings.admin_token
    if not expected:
        raise ApiError(403, "Admin API disabled", "Set EDUKETEN_ADMIN_TOKEN to enable the admin API.")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise ApiError(401, "Unauthorized", "Send the admin credential as 'Authorization: Bearer <token>'.")
    request.scope.setdefault("state", {})["caller_oin"] = "admin"
    return platform


AdminPlatform = Annotated[Platform, Depends(require_admin)]


class AdminWrite:
    """One transaction for one admin call. A domain refusal (a ValueError carrying ``status``)
    becomes a clear JSON error; the platform's cached views are refreshed after a commit."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def __enter__(self) -> Session:
        self._cm = unit_of_work(self.platform.sessions)
        return self._cm.__enter__()

    def __exit__(self, exc_type, exc, tb):
        result = self._cm.__exit__(exc_type, exc, tb)
        if exc is None:
            self.platform.invalidate_views()
        elif isinstance(exc, ValueError) and not isinstance(exc, ApiError):
            raise ApiError(getattr(exc, "status", 422), "Refused", str(exc)) from exc
        elif isinstance(exc, IntegrityError):  # e.g. two admins adding the same thing at once
            raise ApiError(409, "Conflict", "The change conflicts with data stored meanwhile; nothing was changed.") from exc
        return result
