"""The LAS role: send the school's pupil lists and provisional advice to its mandated test
supplier, receive results, fetch the pupil reports, and tell school staff in plain words what
happened. No HTTP server code and no commit here."""

from __future__ import annotations

import csv
import functools
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from eduketen.core import outbox
from eduketen.core.db import in_chunks, utcnow
from eduketen.core.identifiers import IdentifierError, parse_schooljaar, validate_brin
from eduketen.core.models import OutboxMessage
from eduketen.core.outbox import PeerResponse, Verdict
from eduketen.doorstroomtoets.models import LasAdvies, LasResultaat, LasVerzending
from eduketen.doorstroomtoets.schemas import (
    SERVICE,
    SpecVersion,
    version_for_schooljaar,
)
from eduketen.doorstroomtoets.service import refs_of
from eduketen.register import repository as register_repo
from eduketen.register import service as register
from eduketen.register.models import (
    GroupMembership,
    Mandate,
    Pupil,
    PupilIdentity,
    School,
    SchoolGroup,
    Supplier,
    System,
)
from eduketen.register.service import GroupIn, PupilIn

ADVIEZEN = {
    "VSO", "PRAKTIJKONDERWIJS", "VMBO_BB", "VMBO_BB_MET_LWOO", "VMBO_BB_TM_VMBO_KB", "VMBO_BB_TM_VMBO_KB_MET_LWOO",
    "VMBO_KB", "VMBO_KB_MET_LWOO", "VMBO_KB_TM_VMBO_GL/TL", "VMBO_KB_TM_VMBO_GL/TL_MET_LWOO", "VMBO_GL/TL",
    "VMBO_GL/TL_MET_LWOO", "VMBO_GL/TL_TM_HAVO", "HAVO", "HAVO_TM_VWO", "VWO", "GEEN_SPECIFIEK_ADVIES_MOGELIJK",
}  # fmt: skip

CSV_COLUMNS = [
    "brin", "schooljaar", "groep_id", "groep_omschrijving", "jaargroep", "eck_id", "las_key",
    "achternaam", "voorvoegsel", "roepnaam", "voorletters", "geboortedatum", "geslacht", "advies",
]  # fmt: skip


class LasError(ValueError):
    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


# -- the LAS's own pupils -------------------------------------------------------------------------------


@dataclass
class PupilImport:
    accepted: int = 0
    rejected: list[dict] = field(default_factory=list)
    schools: set[str] = field(default_factory=set)


def import_pupils_csv(session: Session, text: str) -> PupilImport:
    """The LAS's pupils of group 8 with their groups and provisional advice (layout in
    docs/formats/las-leerlingen.md). Rows that do not fit are reported, the rest imported."""
    result = PupilImport()
    reader = csv.DictReader(io.StringIO(text), delimiter=";" if text.count(";") > text.count(",") else ",")
    missing = [c for c in ("brin", "schooljaar", "groep_id", "achternaam", "roepnaam") if c not in (reader.fieldnames or [])]
    if missing:
        raise LasError(f"the file misses the column(s) {', '.join(missing)}; expected {', '.join(CSV_COLUMNS)}")
    by_school: dict[tuple[str, str], list[tuple[int, dict]]] = {}
    for number, row in enumerate(reader, start=2):
        problems = _row_problems(row)
        if problems:
            result.rejected.append({"regel": number, "fouten": problems})
            continue
        by_school.setdefault((row["brin"].upper(), row["schooljaar"]), []).append((number, row))
    school_ids = register_repo.school_ids(session, [brin for brin, _ in by_school], [])
    batch: list[tuple[register.PupilList, list[dict]]] = []
    size = 0
    as_of = utcnow()
    for (brin, schooljaar), rows in by_school.items():
        school_id = school_ids.get(("BRIN", brin))
        if school_id is None:
            for number, _ in rows:
                result.rejected.append({"regel": number, "fouten": [f"school {brin} staat niet in het register"]})
            continue
        groups = {r["groep_id"]: GroupIn(r["groep_id"], r.get("groep_omschrijving") or None, r.get("jaargroep") or "8") for _, r in rows}
        pupils = [
            PupilIn(
                eck_id=r.get("eck_id") or None,
                las_key=r.get("las_key") or None,
                achternaam=r["achternaam"],
                voorvoegsel=r.get("voorvoegsel") or None,
                roepnaam=r["roepnaam"],
                voorletters=r.get("voorletters") or None,
                geboortedatum=date.fromisoformat(r["geboortedatum"]) if r.get("geboortedatum") else None,
                geslacht=int(r["geslacht"]) if r.get("geslacht") else None,
                group_external_id=r["groep_id"],
                jaargroep=r.get("jaargroep") or "8",
            )
            for _, r in rows
        ]
        batch.append((register.PupilList(school_id, schooljaar, list(groups.values()), pupils, as_of), [r for _, r in rows]))
        size += len(rows)
        result.accepted += len(rows)
        result.schools.add(brin)
        if size >= 2000:
            _import_batch(session, batch)
            batch, size = [], 0
    _import_batch(session, batch)
    return result


