"""All SQL of the privacy duties, over the tables the domains declare (core.privacy.PupilData)
and the shared kernel's inbox, outbox and audit log."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from eduketen.core.db import in_chunks
from eduketen.core.models import AuditEntry, InboxMessage, OutboxMessage
from eduketen.core.privacy import PupilData
from eduketen.register.models import Pupil, School


def declared() -> list[PupilData]:
    from eduketen.doorstroomtoets import repository as doorstroomtoets
    from eduketen.leervoortgang import repository as leervoortgang
    from eduketen.register import repository as register
    from eduketen.toetsresultaten import repository as toetsresultaten

    # order matters for deletion: rows that point at others first
    return [*doorstroomtoets.privacy_tables(), *toetsresultaten.privacy_tables(), *leervoortgang.privacy_tables(), *register.privacy_tables()]


def _plain(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _row_dict(row, table) -> dict:
    out = {}
    for column in table.columns:
        v = row._mapping[column]
        if column.name == "data" and isinstance(v, str):
            try:
                v = json.loads(v)
            except ValueError:
                pass
        out[column.name] = _plain(v)
    return out


# -- one pupil -------------------------------------------------------------------------------------


def find_pupil(session: Session, school_id: int, *, eck_id: str | None, las_key: str | None) -> Pupil | None:
    query = select(Pupil).where(Pupil.school_id == school_id)
    query = query.where(Pupil.eck_id == eck_id) if eck_id else query.where(Pupil.las_key == las_key)
    return session.scalars(query).first()


def _ref_condition(item: PupilData, pupil: Pupil):
    """Rows of the pupil's school that name the pupil by ECK iD or LAS-key, not by pupil id."""
    school = item.table.c[item.school_column] == pupil.school_id
    if item.eck_column:
        return school & (item.table.c[item.eck_column] == pupil.eck_id) if pupil.eck_id else None
    label_col, value_col = (item.table.c[c] for c in item.ref_columns)
    refs = [(item.ref_labels[0], pupil.eck_id), (item.ref_labels[1], pupil.las_key)]
    conditions = [(label_col == label) & (value_col == value) for label, value in refs if value and label]
    if not conditions:
        return None
    return school & or_(*conditions)


def _condition(item: PupilData, pupil: Pupil):
    if item.pupil_column:
        return item.table.c[item.pupil_column] == pupil.id
    if item.ref_columns or item.eck_column:
        return _ref_condition(item, pupil)
    return None


def _outbox_condition(pupil_id: int):
    # ordering keys of one pupil's messages: dt-resultaat:<pupil>:<jaar>, las-rapport:<pupil>:<jaar>
    return or_(
        OutboxMessage.ordering_key.like(f"dt-resultaat:{pupil_id}:%"),
        OutboxMessage.ordering_key.like(f"las-rapport:{pupil_id}:%"),
    )


def pupil_records(session: Session, pupil: Pupil) -> dict:
    records: dict[str, list[dict]] = {}
    for item in declared():
        condition = _condition(item, pupil)
        if condition is None:
            continue
        rows = session.execute(select(item.table).where(condition)).all()
        if rows:
            records[item.label] = [_row_dict(r, item.table) for r in rows]
    outbox = session.scalars(select(OutboxMessage).where(_outbox_condition(pupil.id)).order_by(OutboxMessage.seq)).all()
    records["uitgaande_berichten"] = [
        {
            "seq": m.seq, "soort": m.kind, "status": m.status, "aangemaakt": _plain(m.created_at), "afgehandeld": _plain(m.settled_at),
            "inhoud": json.loads(m.body) if m.body else None,
        }
        for m in outbox
    ]  # fmt: skip
    reads = session.scalars(
        select(AuditEntry).where(AuditEntry.subject_id == str(pupil.id), AuditEntry.subject_type.in_(("leerlingrapport", "pupil"))).order_by(AuditEntry.id)
    ).all()
    records["inzage_door_anderen"] = [
        {"wanneer": _plain(e.at), "wie": e.actor, "wat": e.action, "waarom": e.purpose} for e in reads
    ]
    return records


