"""Keurmerk rules: the admission steps in their order, conformance reports as evidence, and
qualification per service version. No HTTP, no commit.

The admission (toetredingsproces) of a supplier per gegevensdienst and role goes through
aanmelden -> intake -> intentieverklaring -> basiskwalificatie -> kwalificatie ->
deelnemersovereenkomst, each step after the one before it. Kwalificatie is proven per service
version with a conformance report of `eduketen conformance run` for that version and role: no
failures, no errors, and nothing skipped except scenarios that are not part of the version."""

from __future__ import annotations

import itertools
import json
import urllib.parse
from datetime import date, timedelta

from sqlalchemy.orm import Session

from eduketen.core.db import utcnow
from eduketen.keurmerk import repository as repo
from eduketen.keurmerk.models import (
    Admission,
    Contact,
    Evidence,
    Pairing,
    Qualification,
    Release,
    ReleaseEvent,
    Reminder,
    Step,
    TestPeriod,
    Ticket,
    TicketEvent,
)
from eduketen.register import repository as register_repo
from eduketen.register.models import Service, ServiceVersion, Supplier

STAGES = ("aanmelden", "intake", "intentieverklaring", "basiskwalificatie", "kwalificatie", "deelnemersovereenkomst")
ROLES = ("toetsaanbieder", "las")
SUITE = "eduketen conformance"


class KeurmerkError(ValueError):
    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def _service(session: Session, name: str) -> Service:
    service = register_repo.service_by_name(session, name)
    if service is None:
        raise KeurmerkError(f"no gegevensdienst {name!r} in the register", 404)
    return service


def _admission(session: Session, admission_id: int) -> Admission:
    admission = repo.admission(session, admission_id)
    if admission is None:
        raise KeurmerkError(f"no admission {admission_id}", 404)
    return admission


def done_stages(session: Session, admission: Admission) -> dict[str, Step]:
    return {s.stage: s for s in repo.steps(session, admission.id)}


def apply(session: Session, *, supplier_oin: str, service: str, role: str, on: date, note: str | None = None) -> Admission:
    """Aanmelden: the supplier announces itself for a gegevensdienst in a role."""
    supplier = register_repo.supplier_by_oin(session, supplier_oin)
    if supplier is None:
        raise KeurmerkError(f"no supplier with OIN {supplier_oin} in the register", 404)
    if role not in ROLES:
        raise KeurmerkError(f"role must be one of {', '.join(ROLES)}")
    svc = _service(session, service)
    if repo.admission_for(session, supplier.id, svc.id, role) is not None:
        raise KeurmerkError(f"{supplier.name} has already applied for {service} as {role}", 409)
    now = utcnow()
    admission = Admission(supplier_id=supplier.id, service_id=svc.id, role=role, stage="aanmelden", created_at=now, updated_at=now)
    session.add(admission)
    session.flush()
    session.add(Step(admission_id=admission.id, stage="aanmelden", completed_on=on, note=note, recorded_at=now))
    session.flush()
    return admission


def complete(session: Session, admission_id: int, *, stage: str, on: date, note: str | None = None) -> Admission:
    admission = _admission(session, admission_id)
    if stage not in STAGES:
        raise KeurmerkError(f"stage must be one of {', '.join(STAGES)}")
    done = done_stages(session, admission)
    if stage in done:
        raise KeurmerkError(f"{stage} was already completed on {done[stage].completed_on}", 409)
    previous = STAGES[STAGES.index(stage) - 1]
    if previous not in done:
        raise KeurmerkError(f"{stage} comes after {previous}, which is not completed yet", 409)
    if on < done[previous].completed_on:
        raise KeurmerkError(f"{stage} cannot be completed before {previous} ({done[previous].completed_on})")
    if stage == "kwalificatie" and not repo.qualifications_of(session, admission.id):
        raise KeurmerkError("kwalificatie needs at least one service version qualified with a conformance report", 409)
    now = utcnow()
    session.add(Step(admission_id=admission.id, stage=stage, completed_on=on, note=note, recorded_at=now))
    admission.stage, admission.updated_at = stage, now
    session.flush()
    return admission