def _import_batch(session: Session, batch: list[tuple[register.PupilList, list[dict]]]) -> None:
    """Pupil lists of many schools in a few statements (a national LAS file holds 6,200 schools)."""
    if not batch:
        return
    outcomes = register.upsert_pupil_lists(session, [pl for pl, _ in batch])
    adviezen: dict[str, list[tuple[int, str]]] = {}
    for (pl, rows), ids in zip(batch, outcomes, strict=True):
        adviezen.setdefault(pl.schooljaar, []).extend((pupil_id, r["advies"]) for (pupil_id, _), r in zip(ids, rows, strict=True) if r.get("advies"))
    for schooljaar, pairs in adviezen.items():
        set_adviezen(session, schooljaar, pairs)


def _row_problems(row: dict) -> list[str]:
    problems = []
    try:
        validate_brin(row.get("brin") or "")
    except IdentifierError as exc:
        problems.append(str(exc))
    if parse_schooljaar(row.get("schooljaar") or "") is None:
        problems.append("schooljaar moet de vorm 2025-2026 hebben")
    if not (row.get("eck_id") or row.get("las_key")):
        problems.append("eck_id of las_key is verplicht")
    for name, limit in (("achternaam", 70), ("roepnaam", 64), ("voorvoegsel", 10), ("voorletters", 6)):
        value = row.get(name) or ""
        if name in ("achternaam", "roepnaam") and not value.strip():
            problems.append(f"{name} is leeg")
        if len(value) > limit:
            problems.append(f"{name} is langer dan {limit} tekens")
    if row.get("geboortedatum"):
        try:
            date.fromisoformat(row["geboortedatum"])
        except ValueError:
            problems.append("geboortedatum moet JJJJ-MM-DD zijn")
    if row.get("geslacht") and row["geslacht"] not in ("1", "2", "9"):
        problems.append("geslacht is 1, 2 of 9")
    if row.get("advies") and row["advies"] not in ADVIEZEN:
        problems.append(f"advies {row['advies']!r} staat niet in de waardelijst Schooladviestype_enum")
    return problems


def set_adviezen(session: Session, schooljaar: str, adviezen: list[tuple[int, str]]) -> None:
    """``set_advies`` for a school's pupils at once: the current advice read in one statement,
    new ones inserted and changed ones updated with one ``executemany`` each (the chain test's
    national region imports 190,000 pupils; one lookup and flush per pupil took most of it)."""
    from sqlalchemy import bindparam

    if not adviezen:
        return
    session.flush()  # the pupils just upserted exist
    table = LasAdvies.__table__
    current: dict[int, str] = {}
    ids = [pupil_id for pupil_id, _ in adviezen]
    for part in in_chunks(ids):
        current.update(session.execute(select(table.c.pupil_id, table.c.advies).where(table.c.schooljaar == schooljaar, table.c.pupil_id.in_(part))).all())
    wanted = dict(adviezen)  # the last row of a pupil wins, as before
    inserts = [{"pupil_id": p, "schooljaar": schooljaar, "advies": a} for p, a in wanted.items() if p not in current]
    updates = [{"b_pupil": p, "b_jaar": schooljaar, "advies": a} for p, a in wanted.items() if p in current and current[p] != a]
    if inserts:
        session.execute(table.insert(), inserts)
    if updates:
        session.execute(
            table.update().where(table.c.pupil_id == bindparam("b_pupil"), table.c.schooljaar == bindparam("b_jaar")).values(advies=bindparam("advies")),
            updates,
        )
    session.expire_all()  # LasAdvies objects loaded before now see the new values


