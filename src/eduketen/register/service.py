"""Register rules: organisations, systems, services, mandates, and pupils by pseudonym.

No HTTP and no commit here: callers own the transaction."""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import bindparam
from sqlalchemy.orm import Session, sessionmaker

from eduketen.core.cache import Refreshed
from eduketen.core.db import utcnow
from eduketen.core.identifiers import (
    IdentifierError,
    parse_schooljaar,
    school_oin,
    validate_brin,
    validate_oin,
    validate_routeringskenmerk,
    validate_vestigingscode,
)
from eduketen.register import repository as repo
from eduketen.register.models import (
    Administratie,
    Endpoint,
    GroupMembership,
    Mandate,
    Pupil,
    PupilIdentity,
    School,
    SchoolGroup,
    Service,
    ServiceVersion,
    Supplier,
    System,
    Vestiging,
)

SYSTEM_KINDS = ("las", "toetssysteem", "leermiddel", "dashboard", "administratie")
VERSION_STATUSES = ("draft", "in-force", "previous", "withdrawn")


class RegisterError(ValueError):
    """A request the register refuses; the message says why."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def _check(fn, value):
    try:
        return fn(value)
    except IdentifierError as exc:
        raise RegisterError(str(exc)) from exc


# -- organisations ------------------------------------------------------------------------------


def add_school(
    session: Session,
    *,
    name: str,
    brin: str,
    board: str | None = None,
    vestigingen: list[tuple[str, str | None]] | None = None,
    routeringskenmerken: list[str] | None = None,
) -> School:
    brin = _check(validate_brin, brin)
    if not name.strip():
        raise RegisterError("school name is empty")
    if repo.school_by_brin(session, brin):
        raise RegisterError(f"a school with BRIN {brin} exists already", status=409)
    codes = [code for code, _ in vestigingen or []]
    twice = sorted({code for code in codes if codes.count(code) > 1})
    if twice:
        raise RegisterError(f"vestigingscode {', '.join(twice)} is given more than once")
    school = School(name=name.strip(), brin=brin, oin=school_oin(brin), board=board, created_at=utcnow())
    session.add(school)
    session.flush()
    for code, vname in vestigingen or [("00", None)]:
        session.add(Vestiging(school_id=school.id, code=_check(validate_vestigingscode, code), name=vname))
    for routing in routeringskenmerken or []:
        add_administratie(session, school=school, routeringskenmerk=routing)
    session.flush()
    return school


def get_school(session: Session, key: str) -> School:
    """A school by OIN or BRIN."""
    school = repo.school_by_oin(session, key) if len(key) == 20 else repo.school_by_brin(session, key.upper())
    if school is None:
        raise RegisterError(f"unknown school {key!r} (give its BRIN or its 20-position OIN)", status=404)
    return school


def add_administratie(
    session: Session,
    *,
    school: School,
    routeringskenmerk: str,
    system: System | None = None,
    administratienr: str | None = None,
) -> Administratie:
    routing = _check(validate_routeringskenmerk, routeringskenmerk)
    existing = repo.administratie_by_routing(session, routing)
    if existing is not None:
        if existing.school_id != school.id:
            raise RegisterError(f"routeringskenmerk {routing} belongs to another school", status=409)
        if system is not None:
            existing.system_id = system.id
        return existing
    admin = Administratie(
        school_id=school.id,
        routeringskenmerk=routing,
        system_id=system.id if system else None,
        administratienr=administratienr,
    )
    session.add(admin)
    session.flush()
    return admin


def add_supplier(session: Session, *, name: str, oin: str) -> Supplier:
    oin = _check(validate_oin, oin)
    if not name.strip():
        raise RegisterError("supplier name is empty")
    if repo.supplier_by_oin(session, oin):
        raise RegisterError(f"a supplier with OIN {oin} exists already", status=409)
    supplier = Supplier(name=name.strip(), oin=oin, created_at=utcnow())
    session.add(supplier)
    session.flush()
    return supplier


def get_supplier(session: Session, oin: str) -> Supplier:
    supplier = repo.supplier_by_oin(session, oin)
    if supplier is None:
        raise RegisterError(f"unknown supplier OIN {oin!r}", status=404)
    return supplier


def add_system(session: Session, *, supplier: Supplier, name: str, kind: str) -> System:
    name = name.strip()
    if kind not in SYSTEM_KINDS:
        raise RegisterError(f"system kind must be one of {', '.join(SYSTEM_KINDS)}; got {kind!r}")
    if repo.system_by_name(session, supplier.id, name):
        raise RegisterError(f"supplier {supplier.name} has a system named {name!r} already", status=409)
    system = System(supplier_id=supplier.id, name=name, kind=kind)
    session.add(system)
    session.flush()
    return system


def get_system(session: Session, supplier: Supplier, name: str) -> System:
    system = repo.system_by_name(session, supplier.id, name)
    if system is None:
        raise RegisterError(f"supplier {supplier.name} has no system named {name!r}", status=404)
    return system


# -- services -----------------------------------------------------------------------------------


def add_service(session: Session, *, name: str, description: str | None = None) -> Service:
    if repo.service_by_name(session, name):
        raise RegisterError(f"service {name!r} exists already", status=409)
    service = Service(name=name, description=description)
    session.add(service)
    session.flush()
    return service


def ensure_service(session: Session, name: str, description: str | None = None) -> Service:
    return repo.service_by_name(session, name) or add_service(session, name=name, description=description)


def add_service_version(
    session: Session,
    *,
    service: Service,
    version: str,
    namespace: str,
    schooljaar: str | None = None,
    status: str = "in-force",
) -> ServiceVersion:
    if status not in VERSION_STATUSES:
        raise RegisterError(f"status must be one of {', '.join(VERSION_STATUSES)}")
    if not namespace.strip():
        raise RegisterError("namespace URI is empty")
    if schooljaar is not None and parse_schooljaar(schooljaar) is None:
        raise RegisterError(f"schooljaar must be two consecutive years like 2025-2026, not {schooljaar!r}")
    if repo.service_version(session, service.id, version):
        raise RegisterError(f"{service.name} {version} exists already", status=409)
    taken = repo.service_version_by_namespace(session, namespace)
    if taken is not None:
        raise RegisterError(f"namespace {namespace} belongs to {taken[1].name} {taken[0].version} already", status=409)
    sv = ServiceVersion(service_id=service.id, version=version, namespace=namespace, schooljaar=schooljaar, status=status)
    session.add(sv)
    session.flush()
    return sv


def set_version_status(session: Session, sv: ServiceVersion, status: str) -> ServiceVersion:
    """The status of a service version as it holds today (the keurmerk's release calendar decides
    which changes are allowed and keeps their history)."""
    if status not in VERSION_STATUSES:
        raise RegisterError(f"status must be one of {', '.join(VERSION_STATUSES)}")
    sv.status = status
    session.flush()
    return sv


def get_service_version(session: Session, service_name: str, version: str) -> ServiceVersion:
    service = repo.service_by_name(session, service_name)
    sv = repo.service_version(session, service.id, version) if service else None
    if sv is None:
        raise RegisterError(f"unknown service version {service_name} {version}", status=404)
    return sv


# -- mandates -----------------------------------------------------------------------------------


def grant_mandate(
    session: Session,
    *,
    school: School,
    system: System,
    service_version: ServiceVersion,
    start: date,
    end: date | None = None,
) -> Mandate:
    if end is not None and end < start:
        raise RegisterError("mandate end date lies before its start date")
    mandate = Mandate(
        school_id=school.id,
        system_id=system.id,
        service_version_id=service_version.id,
        start_date=start,
        end_date=end,
        token=str(uuid.uuid4()),
        created_at=utcnow(),
    )
    session.add(mandate)
    session.flush()
    return mandate


def revoke_mandate(session: Session, mandate_id: int) -> Mandate:
    # Ids are 32-bit integers; a larger number would make the database driver fail.
    mandate = repo.mandate_by_id(session, mandate_id) if 1 <= mandate_id <= 2**31 - 1 else None
    if mandate is None:
        raise RegisterError(f"unknown mandate {mandate_id}", status=404)
    if mandate.revoked_at is None:
        mandate.revoked_at = utcnow()
    return mandate


# -- the hot path's view of the register ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchoolInfo:
    id: int
    oin: str
    brin: str
    name: str


@dataclass(frozen=True, slots=True)
class MandateInfo:
    system_id: int
    kind: str
    supplier_oin: str
    service: str
    version: str
    start: date
    end: date | None

    def valid_on(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass
class Snapshot:
    schools: dict[str, SchoolInfo] = field(default_factory=dict)
    routing: dict[str, tuple[int, int | None, str | None]] = field(default_factory=dict)
    mandates: dict[int, list[MandateInfo]] = field(default_factory=dict)
    loaded: float = 0.0

    def mandated(self, school_id: int, *, supplier_oin: str, kind: str | None, service: str, version: str, day: date) -> bool:
        for m in self.mandates.get(school_id, ()):
            if (
                m.supplier_oin == supplier_oin
                and (kind is None or m.kind == kind)
                and m.service == service
                and m.version == version
                and m.valid_on(day)
            ):
                return True
        return False


class RegisterView:
    """An in-memory view of schools, routing and mandates, reloaded after ``ttl`` seconds.

    The whole national register (6,200 schools, tens of thousands of mandates) fits in a few
    MB, so a request never waits for the database to learn who may send what. Changes made
    in this process refresh it at once; changes made elsewhere show within ``ttl``."""

    def __init__(self, session_factory: sessionmaker[Session], ttl: float = 5.0) -> None:
        self._sessions = session_factory
        self._view = Refreshed(self._load, ttl, stamp=self._stamp)

    def invalidate(self) -> None:
        self._view.invalidate()

    @property
    def loads(self) -> int:
        return self._view.loads

    def _stamp(self) -> int | None:
        with self._sessions() as session:
            return repo.stamp(session)

    def current(self) -> Snapshot:
        return self._view.get()

    def _load(self) -> Snapshot:
        with self._sessions() as session:
            school_rows, admin_rows, mandate_rows = repo.snapshot_rows(session)
        snap = Snapshot(loaded=time.monotonic())
        for sid, oin, brin, name in school_rows:
            snap.schools[oin] = SchoolInfo(sid, oin, brin, name)
        for routing, school_id, system_id, supplier_oin in admin_rows:
            snap.routing[routing] = (school_id, system_id, supplier_oin)
        grouped: dict[int, list[MandateInfo]] = defaultdict(list)
        for school_id, system_id, kind, supplier_oin, service, version, start, end in mandate_rows:
            grouped[school_id].append(MandateInfo(system_id, kind, supplier_oin, service, version, start, end))
        snap.mandates = dict(grouped)
        return snap


# -- pupils and groups (shared by every exchange) -----------------------------------------------


@dataclass(slots=True)
class GroupIn:
    external_id: str
    omschrijving: str | None
    jaargroep: str | None


@dataclass(slots=True)
class PupilIn:
    eck_id: str | None
    las_key: str | None
    achternaam: str
    voorvoegsel: str | None
    roepnaam: str
    voorletters: str | None
    geboortedatum: date | None
    geslacht: int | None
    group_external_id: str | None
    jaargroep: str | None


def find_pupils(session: Session, school_id: int, refs: list[tuple[str | None, str | None]]) -> list[Pupil | None]:
    """Match (eck_id, las_key) pairs to known pupils; ECK iD leads."""
    eck_ids = [e for e, _ in refs if e]
    las_keys = [k for _, k in refs if k]
    by_eck, by_las = repo.pupils_by_refs(session, school_id, eck_ids, las_keys)
    found: list[Pupil | None] = []
    for eck, las in refs:
        pupil = by_eck.get(eck) if eck else None
        if pupil is None and las:
            pupil = by_las.get(las)
        found.append(pupil)
    return found


@dataclass(slots=True)
class PupilList:
    """One school's pupil list for ``upsert_pupil_lists``."""

    school_id: int
    schooljaar: str
    groups: list[GroupIn]
    pupils: list[PupilIn]
    as_of: datetime


