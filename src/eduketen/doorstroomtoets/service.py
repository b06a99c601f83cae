"""Doorstroomtoets rules: content checks beyond the schema, windows, and processing of pupil lists
and provisional advice. No HTTP and no commit here."""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from eduketen.core.cache import Refreshed
from eduketen.core.db import in_chunks, utcnow
from eduketen.core.identifiers import (
    deelnemersgroep_fine,
    deelnemersgroep_problems,
    parse_schooljaar,
)
from eduketen.core.worker import Batched, PermanentError, TwoPhase
from eduketen.doorstroomtoets import repository as repo
from eduketen.doorstroomtoets.models import (
    Deelname,
    OnbekendAdvies,
    Resultaat,
    Schooladvies,
    Venster,
)
from eduketen.doorstroomtoets.schemas import SpecVersion, version_for_schooljaar
from eduketen.register import service as register
from eduketen.register.service import GroupIn, PupilIn, SchoolInfo

WINDOW_KINDS = {"registreren": "registratie", "registreren-schooladviezen": "schooladvies"}


class DoorstroomtoetsError(ValueError):
    pass


# -- content checks the schema cannot express ------------------------------------------------------


_REF_LIMIT = {"LAS-key": 256, "ECK-iD": 300}  # the widths of the columns that keep them


def _refs_fine(entries: list[dict]) -> bool:
    """The usual case, checked with the fewest steps: one or two identities of different kinds,
    each a non-empty string within its width (the schema has already fixed the labels)."""
    n = len(entries)
    if n == 0 or n > 2:
        return False
    if n == 2 and entries[0].get("label") == entries[1].get("label"):
        return False
    for entry in entries:
        value = entry.get("onderwijsdeelnemerID")
        if value.__class__ is not str or len(value) > _REF_LIMIT.get(entry.get("label"), 300) or not value.strip():
            return False
    return True


def _pupils_fine(pupils: list[dict], group_ids: set[str]) -> bool:
    """The usual pupil list, checked in a few whole-list steps (a third less CPU than the loop
    that names each problem, which runs only when this finds one): every identity once in the
    list, each pupil's identities fine, every group one of ``groepen``, no initials with spaces
    or dots."""
    keys = [(ref.get("label"), ref.get("onderwijsdeelnemerID")) for pupil in pupils for ref in pupil["deelnemerref"]]
    if len(set(keys)) != len(keys):
        return False
    if not all(map(_refs_fine, [pupil["deelnemerref"] for pupil in pupils])):
        return False
    if not {pupil["groep"] for pupil in pupils} <= group_ids:
        return False
    return not any(" " in initials or "." in initials for initials in [pupil["extensie"]["voorletters"] for pupil in pupils])


def _refs(entries: list[dict], base: str, errors: list[dict]) -> None:
    if _refs_fine(entries):
        return
    if not entries:
        errors.append({"veld": base, "fout": "minstens 1 leerlingidentiteit verplicht (ECK-iD of LAS-key)"})
        return
    if len(entries) > 2:
        errors.append({"veld": base, "fout": "hoogstens 2 leerlingidentiteiten (ECK-iD en LAS-key)"})
    labels = [e.get("label") for e in entries]
    if len(set(labels)) != len(labels):
        errors.append({"veld": base, "fout": "elke soort leerlingidentiteit hoogstens 1 keer"})
    for i, entry in enumerate(entries):
        value = entry.get("onderwijsdeelnemerID")
        if isinstance(value, str):
            if not value.strip():
                errors.append({"veld": f"{base}/{i}/onderwijsdeelnemerID", "fout": "leeg"})
            elif entry.get("label") == "LAS-key" and len(value) > 256:
                errors.append({"veld": f"{base}/{i}/onderwijsdeelnemerID", "fout": "LAS-key is hoogstens 256 tekens"})
            elif entry.get("label") == "ECK-iD" and len(value) > 300:  # the width of every column that keeps it
                errors.append({"veld": f"{base}/{i}/onderwijsdeelnemerID", "fout": "ECK-iD is hoogstens 300 tekens"})