def judge(summary: dict, *, service: str, role: str) -> tuple[str, dict, bool, str]:
    """(version, counts, sufficient, verdict) of a JSON summary of `eduketen conformance run`."""
    if not isinstance(summary, dict) or summary.get("suite") != SUITE:
        raise KeurmerkError("evidence must be the JSON summary of `eduketen conformance run --json`")
    for key, expected in (("service", service), ("role", role)):
        if summary.get(key) != expected:
            raise KeurmerkError(f"the report is for {key} {summary.get(key)!r}, the admission for {expected!r}")
    version = summary.get("version")
    scenarios = summary.get("scenarios")
    if not isinstance(version, str) or not isinstance(scenarios, list):
        raise KeurmerkError("the report names no version or no scenarios")
    from eduketen.conformance.runner import select

    expected = {sc.name for sc in select(role, version)} if role in ROLES else set()
    present = {sc.get("name") for sc in scenarios if isinstance(sc, dict)}
    counts = {s: sum(1 for sc in scenarios if isinstance(sc, dict) and sc.get("status") == s) for s in ("passed", "failed", "error", "skipped")}
    problems = []
    missing = sorted(expected - present)
    if missing:
        problems.append(f"the report lacks {len(missing)} scenario(s) of the suite: {', '.join(missing)}")
    if counts["failed"] or counts["error"]:
        failing = [sc.get("name") for sc in scenarios if sc.get("status") in ("failed", "error")]
        problems.append(f"{len(failing)} scenario(s) did not pass: {', '.join(map(str, failing))}")
    not_run = [sc.get("name") for sc in scenarios if sc.get("status") == "skipped" and not str(sc.get("reason") or "").startswith("not part of version")]
    if not_run:
        problems.append(f"{len(not_run)} scenario(s) could not run and must: {', '.join(map(str, not_run))}")
    if counts["passed"] == 0:
        problems.append("no scenario passed")
    sufficient = not problems
    verdict = f"sufficient for {service} {version} as {role}: {counts['passed']} scenarios passed" if sufficient else "; ".join(problems)
    return version, counts, sufficient, verdict


def add_evidence(session: Session, admission_id: int, *, summary: dict, junit_xml: str | None = None) -> Evidence:
    admission = _admission(session, admission_id)
    service = session.get(Service, admission.service_id)
    version, counts, sufficient, verdict = judge(summary, service=service.name, role=admission.role)
    service_version = register_repo.service_version(session, service.id, version)
    if service_version is None:
        raise KeurmerkError(f"{service.name} has no version {version} in the register", 404)
    evidence = Evidence(
        admission_id=admission.id,
        service_version_id=service_version.id,
        tested_url=str(summary.get("url", ""))[:500],
        tested_at=str(summary.get("started", ""))[:40],
        passed=counts["passed"],
        failed=counts["failed"],
        errors=counts["error"],
        skipped=counts["skipped"],
        sufficient=sufficient,
        verdict=verdict[:1000],
        summary_json=json.dumps(summary, ensure_ascii=False, sort_keys=True),
        junit_xml=junit_xml,
        recorded_at=utcnow(),
    )
    session.add(evidence)
    session.flush()
    return evidence


def qualify(session: Session, admission_id: int, *, version: str, evidence_id: int, on: date) -> Qualification:
    admission = _admission(session, admission_id)
    if "basiskwalificatie" not in done_stages(session, admission):
        raise KeurmerkError("qualification for a service version comes after basiskwalificatie", 409)
    service = session.get(Service, admission.service_id)
    service_version = register_repo.service_version(session, service.id, version)
    if service_version is None:
        raise KeurmerkError(f"{service.name} has no version {version} in the register", 404)
    evidence = repo.evidence(session, evidence_id)
    if evidence is None or evidence.admission_id != admission.id:
        raise KeurmerkError(f"no evidence {evidence_id} for this admission", 404)
    if evidence.service_version_id != service_version.id:
        raise KeurmerkError(f"evidence {evidence_id} is a report for another version than {version}")
    if not evidence.sufficient:
        raise KeurmerkError(f"evidence {evidence_id} is not sufficient: {evidence.verdict}", 409)
    if repo.qualification(session, admission.id, service_version.id) is not None:
        raise KeurmerkError(f"already qualified for {service.name} {version}", 409)
    qualification = Qualification(
        admission_id=admission.id, service_version_id=service_version.id, evidence_id=evidence.id, qualified_on=on, recorded_at=utcnow()
    )
    session.add(qualification)
    session.flush()
    return qualification


# -- views -----------------------------------------------------------------------------------------------------


def admission_view(session: Session, admission: Admission) -> dict:
    from eduketen.register.models import Supplier

    supplier = session.get(Supplier, admission.supplier_id)
    service = session.get(Service, admission.service_id)
    done = done_stages(session, admission)
    versions = {sv.id: sv.version for sv in register_repo.service_versions(session, service.id)}
    nxt = next((s for s in STAGES if s not in done), None)
    return {
        "id": admission.id,
        "leverancier": {"naam": supplier.name, "oin": supplier.oin},
        "gegevensdienst": service.name,
        "rol": admission.role,
        "fase": admission.stage,
        "volgende_stap": nxt,
        "stappen": [
            {"stap": s, "afgerond_op": done[s].completed_on.isoformat() if s in done else None, "notitie": done[s].note if s in done else None}
            for s in STAGES
        ],
        "bewijs": [
            {
                "id": e.id,
                "versie": versions.get(e.service_version_id),
                "getest": e.tested_at,
                "url": e.tested_url,
                "geslaagd": e.passed,
                "gefaald": e.failed,
                "fouten": e.errors,
                "overgeslagen": e.skipped,
                "voldoende": e.sufficient,
                "oordeel": e.verdict,
            }
            for e in repo.evidence_of(session, admission.id)
        ],
        "kwalificaties": [
            {"versie": versions.get(q.service_version_id), "op": q.qualified_on.isoformat(), "bewijs": q.evidence_id}
            for q in repo.qualifications_of(session, admission.id)
        ],
    }