def set_advies(session: Session, pupil_id: int, schooljaar: str, advies: str) -> None:
    current = session.get(LasAdvies, (pupil_id, schooljaar))
    if current is None:
        session.add(LasAdvies(pupil_id=pupil_id, schooljaar=schooljaar, advies=advies))
    else:
        current.advies = advies


# -- building and sending messages ---------------------------------------------------------------------------


@dataclass
class Target:
    school: School
    routing: str
    base_url: str
    supplier_name: str


def target_for(session: Session, school: School, spec: SpecVersion, day: date) -> Target:
    """The school's mandated test supplier for this version, and where its API lives."""
    admins = register_repo.administraties(session, school.id)
    if not admins:
        raise LasError(f"school {school.brin} has no administration (routeringskenmerk) in this LAS", status=409)
    rows = session.execute(
        select(Mandate, System, Supplier)
        .join(System, System.id == Mandate.system_id)
        .join(Supplier, Supplier.id == System.supplier_id)
        .join(register.ServiceVersion, register.ServiceVersion.id == Mandate.service_version_id)
        .join(register.Service, register.Service.id == register.ServiceVersion.service_id)
        .where(
            Mandate.school_id == school.id,
            System.kind == "toetssysteem",
            register.Service.name == SERVICE,
            register.ServiceVersion.version == spec.version,
            Mandate.revoked_at.is_(None),
        )
    ).all()
    valid = [(m, sy, su) for m, sy, su in rows if m.start_date <= day and (m.end_date is None or day <= m.end_date)]
    if not valid:
        raise LasError(
            f"school {school.brin} has not mandated a test supplier for {SERVICE} {spec.version}: "
            "ask the school's OSR administrator to record the mandate",
            status=409,
        )
    _m, system, supplier = valid[0]
    if not system.base_url:
        raise LasError(f"the address of {supplier.name}'s test system is not known (system base_url)", status=409)
    return Target(school, admins[0].routeringskenmerk, system.base_url.rstrip("/"), supplier.name)


def _pupils_of(session: Session, school_id: int, schooljaar: str):
    return session.execute(
        select(Pupil, PupilIdentity, SchoolGroup, GroupMembership)
        .join(PupilIdentity, PupilIdentity.pupil_id == Pupil.id)
        .join(GroupMembership, (GroupMembership.pupil_id == Pupil.id) & (GroupMembership.schooljaar == schooljaar))
        .join(SchoolGroup, SchoolGroup.id == GroupMembership.group_id)
        .where(Pupil.school_id == school_id)
        .order_by(Pupil.id)
    ).all()


def _refs(pupil: Pupil) -> list[dict]:
    refs = []
    if pupil.eck_id:
        refs.append({"label": "ECK-iD", "onderwijsdeelnemerID": pupil.eck_id})
    if pupil.las_key:
        refs.append({"label": "LAS-key", "onderwijsdeelnemerID": pupil.las_key})
    return refs


def _envelope(spec: SpecVersion, profiel: str, schooljaar: str, school: School, administratienr: str | None, auteur: str) -> dict:
    return {
        "datumtijd": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "auteur": auteur,
        "versie": spec.versie,
        "profiel": profiel,
        "schooljaar": schooljaar,
        "deelnemersgroep": {
            "instellingscode": school.brin,
            "vestigingscode": "00",
            "onderwijsaanbiedercode": "100A" + school.brin[:2] + "1",
            "onderwijslocatiecode": "100X" + school.brin[:2] + "1",
            "administratienr": administratienr or "01",
        },
    }