def find_pupil_ids(session: Session, school_id: int, refs: list[tuple[str | None, str | None]]) -> list[int | None]:
    """``find_pupils`` as ids, read without ORM objects (a list of a whole school at once)."""
    return find_pupil_ids_many(session, [(school_id, eck, las) for eck, las in refs])


def find_pupil_ids_many(session: Session, refs: list[tuple[int, str | None, str | None]]) -> list[int | None]:
    """``find_pupil_ids`` for (school id, ECK iD, LAS-key) of many schools at once."""
    by_eck, by_las = repo.pupil_rows_of(
        session, list({(sid, e) for sid, e, _ in refs if e}), list({(sid, k) for sid, _, k in refs if k})
    )
    found: list[int | None] = []
    for sid, eck, las in refs:
        row = (by_eck.get((sid, eck)) if eck else None) or (by_las.get((sid, las)) if las else None)
        found.append(row[0] if row is not None else None)
    return found


def upsert_pupils(
    session: Session,
    *,
    school_id: int,
    schooljaar: str,
    groups: list[GroupIn],
    pupils: list[PupilIn],
    as_of: datetime,
) -> list[tuple[int, bool]]:
    """Mutatielevering: add and update pupils and groups, never delete.

    Identity data is only overwritten by data at least as new (``as_of``), so a late retry of an
    older list never undoes a newer one. Returns (pupil id, created) per input pupil; a pupil
    given twice gets one id."""
    return upsert_pupil_lists(session, [PupilList(school_id, schooljaar, groups, pupils, as_of)])[0]