def public_list(session: Session, service: str | None = None) -> dict:
    """Per gegevensdienst and version: the suppliers qualified for it, in which role, and whether
    they signed the deelnemersovereenkomst. Only what a school or supplier may see: no evidence."""
    services = [_service(session, service)] if service else register_repo.services(session)
    by_version: dict[int, list[dict]] = {}
    for _svc, sv, supplier, admission, q in repo.qualified_rows(session, service):
        signed = "deelnemersovereenkomst" in done_stages(session, admission)
        by_version.setdefault(sv.id, []).append(
            {
                "leverancier": supplier.name,
                "oin": supplier.oin,
                "rol": admission.role,
                "gekwalificeerd_op": q.qualified_on.isoformat(),
                "deelnemersovereenkomst": signed,
                "status": "deelnemer" if signed else "gekwalificeerd",
            }
        )
    return {
        "diensten": [
            {
                "gegevensdienst": svc.name,
                "versies": [
                    {"versie": sv.version, "status": sv.status, "namespace": sv.namespace, "deelnemers": by_version.get(sv.id, [])}
                    for sv in register_repo.service_versions(session, svc.id)
                ],
            }
            for svc in services
        ]
    }


# -- change and release ----------------------------------------------------------------------------------------
#
# The Change & Releaseproces of the afsprakenstelsel: every service version has a place on a public
# calendar (concept -> in gebruik -> vorige versie, or ingetrokken), chain tests happen in test
# periods with 1-on-1 pairings between suppliers (the chain partners preferred these to a joint
# test day, voortgangsoverleg 8 January 2026), participants get a reminder two weeks before a test
# period opens (asked for in the same meeting), and the desk (meldpunt) takes incidents, complaints
# and change requests (RFCs) about a service version and handles them through a fixed workflow.

VERSION_STATUSES = ("draft", "in-force", "previous", "withdrawn")
VERSION_LABELS = {"draft": "concept", "in-force": "in gebruik", "previous": "vorige versie", "withdrawn": "ingetrokken"}
VERSION_TRANSITIONS = {"draft": ("in-force", "withdrawn"), "in-force": ("previous", "withdrawn"), "previous": ("withdrawn",), "withdrawn": ()}
DATE_OF = {"draft": "draft_on", "in-force": "in_force_from", "previous": "previous_from", "withdrawn": "withdrawn_on"}
WIRE_DATE = {"draft": "concept_op", "in-force": "in_gebruik_vanaf", "previous": "vorige_vanaf", "withdrawn": "ingetrokken_op"}

PAIRING_STATUSES = ("planned", "testing", "passed", "failed")
PAIRING_LABELS = {"planned": "gepland", "testing": "testen", "passed": "geslaagd", "failed": "mislukt"}
PAIRING_TRANSITIONS = {"planned": ("testing", "failed"), "testing": ("passed", "failed"), "failed": ("testing",), "passed": ()}

REMIND_DAYS = 14  # "twee weken voor aanvang van een testperiode"

TICKET_KINDS = {"incident": "incident", "klacht": "klacht", "wijzigingsverzoek": "wijzigingsverzoek (RFC)"}
TICKET_STATUSES = ("nieuw", "in-behandeling", "ingepland", "opgelost", "afgewezen", "gesloten")
TICKET_LABELS = {"nieuw": "nieuw", "in-behandeling": "in behandeling", "ingepland": "ingepland in een release", "opgelost": "opgelost",
                 "afgewezen": "afgewezen", "gesloten": "gesloten"}  # fmt: skip
TICKET_TRANSITIONS = {
    "nieuw": ("in-behandeling", "afgewezen"),
    "in-behandeling": ("ingepland", "opgelost", "afgewezen"),
    "ingepland": ("in-behandeling", "opgelost"),
    "opgelost": ("gesloten", "in-behandeling"),
    "afgewezen": ("gesloten", "in-behandeling"),
    "gesloten": (),
}


class TransitionRefused(KeurmerkError):
    """A status change the workflow does not allow (409), with the changes that are allowed."""

    def __init__(self, message: str, current: str, allowed: tuple[str, ...]) -> None:
        super().__init__(message, 409)
        self.current, self.allowed = current, allowed