def build_deelnemerslijst(session: Session, school: School, schooljaar: str, auteur: str) -> tuple[dict, int]:
    spec = version_for_schooljaar(schooljaar)
    if spec is None:
        raise LasError(f"no Doorstroomtoets version serves school year {schooljaar}")
    rows = _pupils_of(session, school.id, schooljaar)
    if not rows:
        raise LasError(f"school {school.brin} has no group-8 pupils for {schooljaar} in this LAS", status=409)
    admin = register_repo.administraties(session, school.id)
    message = _envelope(spec, "Toetsdeelnemers", schooljaar, school, admin[0].administratienr if admin else None, auteur)
    groups: dict[str, dict] = {}
    pupils = []
    for pupil, identity, group, member in rows:
        groups.setdefault(
            group.external_id,
            {"label": "Stamgroep", "id": group.external_id, "omschrijving": (group.omschrijving or group.external_id)[:64],
             "niveau": {"label": "Jaargroep", "niveau": group.jaargroep if group.jaargroep in ("7", "8", "C", "S") else "8"}},
        )
        extensie = {"label": "Demografisch", "voorletters": identity.voorletters or identity.roepnaam[:1].upper(),
                    "geboortedatum": identity.geboortedatum.isoformat() if identity.geboortedatum else "2014-01-01"}
        if spec.exchanges_geslacht:  # from 2026-2027 never sent
            extensie["geslacht"] = identity.geslacht or 9
        entry = {
            "label": "Leerling",
            "deelnemerref": _refs(pupil),
            "achternaam": identity.achternaam,
            "roepnaam": identity.roepnaam,
            "groep": group.external_id,
            "niveau": {"label": "Jaargroep", "niveau": member.jaargroep if member.jaargroep in ("7", "8") else "8"},
            "extensie": extensie,
        }
        if identity.voorvoegsel:
            entry["voorvoegsel"] = identity.voorvoegsel
        pupils.append(entry)
    message["groepen"] = list(groups.values())
    message["deelnemers"] = pupils
    return message, len(pupils)


def build_schooladviezenlijst(session: Session, school: School, schooljaar: str, auteur: str) -> tuple[dict, int]:
    spec = version_for_schooljaar(schooljaar)
    if spec is None or not spec.has("/registreren-schooladviezen"):
        raise LasError(f"school year {schooljaar} has no exchange of provisional advice")
    rows = session.execute(
        select(Pupil, LasAdvies)
        .join(LasAdvies, (LasAdvies.pupil_id == Pupil.id) & (LasAdvies.schooljaar == schooljaar))
        .where(Pupil.school_id == school.id)
        .order_by(Pupil.id)
    ).all()
    if not rows:
        raise LasError(f"school {school.brin} has no provisional advice for {schooljaar} in this LAS", status=409)
    admin = register_repo.administraties(session, school.id)
    message = _envelope(spec, "Schooladviezen", schooljaar, school, admin[0].administratienr if admin else None, auteur)
    message["voorlopigSchooladviezen"] = [{"deelnemerref": _refs(p), "advies": a.advies} for p, a in rows]
    return message, len(rows)


def send(session: Session, *, school: School, soort: str, schooljaar: str, auteur: str, day: date) -> LasVerzending:
    """Queue a pupil list (``deelnemers``) or advice list (``adviezen``) for the school's test
    supplier. Delivery, retries and the answer for staff follow through the outbox."""
    spec = version_for_schooljaar(schooljaar)
    if spec is None:
        raise LasError(f"no Doorstroomtoets version serves school year {schooljaar}")
    if soort == "deelnemers":
        body, count = build_deelnemerslijst(session, school, schooljaar, auteur)
        path = "/registreren"
    elif soort == "adviezen":
        body, count = build_schooladviezenlijst(session, school, schooljaar, auteur)
        path = "/registreren-schooladviezen"
    else:
        raise LasError("soort is deelnemers or adviezen")
    target = target_for(session, school, spec, day)
    url = f"{target.base_url}/{spec.key}{path}?" + urlencode({"edu-to": school.oin, "edu-from": target.routing})
    now = utcnow()
    verzending = LasVerzending(
        school_id=school.id,
        soort=soort,
        schooljaar=schooljaar,
        spec_version=spec.version,
        aantal=count,
        status="onderweg",
        melding=f"{_what(soort, count)} wordt verstuurd naar {target.supplier_name}.",
        created_at=now,
        updated_at=now,
    )
    session.add(verzending)
    session.flush()
    message = outbox.enqueue(
        session,
        kind=f"las.{soort}",
        ordering_key=f"las:{school.oin}:{soort}",  # mutatielevering: in order, never superseded
        method="POST",
        url=url,
        body=json.dumps(body, ensure_ascii=False),
        context={"verzending": verzending.id, "supplier": target.supplier_name},
    )
    verzending.outbox_seq = message.seq
    return verzending


def _what(soort: str, count: int) -> str:
    return f"De leerlingenlijst ({count} leerlingen)" if soort == "deelnemers" else f"De voorlopige schooladviezen ({count})"