def upsert_pupil_lists(session: Session, lists: list[PupilList]) -> list[list[tuple[int, bool]]]:
    """``upsert_pupils`` for many lists (of one or more schools) at once, with the same outcome as
    one after the other: per pupil and per group the data with the latest ``as_of`` counts (the
    later list on a tie) against what is stored.

    Set-based: the current rows are read in a few statements and the new and changed ones written
    with one ``executemany`` per table (the national season imports 190,000 pupils at each side;
    an ORM object and flush per pupil, or a dozen statements per school, took most of that time).
    Objects of these tables that the session loaded before are expired, so they show the new values."""
    session.flush()  # pending ORM changes first: the statements below see them
    now = utcnow()

    # groups, keyed (school, school year, external id)
    g_table = SchoolGroup.__table__
    wanted_groups: dict[tuple[int, str, str], tuple[GroupIn, datetime]] = {}
    for pl in lists:
        for g in pl.groups:
            key = (pl.school_id, pl.schooljaar, g.external_id)
            if key not in wanted_groups or pl.as_of >= wanted_groups[key][1]:
                wanted_groups[key] = (g, pl.as_of)
    group_ids: dict[tuple[int, str, str], int] = {}
    if wanted_groups:
        current_groups = repo.group_rows_of(session, list(wanted_groups))
        new_groups = [
            {"school_id": k[0], "schooljaar": k[1], "external_id": k[2], "omschrijving": g.omschrijving, "jaargroep": g.jaargroep,
             "updated_at": as_of}
            for k, (g, as_of) in wanted_groups.items() if k not in current_groups
        ]  # fmt: skip
        changed_groups = [
            {"b_id": current_groups[k][0], "omschrijving": g.omschrijving, "jaargroep": g.jaargroep, "updated_at": as_of}
            for k, (g, as_of) in wanted_groups.items()
            if k in current_groups and as_of >= current_groups[k][1]
        ]
        if changed_groups:
            session.execute(
                g_table.update().where(g_table.c.id == bindparam("b_id"))
                .values(omschrijving=bindparam("omschrijving"), jaargroep=bindparam("jaargroep"), updated_at=bindparam("updated_at")),
                changed_groups,
            )  # fmt: skip
        if new_groups:
            session.execute(g_table.insert(), new_groups)
            current_groups = repo.group_rows_of(session, list(wanted_groups))
        group_ids = {k: gid for k, (gid, _) in current_groups.items()}

    # pupils of a school: ECK iD leads, the LAS-key otherwise
    p_table = Pupil.__table__
    by_eck, by_las = repo.pupil_rows_of(
        session,
        list({(pl.school_id, p.eck_id) for pl in lists for p in pl.pupils if p.eck_id}),
        list({(pl.school_id, p.las_key) for pl in lists for p in pl.pupils if p.las_key}),
    )  # (school, ECK iD) and (school, LAS-key) -> (id, eck_id, las_key)
    rows: dict[int, list] = {}  # pupil id -> [eck_id, las_key] as they will be
    for row in (*by_eck.values(), *by_las.values()):
        rows.setdefault(row[0], [row[1], row[2]])
    las_taken = set(by_las)
    new_rows: list[dict] = []
    new_by_eck: dict[tuple[int, str], int] = {}
    new_by_las: dict[tuple[int, str], int] = {}
    placed: list[list[tuple[bool, int]]] = []  # per list, per pupil: (new?, pupil id or index in new_rows)
    for pl in lists:
        sid = pl.school_id
        mine = []
        for data in pl.pupils:
            eck = (sid, data.eck_id) if data.eck_id else None
            las = (sid, data.las_key) if data.las_key else None
            found = (by_eck.get(eck) if eck else None) or (by_las.get(las) if las else None)
            if found is not None:
                current = rows[found[0]]
                if eck and not current[0]:
                    current[0] = data.eck_id  # the pupil got an ECK iD since the last list
                    by_eck[eck] = found
                if las and not current[1] and las not in las_taken:  # never take another pupil's key
                    current[1] = data.las_key
                    las_taken.add(las)
                    by_las[las] = found
                mine.append((False, found[0]))
                continue
            index = new_by_eck.get(eck) if eck else None
            if index is None and las:
                index = new_by_las.get(las)
            if index is None:
                index = len(new_rows)
                new_rows.append({"school_id": sid, "eck_id": data.eck_id, "las_key": data.las_key if las and las not in las_taken else None,
                                 "created_at": now, "updated_at": now})  # fmt: skip
            row = new_rows[index]
            if eck and not row["eck_id"]:
                row["eck_id"] = data.eck_id
            if las and not row["las_key"] and las not in las_taken:
                row["las_key"] = data.las_key
            if row["eck_id"]:
                new_by_eck[(sid, row["eck_id"])] = index
            if row["las_key"]:
                new_by_las[(sid, row["las_key"])] = index
                las_taken.add((sid, row["las_key"]))
            mine.append((True, index))
        placed.append(mine)
    matched_ids = list(dict.fromkeys(pid for mine in placed for new, pid in mine if not new))
    if matched_ids:
        session.execute(
            p_table.update().where(p_table.c.id == bindparam("b_id"))
            .values(eck_id=bindparam("eck_id"), las_key=bindparam("las_key"), updated_at=bindparam("updated_at")),
            [{"b_id": pid, "eck_id": rows[pid][0], "las_key": rows[pid][1], "updated_at": now} for pid in matched_ids],
        )  # fmt: skip
    new_ids: list[int] = []
    if new_rows:
        new_ids = list(session.execute(p_table.insert().returning(p_table.c.id, sort_by_parameter_order=True), new_rows).scalars())
    results: list[list[tuple[int, bool]]] = []
    first_seen: set[int] = set()
    for mine in placed:
        result = []
        for new, pid in mine:
            if new:
                result.append((new_ids[pid], pid not in first_seen))  # created once, however often given
                first_seen.add(pid)
            else:
                result.append((pid, False))
        results.append(result)

    # identity (kept apart): per pupil the entry with the latest as_of; group membership: the
    # same per pupil and school year
    latest: dict[int, tuple[PupilIn, PupilList]] = {}
    latest_member: dict[tuple[int, str], tuple[PupilIn, PupilList]] = {}
    for pl, result in zip(lists, results, strict=True):
        for (pid, _), data in zip(result, pl.pupils, strict=True):
            if pid not in latest or pl.as_of >= latest[pid][1].as_of:
                latest[pid] = (data, pl)
            if (pid, pl.schooljaar) not in latest_member or pl.as_of >= latest_member[(pid, pl.schooljaar)][1].as_of:
                latest_member[(pid, pl.schooljaar)] = (data, pl)
    i_table, m_table = PupilIdentity.__table__, GroupMembership.__table__
    fresh = set(new_ids)
    known = [pid for pid in latest if pid not in fresh]
    current_ids = repo.identity_stamps(session, known)
    current_members = repo.membership_keys(session, known)  # (pupil id, school year)
    identity_new, identity_changed, member_new, member_changed = [], [], [], []
    for pid, (data, pl) in latest.items():
        values = {"achternaam": data.achternaam, "voorvoegsel": data.voorvoegsel, "roepnaam": data.roepnaam,
                  "voorletters": data.voorletters, "geboortedatum": data.geboortedatum, "geslacht": data.geslacht, "updated_at": pl.as_of}  # fmt: skip
        stamp = current_ids.get(pid)
        if stamp is None:
            identity_new.append({"pupil_id": pid, **values})
        elif pl.as_of >= stamp:
            identity_changed.append({"b_id": pid, **values})
    for (pid, schooljaar), (data, pl) in latest_member.items():
        group_id = group_ids.get((pl.school_id, schooljaar, data.group_external_id)) if data.group_external_id else None
        if group_id is None:
            continue
        stamp = current_ids.get(pid)
        if (pid, schooljaar) not in current_members:
            member_new.append({"pupil_id": pid, "schooljaar": schooljaar, "group_id": group_id, "jaargroep": data.jaargroep})
        elif stamp is None or pl.as_of >= stamp:  # as the identity: only data at least as new
            member_changed.append({"b_id": pid, "b_jaar": schooljaar, "group_id": group_id, "jaargroep": data.jaargroep})
    if identity_new:
        session.execute(i_table.insert(), identity_new)
    if identity_changed:
        session.execute(
            i_table.update().where(i_table.c.pupil_id == bindparam("b_id"))
            .values({c: bindparam(c) for c in ("achternaam", "voorvoegsel", "roepnaam", "voorletters", "geboortedatum", "geslacht", "updated_at")}),
            identity_changed,
        )  # fmt: skip
    if member_new:
        session.execute(m_table.insert(), member_new)
    if member_changed:
        session.execute(
            m_table.update().where(m_table.c.pupil_id == bindparam("b_id"), m_table.c.schooljaar == bindparam("b_jaar"))
            .values(group_id=bindparam("group_id"), jaargroep=bindparam("jaargroep")),
            member_changed,
        )  # fmt: skip
    _expire_loaded(session, (Pupil, PupilIdentity, GroupMembership, SchoolGroup))
    return results


