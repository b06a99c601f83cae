"""All SQL of the Doorstroomtoets domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from eduketen.core.db import in_chunks
from eduketen.core.models import InboxMessage
from eduketen.doorstroomtoets.models import Deelname, OnbekendAdvies, Schooladvies, Venster
from eduketen.register.models import PupilIdentity, School


def vensters(session: Session) -> list[Venster]:
    return list(session.scalars(select(Venster).order_by(Venster.schooljaar, Venster.soort)))


def venster(session: Session, schooljaar: str, soort: str) -> Venster | None:
    return session.get(Venster, (schooljaar, soort))


def deelnames(session: Session, pupil_ids: list[int], schooljaar: str) -> dict[int, Deelname]:
    if not pupil_ids:
        return {}
    return {
        d.pupil_id: d
        for d in session.scalars(select(Deelname).where(Deelname.pupil_id.in_(pupil_ids), Deelname.schooljaar == schooljaar))
    }


def stamps(session: Session, table, column: str, pupil_ids: list[int], schooljaar: str) -> dict[int, datetime]:
    """pupil id -> ``column`` (a time) of the rows of ``table`` (keyed pupil id, school year) that exist."""
    found: dict[int, datetime] = {}
    ids = list(dict.fromkeys(pupil_ids))
    for part in in_chunks(ids):
        found.update(
            session.execute(
                select(table.c.pupil_id, table.c[column]).where(table.c.schooljaar == schooljaar, table.c.pupil_id.in_(part))
            ).all()
        )
    return found


def adviezen(session: Session, pupil_ids: list[int], schooljaar: str) -> dict[int, Schooladvies]:
    if not pupil_ids:
        return {}
    return {
        a.pupil_id: a
        for a in session.scalars(
            select(Schooladvies).where(Schooladvies.pupil_id.in_(pupil_ids), Schooladvies.schooljaar == schooljaar)
        )
    }


def onbekende(session: Session, school_id: int, schooljaar: str, refs: list[tuple[str, str]]) -> dict[tuple[str, str], OnbekendAdvies]:
    if not refs:
        return {}
    values = [v for _, v in refs]
    rows = session.scalars(
        select(OnbekendAdvies).where(
            OnbekendAdvies.school_id == school_id,
            OnbekendAdvies.schooljaar == schooljaar,
            OnbekendAdvies.id_value.in_(values),
        )
    )
    return {(r.id_label, r.id_value): r for r in rows}


def overview(session: Session, *, schooljaar: str | None = None, school_oin: str | None = None) -> list[dict]:
    """Per school and school year: pupils registered, advice received, unknown advice ignored,
    and the last message with its outcome. Counts only: no pupil data."""
    school_filter = [School.oin == school_oin] if school_oin else []

    def counts(model, column):
        statement = select(model.school_id, model.schooljaar, func.count()).group_by(model.school_id, model.schooljaar)
        if schooljaar:
            statement = statement.where(model.schooljaar == schooljaar)
        return {(s, y): n for s, y, n in session.execute(statement)}

    registered = counts(Deelname, Deelname.pupil_id)
    advised = counts(Schooladvies, Schooladvies.pupil_id)
    # A data-minimisation check, not pupil data: how many registered pupils still have a
    # geslacht stored (it must stay 0 for 2026-2027 and later).
    gender_statement = (
        select(Deelname.school_id, Deelname.schooljaar, func.count())
        .join(PupilIdentity, PupilIdentity.pupil_id == Deelname.pupil_id)
        .where(PupilIdentity.geslacht.is_not(None))
        .group_by(Deelname.school_id, Deelname.schooljaar)
    )
    if schooljaar:
        gender_statement = gender_statement.where(Deelname.schooljaar == schooljaar)
    with_gender = {(s, y): n for s, y, n in session.execute(gender_statement)}
    unknown_statement = select(
        OnbekendAdvies.school_id, OnbekendAdvies.schooljaar, func.count(), func.sum(OnbekendAdvies.times)
    ).group_by(OnbekendAdvies.school_id, OnbekendAdvies.schooljaar)
    if schooljaar:
        unknown_statement = unknown_statement.where(OnbekendAdvies.schooljaar == schooljaar)
    unknown = {(s, y): (n, t) for s, y, n, t in session.execute(unknown_statement)}

    last_statement = (
        select(InboxMessage.school_oin, InboxMessage.schooljaar, func.max(InboxMessage.received_at))
        .where(InboxMessage.service == "doorstroomtoets")
        .group_by(InboxMessage.school_oin, InboxMessage.schooljaar)
    )
    if schooljaar:
        last_statement = last_statement.where(InboxMessage.schooljaar == schooljaar)
    last_at = {(oin, y): at for oin, y, at in session.execute(last_statement)}

    schools = {s.id: s for s in session.scalars(select(School).where(*school_filter))}
    by_oin = {s.oin: s for s in schools.values()}
    keys = set(registered) | set(advised) | set(unknown)
    keys |= {(by_oin[oin].id, y) for oin, y in last_at if oin in by_oin}
    rows = []
    for school_id, year in sorted(keys, key=lambda k: (schools[k[0]].brin if k[0] in schools else "", k[1] or "")):
        school = schools.get(school_id)
        if school is None:
            continue
        at = last_at.get((school.oin, year))
        last = _last_message(session, school.oin, year, at) if at else None
        n_unknown, times_unknown = unknown.get((school_id, year), (0, 0))
        rows.append(
            {
                "school": school.name,
                "brin": school.brin,
                "school_oin": school.oin,
                "schooljaar": year,
                "leerlingen_geregistreerd": registered.get((school_id, year), 0),
                "adviezen_ontvangen": advised.get((school_id, year), 0),
                "leerlingen_met_geslacht": with_gender.get((school_id, year), 0),
                "onbekende_leerlingen_genegeerd": n_unknown,
                "onbekende_adviezen_ontvangen": int(times_unknown or 0),
                "laatste_bericht": last,
            }
        )
    return rows


def _last_message(session: Session, school_oin: str, schooljaar: str | None, at: datetime) -> dict | None:
    message = session.scalar(
        select(InboxMessage)
        .where(
            InboxMessage.service == "doorstroomtoets",
            InboxMessage.school_oin == school_oin,
            InboxMessage.schooljaar == schooljaar,
        )
        .order_by(InboxMessage.received_at.desc())
        .limit(1)
    )
    if message is None:
        return None
    return {
        "id": message.id,
        "operatie": message.operation,
        "versie": message.version,
        "ontvangen": message.received_at.isoformat(),
        "status": message.status,
        "uitkomst": message.outcome,
        "fout": message.last_error,
    }


def privacy_tables():
    """The Doorstroomtoets tables that hold pupil data (eduketen.core.privacy)."""
    from eduketen.core.privacy import PupilData
    from eduketen.doorstroomtoets.models import Deelname, LasAdvies, LasResultaat, LasVerzending, OnbekendAdvies, Resultaat
    from eduketen.doorstroomtoets.models import Schooladvies as Advies

    return [
        PupilData("doorstroomtoets.deelname", Deelname.__table__, pupil_column="pupil_id", year_column="schooljaar"),
        PupilData("doorstroomtoets.schooladvies", Advies.__table__, pupil_column="pupil_id", year_column="schooljaar"),
        PupilData("doorstroomtoets.resultaat", Resultaat.__table__, pupil_column="pupil_id", year_column="schooljaar", file_column="rapport_path"),
        PupilData("doorstroomtoets.onbekend_advies", OnbekendAdvies.__table__, year_column="schooljaar", school_column="school_id", ref_columns=("id_label", "id_value")),
        PupilData("las.advies", LasAdvies.__table__, pupil_column="pupil_id", year_column="schooljaar"),
        PupilData("las.resultaat", LasResultaat.__table__, pupil_column="pupil_id", year_column="schooljaar", file_column="rapport_path"),
        PupilData("las.verzending", LasVerzending.__table__, year_column="schooljaar"),
    ]  # fmt: skip


def result_keys_of_school(session: Session, school_id: int) -> list[tuple[int, str]]:
    """(pupil id, school year) of every result this installation holds for the school, as test
    supplier (sent back) or as LAS (received): the ordering keys of the return path."""
    from eduketen.doorstroomtoets.models import LasResultaat, Resultaat

    keys = set(session.execute(select(Resultaat.pupil_id, Resultaat.schooljaar).where(Resultaat.school_id == school_id)).all())
    keys |= set(session.execute(select(LasResultaat.pupil_id, LasResultaat.schooljaar).where(LasResultaat.school_id == school_id)).all())
    return sorted((int(p), str(y)) for p, y in keys)
