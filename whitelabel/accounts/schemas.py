"""What the accounts API reads and returns (the JSON shapes of ../shared/DESIGN.md)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LoginIn", "MeView", "SignupIn", "TenantRef"]


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
