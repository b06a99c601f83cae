"""Tables of the authorization server: registered clients, seen assertion ids, signing keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from eduketen.core.db import Base, UTCDateTime


class OAuthClient(Base):
    """One application of a supplier (Edu-V: a unique client_id per application). Its public keys
    come from ``jwks_uri`` (the profile's MUST) or, for tests and closed setups, inline ``jwks``."""

    __tablename__ = "oauth_client"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(200), unique=True)
    supplier_oin: Mapped[str] = mapped_column(String(20), index=True)
    system_id: Mapped[int | None] = mapped_column(ForeignKey("system.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    jwks_uri: Mapped[str | None] = mapped_column(String(1000))
    jwks: Mapped[str | None] = mapped_column(Text)  # JSON {"keys": [...]}, public keys only
    scopes: Mapped[str] = mapped_column(String(1000))  # allowed scopes, space separated
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OAuthAssertionSeen(Base):
    """``jti`` of every accepted client assertion, kept until the assertion expires: a replay is refused."""

    __tablename__ = "oauth_assertion_seen"
    __table_args__ = (
        UniqueConstraint("client_id", "jti", name="uq_oauth_assertion_seen_client_id"),
        Index("ix_oauth_assertion_seen_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(200))
    jti: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OAuthSigningKey(Base):
    """A key of the platform's own key set. Published in /.well-known/jwks.json from creation;
    signs from ``signs_from`` (at least the publish lead later) until the next key takes over;
    withdrawn once the last token it signed has expired."""

    __tablename__ = "oauth_signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(10))
    private_jwk: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    signs_from: Mapped[datetime] = mapped_column(UTCDateTime())