def erase_pupil(session: Session, pupil: Pupil) -> tuple[dict[str, int], list[str]]:
    """Delete every row about the pupil; returns counts per table and the files to remove."""
    counts: dict[str, int] = {}
    files: list[str] = []
    for item in declared():
        condition = _condition(item, pupil)
        if condition is None:
            continue
        if item.file_column:
            files.extend(p for p in session.execute(select(item.table.c[item.file_column]).where(condition)).scalars() if p)
        counts[item.label] = session.execute(delete(item.table).where(condition)).rowcount
    counts["uitgaande_berichten"] = session.execute(delete(OutboxMessage).where(_outbox_condition(pupil.id))).rowcount
    session.execute(delete(Pupil).where(Pupil.id == pupil.id))
    counts["register.leerling"] = 1
    return counts, files


def waiting_messages_of_school(session: Session, school: School) -> int:
    return session.scalar(
        select(func.count()).select_from(InboxMessage).where(
            InboxMessage.school_oin == school.oin, InboxMessage.status.in_(("pending", "processing"))
        )
    )


# -- school years ----------------------------------------------------------------------------------


def school_years(session: Session) -> list[str]:
    years: set[str] = set()
    for item in declared():
        if item.year_column:
            years.update(y for y in session.execute(select(item.table.c[item.year_column]).distinct()).scalars() if y)
    years.update(y for y in session.execute(select(InboxMessage.schooljaar).distinct()).scalars() if y)
    return sorted(years)


def purge_years(session: Session, years: list[str], *, dry_run: bool) -> tuple[dict[str, int], list[str]]:
    """Rows (and files) of the given school years; deleted unless ``dry_run``. Pupils left with
    no data of any year go too (their identity with them)."""
    counts: dict[str, int] = {}
    files: list[str] = []
    if not years:
        return counts, files
    items = declared()
    # outgoing messages of those years: one pupil's (key ends in :<jaar>) and the LAS's lists
    from eduketen.doorstroomtoets.models import LasVerzending

    seqs = select(LasVerzending.outbox_seq).where(LasVerzending.schooljaar.in_(years), LasVerzending.outbox_seq.is_not(None))
    outbox_condition = OutboxMessage.status.in_(("delivered", "superseded", "dead")) & or_(
        *[OutboxMessage.ordering_key.like(f"%:{y}") for y in years], OutboxMessage.seq.in_(seqs)
    )
    counts["uitgaande_berichten"] = session.scalar(select(func.count()).select_from(OutboxMessage).where(outbox_condition))
    if not dry_run:
        session.execute(delete(OutboxMessage).where(outbox_condition))
    inbox_condition = InboxMessage.schooljaar.in_(years) & InboxMessage.status.in_(("done", "failed"))
    counts["ontvangen_berichten"] = session.scalar(select(func.count()).select_from(InboxMessage).where(inbox_condition))
    if not dry_run:
        session.execute(delete(InboxMessage).where(inbox_condition))
    for item in items:
        if not item.year_column:
            continue
        condition = item.table.c[item.year_column].in_(years)
        counts[item.label] = session.scalar(select(func.count()).select_from(item.table).where(condition))
        if item.file_column:
            files.extend(p for p in session.execute(select(item.table.c[item.file_column]).where(condition)).scalars() if p)
        if not dry_run:
            session.execute(delete(item.table).where(condition))
    # pupils with no year of data left
    yearly = [i for i in items if i.year_column and i.pupil_column]
    still_held = or_(
        *[
            Pupil.id.in_(select(i.table.c[i.pupil_column]).where(i.table.c[i.year_column].not_in(years)))
            for i in yearly
        ]
    )
    orphans = select(Pupil.id).where(~still_held)
    orphan_ids = list(session.execute(orphans).scalars())
    counts["register.leerling"] = len(orphan_ids)
    identity = next(i for i in items if i.label == "register.identiteit")
    counts["register.identiteit"] = (
        session.scalar(select(func.count()).select_from(identity.table).where(identity.table.c.pupil_id.in_(orphan_ids))) if orphan_ids else 0
    )
    if not dry_run and orphan_ids:
        for chunk in in_chunks(orphan_ids):
            session.execute(delete(identity.table).where(identity.table.c.pupil_id.in_(chunk)))
            session.execute(delete(Pupil).where(Pupil.id.in_(chunk)))
    return counts, files