def _expire_loaded(session: Session, classes: tuple[type, ...]) -> None:
    """Objects of ``classes`` this session loaded before a Core write read the database again."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, classes):
            session.expire(obj)


# -- a whole region at once (simulations, the chain test) -------------------------------------------


@dataclass(slots=True)
class NewSchool:
    name: str
    brin: str
    routing: str
    system_id: int | None
    administratienr: str | None
    mandates: list[tuple[int, int, date, date | None]]  # (system id, service version id, start, end)


def add_schools(session: Session, schools: list[NewSchool]) -> dict[str, int]:
    """Schools with their main vestiging, one administration and their mandates, with one
    ``executemany`` per table (``add_school``, ``add_administratie`` and ``grant_mandate`` one
    by one take minutes for a national register). The same checks; returns BRIN -> school id."""
    if not schools:
        return {}
    session.flush()
    entries = []
    for s in schools:
        if not s.name.strip():
            raise RegisterError("school name is empty")
        for _system_id, _sv_id, start, end in s.mandates:
            if end is not None and end < start:
                raise RegisterError("mandate end date lies before its start date")
        entries.append((s, _check(validate_brin, s.brin), _check(validate_routeringskenmerk, s.routing)))
    brins = [brin for _, brin, _ in entries]
    twice = sorted({b for b in brins if brins.count(b) > 1}) if len(set(brins)) != len(brins) else []
    if twice:
        raise RegisterError(f"BRIN {', '.join(twice)} is given more than once", status=409)
    taken = repo.existing_brins(session, brins)
    if taken:
        raise RegisterError(f"a school with BRIN {min(taken)} exists already", status=409)
    routings = [routing for _, _, routing in entries]
    if len(set(routings)) != len(routings) or repo.existing_routings(session, routings):
        raise RegisterError("a routeringskenmerk belongs to another school", status=409)
    now = utcnow()
    st = School.__table__
    ids = list(
        session.execute(
            st.insert().returning(st.c.id, sort_by_parameter_order=True),
            [{"name": s.name.strip(), "brin": brin, "oin": school_oin(brin), "board": None, "created_at": now} for s, brin, _ in entries],
        ).scalars()
    )
    session.execute(Vestiging.__table__.insert(), [{"school_id": sid, "code": "00", "name": None} for sid in ids])
    session.execute(
        Administratie.__table__.insert(),
        [{"school_id": sid, "routeringskenmerk": routing, "system_id": s.system_id, "administratienr": s.administratienr}
         for sid, (s, _, routing) in zip(ids, entries, strict=True)],
    )  # fmt: skip
    mandates = [
        {"school_id": sid, "system_id": system_id, "service_version_id": sv_id, "start_date": start, "end_date": end,
         "token": str(uuid.uuid4()), "created_at": now, "revoked_at": None}
        for sid, (s, _, _) in zip(ids, entries, strict=True) for system_id, sv_id, start, end in s.mandates
    ]  # fmt: skip
    if mandates:
        session.execute(Mandate.__table__.insert(), mandates)
    return {brin: sid for sid, (_, brin, _) in zip(ids, entries, strict=True)}


@dataclass(slots=True)
class EndpointRequest:
    mandate_token: str
    administration_id: str
    namespace: str
    url: str
    attributes: list[str]
    start: date
    end: date | None


def register_endpoints(session: Session, *, caller_oin: str, requests: list[EndpointRequest]) -> list[int]:
    """``register_endpoint`` for many addresses of one caller: the mandates, namespaces and
    administrations read in a few statements and the endpoints written with one ``executemany``.
    The same checks in the same order per request; the first failing request raises."""
    if not requests:
        return []
    session.flush()
    versions: dict[str, ServiceVersion] = {}
    for ns in dict.fromkeys(r.namespace for r in requests):
        versions[ns] = version_for_namespace(session, ns)[0]
    mandates = repo.mandates_by_tokens(session, [r.mandate_token for r in requests])  # token -> (mandate, supplier oin)
    admins = repo.administraties_by_routing(session, [r.administration_id for r in requests if isinstance(r.administration_id, str)])
    now = utcnow()
    rows, new_admins, system_updates = [], [], {}
    for r in requests:
        version = versions[r.namespace]
        found = mandates.get(r.mandate_token)
        if found is None or found[0].revoked_at is not None:
            raise RegisterError("mandate_token does not name an active mandate", status=404)
        mandate, supplier_oin = found
        if supplier_oin != caller_oin:
            raise RegisterError("this mandate was not given to the calling supplier", status=403)
        if mandate.service_version_id != version.id:
            raise RegisterError("the mandate is for another service version than service_version_namespace", status=422)
        if r.end is not None and r.end < r.start:
            raise RegisterError("end_date lies before start_date")
        if not r.url.startswith("https://"):
            raise RegisterError("url must be an https:// address")
        routing = _check(validate_routeringskenmerk, r.administration_id)
        existing = admins.get(routing)
        if existing is not None:
            if existing[1] != mandate.school_id:
                raise RegisterError(f"routeringskenmerk {routing} belongs to another school", status=409)
            if existing[2] != mandate.system_id:
                system_updates[existing[0]] = mandate.system_id
        else:
            new_admins.append({"school_id": mandate.school_id, "routeringskenmerk": routing, "system_id": mandate.system_id, "administratienr": None})
            admins[routing] = (None, mandate.school_id, mandate.system_id)
        rows.append(
            {"mandate_id": mandate.id, "school_id": mandate.school_id, "service_version_id": version.id, "administration_id": routing,
             "url": r.url, "attributes": json.dumps(r.attributes), "start_date": r.start, "end_date": r.end, "created_at": now}
        )  # fmt: skip
    at = Administratie.__table__
    if system_updates:
        session.execute(
            at.update().where(at.c.id == bindparam("b_id")).values(system_id=bindparam("system_id")),
            [{"b_id": aid, "system_id": sid} for aid, sid in system_updates.items()],
        )
    if new_admins:
        session.execute(at.insert(), new_admins)
    et = Endpoint.__table__
    ids = list(session.execute(et.insert().returning(et.c.id, sort_by_parameter_order=True), rows).scalars())
    _expire_loaded(session, (Administratie,))
    return ids


# -- OSR-compatible rules ---------------------------------------------------------------------------

OLD_STATUSES = ("previous", "withdrawn")


def version_for_namespace(session: Session, namespace: str) -> tuple[ServiceVersion, Service]:
    """The service version a namespace names. An unknown namespace is 404; a namespace that is
    no longer in force is 410, and the message names the namespace in force."""
    found = repo.service_version_by_namespace(session, namespace)
    if found is None:
        raise RegisterError(f"unknown service_version_namespace {namespace!r}", status=404)
    version, service = found
    if version.status in OLD_STATUSES:
        current = [v.namespace for v in repo.service_versions(session, service.id) if v.status == "in-force"]
        hint = f"; the namespace in force is {' and '.join(current)}" if current else ""
        raise RegisterError(
            f"service_version_namespace {namespace} ({service.name} {version.version}) is {version.status}{hint}", status=410
        )
    return version, service


def valid_mandates(
    session: Session, *, school: School, supplier: Supplier, version: ServiceVersion, day: date
) -> list[Mandate]:
    return [
        m
        for m in repo.mandates_of(session, school_id=school.id, supplier_id=supplier.id, service_version_id=version.id)
        if m.start_date <= day and (m.end_date is None or day <= m.end_date)
    ]


def register_endpoint(
    session: Session,
    *,
    caller_oin: str,
    mandate_token: str,
    administration_id: str,
    namespace: str,
    url: str,
    attributes: list[str],
    start: date,
    end: date | None,
) -> Endpoint:
    """A mandated supplier registers where messages for one school administration go."""
    request = EndpointRequest(mandate_token, administration_id, namespace, url, attributes, start, end)
    (endpoint_id,) = register_endpoints(session, caller_oin=caller_oin, requests=[request])
    return session.get(Endpoint, endpoint_id)


def current_endpoints(
    session: Session,
    *,
    namespace: str,
    school: School | None,
    routing_id: str | None,
    day: date,
    include_future: bool = False,
) -> list[Endpoint]:
    version, _ = version_for_namespace(session, namespace)
    found = repo.endpoints(
        session, service_version_id=version.id, school_id=school.id if school else None, administration_id=routing_id
    )
    live = []
    for e in found:
        if e.end_date is not None and e.end_date < day:
            continue
        if e.start_date > day and not include_future:
            continue
        mandate = session.get(Mandate, e.mandate_id)
        if mandate is None or mandate.revoked_at is not None:
            continue
        live.append(e)
    if routing_id is not None:  # one address per administration: the newest that applies
        live = live[-1:]
    return live


# -- the mandate check (anyone) and the school's own view of its mandates ---------------------------

MANDATE_STATUSES = ("actief", "toekomstig", "verlopen", "ingetrokken")
LOOKUP_LIMIT = 10


def mandate_status(mandate: Mandate, day: date) -> str:
    """actief | toekomstig | verlopen | ingetrokken, as school staff read it."""
    if mandate.revoked_at is not None:
        return "ingetrokken"
    if mandate.start_date > day:
        return "toekomstig"
    if mandate.end_date is not None and mandate.end_date < day:
        return "verlopen"
    return "actief"


def lookup_schools(session: Session, text: str) -> list[School]:
    """A school by BRIN (4 positions), OIN (20) or part of its name; at most LOOKUP_LIMIT."""
    text = " ".join(text.split())[:200]
    if not text:
        return []
    if len(text) == 20:
        found = repo.school_by_oin(session, text.upper())
        return [found] if found else []
    if len(text) == 4:
        found = repo.school_by_brin(session, text.upper())
        if found:
            return [found]
    return repo.schools_by_name(session, text, LOOKUP_LIMIT)


def lookup_suppliers(session: Session, text: str) -> list[Supplier]:
    """A supplier by OIN or by (part of) its name; an exact name wins over partial ones."""
    text = " ".join(text.split())[:200]
    if not text:
        return []
    if len(text) == 20 and text.isdigit():
        found = repo.supplier_by_oin(session, text)
        return [found] if found else []
    found = repo.suppliers_by_name(session, text, LOOKUP_LIMIT)
    exact = [s for s in found if s.name.lower() == text.lower()]
    return exact or found


def is_mandated(session: Session, *, school: School, supplier: Supplier, service: Service, version: str | None, day: date) -> bool:
    """Does the school mandate one of the supplier's systems for the service (or that one
    version of it) on ``day``? The national register's OK/NOK for third parties."""
    return any(
        mandate_status(m, day) == "actief"
        for m in repo.mandates_of_school_service(session, school.id, supplier.id, service.id, version)
    )


