"""Regie op gegevens (consent): the school decides which gegevensdienst flows between which systems.

Per school, per service (the Edu-V Consent API's ``api`` values), from a source system to a
receiving system: request, activate, confirm (receiving side of a push flow), revoke; every change
kept with who made it. ``require_consent`` is the one check every exchange calls (``require_consents`` the
same for the schools of a bulk request at once). No HTTP, no commit."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from eduketen.core.cache import Refreshed
from eduketen.core.db import utcnow, in_chunks
from eduketen.register.models import (
    Consent,
    ConsentEvent,
    ConsentRefusal,
    School,
    Supplier,
    System,
)

# The Edu-V Consent API's gegevensdiensten, and which way each flows (push: the source sends,
# the receiver must confirm; pull: the receiver fetches from the source).
APIS: dict[str, str] = {
    "results-api": "push",
    "progress-api": "push",
    "students-api": "pull",
    "employees-api": "pull",
    "education-api": "pull",
    "association-api": "pull",
    "delivery-api": "pull",
    "entitlement-api": "pull",
    "usage-api": "push",
    # The Doorstroomtoets chain (pupil lists and advice LAS -> test supplier, results back): the
    # school's OSR mandates already say which systems exchange; a consent relation can switch such
    # a flow off (see ``switched_off``).
    "doorstroomtoets": "push",
}
LABELS = {
    "results-api": "toetsresultaten",
    "progress-api": "leervoortgang",
    "students-api": "leerlinggegevens",
    "employees-api": "medewerkergegevens",
    "education-api": "onderwijsaanbod",
    "association-api": "onderwijsinrichting",
    "delivery-api": "levering leermiddelen",
    "entitlement-api": "licenties",
    "usage-api": "leermiddelgebruik",
    "doorstroomtoets": "Doorstroomtoets PO",
}

log = logging.getLogger("eduketen.consent")

# Gegevensdiensten whose flows are decided by mandates (on unless the school switched them off)
# rather than by consent (off unless the school switched them on).
MANDATED_APIS = frozenset({"doorstroomtoets"})


class ConsentError(ValueError):
    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class ConsentRefused(Exception):
    """An exchange without consent in force: answered 403 with this message."""

    def __init__(self, message: str, flow: tuple[int | None, str, int | None, int | None] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.flow = flow  # (school id, api, source system id, receiving system id): for ``note_refusal``
        self.index = 0  # require_consents: which of the schools was refused


def effective(consent: Consent) -> bool:
    return consent.status == "active" and (consent.direction == "pull" or consent.confirmed_at is not None)


def state(consent: Consent) -> str:
    """requested | awaiting-confirmation | active | revoked, as people read it."""
    if consent.status == "active" and not effective(consent):
        return "awaiting-confirmation"
    return consent.status


def _event(session: Session, consent: Consent, actor: str, action: str, before: str | None) -> None:
    session.add(ConsentEvent(consent_id=consent.id, at=consent.updated_at, actor=actor[:200], action=action,
                             status_before=before, status_after=consent.status))  # fmt: skip


def find(session: Session, school_id: int, api: str, source_system_id: int, receiving_system_id: int) -> Consent | None:
    return session.scalar(
        select(Consent).where(
            Consent.school_id == school_id,
            Consent.api == api,
            Consent.source_system_id == source_system_id,
            Consent.receiving_system_id == receiving_system_id,
        )
    )


def get(session: Session, consent_id: int) -> Consent:
    consent = session.get(Consent, consent_id)
    if consent is None:
        raise ConsentError(f"unknown consent {consent_id}", status=404)
    return consent


def request(session: Session, *, school: School, api: str, source: System, receiver: System, actor: str) -> Consent:
    """Ask the school for a flow (a supplier, or the school itself). A revoked relation may be
    asked again; an existing request or active consent is returned as it is."""
    if api not in APIS:
        raise ConsentError(f"api must be one of {', '.join(APIS)}")
    if source.id == receiver.id:
        raise ConsentError("source and receiving system are the same system")
    consent = find(session, school.id, api, source.id, receiver.id)
    now = utcnow()
    if consent is None:
        consent = Consent(school_id=school.id, api=api, source_system_id=source.id, receiving_system_id=receiver.id,
                          direction=APIS[api], status="requested", requested_at=now, updated_at=now)  # fmt: skip
        session.add(consent)
        session.flush()
        _event(session, consent, actor, "request", None)
        return consent
    if consent.status == "revoked":
        before = consent.status
        consent.status, consent.requested_at, consent.updated_at = "requested", now, now
        consent.activated_at = consent.confirmed_at = consent.revoked_at = None
        _event(session, consent, actor, "request", before)
    return consent


def activate(session: Session, consent: Consent, *, actor: str) -> Consent:
    """The school switches the flow on (at the source)."""
    if consent.status == "active":
        return consent
    before, now = consent.status, utcnow()
    consent.status, consent.activated_at, consent.revoked_at, consent.updated_at = "active", now, None, now
    _event(session, consent, actor, "activate", before)
    return consent


def confirm(session: Session, consent: Consent, *, actor: str) -> Consent:
    """The receiving side of a push flow confirms it will take the data."""
    if consent.direction != "push":
        raise ConsentError("only a push flow is confirmed by its receiver", status=409)
    if consent.status == "revoked":
        raise ConsentError("this consent was revoked; ask for it again first", status=409)
    if consent.confirmed_at is not None:
        return consent
    now = utcnow()
    consent.confirmed_at, consent.updated_at = now, now
    _event(session, consent, actor, "confirm", consent.status)
    return consent


def revoke(session: Session, consent: Consent, *, actor: str) -> Consent:
    if consent.status == "revoked":
        return consent
    before, now = consent.status, utcnow()
    consent.status, consent.revoked_at, consent.updated_at = "revoked", now, now
    _event(session, consent, actor, "revoke", before)
    return consent


def history(session: Session, consent_id: int) -> list[ConsentEvent]:
    return list(session.scalars(select(ConsentEvent).where(ConsentEvent.consent_id == consent_id).order_by(ConsentEvent.id)))


def require_consent(session: Session, *, school_id: int | None, api: str, source_system_id: int | None,
                    receiving_system_id: int | None) -> Consent:  # fmt: skip
    """The check every exchange makes; ConsentRefused (403) unless the school's consent is in force.
    An unknown school gets the same answer as a school without consent: nothing to probe."""
    consent = None
    if school_id is not None and source_system_id is not None and receiving_system_id is not None:
        consent = find(session, school_id, api, source_system_id, receiving_system_id)
    return _in_force(consent, (school_id, api, source_system_id, receiving_system_id))


def require_consents(session: Session, school_ids: list[int | None], *, api: str, source_system_id: int | None,
                     receiving_system_id: int | None) -> list[Consent]:  # fmt: skip
    """``require_consent`` for many schools with one query (a bulk request that spans schools).
    ConsentRefused for the first school in ``school_ids`` without consent in force, its place in
    the list in ``index``."""
    found: dict[int, Consent] = {}
    known = sorted({s for s in school_ids if s is not None})
    if known and source_system_id is not None and receiving_system_id is not None:
        for part in in_chunks(known):
            statement = select(Consent).where(Consent.school_id.in_(part), Consent.api == api,
                                              Consent.source_system_id == source_system_id,
                                              Consent.receiving_system_id == receiving_system_id)  # fmt: skip
            found.update((c.school_id, c) for c in session.scalars(statement))
    out = []
    for index, school_id in enumerate(school_ids):
        try:
            out.append(_in_force(found.get(school_id) if school_id is not None else None,
                                 (school_id, api, source_system_id, receiving_system_id)))  # fmt: skip
        except ConsentRefused as exc:
            exc.index = index
            raise
    return out


def _in_force(consent: Consent | None, flow: tuple[int | None, str, int | None, int | None]) -> Consent:
    api = flow[1]
    label = LABELS.get(api, api)
    if consent is None:
        raise ConsentRefused(f"The school has not given consent for {label} ({api}) from your system to this system; "
                             "ask the school to activate it.", flow)  # fmt: skip
    if consent.status == "revoked":
        raise ConsentRefused(f"The school has switched off {label} ({api}) between your system and this system.", flow)
    if consent.status == "requested":
        raise ConsentRefused(f"Consent for {label} ({api}) was requested but the school has not activated it yet.", flow)
    if not effective(consent):
        raise ConsentRefused(f"Consent for {label} ({api}) is active at the school but the receiving system has not confirmed it yet.", flow)
    return consent


@dataclass
class Relation:
    consent: Consent
    school: School
    source: System
    source_supplier: Supplier
    receiver: System
    receiver_supplier: Supplier


def relations(session: Session, *, school_id: int | None = None, supplier_oin: str | None = None,
              api: str | None = None) -> list[Relation]:  # fmt: skip
    """Consents with their parties; ``supplier_oin`` limits to relations where that supplier owns
    the source or the receiving system (a supplier sees only its own relations)."""
    src, rcv = aliased(System), aliased(System)
    src_sup, rcv_sup = aliased(Supplier), aliased(Supplier)
    statement = (
        select(Consent, School, src, src_sup, rcv, rcv_sup)
        .join(School, School.id == Consent.school_id)
        .join(src, src.id == Consent.source_system_id)
        .join(src_sup, src_sup.id == src.supplier_id)
        .join(rcv, rcv.id == Consent.receiving_system_id)
        .join(rcv_sup, rcv_sup.id == rcv.supplier_id)
        .order_by(School.brin, Consent.api, Consent.id)
    )
    if school_id is not None:
        statement = statement.where(Consent.school_id == school_id)
    if supplier_oin is not None:
        statement = statement.where(or_(src_sup.oin == supplier_oin, rcv_sup.oin == supplier_oin))
    if api is not None:
        statement = statement.where(Consent.api == api)
    return [Relation(*row) for row in session.execute(statement)]


def relation_out(rel: Relation, *, with_history: list[ConsentEvent] | None = None) -> dict:
    c = rel.consent
    out = {
        "id": c.id,
        "school": {"brin": rel.school.brin, "oin": rel.school.oin, "name": rel.school.name},
        "api": c.api,
        "label": LABELS.get(c.api, c.api),
        "direction": c.direction,
        "source": {"supplier_oin": rel.source_supplier.oin, "supplier": rel.source_supplier.name, "system": rel.source.name},
        "receiver": {"supplier_oin": rel.receiver_supplier.oin, "supplier": rel.receiver_supplier.name, "system": rel.receiver.name},
        "status": c.status,
        "state": state(c),
        "in_force": effective(c),
        "requested_at": c.requested_at.isoformat(),
        "activated_at": c.activated_at.isoformat() if c.activated_at else None,
        "confirmed_at": c.confirmed_at.isoformat() if c.confirmed_at else None,
        "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
    }
    if with_history is not None:
        out["history"] = [
            {"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "from": e.status_before, "to": e.status_after}
            for e in with_history
        ]
    return out


def switched_off(session: Session, api: str) -> set[tuple[str, str, str]]:
    """Flows of a mandated gegevensdienst that schools switched off: (school OIN, source
    supplier OIN, receiving supplier OIN). Off when every consent relation between the two
    suppliers' systems for that school is revoked (a relation asked for again is on)."""
    source_system, receiving_system = aliased(System), aliased(System)
    source_supplier, receiving_supplier = aliased(Supplier), aliased(Supplier)
    rows = session.execute(
        select(School.oin, source_supplier.oin, receiving_supplier.oin, Consent.status)
        .join(School, School.id == Consent.school_id)
        .join(source_system, source_system.id == Consent.source_system_id)
        .join(source_supplier, source_supplier.id == source_system.supplier_id)
        .join(receiving_system, receiving_system.id == Consent.receiving_system_id)
        .join(receiving_supplier, receiving_supplier.id == receiving_system.supplier_id)
        .where(Consent.api == api)
    ).all()
    off: set[tuple[str, str, str]] = set()
    on: set[tuple[str, str, str]] = set()
    for school_oin, source_oin, receiving_oin, status in rows:
        (off if status == "revoked" else on).add((school_oin, source_oin, receiving_oin))
    return off - on