def version_of(session: Session, service_name: str, version: str) -> ServiceVersion:
    service = _service(session, service_name)
    sv = register_repo.service_version(session, service.id, version)
    if sv is None:
        raise KeurmerkError(f"{service_name} has no version {version!r} in the register", 404)
    return sv


def _release(session: Session, sv: ServiceVersion) -> Release:
    release = repo.release(session, sv.id)
    if release is None:
        release = Release(service_version_id=sv.id, updated_at=utcnow())
        session.add(release)
        session.flush()
    return release


def _reachable(status: str) -> set[str]:
    seen, todo = set(), list(VERSION_TRANSITIONS[status])
    while todo:
        nxt = todo.pop()
        if nxt not in seen:
            seen.add(nxt)
            todo.extend(VERSION_TRANSITIONS[nxt])
    return seen


def _check_date_order(values: dict[str, date | None]) -> None:
    chain = [(s, values.get(s)) for s in ("draft", "in-force", "previous") if values.get(s) is not None]
    for (s1, d1), (s2, d2) in itertools.pairwise(chain):
        if d2 < d1:
            raise KeurmerkError(f"{WIRE_DATE[s2]} ({d2}) lies before {WIRE_DATE[s1]} ({d1})")
    withdrawn, draft = values.get("withdrawn"), values.get("draft")
    if withdrawn is not None and draft is not None and withdrawn < draft:
        raise KeurmerkError(f"ingetrokken_op ({withdrawn}) lies before concept_op ({draft})")


def plan_release(session: Session, sv: ServiceVersion, *, dates: dict[str, date | None], announcement: str | None) -> Release:
    """Dates on the calendar, and the announced changes. A state the version can still reach gets a
    planned date (changed freely). A state it reached has its date recorded by its transition, and
    that is history: it may be filled in once when it is missing (a version registered before the
    calendar existed), never changed."""
    release = _release(session, sv)
    future = _reachable(sv.status)
    skipped = sv.status == "withdrawn" and any(e.status_before == "draft" and e.status_after == "withdrawn" for e in repo.release_events(session, sv.id))
    for status, day in dates.items():
        if status not in DATE_OF:
            raise KeurmerkError(f"unknown status {status!r}")
        if day is None or status in future:
            continue
        if skipped and status in ("in-force", "previous"):
            raise KeurmerkError(f"{sv.version} was withdrawn as a draft; it was never {status}", 409)
        recorded = getattr(release, DATE_OF[status])
        if recorded is not None and recorded != day:
            raise KeurmerkError(f"{WIRE_DATE[status]} of {sv.version} is history ({recorded}); it cannot be changed", 409)
    merged = {s: getattr(release, DATE_OF[s]) for s in DATE_OF}
    merged.update({s: d for s, d in dates.items() if d is not None})
    _check_date_order(merged)
    for status, day in dates.items():
        if day is not None:
            setattr(release, DATE_OF[status], day)
    if announcement is not None:
        release.announcement = announcement.strip() or None
    release.updated_at = utcnow()
    session.flush()
    return release


def transition_version(session: Session, sv: ServiceVersion, *, status: str, on: date, today: date, actor: str, note: str | None = None) -> Release:
    """Move a service version to its next state on the calendar, as of ``on`` (not in the future)."""
    from eduketen.register import service as register

    if status not in VERSION_STATUSES:
        raise KeurmerkError(f"status must be one of {', '.join(VERSION_STATUSES)}")
    current = sv.status
    if status == current:
        raise TransitionRefused(f"{sv.version} is {current} already", current, VERSION_TRANSITIONS[current])
    allowed = VERSION_TRANSITIONS.get(current, ())
    if status not in allowed:
        raise TransitionRefused(
            f"{sv.version} is {current}; it cannot become {status}" + (f" (allowed: {', '.join(allowed)})" if allowed else " (no change is allowed any more)"),
            current,
            allowed,
        )
    if on > today:
        raise KeurmerkError(f"a status change takes effect when it is made; {on} is in the future: plan it on the calendar instead")
    release = _release(session, sv)
    since = getattr(release, DATE_OF[current])
    if since is not None and on < since:
        raise KeurmerkError(f"{sv.version} is {current} since {since}; it cannot become {status} on {on}, before that")
    setattr(release, DATE_OF[status], on)
    release.updated_at = utcnow()
    register.set_version_status(session, sv, status)
    session.add(ReleaseEvent(service_version_id=sv.id, at=utcnow(), actor=actor[:200], status_before=current, status_after=status,
                             effective_on=on, note=(note or None) and note[:1000]))  # fmt: skip
    session.flush()
    return release