def staff_message(soort: str, supplier: str, count: int, response: PeerResponse) -> tuple[str, str]:
    """(status, sentence) for school staff, for every answer of the specification."""
    what = _what(soort, count)
    window = "De inschrijving" if soort == "deelnemers" else "De aanlevering van schooladviezen"
    detail = response.json() if response.status else None
    fouten = detail.get("fouten") if isinstance(detail, dict) else None
    if response.status is None:
        return "onderweg", (
            f"{supplier} reageert nu niet ({response.error}). We proberen het automatisch opnieuw; u hoeft niets te doen."
        )
    if response.status == 202:
        tail = " Schooladviezen van leerlingen die de toetsaanbieder niet kent, worden genegeerd; controleer in het portaal van de toetsaanbieder of alles goed is aangekomen." if soort == "adviezen" else " Controleer na verwerking in het portaal van de toetsaanbieder of alle leerlingen erin staan."
        return "ontvangen", f"{what} is ontvangen door {supplier}.{tail}"
    if response.status == 401:
        return "geweigerd", (
            f"{supplier} weigert {what.lower()}: uw school heeft uw LAS of deze toetsaanbieder niet (meer) gemachtigd "
            "voor de doorstroomtoets. Vraag de OSR-beheerder van uw school (vaak op het bestuursbureau) het mandaat te controleren."
        )
    if response.status == 403:
        return "geweigerd", f"{window} bij {supplier} is gesloten. Neem contact op met {supplier} als u toch nog wilt aanleveren."
    if response.status == 405:
        return "geweigerd", f"{supplier} kent uw school (nog) niet. Meld uw school aan bij {supplier} en verstuur daarna opnieuw."
    if response.status == 422:
        fields = ", ".join(f"{f.get('veld')}: {f.get('fout')}" for f in (fouten or [])[:5])
        return "geweigerd", (
            f"{supplier} weigert {what.lower()} omdat er gegevens niet kloppen"
            + (f" ({fields})" if fields else "")
            + ". Verbeter deze gegevens in het LAS en verstuur opnieuw."
        )
    if response.status >= 500:
        return "onderweg", f"{supplier} heeft een storing (HTTP {response.status}). We proberen het automatisch opnieuw."
    return "geweigerd", f"{supplier} antwoordde onverwacht (HTTP {response.status}). Neem contact op met uw LAS-leverancier."


def on_send_response(session: Session, message: OutboxMessage, response: PeerResponse) -> Verdict | None:
    context = json.loads(message.context)
    verzending = session.get(LasVerzending, context.get("verzending"))
    verdict = outbox.default_verdict(response)
    if verzending is not None:
        status, sentence = staff_message(verzending.soort, context.get("supplier", "de toetsaanbieder"), verzending.aantal, response)
        if verdict.outcome == "retry" and message.attempts >= 12:
            status, sentence = "mislukt", sentence + " Dit is na herhaalde pogingen niet gelukt; neem contact op met uw LAS-leverancier."
        verzending.status, verzending.melding = status, sentence
        verzending.http_status = response.status
        verzending.updated_at = utcnow()
    return verdict


# -- results and reports received -------------------------------------------------------------------------


