"""What the links, invitations and own-security API reads and returns.

Lengths and formats are checked by the service (``whitelabel.accounts.links``); these shapes only
fix the fields and their JSON types.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "InvitationAcceptIn",
    "InvitationIn",
    "InvitationListView",
    "InvitationView",
    "PasswordChangeIn",
    "PasswordResetConfirmIn",
    "PasswordResetIn",
    "TokenIn",
    "VerifiedView",
]


@dataclass(frozen=True, slots=True)
class PasswordResetIn:
    """``POST /api/v1/auth/password-reset`` body."""

    email: str


@dataclass(frozen=True, slots=True)
class PasswordResetConfirmIn:
    """``POST /api/v1/auth/password-reset/confirm`` body: the link's token, the new password."""

    token: str
    password: str


@dataclass(frozen=True, slots=True)
class TokenIn:
    """``POST /api/v1/auth/verify-email/confirm`` body: the link's token."""

    token: str


@dataclass(frozen=True, slots=True)
class VerifiedView:
    """The answer of a confirmed email verification."""

    email: str
    email_verified: bool


@dataclass(frozen=True, slots=True)
class InvitationAcceptIn:
    """``POST /api/v1/auth/invitations/accept`` body."""

    token: str
    password: str
    display_name: str


@dataclass(frozen=True, slots=True)
class InvitationIn:
    """``POST /api/v1/admin/invitations`` body; ``role`` defaults to ``member``."""

    email: str
    role: str = "member"


@dataclass(frozen=True, slots=True)
class InvitationView:
    """An invitation as admins see it; ``invited_by`` is ``null`` for the platform."""

    id: str
    email: str
    role: str
    invited_by: str | None
    created_at: datetime
    expires_at: datetime
    status: str


@dataclass(frozen=True, slots=True)
class InvitationListView:
    """``GET /api/v1/admin/invitations``: the open invitations, newest first."""

    items: list[InvitationView]


@dataclass(frozen=True, slots=True)
class PasswordChangeIn:
    """``POST /api/v1/me/password`` body."""

    current_password: str
    new_password: str
