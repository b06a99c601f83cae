"""Staff identity for the pages and the staff JSON API: scrypt password hashes, sessions by cookie
(only a hash of the token is stored), CSRF tokens, roles, and the security headers of every page."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from eduketen.core.db import utcnow
from eduketen.insight.models import StaffAccount, StaffSession

ROLES = ("school-administrator", "mentor", "quality", "platform-admin")
SCHOOL_ROLES = ("school-administrator", "mentor")  # bound to one school
COOKIE = "__Host-eduketen-staff"
_N, _R, _P = 2**14, 8, 1  # scrypt cost: ~16 MB, tens of milliseconds
LOCK_AFTER = 5  # failed logins in a row lock the account for LOCK_MINUTES
LOCK_MINUTES = 15

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")  # fmt: skip
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


_DUMMY = None


def _dummy_hash() -> str:
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = hash_password(secrets.token_urlsafe(16))
    return _DUMMY


class StaffError(ValueError):
    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def create_account(session: Session, *, username: str, password: str, role: str, display_name: str = "",
                   school_id: int | None = None) -> StaffAccount:  # fmt: skip
    username = username.strip().lower()
    if not 3 <= len(username) <= 100 or not all(c.isalnum() or c in "._-@" for c in username):
        raise StaffError("username: 3 to 100 letters, digits or . _ - @")
    if len(password) < 12:
        raise StaffError("password: at least 12 characters")
    if role not in ROLES:
        raise StaffError(f"role must be one of {', '.join(ROLES)}")
    if role in SCHOOL_ROLES and school_id is None:
        raise StaffError(f"a {role} belongs to a school; give the school")
    if session.scalar(select(StaffAccount.id).where(StaffAccount.username == username)) is not None:
        raise StaffError(f"account {username!r} exists already", status=409)
    account = StaffAccount(username=username, display_name=display_name.strip() or username, password_hash=hash_password(password),
                           role=role, school_id=school_id if role in SCHOOL_ROLES else None, created_at=utcnow(), failed_logins=0)  # fmt: skip
    session.add(account)
    session.flush()
    return account


@dataclass(frozen=True)
class Staff:
    account_id: int
    username: str
    display_name: str
    role: str
    school_id: int | None
    csrf: str

    @property
    def actor(self) -> str:
        return f"staff:{self.username}"

    def may_manage_school(self, school_id: int) -> bool:
        return self.role == "platform-admin" or (self.role == "school-administrator" and self.school_id == school_id)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(session: Session, username: str, password: str, *, lifetime_seconds: int) -> tuple[str, str] | None:
    """(session token, csrf token), or None. Unknown accounts cost the same time as wrong passwords."""
    account = session.scalar(select(StaffAccount).where(StaffAccount.username == username.strip().lower()[:100]))
    now = utcnow()
    if account is None or account.disabled_at is not None:
        verify_password(password, _dummy_hash())
        return None
    if account.locked_until is not None and account.locked_until > now:
        verify_password(password, _dummy_hash())
        return None
    if not verify_password(password, account.password_hash):
        account.failed_logins += 1
        if account.failed_logins >= LOCK_AFTER:
            account.locked_until, account.failed_logins = now + timedelta(minutes=LOCK_MINUTES), 0
        return None
    account.failed_logins, account.locked_until = 0, None
    session.execute(delete(StaffSession).where(StaffSession.expires_at < now))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(StaffSession(token_hash=_token_hash(token), account_id=account.id, csrf_token=csrf, created_at=now,
                             expires_at=now + timedelta(seconds=lifetime_seconds)))  # fmt: skip
    return token, csrf


def logout(session: Session, token: str) -> None:
    session.execute(delete(StaffSession).where(StaffSession.token_hash == _token_hash(token)))


def staff_for_token(session: Session, token: str | None) -> Staff | None:
    if not token or len(token) > 100:
        return None
    row = session.execute(
        select(StaffSession, StaffAccount)
        .join(StaffAccount, StaffAccount.id == StaffSession.account_id)
        .where(StaffSession.token_hash == _token_hash(token))
    ).first()
    if row is None:
        return None
    staff_session, account = row
    if staff_session.expires_at <= utcnow() or account.disabled_at is not None:
        return None
    return Staff(account.id, account.username, account.display_name, account.role, account.school_id, staff_session.csrf_token)


def staff_from_request(request: Request) -> Staff | None:
    platform = request.app.state.platform
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    with platform.read_sessions() as session:
        return staff_for_token(session, token)


def csrf_ok(staff: Staff, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(staff.csrf.encode(), submitted.encode())