def store_result(session: Session, *, school_id: int, body: dict, received_at: datetime, edu_to: str, edu_from: str) -> dict:
    """Standlevering: the latest delivery is the complete current set for the pupil. Results are
    stored apart from identity data; the report is fetched afterwards through the outbox. Core
    statements built once (this runs once per pupil of the national season)."""
    scores = body["resultatenscores"]
    eck, las = refs_of(scores["deelnemerref"])
    conn = session.connection()
    statements = _result_statements()
    pupil_id = _pupil_id(conn, school_id, eck, las)
    if pupil_id is None:
        return {"resultaten": 1, "onbekende_leerling": 1}
    schooljaar = body["schooljaar"]
    key = {"b_pupil": pupil_id, "b_jaar": schooljaar}
    current = conn.execute(statements["current"], key).first()
    datumtijd = body["datumtijd"]
    if current is not None and current.message_datumtijd > datumtijd:
        return {"resultaten": 1, "ouder_dan_bekend": 1}  # an older delivery never overwrites a newer one
    kept = {k: v for k, v in scores.items() if k != "deelnemerref"}
    data = json.dumps({"resultatenscores": kept, "toets": body["toets"]}, ensure_ascii=False, sort_keys=True)
    url = (scores.get("resultaten") or {}).get("aanvullendeinfo")
    changed = current is None or current.data != data
    fetch = bool(url) and (changed or current.rapport_status != "fetched")
    values = {"toets": body["toets"]["id"], "data": data, "message_datumtijd": datumtijd, "received_at": received_at,
              "rapport_url": url if fetch else (current.rapport_url if current is not None else None),
              "rapport_status": "waiting" if fetch else (current.rapport_status if current is not None else "none")}  # fmt: skip
    if current is None:
        conn.execute(statements["insert"], {"pupil_id": pupil_id, "schooljaar": schooljaar, "school_id": school_id, **values})
    else:
        conn.execute(statements["update"], {**key, **values})
    if fetch:
        query = urlencode({"edu-to": edu_from, "edu-from": edu_to})  # the report is asked for on the school's behalf
        outbox.enqueue_row(
            session,
            kind="las.rapport",
            ordering_key=f"las-rapport:{pupil_id}:{schooljaar}",
            method="GET",
            url=f"{url}{'&' if '?' in url else '?'}{query}",
            context={"pupil": pupil_id, "schooljaar": schooljaar},
            supersede=True,
        )
    return {"resultaten": 1, "opgeslagen": 1, "gewijzigd": int(changed)}


@dataclass(slots=True)
class ResultIn:
    """One received ``leerlingresultaat`` for ``store_results``."""

    key: str  # the caller's name for it (the inbox message id)
    school_id: int
    body: dict
    received_at: datetime
    edu_to: str
    edu_from: str


def store_results(session: Session, items: list[ResultIn]) -> dict[str, dict]:
    """``store_result`` for many results at once, with the outcome of one after the other (a
    later delivery for the same pupil sees what an earlier one stored): the pupils and their
    current results read in a few statements, the results written with one ``executemany`` per
    kind and the report fetches queued together. Outcome per ``key``."""
    parsed = []
    for item in items:
        scores = item.body["resultatenscores"]
        eck, las = refs_of(scores["deelnemerref"])
        parsed.append((item, scores, eck, las))
    pupil_ids = register.find_pupil_ids_many(session, [(item.school_id, eck, las) for item, _, eck, las in parsed])
    conn = session.connection()
    table = LasResultaat.__table__
    wanted_keys = {(pid, item.body["schooljaar"]) for (item, *_), pid in zip(parsed, pupil_ids, strict=True) if pid is not None}
    current: dict[tuple[int, str], dict] = {}
    ids = sorted({pid for pid, _ in wanted_keys})
    for part in in_chunks(ids):
        for row in conn.execute(
            select(table.c.pupil_id, table.c.schooljaar, table.c.data, table.c.message_datumtijd, table.c.rapport_status, table.c.rapport_url)
            .where(table.c.pupil_id.in_(part))
        ):
            if (row.pupil_id, row.schooljaar) in wanted_keys:
                current[(row.pupil_id, row.schooljaar)] = {"school_id": None, **row._mapping}
    existed = set(current)
    outcomes: dict[str, dict] = {}
    fetches: dict[str, dict] = {}  # ordering key -> the fetch to queue (the latest wins, as supersede would)
    for (item, scores, _eck, _las), pupil_id in zip(parsed, pupil_ids, strict=True):
        if pupil_id is None:
            outcomes[item.key] = {"resultaten": 1, "onbekende_leerling": 1}
            continue
        schooljaar = item.body["schooljaar"]
        now = current.get((pupil_id, schooljaar))
        datumtijd = item.body["datumtijd"]
        if now is not None and now["message_datumtijd"] > datumtijd:
            outcomes[item.key] = {"resultaten": 1, "ouder_dan_bekend": 1}
            continue
        kept = {k: v for k, v in scores.items() if k != "deelnemerref"}
        data = json.dumps({"resultatenscores": kept, "toets": item.body["toets"]}, ensure_ascii=False, sort_keys=True)
        url = (scores.get("resultaten") or {}).get("aanvullendeinfo")
        changed = now is None or now["data"] != data
        fetch = bool(url) and (changed or now["rapport_status"] != "fetched")
        current[(pupil_id, schooljaar)] = {
            "pupil_id": pupil_id, "schooljaar": schooljaar, "school_id": item.school_id, "toets": item.body["toets"]["id"], "data": data,
            "message_datumtijd": datumtijd, "received_at": item.received_at,
            "rapport_url": url if fetch else (now["rapport_url"] if now is not None else None),
            "rapport_status": "waiting" if fetch else (now["rapport_status"] if now is not None else "none"),
            "touched": True,
        }  # fmt: skip
        if fetch:
            query = urlencode({"edu-to": item.edu_from, "edu-from": item.edu_to})  # the report is asked for on the school's behalf
            ordering_key = f"las-rapport:{pupil_id}:{schooljaar}"
            fetches.pop(ordering_key, None)
            fetches[ordering_key] = {"kind": "las.rapport", "ordering_key": ordering_key, "method": "GET",
                                     "url": f"{url}{'&' if '?' in url else '?'}{query}", "context": {"pupil": pupil_id, "schooljaar": schooljaar}}  # fmt: skip
        outcomes[item.key] = {"resultaten": 1, "opgeslagen": 1, "gewijzigd": int(changed)}
    columns = ("toets", "data", "message_datumtijd", "received_at", "rapport_url", "rapport_status")
    inserts = [{c: v[c] for c in ("pupil_id", "schooljaar", "school_id", *columns)} for k, v in current.items() if v.get("touched") and k not in existed]
    updates = [{"b_pupil": k[0], "b_jaar": k[1], **{c: v[c] for c in columns}} for k, v in current.items() if v.get("touched") and k in existed]
    statements = _result_statements()
    if inserts:
        conn.execute(statements["insert"], inserts)
    if updates:
        conn.execute(statements["update"], updates)
    if fetches:
        outbox.enqueue_rows(session, list(fetches.values()), supersede=True)
    return outcomes