def release_view(session: Session, sv: ServiceVersion, release: Release | None, *, today: date, with_history: bool = False) -> dict:
    dates = {WIRE_DATE[s]: (getattr(release, DATE_OF[s]).isoformat() if release and getattr(release, DATE_OF[s]) else None) for s in DATE_OF}
    planned = [
        {"status": s, "label": VERSION_LABELS[s], "op": getattr(release, DATE_OF[s]).isoformat()}
        for s in ("in-force", "previous", "withdrawn")
        if release and s in _reachable(sv.status) and getattr(release, DATE_OF[s]) is not None
    ]
    changes = [
        {"melding": t.id, "titel": t.title, "status": t.status}
        for t in repo.tickets(session, service_version_id=sv.id, kind="wijzigingsverzoek")
        if t.planned_version_id == sv.id and t.status in ("ingepland", "opgelost", "gesloten")
    ]
    periods = [
        {"id": p.id, "naam": p.name, "opent": p.opens_on.isoformat(), "sluit": p.closes_on.isoformat(),
         "fase": "gesloten" if p.closes_on < today else ("open" if p.opens_on <= today else "komt")}
        for p in repo.test_periods(session, sv.id)
    ]  # fmt: skip
    view = {
        "versie": sv.version,
        "schooljaar": sv.schooljaar,
        "namespace": sv.namespace,
        "status": sv.status,
        "status_label": VERSION_LABELS.get(sv.status, sv.status),
        "volgende_status": list(VERSION_TRANSITIONS.get(sv.status, ())),
        **dates,
        "gepland": planned,
        "aankondiging": release.announcement if release else None,
        "ingeplande_wijzigingen": changes,
        "ketentestperiodes": periods,
    }
    if with_history:
        view["geschiedenis"] = [
            {"op": e.effective_on.isoformat(), "vastgelegd": e.at.isoformat(), "door": e.actor, "van": e.status_before, "naar": e.status_after,
             "notitie": e.note}
            for e in repo.release_events(session, sv.id)
        ]  # fmt: skip
    return view


def calendar(session: Session, service: str | None = None, *, today: date, with_history: bool = False) -> dict:
    if service:
        _service(session, service)
    out: dict[str, dict] = {}
    for svc, sv, release in repo.calendar_rows(session, service):
        entry = out.setdefault(svc.name, {"gegevensdienst": svc.name, "omschrijving": svc.description, "versies": []})
        entry["versies"].append(release_view(session, sv, release, today=today, with_history=with_history))
    return {"peildatum": today.isoformat(), "diensten": list(out.values())}


# -- chain-test periods and pairings ---------------------------------------------------------------------------


def add_period(session: Session, sv: ServiceVersion, *, name: str, opens: date, closes: date) -> TestPeriod:
    if closes < opens:
        raise KeurmerkError(f"the period closes ({closes}) before it opens ({opens})")
    if sv.status == "withdrawn":
        raise KeurmerkError(f"{sv.version} is withdrawn: no chain tests for it", 409)
    period = TestPeriod(service_version_id=sv.id, name=name.strip()[:200], opens_on=opens, closes_on=closes, created_at=utcnow())
    session.add(period)
    session.flush()
    return period


def get_period(session: Session, period_id: int) -> TestPeriod:
    period = repo.test_period(session, period_id) if 0 < period_id < 2**31 else None
    if period is None:
        raise KeurmerkError(f"no chain-test period {period_id}", 404)
    return period


def find_system(session: Session, supplier_oin: str, system_name: str):
    supplier = register_repo.supplier_by_oin(session, supplier_oin)
    if supplier is None:
        raise KeurmerkError(f"no supplier with OIN {supplier_oin} in the register", 404)
    system = register_repo.system_by_name(session, supplier.id, system_name)
    if system is None:
        raise KeurmerkError(f"{supplier.name} has no system named {system_name!r}", 404)
    return system


def add_pairing(session: Session, period: TestPeriod, system_a, system_b) -> Pairing:
    if system_a.id == system_b.id or system_a.supplier_id == system_b.supplier_id:
        raise KeurmerkError("a pairing is between the systems of two different suppliers")
    if repo.pairing_between(session, period.id, system_a.id, system_b.id) is not None:
        raise KeurmerkError("these two systems are paired in this period already", 409)
    pairing = Pairing(period_id=period.id, system_a_id=system_a.id, system_b_id=system_b.id, status="planned", updated_at=utcnow())
    session.add(pairing)
    session.flush()
    return pairing


