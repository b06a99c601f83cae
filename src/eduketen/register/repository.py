"""All SQL of the register."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from eduketen.core.db import in_chunks
from eduketen.register.models import (
    Administratie,
    BoardAdministrator,
    Endpoint,
    GroupMembership,
    Mandate,
    Pupil,
    PupilIdentity,
    RegisterStamp,
    School,
    SchoolGroup,
    Service,
    ServiceVersion,
    Supplier,
    System,
    Vestiging,
)


def school_by_oin(session: Session, oin: str) -> School | None:
    return session.scalar(select(School).where(School.oin == oin))


def school_by_brin(session: Session, brin: str) -> School | None:
    return session.scalar(select(School).where(School.brin == brin))


def school_ids(session: Session, brins: list[str], oins: list[str]) -> dict[tuple[str, str], int]:
    """(BRIN or OIN, the code) -> school id of the schools that exist, in a query or two."""
    out: dict[tuple[str, str], int] = {}
    for id_type, column, codes in (("BRIN", School.brin, brins), ("OIN", School.oin, oins)):
        codes = sorted(set(codes))
        for part in in_chunks(codes):
            out.update(((id_type, code), school_id) for code, school_id in session.execute(
                select(column, School.id).where(column.in_(part))))  # fmt: skip
    return out


def schools(session: Session, limit: int = 1000, offset: int = 0) -> list[School]:
    return list(session.scalars(select(School).order_by(School.brin).limit(limit).offset(offset)))


def vestigingen(session: Session, school_id: int) -> list[Vestiging]:
    return list(session.scalars(select(Vestiging).where(Vestiging.school_id == school_id).order_by(Vestiging.code)))


def administraties(session: Session, school_id: int) -> list[Administratie]:
    return list(
        session.scalars(
            select(Administratie).where(Administratie.school_id == school_id).order_by(Administratie.routeringskenmerk)
        )
    )


def administratie_by_routing(session: Session, routing: str) -> Administratie | None:
    return session.scalar(select(Administratie).where(Administratie.routeringskenmerk == routing))


def supplier_by_oin(session: Session, oin: str) -> Supplier | None:
    return session.scalar(select(Supplier).where(Supplier.oin == oin))


def suppliers(session: Session) -> list[Supplier]:
    return list(session.scalars(select(Supplier).order_by(Supplier.name)))


def systems_of(session: Session, supplier_id: int) -> list[System]:
    return list(session.scalars(select(System).where(System.supplier_id == supplier_id).order_by(System.name)))


def system_by_name(session: Session, supplier_id: int, name: str) -> System | None:
    return session.scalar(select(System).where(System.supplier_id == supplier_id, System.name == name))


def service_by_name(session: Session, name: str) -> Service | None:
    return session.scalar(select(Service).where(Service.name == name))


def services(session: Session) -> list[Service]:
    return list(session.scalars(select(Service).order_by(Service.name)))


def service_versions(session: Session, service_id: int | None = None) -> list[ServiceVersion]:
    statement = select(ServiceVersion).order_by(ServiceVersion.service_id, ServiceVersion.version)
    if service_id is not None:
        statement = statement.where(ServiceVersion.service_id == service_id)
    return list(session.scalars(statement))


def service_version(session: Session, service_id: int, version: str) -> ServiceVersion | None:
    return session.scalar(
        select(ServiceVersion).where(ServiceVersion.service_id == service_id, ServiceVersion.version == version)
    )


def mandates(
    session: Session, *, school_id: int | None = None, supplier_id: int | None = None
) -> list[tuple[Mandate, School, System, Supplier, ServiceVersion, Service]]:
    statement = (
        select(Mandate, School, System, Supplier, ServiceVersion, Service)
        .join(School, School.id == Mandate.school_id)
        .join(System, System.id == Mandate.system_id)
        .join(Supplier, Supplier.id == System.supplier_id)
        .join(ServiceVersion, ServiceVersion.id == Mandate.service_version_id)
        .join(Service, Service.id == ServiceVersion.service_id)
        .order_by(School.brin, Service.name, ServiceVersion.version, Supplier.name)
    )
    if school_id is not None:
        statement = statement.where(Mandate.school_id == school_id)
    if supplier_id is not None:
        statement = statement.where(Supplier.id == supplier_id)
    return [tuple(row) for row in session.execute(statement)]


def las_mandates(session: Session, *, supplier_oin: str) -> list[tuple[str, Mandate, ServiceVersion]]:
    """(routeringskenmerk of the school's administration, mandate, service version) of every
    mandate a LAS supplier's systems hold, in one query (the chain test registers their addresses)."""
    rows = session.execute(
        select(Administratie.routeringskenmerk, Mandate, ServiceVersion)
        .join(Administratie, Administratie.school_id == Mandate.school_id)
        .join(System, System.id == Mandate.system_id)
        .join(Supplier, Supplier.id == System.supplier_id)
        .join(ServiceVersion, ServiceVersion.id == Mandate.service_version_id)
        .where(System.kind == "las", Supplier.oin == supplier_oin)
        .order_by(Mandate.school_id, Mandate.id)
    )
    return [tuple(row) for row in rows]


def mandate_by_id(session: Session, mandate_id: int) -> Mandate | None:
    return session.get(Mandate, mandate_id)


def stamp(session: Session) -> int | None:
    """The register's change counter (raised by triggers on the tables ``snapshot_rows`` reads)."""
    return session.scalar(select(RegisterStamp.generation).where(RegisterStamp.id == 1))


def snapshot_rows(session: Session):
    """Everything the hot path needs to decide who may send what, in three queries."""
    school_rows = session.execute(select(School.id, School.oin, School.brin, School.name)).all()
    admin_rows = session.execute(
        select(
            Administratie.routeringskenmerk,
            Administratie.school_id,
            Administratie.system_id,
            Supplier.oin,
        )
        .outerjoin(System, System.id == Administratie.system_id)
        .outerjoin(Supplier, Supplier.id == System.supplier_id)
    ).all()
    mandate_rows = session.execute(
        select(
            Mandate.school_id,
            Mandate.system_id,
            System.kind,
            Supplier.oin,
            Service.name,
            ServiceVersion.version,
            Mandate.start_date,
            Mandate.end_date,
        )
        .join(System, System.id == Mandate.system_id)
        .join(Supplier, Supplier.id == System.supplier_id)
        .join(ServiceVersion, ServiceVersion.id == Mandate.service_version_id)
        .join(Service, Service.id == ServiceVersion.service_id)
        .where(Mandate.revoked_at.is_(None))
    ).all()
    return school_rows, admin_rows, mandate_rows


# -- pupils ------------------------------------------------------------------------------------


def pupils_by_refs(
    session: Session, school_id: int, eck_ids: list[str], las_keys: list[str]
) -> tuple[dict[str, Pupil], dict[str, Pupil]]:
    by_eck: dict[str, Pupil] = {}
    by_las: dict[str, Pupil] = {}
    if eck_ids:
        for pupil in session.scalars(select(Pupil).where(Pupil.school_id == school_id, Pupil.eck_id.in_(eck_ids))):
            by_eck[pupil.eck_id] = pupil
    if las_keys:
        for pupil in session.scalars(select(Pupil).where(Pupil.school_id == school_id, Pupil.las_key.in_(las_keys))):
            by_las[pupil.las_key] = pupil
    return by_eck, by_las


def pupil_rows_of(
    session: Session, eck_keys: list[tuple[int, str]], las_keys: list[tuple[int, str]]
) -> tuple[dict[tuple[int, str], tuple], dict[tuple[int, str], tuple]]:
    """(id, eck_id, las_key) rows of pupils by (school id, ECK iD) and by (school id, LAS-key),
    without ORM objects, a few statements for many schools."""
    t = Pupil.__table__
    out = []
    for keys, column in ((eck_keys, t.c.eck_id), (las_keys, t.c.las_key)):
        found: dict[tuple[int, str], tuple] = {}
        wanted = set(keys)
        for part in in_chunks(sorted(wanted)):
            school_ids = list({sid for sid, _ in part})
            codes = list({code for _, code in part})
            for row in session.execute(
                select(t.c.school_id, t.c.id, t.c.eck_id, t.c.las_key).where(t.c.school_id.in_(school_ids), column.in_(codes))
            ):
                key = (row[0], row[2] if column is t.c.eck_id else row[3])
                if key in wanted:
                    found[key] = (row[1], row[2], row[3])
        out.append(found)
    return out[0], out[1]


def identity_stamps(session: Session, pupil_ids: list[int]) -> dict[int, datetime]:
    t = PupilIdentity.__table__
    found: dict[int, datetime] = {}
    for part in in_chunks(pupil_ids):
        found.update(session.execute(select(t.c.pupil_id, t.c.updated_at).where(t.c.pupil_id.in_(part))).all())
    return found


def membership_keys(session: Session, pupil_ids: list[int]) -> set[tuple[int, str]]:
    """(pupil id, school year) of the group memberships of these pupils."""
    t = GroupMembership.__table__
    found: set[tuple[int, str]] = set()
    for part in in_chunks(pupil_ids):
        found.update(tuple(r) for r in session.execute(select(t.c.pupil_id, t.c.schooljaar).where(t.c.pupil_id.in_(part))))
    return found


def group_rows_of(session: Session, keys: list[tuple[int, str, str]]) -> dict[tuple[int, str, str], tuple[int, datetime]]:
    """(school id, school year, external id) -> (id, updated_at) of existing groups."""
    t = SchoolGroup.__table__
    found: dict[tuple[int, str, str], tuple[int, datetime]] = {}
    wanted = set(keys)
    for part in in_chunks(sorted(wanted)):
        rows = session.execute(
            select(t.c.school_id, t.c.schooljaar, t.c.external_id, t.c.id, t.c.updated_at).where(
                t.c.school_id.in_(list({k[0] for k in part})), t.c.schooljaar.in_(list({k[1] for k in part})),
                t.c.external_id.in_(list({k[2] for k in part})),
            )
        )
        for sid, jaar, external_id, gid, stamp in rows:
            if (sid, jaar, external_id) in wanted:
                found[(sid, jaar, external_id)] = (gid, stamp)
    return found


def existing_brins(session: Session, brins: list[str]) -> set[str]:
    found: set[str] = set()
    for part in in_chunks(brins):
        found.update(session.scalars(select(School.__table__.c.brin).where(School.__table__.c.brin.in_(part))))
    return found


def existing_routings(session: Session, routings: list[str]) -> set[str]:
    t = Administratie.__table__
    found: set[str] = set()
    for part in in_chunks(routings):
        found.update(session.scalars(select(t.c.routeringskenmerk).where(t.c.routeringskenmerk.in_(part))))
    return found


def administraties_by_routing(session: Session, routings: list[str]) -> dict[str, tuple[int | None, int, int | None]]:
    """routeringskenmerk -> (id, school id, system id)."""
    t = Administratie.__table__
    found: dict[str, tuple] = {}
    for part in in_chunks(list(dict.fromkeys(routings))):
        for routing, aid, school_id, system_id in session.execute(
            select(t.c.routeringskenmerk, t.c.id, t.c.school_id, t.c.system_id).where(t.c.routeringskenmerk.in_(part))
        ):
            found[routing] = (aid, school_id, system_id)
    return found


def mandates_by_tokens(session: Session, tokens: list[str]) -> dict[str, tuple]:
    """token -> (mandate row with id, school_id, system_id, service_version_id, revoked_at; the OIN of its supplier)."""
    m, sy, su = Mandate.__table__, System.__table__, Supplier.__table__
    found: dict[str, tuple] = {}
    for part in in_chunks(list(dict.fromkeys(t for t in tokens if isinstance(t, str)))):
        rows = session.execute(
            select(m.c.token, m.c.id, m.c.school_id, m.c.system_id, m.c.service_version_id, m.c.revoked_at, su.c.oin)
            .join(sy, sy.c.id == m.c.system_id)
            .join(su, su.c.id == sy.c.supplier_id)
            .where(m.c.token.in_(part))
        )
        for row in rows:
            found[row.token] = (row, row.oin)
    return found


def identities(session: Session, pupil_ids: list[int]) -> dict[int, PupilIdentity]:
    if not pupil_ids:
        return {}
    return {
        row.pupil_id: row for row in session.scalars(select(PupilIdentity).where(PupilIdentity.pupil_id.in_(pupil_ids)))
    }


def groups_by_external(session: Session, school_id: int, schooljaar: str, external_ids: list[str]) -> dict[str, SchoolGroup]:
    if not external_ids:
        return {}
    return {
        g.external_id: g
        for g in session.scalars(
            select(SchoolGroup).where(
                SchoolGroup.school_id == school_id,
                SchoolGroup.schooljaar == schooljaar,
                SchoolGroup.external_id.in_(external_ids),
            )
        )
    }


def memberships(session: Session, pupil_ids: list[int], schooljaar: str) -> dict[int, GroupMembership]:
    if not pupil_ids:
        return {}
    return {
        m.pupil_id: m
        for m in session.scalars(
            select(GroupMembership).where(GroupMembership.pupil_id.in_(pupil_ids), GroupMembership.schooljaar == schooljaar)
        )
    }


def groups_of_school(session: Session, school_id: int, schooljaar: str) -> list[SchoolGroup]:
    return list(
        session.scalars(
            select(SchoolGroup)
            .where(SchoolGroup.school_id == school_id, SchoolGroup.schooljaar == schooljaar)
            .order_by(SchoolGroup.omschrijving)
        )
    )


def active_mandate_exists(session: Session, school_id: int, system_id: int, service_version_id: int, day: date) -> bool:
    return (
        session.scalar(
            select(Mandate.id).where(
                Mandate.school_id == school_id,
                Mandate.system_id == system_id,
                Mandate.service_version_id == service_version_id,
                Mandate.revoked_at.is_(None),
                Mandate.start_date <= day,
                (Mandate.end_date.is_(None)) | (Mandate.end_date >= day),
            )
        )
        is not None
    )


# -- OSR-compatible queries ------------------------------------------------------------------------


def service_version_by_namespace(session: Session, namespace: str) -> tuple[ServiceVersion, Service] | None:
    row = session.execute(
        select(ServiceVersion, Service).join(Service, Service.id == ServiceVersion.service_id).where(ServiceVersion.namespace == namespace)
    ).first()
    return (row[0], row[1]) if row else None


def mandates_of(session: Session, *, school_id: int, supplier_id: int, service_version_id: int) -> list[Mandate]:
    return list(
        session.scalars(
            select(Mandate)
            .join(System, System.id == Mandate.system_id)
            .where(
                Mandate.school_id == school_id,
                System.supplier_id == supplier_id,
                Mandate.service_version_id == service_version_id,
                Mandate.revoked_at.is_(None),
            )
            .order_by(Mandate.start_date)
        )
    )


def mandate_by_token(session: Session, token: str) -> Mandate | None:
    return session.scalar(select(Mandate).where(Mandate.token == token))


def endpoints(
    session: Session, *, service_version_id: int, school_id: int | None = None, administration_id: str | None = None
) -> list[Endpoint]:
    statement = select(Endpoint).where(Endpoint.service_version_id == service_version_id)
    if school_id is not None:
        statement = statement.where(Endpoint.school_id == school_id)
    if administration_id is not None:
        statement = statement.where(Endpoint.administration_id == administration_id)
    return list(session.scalars(statement.order_by(Endpoint.start_date, Endpoint.id)))


def schools_matching(session: Session, *, name: str | None, oin: str | None, brin: str | None, limit: int) -> list[School]:
    statement = select(School).order_by(School.brin).limit(limit)
    if name:
        statement = statement.where(School.name.ilike(f"%{name}%"))
    if oin:
        statement = statement.where(School.oin == oin)
    if brin:
        statement = statement.where(School.brin == brin.upper())
    return list(session.scalars(statement))


# -- mandate check and the school's own view ------------------------------------------------------


def schools_by_name(session: Session, text: str, limit: int) -> list[School]:
    """Schools whose name contains ``text`` (case-insensitive; LIKE wildcards in ``text`` are literal)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return list(session.scalars(select(School).where(School.name.ilike(f"%{escaped}%", escape="\\")).order_by(School.name).limit(limit)))


def suppliers_by_name(session: Session, text: str, limit: int) -> list[Supplier]:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return list(session.scalars(select(Supplier).where(Supplier.name.ilike(f"%{escaped}%", escape="\\")).order_by(Supplier.name).limit(limit)))


def mandates_of_school_service(session: Session, school_id: int, supplier_id: int, service_id: int,
                               version: str | None = None) -> list[Mandate]:  # fmt: skip
    statement = (
        select(Mandate)
        .join(System, System.id == Mandate.system_id)
        .join(ServiceVersion, ServiceVersion.id == Mandate.service_version_id)
        .where(Mandate.school_id == school_id, System.supplier_id == supplier_id, ServiceVersion.service_id == service_id)
    )
    if version is not None:
        statement = statement.where(ServiceVersion.version == version)
    return list(session.scalars(statement))


def board_administrators(session: Session, board: str) -> list[BoardAdministrator]:
    return list(session.scalars(select(BoardAdministrator).where(BoardAdministrator.board == board).order_by(BoardAdministrator.name)))


def board_administrator(session: Session, board: str, name: str) -> BoardAdministrator | None:
    return session.scalar(select(BoardAdministrator).where(BoardAdministrator.board == board, BoardAdministrator.name == name))


def systems_by_ids(session: Session, ids: set[int]) -> dict[int, tuple[System, Supplier]]:
    if not ids:
        return {}
    rows = session.execute(select(System, Supplier).join(Supplier, Supplier.id == System.supplier_id).where(System.id.in_(list(ids))))
    return {system.id: (system, supplier) for system, supplier in rows}


def endpoints_of_school(session: Session, school_id: int) -> list[Endpoint]:
    return list(session.scalars(select(Endpoint).where(Endpoint.school_id == school_id).order_by(Endpoint.id)))


def pupil_ids_of_school(session: Session, school_id: int) -> list[int]:
    return list(session.scalars(select(Pupil.id).where(Pupil.school_id == school_id)))


def privacy_tables():
    """The register's tables that hold pupil data (eduketen.core.privacy). The pupil row itself
    comes last: it is removed when no year of data is left."""
    from eduketen.core.privacy import PupilData

    return [
        PupilData("register.groepslidmaatschap", GroupMembership.__table__, pupil_column="pupil_id", year_column="schooljaar"),
        PupilData("register.groep", SchoolGroup.__table__, year_column="schooljaar"),
        PupilData("register.identiteit", PupilIdentity.__table__, pupil_column="pupil_id"),
    ]