@functools.cache
def _result_statements() -> dict:
    """Built once: per pupil, building a statement costs more CPU than running it."""
    from sqlalchemy import bindparam

    from eduketen.doorstroomtoets.models import LasRapportPdf

    r, p, pdf = LasResultaat.__table__, Pupil.__table__, LasRapportPdf.__table__
    key = (r.c.pupil_id == bindparam("b_pupil"), r.c.schooljaar == bindparam("b_jaar"))
    columns = ("toets", "data", "message_datumtijd", "received_at", "rapport_url", "rapport_status")
    return {
        "by_eck": select(p.c.id).where(p.c.school_id == bindparam("b_school"), p.c.eck_id == bindparam("b_ref")).limit(1),
        "by_las": select(p.c.id).where(p.c.school_id == bindparam("b_school"), p.c.las_key == bindparam("b_ref")).limit(1),
        "current": select(r.c.data, r.c.message_datumtijd, r.c.rapport_status, r.c.rapport_url).where(*key),
        "insert": r.insert(),
        "update": r.update().where(*key).values({c: bindparam(c) for c in columns}),
        "exists_many": select(r.c.pupil_id, r.c.schooljaar).where(r.c.pupil_id.in_(bindparam("b_pupils", expanding=True))),
        "fetched": r.update().where(*key).values(rapport_status="fetched",
                                                 rapport_fetched_at=bindparam("at", type_=r.c.rapport_fetched_at.type)),
        "pdf_delete": pdf.delete().where(pdf.c.pupil_id == bindparam("b_pupil"), pdf.c.schooljaar == bindparam("b_jaar")),
        "pdf_insert": pdf.insert().values(pupil_id=bindparam("b_pupil"), schooljaar=bindparam("b_jaar"), pdf=bindparam("pdf")),
        "unavailable": r.update().where(*key).values(rapport_status="unavailable"),
    }


def _pupil_id(conn, school_id: int, eck: str | None, las: str | None) -> int | None:
    """The pupil of (ECK iD, LAS key) at the school; the ECK iD leads (as register.find_pupils)."""
    statements = _result_statements()
    if eck:
        found = conn.execute(statements["by_eck"], {"b_school": school_id, "b_ref": eck}).scalar()
        if found is not None:
            return found
    if las:
        return conn.execute(statements["by_las"], {"b_school": school_id, "b_ref": las}).scalar()
    return None