def set_pairing_status(session: Session, pairing_id: int, *, status: str, note: str | None = None, evidence_id: int | None = None) -> Pairing:
    pairing = repo.pairing(session, pairing_id) if 0 < pairing_id < 2**31 else None
    if pairing is None:
        raise KeurmerkError(f"no pairing {pairing_id}", 404)
    if status not in PAIRING_STATUSES:
        raise KeurmerkError(f"status must be one of {', '.join(PAIRING_STATUSES)}")
    allowed = PAIRING_TRANSITIONS[pairing.status]
    if status != pairing.status and status not in allowed:
        raise TransitionRefused(f"a pairing that is {pairing.status} cannot become {status}", pairing.status, allowed)
    if status == pairing.status and evidence_id is None and note is None:
        raise TransitionRefused(f"the pairing is {status} already", pairing.status, allowed)
    if evidence_id is not None:
        evidence = repo.evidence(session, evidence_id) if 0 < evidence_id < 2**31 else None
        if evidence is None:
            raise KeurmerkError(f"no evidence {evidence_id}", 404)
        period = repo.test_period(session, pairing.period_id)
        if evidence.service_version_id != period.service_version_id:
            raise KeurmerkError(f"evidence {evidence_id} is a conformance report for another service version than this period's")
        admission = repo.admission(session, evidence.admission_id)
        suppliers = {repo.system_with_supplier(session, sid)[1].id for sid in (pairing.system_a_id, pairing.system_b_id)}
        if admission.supplier_id not in suppliers:
            raise KeurmerkError(f"evidence {evidence_id} belongs to a supplier outside this pairing")
        pairing.evidence_id = evidence_id
    pairing.status = status
    if note is not None:
        pairing.note = note[:1000] or None
    pairing.updated_at = utcnow()
    session.flush()
    return pairing


def _system_out(session: Session, system_id: int) -> dict:
    system, supplier = repo.system_with_supplier(session, system_id)
    return {"id": system.id, "systeem": system.name, "soort": system.kind, "leverancier": supplier.name, "oin": supplier.oin}


def pairing_view(session: Session, pairing: Pairing, *, public: bool = False) -> dict:
    view = {
        "id": pairing.id,
        "a": _system_out(session, pairing.system_a_id),
        "b": _system_out(session, pairing.system_b_id),
        "status": pairing.status,
        "status_label": PAIRING_LABELS[pairing.status],
        "bijgewerkt": pairing.updated_at.isoformat(),
        "conformancerapport": pairing.evidence_id is not None,
    }
    if not public:
        view.update({"bewijs": pairing.evidence_id, "notitie": pairing.note, "volgende_status": list(PAIRING_TRANSITIONS[pairing.status])})
    return view


def board(session: Session, period: TestPeriod, *, today: date, public: bool = False) -> dict:
    """Who has tested with whom: rows are the A-side systems, columns the B-side systems, each cell
    the pairing's status (or none)."""
    sv = session.get(ServiceVersion, period.service_version_id)
    service = session.get(Service, sv.service_id)
    pairs = [pairing_view(session, p, public=public) for p in repo.pairings(session, period.id)]
    rows = {p["a"]["id"]: p["a"] for p in pairs}
    cols = {p["b"]["id"]: p["b"] for p in pairs}
    order = lambda s: (s["soort"], s["leverancier"], s["systeem"])
    cells = {(p["a"]["id"], p["b"]["id"]): p for p in pairs}
    matrix = [
        {"systeem": r, "cellen": [cells.get((r["id"], c["id"])) or cells.get((c["id"], r["id"])) for c in sorted(cols.values(), key=order)]}
        for r in sorted(rows.values(), key=order)
    ]
    counts = {s: sum(1 for p in pairs if p["status"] == s) for s in PAIRING_STATUSES}
    view = {
        "id": period.id,
        "naam": period.name,
        "gegevensdienst": service.name,
        "versie": sv.version,
        "opent": period.opens_on.isoformat(),
        "sluit": period.closes_on.isoformat(),
        "herinnering_op": (period.opens_on - timedelta(days=REMIND_DAYS)).isoformat(),
        "fase": "gesloten" if period.closes_on < today else ("open" if period.opens_on <= today else "komt"),
        "kolommen": sorted(cols.values(), key=order),
        "matrix": matrix,
        "koppelingen": pairs,
        "aantallen": counts,
    }
    if not public:
        view["herinneringen"] = [reminder_view(session, r) for r in repo.reminders(session, period_id=period.id)]
    return view


# -- reminders ---------------------------------------------------------------------------------------------------


def participants_of(session: Session, period: TestPeriod) -> list[Supplier]:
    """Who should plan tests in the period: every supplier admitted for the gegevensdienst, and every
    supplier with a system in one of the period's pairings."""
    sv = session.get(ServiceVersion, period.service_version_id)
    ids = repo.admitted_supplier_ids(session, sv.service_id)
    for p in repo.pairings(session, period.id):
        for sid in (p.system_a_id, p.system_b_id):
            ids.add(repo.system_with_supplier(session, sid)[1].id)
    return sorted((session.get(Supplier, i) for i in ids), key=lambda s: s.id)


