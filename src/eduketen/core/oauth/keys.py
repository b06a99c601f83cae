"""The platform's own signing key set, with rotation without downtime.

Every key is published in ``/.well-known/jwks.json`` from the moment it is created. A new key
signs only from ``signs_from`` = creation + ``oauth_key_publish_seconds``, so every resource server
that caches our JWKS for at most that long knows the key before it sees a token signed with it.
The previous key stops signing when the new one starts, and stays published until the last token
it signed has expired (token lifetime + leeway); then it is pruned."""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from joserfc.jwk import ECKey, KeySet
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from eduketen.core.db import unit_of_work, utcnow
from eduketen.core.oauth.models import OAuthSigningKey

ALG = "ES256"


@dataclass(frozen=True)
class KeyRecord:
    kid: str
    signs_from: datetime
    private: dict
    public: dict


def _new_key(session: Session, signs_from: datetime) -> OAuthSigningKey:
    kid = secrets.token_urlsafe(12)
    key = ECKey.generate_key("P-256", parameters={"kid": kid, "use": "sig", "alg": ALG})
    row = OAuthSigningKey(
        kid=kid,
        alg=ALG,
        private_jwk=json.dumps(key.as_dict(private=True)),
        public_jwk=json.dumps(key.as_dict(private=False)),
        created_at=utcnow(),
        signs_from=signs_from,
    )
    session.add(row)
    session.flush()
    return row


def rotate(session: Session, *, publish_seconds: int) -> OAuthSigningKey:
    """Add the next key: published now, signing after the publish lead (after the newest key
    already waiting, if any)."""
    now = utcnow()
    latest = session.scalar(select(OAuthSigningKey).order_by(OAuthSigningKey.signs_from.desc()).limit(1))
    start = now + timedelta(seconds=publish_seconds)
    if latest is not None and latest.signs_from >= start:
        start = latest.signs_from + timedelta(seconds=1)
    return _new_key(session, start)


def published(records: list[KeyRecord], now: datetime, *, token_seconds: int, leeway: int) -> list[KeyRecord]:
    """Keys to publish: every key, except those replaced long enough ago that no token they signed
    can still be valid."""
    ordered = sorted(records, key=lambda r: r.signs_from)
    keep = []
    for i, record in enumerate(ordered):
        successor = next((r for r in ordered[i + 1 :] if r.signs_from <= now), None)
        if successor is None or now < successor.signs_from + timedelta(seconds=token_seconds + leeway):
            keep.append(record)
    return keep


def signing(records: list[KeyRecord], now: datetime) -> KeyRecord | None:
    active = [r for r in records if r.signs_from <= now]
    return max(active, key=lambda r: r.signs_from) if active else None


def prune(session: Session, *, token_seconds: int, leeway: int) -> int:
    """Remove keys that are no longer published."""
    now = utcnow()
    rows = list(session.scalars(select(OAuthSigningKey)))
    keep = {r.kid for r in published([_record(r) for r in rows], now, token_seconds=token_seconds, leeway=leeway)}
    gone = [r.kid for r in rows if r.kid not in keep]
    if gone:
        session.execute(delete(OAuthSigningKey).where(OAuthSigningKey.kid.in_(gone)))
    return len(gone)


def _record(row: OAuthSigningKey) -> KeyRecord:
    return KeyRecord(row.kid, row.signs_from, json.loads(row.private_jwk), json.loads(row.public_jwk))


class KeyStore:
    """This process's view of the key set, reloaded every ``ttl`` seconds (a key created by another
    process is seen well before it signs: the publish lead is longer than the ttl)."""

    def __init__(self, sessions: sessionmaker[Session], *, token_seconds: int, leeway: int, ttl: float = 2.0) -> None:
        self._sessions = sessions
        self._token_seconds = token_seconds
        self._leeway = leeway
        self._ttl = ttl
        self._lock = threading.Lock()
        self._records: list[KeyRecord] = []
        self._loaded = 0.0
        self._private: dict[str, ECKey] = {}

    def invalidate(self) -> None:
        self._loaded = 0.0

    def _load(self, force: bool = False) -> list[KeyRecord]:
        if not force and time.monotonic() - self._loaded < self._ttl:
            return self._records
        with self._lock:
            if not force and time.monotonic() - self._loaded < self._ttl:
                return self._records
            with self._sessions() as session:
                rows = list(session.scalars(select(OAuthSigningKey)))
                self._records = [_record(r) for r in rows]
            self._loaded = time.monotonic()
            return self._records

    def signing_key(self) -> tuple[str, ECKey]:
        """The key that signs now; on a fresh installation the first key is made (nobody can hold
        a cached copy of a key set that never existed, so it may sign at once)."""
        now = utcnow()
        record = signing(self._load(), now)
        if record is None:
            record = signing(self._load(force=True), now)
        if record is None:
            with unit_of_work(self._sessions) as session:
                if session.scalar(select(OAuthSigningKey.kid).limit(1)) is None:
                    _new_key(session, now)
            record = signing(self._load(force=True), utcnow())
            if record is None:  # only keys waiting for their turn: use the oldest
                record = min(self._load(), key=lambda r: r.signs_from)
        key = self._private.get(record.kid)
        if key is None:
            key = ECKey.import_key(record.private)
            self._private[record.kid] = key
        return record.kid, key

    def public_jwks(self) -> dict:
        records = published(self._load(), utcnow(), token_seconds=self._token_seconds, leeway=self._leeway)
        return {"keys": [r.public for r in sorted(records, key=lambda r: r.signs_from)]}

    def verification_keys(self, kid: str | None) -> KeySet:
        jwks = self.public_jwks()
        if kid is not None and not any(k.get("kid") == kid for k in jwks["keys"]):
            self._load(force=True)
            jwks = self.public_jwks()
        return KeySet.import_key_set(jwks)