class ReportHandler:
    """How the LAS reads the answer to its report GET: 200 with a PDF stores it in the
    database beside the result (``LasRapportPdf``) and marks the result fetched; 204 is "not
    yet" (retry); 404 marks it unavailable. ``many`` does a settled round at once (a few
    statements for the lot; the outbox falls back to one at a time when it raises)."""

    def __call__(self, session: Session, message: OutboxMessage, response: PeerResponse) -> Verdict | None:
        return self.many(session, [(message, response)])[0]

    def many(self, session: Session, answers: list[tuple[OutboxMessage, PeerResponse]]) -> list[Verdict | None]:
        keys = []
        for message, _ in answers:
            context = json.loads(message.context)
            keys.append((context["pupil"], context["schooljaar"]))
        if len(set(keys)) != len(keys):
            raise ValueError("one pupil twice in a round")
        conn = session.connection()
        statements = _result_statements()
        wanted = sorted({k[0] for k, (_, r) in zip(keys, answers, strict=True) if r.status != 204})
        present: set[tuple[int, str]] = set()
        for part in in_chunks(wanted):
            present.update((row.pupil_id, row.schooljaar) for row in conn.execute(statements["exists_many"], {"b_pupils": list(part)}))
        verdicts: list[Verdict | None] = []
        fetched, unavailable = [], []
        now = utcnow()
        for (pupil, jaar), (_, response) in zip(keys, answers, strict=True):
            key = {"b_pupil": pupil, "b_jaar": jaar}
            if response.status == 204:
                verdicts.append(Verdict("retry", "report not yet available (204)"))
            elif response.status == 200 and response.content_type.startswith("application/pdf") and (pupil, jaar) in present:
                fetched.append({**key, "pdf": response.body, "at": now})
                verdicts.append(Verdict("done"))
            else:
                if response.status == 404 and (pupil, jaar) in present:
                    unavailable.append(key)
                verdicts.append(None)
        if fetched:
            conn.execute(statements["pdf_delete"], fetched)
            conn.execute(statements["pdf_insert"], fetched)
            conn.execute(statements["fetched"], fetched)
        if unavailable:
            conn.execute(statements["unavailable"], unavailable)
        return verdicts


def report_pdf(session: Session, pupil_id: int, schooljaar: str) -> bytes | None:
    """The PDF report the LAS fetched for a pupil and year (None when it has none). A report
    fetched before reports were kept in the database is read from its file."""
    from eduketen.doorstroomtoets.models import LasRapportPdf

    pdf = session.execute(select(LasRapportPdf.pdf).where(LasRapportPdf.pupil_id == pupil_id, LasRapportPdf.schooljaar == schooljaar)).scalar()
    if pdf is not None:
        return pdf
    path = session.execute(select(LasResultaat.rapport_path).where(LasResultaat.pupil_id == pupil_id, LasResultaat.schooljaar == schooljaar)).scalar()
    if path:
        try:
            return Path(path).read_bytes()
        except FileNotFoundError:
            return None
    return None


def overview(session: Session, school_id: int | None = None) -> list[dict]:
    """For school staff: per school, what was sent and how it went, and results and reports in."""
    schools = {s.id: s for s in session.scalars(select(School))}
    sent = session.scalars(select(LasVerzending).order_by(LasVerzending.id)).all()
    latest: dict[tuple[int, str], LasVerzending] = {}
    for v in sent:
        latest[(v.school_id, v.soort)] = v
    results = dict(
        session.execute(select(LasResultaat.school_id, func.count()).group_by(LasResultaat.school_id)).all()
    )
    reports = dict(
        session.execute(
            select(LasResultaat.school_id, func.count()).where(LasResultaat.rapport_status == "fetched").group_by(LasResultaat.school_id)
        ).all()
    )
    rows = []
    for sid, school in sorted(schools.items(), key=lambda kv: kv[1].brin):
        if school_id is not None and sid != school_id:
            continue
        rows.append(
            {
                "brin": school.brin,
                "school": school.name,
                "deelnemers": _verzending_out(latest.get((sid, "deelnemers"))),
                "adviezen": _verzending_out(latest.get((sid, "adviezen"))),
                "resultaten": results.get(sid, 0),
                "rapporten": reports.get(sid, 0),
            }
        )
    return rows


def _verzending_out(v: LasVerzending | None) -> dict | None:
    if v is None:
        return None
    return {"status": v.status, "melding": v.melding, "http_status": v.http_status, "aantal": v.aantal, "bijgewerkt": v.updated_at.isoformat()}