def _reminder_text(session: Session, period: TestPeriod, supplier: Supplier) -> str:
    sv = session.get(ServiceVersion, period.service_version_id)
    service = session.get(Service, sv.service_id)
    partners = []
    for p in repo.pairings(session, period.id):
        a, b = repo.system_with_supplier(session, p.system_a_id), repo.system_with_supplier(session, p.system_b_id)
        if a[1].id == supplier.id:
            partners.append(f"{b[1].name} ({b[0].name})")
        elif b[1].id == supplier.id:
            partners.append(f"{a[1].name} ({a[0].name})")
    with_whom = f" Uw testpartners: {', '.join(partners)}." if partners else " Er is nog geen 1-op-1-test voor u ingepland; spreek die af met uw ketenpartners."
    return (
        f"Herinnering: de ketentestperiode '{period.name}' voor {service.name} {sv.version} opent op {period.opens_on.isoformat()} "
        f"en sluit op {period.closes_on.isoformat()}. Plan uw 1-op-1-tests nu in.{with_whom}"
    )[:2000]


def send_reminders(session: Session, today: date) -> list[Reminder]:
    """Every participant of every period that opens within the next two weeks gets one reminder,
    once: on its list (``GET /keurmerk/v1/herinneringen``) and, when it registered a webhook, through
    the outbox. Safe to run as often as wanted; a period created late still gets its reminders
    before it opens, none after."""
    from sqlalchemy.exc import IntegrityError

    from eduketen.core import outbox

    sent = []
    for period in repo.periods_to_remind(session, today + timedelta(days=1), today + timedelta(days=REMIND_DAYS)):
        sv = session.get(ServiceVersion, period.service_version_id)
        if sv.status == "withdrawn":
            continue
        for supplier in participants_of(session, period):
            if repo.reminder_for(session, period.id, supplier.id) is not None:
                continue
            message = _reminder_text(session, period, supplier)
            try:
                with session.begin_nested():  # a second worker that sent it meanwhile: skip, keep the rest
                    reminder = Reminder(period_id=period.id, supplier_id=supplier.id, due_on=period.opens_on - timedelta(days=REMIND_DAYS),
                                        sent_on=today, message=message, created_at=utcnow())  # fmt: skip
                    session.add(reminder)
                    session.flush()
                    contact = repo.contact(session, supplier.id)
                    if contact is not None and contact.notify_url:
                        body = {
                            "soort": "ketentest-herinnering",
                            "id": reminder.id,
                            "ketentestperiode": {"id": period.id, "naam": period.name, "opent": period.opens_on.isoformat(),
                                                 "sluit": period.closes_on.isoformat()},
                            "bericht": message,
                        }  # fmt: skip
                        queued = outbox.enqueue(session, kind="keurmerk.herinnering", ordering_key=f"keurmerk:{supplier.oin}", method="POST",
                                                url=contact.notify_url, body=json.dumps(body, ensure_ascii=False),
                                                context={"reminder": reminder.id})  # fmt: skip
                        reminder.outbox_seq = queued.seq
                        session.flush()
            except IntegrityError:
                continue
            sent.append(reminder)
    return sent


def set_contact(session: Session, supplier_oin: str, notify_url: str | None) -> Contact:
    supplier = register_repo.supplier_by_oin(session, supplier_oin)
    if supplier is None:
        raise KeurmerkError(f"no supplier with OIN {supplier_oin} in the register", 404)
    if notify_url is not None:
        parts = urllib.parse.urlsplit(notify_url)
        local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
        if not (parts.scheme == "https" or local) or not parts.hostname:
            raise KeurmerkError("notify_url must be an https:// URL (delivered with the platform's client certificate); http only on loopback")
    contact = repo.contact(session, supplier.id)
    if contact is None:
        contact = Contact(supplier_id=supplier.id, updated_at=utcnow())
        session.add(contact)
    contact.notify_url, contact.updated_at = notify_url, utcnow()
    session.flush()
    return contact


def reminder_view(session: Session, reminder: Reminder) -> dict:
    from eduketen.core.models import OutboxMessage

    supplier = session.get(Supplier, reminder.supplier_id)
    delivery = None
    if reminder.outbox_seq is not None:
        message = session.get(OutboxMessage, reminder.outbox_seq)
        delivery = message.status if message else None
    return {
        "id": reminder.id,
        "ketentestperiode": reminder.period_id,
        "leverancier": supplier.name,
        "oin": supplier.oin,
        "verstuurd_op": reminder.sent_on.isoformat(),
        "bericht": reminder.message,
        "webhook": delivery,  # None: no webhook registered; else the outbox state
    }


# -- the desk (meldpunt) -----------------------------------------------------------------------------------------


