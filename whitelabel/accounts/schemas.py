"""What the accounts API reads and returns (the JSON shapes of ../shared/DESIGN.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "AdminUserView",
    "LoginIn",
    "MeView",
    "SignupIn",
    "TenantRef",
    "UserPageView",
    "UserPatchIn",
]


@dataclass(frozen=True, slots=True)
class SignupIn:
    """``POST /api/v1/auth/signup`` body. Lengths and formats are checked by the service."""

    email: str
    password: str
    display_name: str


@dataclass(frozen=True, slots=True)
class LoginIn:
    """``POST /api/v1/auth/login`` body."""

    email: str
    password: str


@dataclass(frozen=True, slots=True)
class TenantRef:
    """The tenant a user belongs to."""

    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class MeView:
    """The signed-in user: ``GET /api/v1/me``, and the answer of signup and login."""

    id: str
    email: str
    display_name: str
    role: str
    tenant: TenantRef


@dataclass(frozen=True, slots=True)
class AdminUserView:
    """A user as tenant admins see it (``/api/v1/admin/users``)."""

    id: str
    email: str
    display_name: str
    role: str
    status: str
    email_verified: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class UserPageView:
    """``GET /api/v1/admin/users``: a page of users and the cursor of the next (or ``null``)."""

    items: list[AdminUserView]
    next: str | None


@dataclass(frozen=True, slots=True)
class UserPatchIn:
    """``PATCH /api/v1/admin/users/{id}`` body; an absent field is left as it is."""

    role: str | None = None
    status: str | None = None