class SwitchedOffView:
    """``switched_off`` kept in memory for the hot path of a mandated exchange
    (``core.cache.Refreshed``): a school's switch takes effect within ``ttl`` seconds, and at once
    in this process when made through its own pages or admin API, which invalidate the views."""

    def __init__(self, session_factory, api: str, ttl: float = 5.0) -> None:
        self._sessions, self._api = session_factory, api
        self._view: Refreshed[set[tuple[str, str, str]]] = Refreshed(self._load, ttl)

    def invalidate(self) -> None:
        self._view.invalidate()

    def is_off(self, school_oin: str, source_oin: str, receiving_oin: str) -> bool:
        return (school_oin, source_oin, receiving_oin) in self._view.get()

    def _load(self) -> set[tuple[str, str, str]]:
        with self._sessions() as session:
            return switched_off(session, self._api)


# -- refused exchanges: the school sees them as open errors of the flow ----------------------------


def record_refusal(session: Session, *, school_id: int, api: str, source_system_id: int, receiving_system_id: int,
                   reason: str) -> ConsentRefusal:  # fmt: skip
    """Count one refused exchange of a flow (one row per flow, however often the sender tries)."""
    now = utcnow()
    row = session.scalar(
        select(ConsentRefusal).where(
            ConsentRefusal.school_id == school_id,
            ConsentRefusal.api == api,
            ConsentRefusal.source_system_id == source_system_id,
            ConsentRefusal.receiving_system_id == receiving_system_id,
        )
    )
    if row is None:
        row = ConsentRefusal(school_id=school_id, api=api, source_system_id=source_system_id, receiving_system_id=receiving_system_id,
                             times=1, first_at=now, last_at=now, last_reason=reason[:400])  # fmt: skip
        session.add(row)
    else:
        row.times, row.last_at, row.last_reason = row.times + 1, now, reason[:400]
    session.flush()
    return row


def note_refusal(session_factory, refused: ConsentRefused) -> None:
    """``record_refusal`` in its own short transaction, after the refused request's own
    transaction ended (on SQLite that one holds the write lock); best effort: a refusal is
    answered whether or not it could be counted. Only refusals of a known school and known
    systems are kept (an unknown school gets the same answer and leaves nothing behind)."""
    if refused.flow is None:
        return
    school_id, api, source_system_id, receiving_system_id = refused.flow
    reason = refused.message
    if school_id is None or source_system_id is None or receiving_system_id is None:
        return
    try:
        with session_factory() as session, session.begin():
            record_refusal(session, school_id=school_id, api=api, source_system_id=source_system_id,
                           receiving_system_id=receiving_system_id, reason=reason)  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - a race on the first row, or the store is busy: the answer stays 403
        log.warning("refusal not counted: %s", type(exc).__name__)


def refusals(session: Session, school_id: int) -> list[ConsentRefusal]:
    return list(session.scalars(select(ConsentRefusal).where(ConsentRefusal.school_id == school_id).order_by(ConsentRefusal.id)))