def submit_ticket(session: Session, *, kind: str, sv: ServiceVersion, supplier: Supplier | None, title: str, description: str, actor: str) -> Ticket:
    if kind not in TICKET_KINDS:
        raise KeurmerkError(f"soort must be one of {', '.join(TICKET_KINDS)}")
    if not title.strip() or not description.strip():
        raise KeurmerkError("titel and omschrijving may not be empty")
    now = utcnow()
    ticket = Ticket(kind=kind, service_version_id=sv.id, supplier_id=supplier.id if supplier else None, title=title.strip()[:200],
                    description=description.strip(), status="nieuw", submitted_by=actor[:200], created_at=now, updated_at=now)  # fmt: skip
    session.add(ticket)
    session.flush()
    session.add(TicketEvent(ticket_id=ticket.id, at=now, actor=actor[:200], status_before=None, status_after="nieuw", note=None))
    session.flush()
    return ticket


def get_ticket(session: Session, ticket_id: int, *, supplier_id: int | None = None) -> Ticket:
    """A ticket; with ``supplier_id``, only one that supplier submitted (others are not found)."""
    ticket = repo.ticket(session, ticket_id) if 0 < ticket_id < 2**31 else None
    if ticket is None or (supplier_id is not None and ticket.supplier_id != supplier_id):
        raise KeurmerkError(f"no ticket {ticket_id}", 404)
    return ticket


def transition_ticket(session: Session, ticket: Ticket, *, status: str, actor: str, note: str | None = None,
                      planned_version: str | None = None) -> Ticket:  # fmt: skip
    if status not in TICKET_STATUSES:
        raise KeurmerkError(f"status must be one of {', '.join(TICKET_STATUSES)}")
    allowed = tuple(s for s in TICKET_TRANSITIONS[ticket.status] if s != "ingepland" or ticket.kind == "wijzigingsverzoek")
    if status not in allowed:
        why = "only a change request can be planned in a release" if status == "ingepland" and ticket.kind != "wijzigingsverzoek" else \
            f"a ticket that is {ticket.status} cannot become {status}"  # fmt: skip
        raise TransitionRefused(why + (f" (allowed: {', '.join(allowed)})" if allowed else " (it is closed)"), ticket.status, allowed)
    note = (note or "").strip() or None
    if status == "afgewezen" and not note:
        raise KeurmerkError("a refusal needs a note that says why")
    if status == "ingepland":
        if not planned_version:
            raise KeurmerkError("ingepland needs the release (versie) the change is planned in")
        current = session.get(ServiceVersion, ticket.service_version_id)
        target = register_repo.service_version(session, current.service_id, planned_version)
        if target is None:
            raise KeurmerkError(f"no version {planned_version!r} of this gegevensdienst", 404)
        if target.status != "draft":
            raise KeurmerkError(f"a change is planned in an upcoming release (a draft version); {planned_version} is {target.status}", 409)
        ticket.planned_version_id = target.id
    elif status == "in-behandeling" and ticket.status == "ingepland":
        ticket.planned_version_id = None  # taken out of the release again
    now = utcnow()
    session.add(TicketEvent(ticket_id=ticket.id, at=now, actor=actor[:200], status_before=ticket.status, status_after=status,
                            note=note and note[:2000]))  # fmt: skip
    ticket.status, ticket.updated_at = status, now
    session.flush()
    return ticket


def ticket_view(session: Session, ticket: Ticket, *, with_history: bool = True) -> dict:
    sv = session.get(ServiceVersion, ticket.service_version_id)
    service = session.get(Service, sv.service_id)
    supplier = session.get(Supplier, ticket.supplier_id) if ticket.supplier_id else None
    planned = session.get(ServiceVersion, ticket.planned_version_id) if ticket.planned_version_id else None
    view = {
        "id": ticket.id,
        "soort": ticket.kind,
        "soort_label": TICKET_KINDS[ticket.kind],
        "gegevensdienst": service.name,
        "versie": sv.version,
        "leverancier": {"naam": supplier.name, "oin": supplier.oin} if supplier else None,
        "titel": ticket.title,
        "omschrijving": ticket.description,
        "status": ticket.status,
        "status_label": TICKET_LABELS[ticket.status],
        "ingepland_in": planned.version if planned else None,
        "volgende_status": [s for s in TICKET_TRANSITIONS[ticket.status] if s != "ingepland" or ticket.kind == "wijzigingsverzoek"],
        "ingediend_door": ticket.submitted_by,
        "ingediend": ticket.created_at.isoformat(),
        "bijgewerkt": ticket.updated_at.isoformat(),
    }
    if with_history:
        view["geschiedenis"] = [
            {"op": e.at.isoformat(), "door": e.actor, "van": e.status_before, "naar": e.status_after, "notitie": e.note}
            for e in repo.ticket_events(session, ticket.id)
        ]
    return view


def release_choices(session: Session, ticket: Ticket) -> list[str]:
    """The upcoming releases (draft versions) a change request can be planned in."""
    current = session.get(ServiceVersion, ticket.service_version_id)
    return [sv.version for sv in register_repo.service_versions(session, current.service_id) if sv.status == "draft"]