def _nul_fields(value: Any, path: str, found: list[str]) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            found.append(path or "(bericht)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _nul_fields(item, f"{path}/{key}" if path else str(key), found)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _nul_fields(item, f"{path}/{i}" if path else str(i), found)


def content_problems(
    spec: SpecVersion, operation: str, body: dict[str, Any], school: SchoolInfo, raw: bytes | None = None
) -> list[dict]:
    """Rules stated in the spec's prose, checked after the schema passed. ``raw``, the body as
    received, lets the NUL check skip the walk over every field when it cannot find one."""
    errors: list[dict] = []
    # No text field can hold U+0000 (PostgreSQL refuses it): refuse it now rather than accept a
    # message that can never be processed. JSON can only carry it escaped (\u0000), so a body
    # without that escape has none.
    nul: list[str] = []
    if raw is None or b"\\u0000" in raw:
        _nul_fields(body, "", nul)
    errors += [{"veld": path, "fout": "bevat het teken NUL (U+0000), dat in geen tekstveld is toegestaan"} for path in nul[:100]]
    schooljaar = body["schooljaar"]
    if parse_schooljaar(schooljaar) is None:
        errors.append({"veld": "schooljaar", "fout": "verwacht EEJJ-EEJJ met opeenvolgende jaren, bijvoorbeeld 2025-2026"})
    elif schooljaar not in spec.schooljaren:
        proper = version_for_schooljaar(schooljaar)
        hint = f"; gebruik {proper.base_path}" if proper else ""
        errors.append(
            {
                "veld": "schooljaar",
                "fout": f"schooljaar {schooljaar} hoort niet bij deze versie ({', '.join(spec.schooljaren)}){hint}",
            }
        )
    if operation == "leerlingresultaat":
        _refs(body["resultatenscores"]["deelnemerref"], "resultatenscores/deelnemerref", errors)
        if len(body["datumtijd"]) > 40:  # the width of the column that keeps it for standlevering
            errors.append({"veld": "datumtijd", "fout": "hoogstens 40 tekens"})
        return errors
    groep = body["deelnemersgroep"]
    errors += [{"veld": path, "fout": problem} for path, problem in deelnemersgroep_problems(groep)]
    if groep.get("instellingscode") not in (None, school.brin) and not any(
        e["veld"] == "deelnemersgroep/instellingscode" for e in errors
    ):
        errors.append(
            {
                "veld": "deelnemersgroep/instellingscode",
                "fout": f"instellingscode {groep['instellingscode']} hoort niet bij de school van edu-to ({school.brin})",
            }
        )
    if operation == "registreren":
        groepen = body["groepen"]
        group_ids = {g["id"] for g in groepen}
        if len(group_ids) != len(groepen):
            errors.append({"veld": "groepen", "fout": "elke stamgroep-id hoogstens 1 keer"})
        if _pupils_fine(body["deelnemers"], group_ids):
            return errors
        seen: dict[tuple[str, str], int] = {}
        for i, pupil in enumerate(body["deelnemers"]):  # one pass over the pupils, naming each problem
            refs = pupil["deelnemerref"]
            for ref in refs:
                key = (ref.get("label"), ref.get("onderwijsdeelnemerID"))
                first = seen.setdefault(key, i)
                if first != i:
                    errors.append({"veld": f"deelnemers/{i}/deelnemerref", "fout": f"{key[0]} komt ook voor bij deelnemers/{first}"})
            if not _refs_fine(refs):
                _refs(refs, f"deelnemers/{i}/deelnemerref", errors)
            if pupil["groep"] not in group_ids:
                errors.append({"veld": f"deelnemers/{i}/groep", "fout": "verwijst niet naar een stamgroep in groepen"})
            initials = pupil["extensie"]["voorletters"]
            if " " in initials or "." in initials:
                errors.append({"veld": f"deelnemers/{i}/extensie/voorletters", "fout": "geen spaties en geen punten"})
    else:
        for i, entry in enumerate(body["voorlopigSchooladviezen"]):
            _refs(entry["deelnemerref"], f"voorlopigSchooladviezen/{i}/deelnemerref", errors)
    return errors


def _struct_refs_fine(ref_lists: list[list], *, unique: bool) -> bool:
    """True when ``_refs_fine`` holds for each list of identities (Structs of the fast path, every
    value a string) and, when ``unique``, no identity occurs in two of them, checked in whole-list
    steps: one or two identities each, of different kinds, none blank, none over 256 characters
    (the LAS-key's limit; an ECK-iD of 257 to 300 characters, which the full way takes, goes that
    way)."""
    sizes = set(map(len, ref_lists))
    if not sizes <= {1, 2}:
        return False
    if 2 in sizes and any(refs[0].label == refs[1].label for refs in ref_lists if len(refs) == 2):
        return False
    refs = [ref for refs in ref_lists for ref in refs]
    ids = [ref.onderwijsdeelnemerID for ref in refs]
    if max(map(len, ids)) > 256 or not all(map(str.strip, ids)):
        return False
    return not unique or len(set(zip([ref.label for ref in refs], ids))) == len(ids)


def content_fine(spec: SpecVersion, operation: str, message: Any, school: SchoolInfo) -> bool:
    """True when ``content_problems`` would find nothing in a message decoded by the fast path
    (``schemas.fast_decoder``: Structs, no field beyond the spec), checked in whole-list steps.
    False also when this is merely unsure (an operation it does not know, an unusual but valid
    value): the caller then takes the full way, which names every problem. The caller has
    already made sure the raw body holds no escaped NUL (no field can then hold one: JSON has no
    other way to write it)."""
    if operation not in ("registreren", "registreren-schooladviezen"):
        return False
    if message.schooljaar not in spec.schooljaren:  # every one of them a valid EEJJ-EEJJ
        return False
    groep = message.deelnemersgroep
    if groep.instellingscode != school.brin or not deelnemersgroep_fine(
        groep.instellingscode, groep.vestigingscode, groep.onderwijsaanbiedercode, groep.onderwijslocatiecode, groep.administratienr
    ):
        return False
    if operation == "registreren-schooladviezen":
        # each advice's identities fine; one pupil advised twice is no problem the full way names
        return _struct_refs_fine([entry.deelnemerref for entry in message.voorlopigSchooladviezen], unique=False)
    groepen = message.groepen
    group_ids = {g.id for g in groepen}
    if len(group_ids) != len(groepen):
        return False
    pupils = message.deelnemers
    if not _struct_refs_fine([pupil.deelnemerref for pupil in pupils], unique=True):
        return False
    if not {pupil.groep for pupil in pupils} <= group_ids:
        return False
    initials = "".join([pupil.extensie.voorletters for pupil in pupils])
    return " " not in initials and "." not in initials


def refs_of(entries: list[dict]) -> tuple[str | None, str | None]:
    eck = las = None
    for entry in entries:
        if entry.get("label") == "ECK-iD":
            eck = entry.get("onderwijsdeelnemerID")
        elif entry.get("label") == "LAS-key":
            las = entry.get("onderwijsdeelnemerID")
    return eck, las


# -- windows ----------------------------------------------------------------------------------


def set_window(session: Session, *, schooljaar: str, soort: str, opens: date, closes: date) -> Venster:
    if soort not in WINDOW_KINDS.values():
        raise DoorstroomtoetsError(f"soort must be one of {', '.join(WINDOW_KINDS.values())}")
    if parse_schooljaar(schooljaar) is None:
        raise DoorstroomtoetsError("schooljaar must look like 2025-2026")
    if closes < opens:
        raise DoorstroomtoetsError("a window cannot close before it opens")
    window = repo.venster(session, schooljaar, soort)
    if window is None:
        window = Venster(schooljaar=schooljaar, soort=soort, opens=opens, closes=closes)
        session.add(window)
    else:
        window.opens, window.closes = opens, closes
    session.flush()
    return window


class WindowView:
    """Windows per school year, kept in memory like the register view (``core.cache.Refreshed``)."""

    def __init__(self, session_factory: sessionmaker[Session], ttl: float = 5.0) -> None:
        self._sessions = session_factory
        self._view: Refreshed[dict[tuple[str, str], tuple[date, date]]] = Refreshed(self._load, ttl)

    def invalidate(self) -> None:
        self._view.invalidate()

    def window(self, schooljaar: str, soort: str) -> tuple[date, date] | None:
        return self._view.get().get((schooljaar, soort))

    def _load(self) -> dict[tuple[str, str], tuple[date, date]]:
        with self._sessions() as session:
            return {(w.schooljaar, w.soort): (w.opens, w.closes) for w in repo.vensters(session)}


# -- processing (called by the worker) ------------------------------------------------------------


def _expire_loaded(session: Session, cls: type) -> None:
    """Objects of ``cls`` this session loaded before a Core write read the database again."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, cls):
            session.expire(obj)


def process_deelnemerslijst(
    session: Session, *, school_id: int, routing: str, spec_version: str, message_id: str, received_at: datetime, body: dict
) -> dict[str, int]:
    schooljaar = body["schooljaar"]
    groups = [
        GroupIn(external_id=g["id"], omschrijving=g.get("omschrijving"), jaargroep=g.get("niveau", {}).get("niveau"))
        for g in body["groepen"]
    ]
    pupils = []
    for p in body["deelnemers"]:
        eck, las = refs_of(p["deelnemerref"])
        extensie = p["extensie"]
        pupils.append(
            PupilIn(
                eck_id=eck,
                las_key=las,
                achternaam=p["achternaam"],
                voorvoegsel=p.get("voorvoegsel"),
                roepnaam=p["roepnaam"],
                voorletters=extensie.get("voorletters"),
                geboortedatum=date.fromisoformat(extensie["geboortedatum"]) if extensie.get("geboortedatum") else None,
                # Only versions that exchange geslacht carry it here; pruning dropped it otherwise.
                geslacht=extensie.get("geslacht"),
                group_external_id=p.get("groep"),
                jaargroep=p.get("niveau", {}).get("niveau"),
            )
        )
    results = register.upsert_pupils(
        session, school_id=school_id, schooljaar=schooljaar, groups=groups, pupils=pupils, as_of=received_at
    )
    ids = list(dict.fromkeys(pid for pid, _ in results))
    table = Deelname.__table__
    existing = repo.stamps(session, table, "updated_at", ids, schooljaar)
    now = utcnow()
    values = {"routeringskenmerk": routing, "spec_version": spec_version, "message_id": message_id, "updated_at": received_at}
    inserts = [{"pupil_id": pid, "schooljaar": schooljaar, "school_id": school_id, "registered_at": now, **values}
               for pid in ids if pid not in existing]  # fmt: skip
    updates = [{"b_pupil": pid, "b_jaar": schooljaar} for pid in ids if pid in existing and received_at >= existing[pid]]
    if inserts:
        session.execute(table.insert(), inserts)
    if updates:
        session.execute(
            table.update().where(table.c.pupil_id == bindparam("b_pupil"), table.c.schooljaar == bindparam("b_jaar")).values(values),
            updates,
        )
    _expire_loaded(session, Deelname)
    created = sum(1 for _, new in results if new)
    return {"leerlingen": len(results), "nieuw": created, "bijgewerkt": len(results) - created, "groepen": len(groups)}


def process_schooladviezen(
    session: Session, *, school_id: int, message_id: str, received_at: datetime, body: dict
) -> dict[str, int]:
    """January 2026: advice for known pupils is stored; unknown pupils are ignored and counted,
    never an error."""
    schooljaar = body["schooljaar"]
    entries = body["voorlopigSchooladviezen"]
    refs = [refs_of(e["deelnemerref"]) for e in entries]
    pupil_ids = register.find_pupil_ids(session, school_id, refs)
    registered = repo.stamps(session, Deelname.__table__, "updated_at", [p for p in pupil_ids if p is not None], schooljaar)
    table = Schooladvies.__table__
    current = repo.stamps(session, table, "received_at", list(registered), schooljaar)
    unknown_refs: list[tuple[str, str]] = []
    wanted: dict[int, str] = {}  # the last entry of a pupil wins
    stored = 0
    for entry, pupil_id, (eck, las) in zip(entries, pupil_ids, refs, strict=True):
        if pupil_id is None or pupil_id not in registered:
            unknown_refs.append(("ECK-iD", eck) if eck else ("LAS-key", las or ""))
            continue
        wanted[pupil_id] = entry["advies"]
        stored += 1
    inserts = [{"pupil_id": pid, "schooljaar": schooljaar, "school_id": school_id, "advies": advies, "message_id": message_id,
                "received_at": received_at} for pid, advies in wanted.items() if pid not in current]  # fmt: skip
    updates = [{"b_pupil": pid, "b_jaar": schooljaar, "advies": advies}
               for pid, advies in wanted.items() if pid in current and received_at >= current[pid]]  # fmt: skip
    if inserts:
        session.execute(table.insert(), inserts)
    if updates:
        session.execute(
            table.update().where(table.c.pupil_id == bindparam("b_pupil"), table.c.schooljaar == bindparam("b_jaar"))
            .values(advies=bindparam("advies"), message_id=message_id, received_at=received_at),
            updates,
        )  # fmt: skip
    _expire_loaded(session, Schooladvies)
    if unknown_refs:
        seen = repo.onbekende(session, school_id, schooljaar, unknown_refs)
        now = utcnow()
        for label, value in unknown_refs:
            row = seen.get((label, value))
            if row is None:
                row = OnbekendAdvies(
                    school_id=school_id,
                    schooljaar=schooljaar,
                    id_label=label,
                    id_value=value,
                    times=1,
                    first_seen=now,
                    last_seen=now,
                )
                session.add(row)
                seen[(label, value)] = row
            else:
                row.times += 1
                row.last_seen = now
    session.flush()
    return {"adviezen": len(entries), "verwerkt": stored, "onbekend_genegeerd": len(unknown_refs)}


# -- reports (test supplier side) -------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRef:
    rapport_id: str
    pupil_id: int
    schooljaar: str
    school_id: int


def report_lookup(engine, rapport_id: str) -> tuple[ReportRef, bytes | None] | None:
    """The report with this id and its PDF of the current revision (None while it is not made
    yet: 204), in one read on ``engine`` (a read-only engine: no session, no write lock); None
    when there is no such report. A report made before PDFs were kept in the database is read
    from its file."""
    with engine.connect() as conn:
        row = conn.execute(_report_statement(), {"b_id": rapport_id}).first()
        conn.rollback()
    if row is None:
        return None
    ref = ReportRef(row.rapport_id, row.pupil_id, row.schooljaar, row.school_id)
    if row.rapport_revision != row.revision:
        return ref, None
    if row.pdf is not None and row.pdf_revision == row.revision:
        return ref, row.pdf
    if row.rapport_path:  # an older installation's report file
        try:
            return ref, Path(row.rapport_path).read_bytes()
        except FileNotFoundError:
            pass
    return ref, None


@functools.cache
def _report_statement():
    from sqlalchemy import bindparam

    from eduketen.doorstroomtoets.models import RapportPdf

    r, pdf = Resultaat.__table__, RapportPdf.__table__
    return (
        select(r.c.rapport_id, r.c.pupil_id, r.c.schooljaar, r.c.school_id, r.c.revision, r.c.rapport_revision, r.c.rapport_path,
               pdf.c.revision.label("pdf_revision"), pdf.c.pdf)
        .outerjoin(pdf, (pdf.c.pupil_id == r.c.pupil_id) & (pdf.c.schooljaar == r.c.schooljaar))
        .where(r.c.rapport_id == bindparam("b_id"))
    )  # fmt: skip


# -- results: import, report, delivery (test supplier side) --------------------------------------------


@dataclass
class ResultInput:
    """One pupil's result from an import file, ready to become a wire message."""

    line: str  # where it came from, for the report of rejected rows
    school: str  # BRIN or school OIN
    eck_id: str | None
    las_key: str | None
    schooljaar: str
    build: Any  # callable (spec_key, rapport_url) -> Leerlingresultaat dict


@dataclass
class ImportOutcome:
    stored: int = 0
    unchanged: int = 0
    rejected: list[dict] = field(default_factory=list)


def report_url(public_url: str, spec: SpecVersion, rapport_id: str) -> str:
    return f"{public_url.rstrip('/')}{spec.base_path}/leerlingrapport/{rapport_id}"


IMPORT_CHUNK = 1000  # pupils per transaction of store_results_in_chunks, and per set of reads


def store_results(session: Session, items: list[ResultInput], *, public_url: str) -> ImportOutcome:
    """Standlevering per pupil: each import is the complete current result. A changed result gets
    a new revision, its report is made again and it is delivered to the school's LAS.

    Set-based, per chunk of pupils: the chunk's schools, pupils, registrations and current
    results are read in a few statements, and the new and changed results and their report jobs
    written with one ``executemany`` each (no ORM object per pupil). Rows that do not fit are
    rejected with the reason, as before; the others are stored."""
    outcome = ImportOutcome()
    schools: dict[str, Any] = {}
    for start in range(0, len(items), IMPORT_CHUNK):
        _store_chunk(session, items[start : start + IMPORT_CHUNK], public_url, outcome, schools)
    return outcome


def store_results_in_chunks(sessions: sessionmaker[Session], items: list[ResultInput], *, public_url: str,
                            chunk: int = IMPORT_CHUNK) -> ImportOutcome:  # fmt: skip
    """``store_results`` with one transaction per chunk of pupils: the worker renders the first
    reports while the rest is imported, and on SQLite the write lock is never held for a whole
    national file. A crash in between leaves the chunks before it stored; importing the same
    file again stores the rest and leaves those unchanged (standlevering)."""
    from eduketen.core.db import unit_of_work

    total = ImportOutcome()
    for start in range(0, len(items), chunk):
        with unit_of_work(sessions) as session:
            part = store_results(session, items[start : start + chunk], public_url=public_url)
        total.stored += part.stored
        total.unchanged += part.unchanged
        total.rejected += part.rejected
    return total


def _store_chunk(session: Session, items: list[ResultInput], public_url: str, outcome: ImportOutcome, schools: dict) -> None:
    from sqlalchemy import bindparam, or_

    from eduketen.core.identifiers import brin_from_school_oin
    from eduketen.core.models import InboxMessage
    from eduketen.doorstroomtoets.schemas import body_schema, schema_errors
    from eduketen.register.models import Pupil, School

    now = utcnow()
    brins = {(brin_from_school_oin(i.school) if len(i.school) == 20 else i.school.upper()) or "" for i in items}
    missing = [b for b in brins if b not in schools]
    sc = School.__table__
    for part in in_chunks(missing):
        found = {row.brin: row for row in session.execute(select(sc.c.id, sc.c.brin).where(sc.c.brin.in_(part)))}
        for brin in part:
            schools[brin] = found.get(brin)
    school_ids = sorted({row.id for b in brins if (row := schools.get(b)) is not None})
    # the chunk's pupils, by ECK iD and by LAS key within their school (ECK iD leads)
    eck_ids = sorted({i.eck_id for i in items if i.eck_id})
    las_keys = sorted({i.las_key for i in items if i.las_key})
    p = Pupil.__table__
    by_eck: dict[tuple[int, str], int] = {}
    by_las: dict[tuple[int, str], int] = {}
    for start in range(0, max(len(eck_ids), len(las_keys)), 400):
        conditions = []
        if eck_ids[start : start + 400]:
            conditions.append(p.c.eck_id.in_(eck_ids[start : start + 400]))
        if las_keys[start : start + 400]:
            conditions.append(p.c.las_key.in_(las_keys[start : start + 400]))
        if not conditions or not school_ids:
            continue
        for row in session.execute(select(p.c.id, p.c.school_id, p.c.eck_id, p.c.las_key).where(p.c.school_id.in_(school_ids), or_(*conditions))):
            if row.eck_id:
                by_eck[(row.school_id, row.eck_id)] = row.id
            if row.las_key:
                by_las[(row.school_id, row.las_key)] = row.id
    pupil_ids = sorted(set(by_eck.values()) | set(by_las.values()))
    d, r = Deelname.__table__, Resultaat.__table__
    registered: set[tuple[int, str]] = set()
    current: dict[tuple[int, str], dict] = {}
    for part in in_chunks(pupil_ids):
        registered.update((row.pupil_id, row.schooljaar) for row in session.execute(select(d.c.pupil_id, d.c.schooljaar).where(d.c.pupil_id.in_(part))))
        for row in session.execute(select(r.c.pupil_id, r.c.schooljaar, r.c.data, r.c.revision, r.c.rapport_id).where(r.c.pupil_id.in_(part))):
            current[(row.pupil_id, row.schooljaar)] = {"data": row.data, "revision": row.revision, "rapport_id": row.rapport_id, "new": False}
    written: dict[tuple[int, str], dict] = {}  # what this chunk changes, in its final state
    for item in items:
        brin = (brin_from_school_oin(item.school) if len(item.school) == 20 else item.school.upper()) or ""
        school = schools.get(brin)
        if school is None:
            outcome.rejected.append({"regel": item.line, "fout": f"school {item.school} is niet bekend"})
            continue
        spec = version_for_schooljaar(item.schooljaar)
        if spec is None:
            outcome.rejected.append({"regel": item.line, "fout": f"geen versie van de afspraak voor schooljaar {item.schooljaar}"})
            continue
        pupil_id = by_eck.get((school.id, item.eck_id)) if item.eck_id else None
        if pupil_id is None and item.las_key:
            pupil_id = by_las.get((school.id, item.las_key))
        key = (pupil_id, item.schooljaar)
        if pupil_id is None or key not in registered:
            outcome.rejected.append(
                {"regel": item.line, "fout": f"leerling is niet aangemeld voor de doorstroomtoets {item.schooljaar} bij school {school.brin}"}
            )
            continue
        state = current.get(key)
        rapport_id = state["rapport_id"] if state else str(uuid.uuid4())
        message = item.build(spec.key, report_url(public_url, spec, rapport_id))
        errors = schema_errors(body_schema(spec.key, "Leerlingresultaat"), message)
        if errors:
            outcome.rejected.append({"regel": item.line, "fout": "; ".join(f"{e['veld']}: {e['fout']}" for e in errors[:5])})
            continue
        scores = {k: v for k, v in message["resultatenscores"].items() if k != "deelnemerref"}
        data = json.dumps({"resultatenscores": scores, "toets": message["toets"]}, ensure_ascii=False, sort_keys=True)
        if state is not None and state["data"] == data:
            outcome.unchanged += 1
            continue
        if state is None:
            state = current[key] = {"data": None, "revision": 0, "rapport_id": rapport_id, "new": True}
        state.update(data=data, revision=state["revision"] + 1, toets=message["toets"]["id"], school_id=school.id, spec=spec)
        written[key] = state
        outcome.stored += 1
    if not written:
        return
    inserts = [
        {"pupil_id": pid, "schooljaar": sj, "school_id": st["school_id"], "toets": st["toets"], "data": st["data"], "revision": st["revision"],
         "rapport_id": st["rapport_id"], "rapport_revision": 0, "updated_at": now}
        for (pid, sj), st in written.items() if st["new"]
    ]  # fmt: skip
    updates = [
        {"b_pupil": pid, "b_jaar": sj, "toets": st["toets"], "data": st["data"], "revision": st["revision"], "updated_at": now}
        for (pid, sj), st in written.items() if not st["new"]
    ]  # fmt: skip
    if inserts:
        session.execute(r.insert(), inserts)
    if updates:
        session.execute(
            r.update().where(r.c.pupil_id == bindparam("b_pupil"), r.c.schooljaar == bindparam("b_jaar"))
            .values(toets=bindparam("toets"), data=bindparam("data"), revision=bindparam("revision"), updated_at=bindparam("updated_at")),
            updates,
        )  # fmt: skip
    for st in written.values():
        st["new"] = False  # stored now: a later chunk with the same pupil updates it
    jobs = [
        {"id": str(uuid.uuid4()), "service": "doorstroomtoets", "version": st["spec"].version, "operation": "doorstroomtoets.rapport",
         "school_oin": "-", "routing": "-", "sender_oin": "-", "schooljaar": sj,
         "idempotency_key": f"rapport:{st['rapport_id']}:{st['revision']}",
         "payload": json.dumps({"pupil_id": pid, "schooljaar": sj, "revision": st["revision"]}), "item_count": 1, "request_id": None,
         "status": "pending", "attempts": 0, "received_at": now, "available_at": now, "locked_until": None, "processed_at": None,
         "outcome": None, "last_error": None}
        for (pid, sj), st in written.items()
    ]  # fmt: skip
    session.execute(InboxMessage.__table__.insert(), jobs)


def wire_result(result: Resultaat, pupil, spec: SpecVersion, public_url: str) -> dict:
    """The Leerlingresultaat as it goes to the LAS, rebuilt from what is stored."""
    data = json.loads(result.data)
    refs = []
    if pupil.eck_id:
        refs.append({"label": "ECK-iD", "onderwijsdeelnemerID": pupil.eck_id})
    if pupil.las_key:
        refs.append({"label": "LAS-key", "onderwijsdeelnemerID": pupil.las_key})
    scores = dict(data["resultatenscores"])
    scores["deelnemerref"] = refs
    resultaten = dict(scores.get("resultaten") or {})
    resultaten["aanvullendeinfo"] = report_url(public_url, spec, result.rapport_id)
    scores["resultaten"] = resultaten
    return {
        "datumtijd": result.updated_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "auteur": "eduketen toetsaanbieder",
        "versie": spec.versie,
        "profiel": "Leerlingtoetsresultaat",
        "schooljaar": result.schooljaar,
        "resultatenscores": scores,
        "toets": data["toets"],
    }


class RenderReport(TwoPhase, Batched):
    """Worker handler for ``doorstroomtoets.rapport``: make the PDF outside the transaction
    (``prepare``), then in a short transaction record it and queue the result for the LAS; a
    claimed batch of jobs is applied at once (``apply_many``: a few statements for the lot)."""

    def __init__(self, settings, source) -> None:
        self.settings, self.source = settings, source
        self._endpoints: dict[tuple[str, str], tuple[str | None, float]] = {}
        self._school_oins: dict[int, str] = {}  # a school's OIN never changes (derived from its BRIN)

    def warm(self) -> None:
        """Fonts, template and specifications loaded once per process (seconds of CPU)."""
        from eduketen.doorstroomtoets import report
        from eduketen.doorstroomtoets.schemas import versions

        versions()
        report.load_template()
        report.ensure_fonts()

    def prepare(self, sessions, message) -> dict | None:
        return self.prepare_many(sessions, [message]).get(message.id)

    def prepare_many(self, sessions, messages) -> dict:
        """The PDFs of a batch of jobs: one read for all their results, pupils, identities and
        schools (Core, no ORM objects), then rendering (kept in memory: ``apply`` stores them).
        A job whose result has a newer revision by now gets None (the newer job renders)."""
        from types import SimpleNamespace

        from sqlalchemy import and_

        from eduketen.doorstroomtoets import report
        from eduketen.register.models import Pupil, PupilIdentity, School

        jobs = {m.id: json.loads(m.payload) for m in messages}
        r, p, i, sc = Resultaat.__table__, Pupil.__table__, PupilIdentity.__table__, School.__table__
        pupil_ids = sorted({job["pupil_id"] for job in jobs.values()})
        rows: dict[tuple[int, str], Any] = {}
        with sessions() as session:
            for part in in_chunks(pupil_ids):
                statement = (
                    select(r.c.pupil_id, r.c.schooljaar, r.c.school_id, r.c.data, r.c.revision, r.c.rapport_id, r.c.updated_at,
                           p.c.eck_id, p.c.las_key, i.c.roepnaam, i.c.voorvoegsel, i.c.achternaam, i.c.geboortedatum,
                           sc.c.name.label("school_name"), sc.c.brin)
                    .join(p, p.c.id == r.c.pupil_id)
                    .join(sc, sc.c.id == r.c.school_id)
                    .outerjoin(i, and_(i.c.pupil_id == r.c.pupil_id))
                    .where(r.c.pupil_id.in_(part))
                )
                for row in session.execute(statement):
                    rows[(row.pupil_id, row.schooljaar)] = row
            session.rollback()  # release the read before the slow part
        prepared: dict[str, dict | Exception | None] = {}
        for message_id, job in jobs.items():
            row = rows.get((job["pupil_id"], job["schooljaar"]))
            if row is None or row.revision != job["revision"]:
                prepared[message_id] = None  # a newer revision has its own job
                continue
            try:
                spec = version_for_schooljaar(row.schooljaar)
                wire = wire_result(row, SimpleNamespace(eck_id=row.eck_id, las_key=row.las_key), spec, self.settings.public_url)
                identity = SimpleNamespace(roepnaam=row.roepnaam, voorvoegsel=row.voorvoegsel, achternaam=row.achternaam,
                                           geboortedatum=row.geboortedatum) if row.achternaam is not None else None  # fmt: skip
                pdf = report.render_for_result(
                    wire, school=SimpleNamespace(name=row.school_name, brin=row.brin), identity=identity, rapport_id=row.rapport_id
                )
            except Exception as exc:  # noqa: BLE001 - this job fails alone (the worker raises it when applying it)
                prepared[message_id] = exc
                continue
            # the wire message goes to the LAS as rendered (the same datumtijd and report URL)
            prepared[message_id] = {"pdf": pdf, "revision": row.revision, "wire": wire}
        return prepared

    def apply(self, session: Session, message, prepared: dict | None) -> dict:
        """Record the PDF and queue the result for the school's LAS (one job)."""
        return self.apply_many(session, [message], [prepared])[message.id]

    def __call__(self, session: Session, message) -> dict:  # pragma: no cover - the worker calls apply
        raise PermanentError("a render job is applied with what prepare made")

    def handle_many(self, session: Session, messages) -> dict[str, dict]:  # pragma: no cover - the worker calls apply_many
        raise PermanentError("a render job is applied with what prepare made")

    def apply_many(self, session: Session, messages: list, prepared: list) -> dict[str, dict]:
        """Record the PDFs of a batch and queue its results for the schools' LASes, in Core
        statements: the current revisions read in one statement, the PDFs and the records
        written and the results queued with one ``executemany`` each. A job whose result has a
        newer revision by now is skipped (the newer job sends), as one job at a time would.
        Jobs of the same pupil and year in one batch are refused (ValueError: the worker then
        applies them one at a time)."""
        from eduketen.core import outbox

        conn = session.connection()
        statements = _render_statements()
        jobs = [json.loads(m.payload) for m in messages]
        keys = [(job["pupil_id"], job["schooljaar"]) for job in jobs]
        if len(set(keys)) != len(keys):
            raise ValueError("one pupil twice in a batch")
        found: dict[tuple[int, str], Any] = {}
        for part in in_chunks(sorted({k[0] for k in keys})):
            for row in conn.execute(statements["found"], {"b_pupils": list(part)}):
                found[(row.pupil_id, row.schooljaar)] = row
        outcomes: dict[str, dict] = {}
        pdfs, queued = [], []
        for message, key, value in zip(messages, keys, prepared, strict=True):
            row = found.get(key)
            if value is None or row is None or row.revision != value["revision"]:
                outcomes[message.id] = {"overgeslagen": 1}
                continue
            pdfs.append({"b_pupil": key[0], "b_jaar": key[1], "b_revision": row.revision, "pdf": value["pdf"]})
            spec = version_for_schooljaar(row.schooljaar)
            ordering_key = f"dt-resultaat:{key[0]}:{row.schooljaar}"
            context = {"pupil": key[0], "schooljaar": row.schooljaar, "revision": row.revision}
            routing = row.routeringskenmerk
            base = self._endpoint(spec.namespace, routing, session) if routing else None
            if base is None:
                outbox.enqueue_row(
                    session, kind="dt.leerlingresultaat", ordering_key=ordering_key, method="POST", url="", context=context, supersede=True,
                    status="dead", last_error=f"no LAS endpoint registered for routeringskenmerk {routing or '?'} ({spec.namespace})",
                )  # fmt: skip
                outcomes[message.id] = {"rapport": 1, "afgeleverd": 0}
                continue
            school_oin = self._school_oins.get(row.school_id)
            if school_oin is None:
                school_oin = self._school_oins[row.school_id] = conn.execute(statements["school_oin"], {"b_school": row.school_id}).scalar()
            queued.append({
                "kind": "dt.leerlingresultaat", "ordering_key": ordering_key, "method": "POST",
                "url": f"{base.rstrip('/')}/leerlingresultaat?edu-to={routing}&edu-from={school_oin}",
                "body": json.dumps(value["wire"], ensure_ascii=False), "context": context,
            })  # fmt: skip
            outcomes[message.id] = {"rapport": 1, "afgeleverd": 1}
        if pdfs:
            conn.execute(statements["pdf_delete"], pdfs)
            conn.execute(statements["pdf_insert"], pdfs)
            conn.execute(statements["record"], pdfs)
        # standlevering: the newest state replaces any older one not yet sent
        outbox.enqueue_rows(session, queued, supersede=True)
        return outcomes

    def _endpoint(self, namespace: str, routing: str, session: Session) -> str | None:
        """The LAS address of an administration, looked up at most once a second per
        administration (a national season asks for the same few thousand addresses 190,000
        times; the register's own views are cached longer than this)."""
        import time

        now = time.monotonic()
        key = (namespace, routing)
        hit = self._endpoints.get(key)
        if hit is not None and now - hit[1] < 1.0:
            return hit[0]
        url = self.source.endpoint_url(namespace, routing, session)
        if len(self._endpoints) > 100_000:
            self._endpoints.clear()
        self._endpoints[key] = (url, now)
        return url


@functools.cache
def _render_statements() -> dict:
    """Built once (RenderReport.apply_many runs under the write lock)."""
    from sqlalchemy import bindparam

    from eduketen.doorstroomtoets.models import RapportPdf
    from eduketen.register.models import School

    r, d, sc, pdf = Resultaat.__table__, Deelname.__table__, School.__table__, RapportPdf.__table__
    key = (r.c.pupil_id == bindparam("b_pupil"), r.c.schooljaar == bindparam("b_jaar"))
    pdf_key = (pdf.c.pupil_id == bindparam("b_pupil"), pdf.c.schooljaar == bindparam("b_jaar"))
    return {
        "found": select(r.c.pupil_id, r.c.revision, r.c.rapport_id, r.c.school_id, r.c.schooljaar, d.c.routeringskenmerk)
        .outerjoin(d, (d.c.pupil_id == r.c.pupil_id) & (d.c.schooljaar == r.c.schooljaar))
        .where(r.c.pupil_id.in_(bindparam("b_pupils", expanding=True))),
        "record": r.update().where(*key, r.c.revision == bindparam("b_revision")).values(rapport_revision=bindparam("b_revision")),
        "pdf_delete": pdf.delete().where(*pdf_key),
        "pdf_insert": pdf.insert().values(pupil_id=bindparam("b_pupil"), schooljaar=bindparam("b_jaar"), revision=bindparam("b_revision"),
                                          pdf=bindparam("pdf")),
        "school_oin": select(sc.c.oin).where(sc.c.id == bindparam("b_school")),
    }


# -- the school's landscape: what happened on the Doorstroomtoets flows ----------------------------------


def exchange_activity(session: Session, *, school_id: int, school_oin: str, las_oin: str, toets_oin: str, toets_base_url: str | None,
                      own_oin: str | None) -> dict:  # fmt: skip
    """Per direction of the chain between one school's LAS and one test system, as far as this
    installation saw it (as test supplier and/or as LAS): ``"las->toets"`` (pupil lists and
    advice) and ``"toets->las"`` (results and the reports fetched). Each an
    ``eduketen.core.activity.Activity``, or None where this installation cannot see the flow. Only
    flows it is a party to have anything to show: what it received (its inbox), and what it sent
    (its outbox; as LAS, what went to that test system's address)."""
    from eduketen.core import inbox, outbox
    from eduketen.core.activity import Activity
    from eduketen.doorstroomtoets.schemas import SERVICE as SERVICE_NAME

    up, down = Activity(), Activity()
    if own_oin == toets_oin:  # what this installation received as the test supplier
        up = inbox.activity(session, service=SERVICE_NAME, school_oin=school_oin, sender_oin=las_oin,
                            operations=(f"{SERVICE_NAME}.registreren", f"{SERVICE_NAME}.registreren-schooladviezen"))  # fmt: skip
    if own_oin == las_oin:  # ... and as the LAS
        down = inbox.activity(session, service=SERVICE_NAME, school_oin=school_oin, sender_oin=toets_oin,
                              operations=(f"{SERVICE_NAME}.leerlingresultaat",))  # fmt: skip
    if toets_base_url:  # the LAS role sends to the test system's own address
        up = up.merge(outbox.activity(session, kinds=("las.deelnemers", "las.adviezen"), key_prefix=f"las:{school_oin}:",
                                      url_prefix=toets_base_url.rstrip("/") + "/"))  # fmt: skip
    keys = repo.result_keys_of_school(session, school_id) if own_oin in (toets_oin, las_oin) else []
    sent = Activity()
    if own_oin == toets_oin:
        sent = outbox.activity(session, kinds=("dt.leerlingresultaat",), keys=[f"dt-resultaat:{p}:{y}" for p, y in keys])
    if own_oin == las_oin:
        sent = sent.merge(outbox.activity(session, kinds=("las.rapport",), keys=[f"las-rapport:{p}:{y}" for p, y in keys]))
    down = down.merge(sent)
    if own_oin not in (toets_oin, las_oin):  # not a party: only what went out to that test system shows, if anything
        return {"las->toets": up if (up.exchanges or up.errors) else None, "toets->las": None}
    return {"las->toets": up, "toets->las": down}