@dataclass
class MandateRow:
    id: int
    service: str
    version: str
    namespace: str
    supplier: str
    supplier_oin: str
    system: str
    system_kind: str
    start: date
    end: date | None
    revoked_at: datetime | None
    status: str
    endpoints: int


def school_mandates(session: Session, school: School, day: date) -> list[MandateRow]:
    """Every mandate of the school (any status), with what it is for and who holds it."""
    endpoint_count: dict[int, int] = defaultdict(int)
    for e in repo.endpoints_of_school(session, school.id):
        endpoint_count[e.mandate_id] += 1
    rows = [
        MandateRow(m.id, svc.name, sv.version, sv.namespace, supplier.name, supplier.oin, system.name, system.kind, m.start_date,
                   m.end_date, m.revoked_at, mandate_status(m, day), endpoint_count[m.id])  # fmt: skip
        for m, _school, system, supplier, sv, svc in repo.mandates(session, school_id=school.id)
    ]
    order = {s: i for i, s in enumerate(MANDATE_STATUSES)}
    return sorted(rows, key=lambda r: (order[r.status], r.service, r.version, r.supplier, r.system))


def add_board_administrator(session: Session, *, board: str, name: str, role: str, email: str | None = None,
                            phone: str | None = None):  # fmt: skip
    """Who administers the board's mandates. The same name twice for a board updates the contact."""
    from eduketen.register.models import BoardAdministrator

    board, name, role = " ".join(board.split()), " ".join(name.split()), " ".join(role.split())
    if not board or not name or not role:
        raise RegisterError("board, name and role are required")
    if len(board) > 200 or len(name) > 200 or len(role) > 100:
        raise RegisterError("board and name: at most 200 characters; role: at most 100")
    email = (email or "").strip() or None
    phone = (phone or "").strip() or None
    if email is not None and (len(email) > 200 or email.count("@") != 1 or " " in email or "." not in email.split("@")[1]):
        raise RegisterError(f"not an e-mail address: {email!r}")
    if phone is not None and (len(phone) > 40 or not all(c.isdigit() or c in "+-() " for c in phone)):
        raise RegisterError(f"not a telephone number: {phone!r}")
    existing = repo.board_administrator(session, board, name)
    if existing is not None:
        existing.role, existing.email, existing.phone = role, email, phone
        return existing
    admin = BoardAdministrator(board=board, name=name, role=role, email=email, phone=phone, created_at=utcnow())
    session.add(admin)
    session.flush()
    return admin


def board_administrators(session: Session, board: str | None):
    return repo.board_administrators(session, board) if board else []
