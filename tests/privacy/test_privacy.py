"""Privacy duties as an operator and a pupil's parents would notice them: an export of
everything stored about one pupil (audited), its erasure (audited, files gone, other pupils
untouched), retention per school year with a dry run that deletes nothing, and an audit log whose
anchor shows entries removed from the end. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, func, select, text, update
from typer.testing import CliRunner

from eduketen.cli import app as cli
from eduketen.core import audit
from eduketen.core.db import unit_of_work
from eduketen.core.models import AuditEntry, OutboxMessage
from eduketen.doorstroomtoets.models import (
    Deelname,
    RapportPdf,
    Resultaat,
    Schooladvies,
)
from eduketen.doorstroomtoets.service import ResultInput, store_results
from eduketen.privacy import service as privacy
from eduketen.register import repository as register_repo
from eduketen.register import service as register
from eduketen.register.models import Pupil, PupilIdentity
from eduketen.simulate.region import deelnemerslijst, schooladviezenlijst
from eduketen.simulate.results import leerlingresultaat

V10, V11 = "/doorstroomtoets/v1.0", "/doorstroomtoets/v1.1"
TODAY = date(2026, 11, 23)  # school year 2026-2027


@pytest.fixture
def chain_settings(tmp_path):
    return {"data_dir": str(tmp_path / "data")}


def _register_las_endpoint(chain, school):
    with unit_of_work(chain.platform.sessions) as s:
        db_school = register_repo.school_by_oin(s, school.oin)
        for m, _sc, system, supplier, version, _svc in register_repo.mandates(s, school_id=db_school.id):
            if system.kind == "las" and version.version == "1.1.0":
                register.register_endpoint(
                    s, caller_oin=supplier.oin, mandate_token=m.token, administration_id=school.routing,
                    namespace=version.namespace, url="https://las.example/doorstroomtoets/v1.1", attributes=["LAS"],
                    start=date.today() - timedelta(days=1), end=None,
                )  # fmt: skip


def _results(school, pupils):
    out = []
    for p in pupils:
        def build(spec_key, url, p=p):
            return leerlingresultaat(refs=p.refs(), schooljaar="2025-2026", spec_key=spec_key, rapport_url=url, seed=p.las_key)
        out.append(ResultInput(line=p.las_key, school=school.brin, eck_id=p.eck_id, las_key=p.las_key, schooljaar="2025-2026", build=build))
    return out


def _pupil_row_counts(session, pupil_id: int) -> dict[str, int]:
    counts = {}
    for model in (Pupil, PupilIdentity, Deelname, Schooladvies, Resultaat, RapportPdf):
        column = Pupil.id if model is Pupil else model.pupil_id
        counts[model.__tablename__] = session.scalar(select(func.count()).select_from(model).where(column == pupil_id))
    return counts


def test_export_then_erase_one_pupil(chain, database_url):
    school = chain.region.schools[0]
    pupil, other = school.pupils[0], school.pupils[1]
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school), school=school).status_code == 202
    assert chain.post(f"{V11}/registreren-schooladviezen", schooladviezenlijst(school, "v1.1"), school=school).status_code == 202
    chain.drain()
    _register_las_endpoint(chain, school)
    with unit_of_work(chain.platform.sessions) as s:
        assert store_results(s, _results(school, [pupil, other]), public_url="https://toets.example").stored == 2
    chain.drain()  # reports made, results queued for the LAS
    with chain.platform.sessions() as s:
        db_pupil = s.scalars(select(Pupil).where(Pupil.las_key == pupil.las_key)).one()
        result = s.get(Resultaat, (db_pupil.id, "2025-2026"))
        assert s.get(RapportPdf, (db_pupil.id, "2025-2026")).pdf.startswith(b"%PDF")  # the report, kept with the result
    r = chain.client.get(
        f"{V11}/leerlingrapport/{result.rapport_id}", params={"edu-to": school.oin, "edu-from": school.routing},
        headers=chain.cert_header(school.las.oin),
    )  # fmt: skip
    assert r.status_code == 200  # one read by the LAS, audited

    runner = CliRunner()
    env = {"EDUKETEN_DATABASE_URL": database_url}
    out = runner.invoke(cli, ["privacy", "export", "--school", school.brin, "--las-key", pupil.las_key], env=env)
    assert out.exit_code == 0, out.output
    exported = json.loads(out.stdout)
    data = exported["gegevens"]
    assert exported["leerling"]["las_key"] == pupil.las_key
    assert data["register.identiteit"][0]["roepnaam"] == pupil.roepnaam
    assert data["register.identiteit"][0]["achternaam"] == pupil.achternaam
    assert data["doorstroomtoets.deelname"][0]["schooljaar"] == "2025-2026"
    assert data["doorstroomtoets.schooladvies"][0]["advies"]
    assert data["doorstroomtoets.resultaat"][0]["rapport_id"] == result.rapport_id
    assert isinstance(data["doorstroomtoets.resultaat"][0]["data"], dict)
    assert [m["soort"] for m in data["uitgaande_berichten"]] == ["dt.leerlingresultaat"]
    assert [e["wie"] for e in data["inzage_door_anderen"]] == [f"oin:{school.las.oin}"]
    assert other.las_key not in out.stdout and other.roepnaam not in out.stdout  # nobody else's data
    with chain.platform.sessions() as s:
        exports = s.scalars(select(AuditEntry).where(AuditEntry.action == "export")).all()
    assert [(e.subject_type, e.subject_id) for e in exports] == [("pupil", str(db_pupil.id))]

    # erasure is refused while a message of the school waits (it may name the pupil again)
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school, pupils=school.pupils[2:]), school=school).status_code == 202
    refused = runner.invoke(cli, ["privacy", "erase", "--school", school.brin, "--las-key", pupil.las_key, "--yes"], env=env)
    assert refused.exit_code == 1 and "waiting" in refused.output
    chain.drain()
    no_yes = runner.invoke(cli, ["privacy", "erase", "--school", school.brin, "--las-key", pupil.las_key], env=env)
    assert no_yes.exit_code == 1
    erased = runner.invoke(cli, ["privacy", "erase", "--school", school.brin, "--las-key", pupil.las_key, "--yes"], env=env)
    assert erased.exit_code == 0, erased.output
    with chain.platform.sessions() as s:
        assert set(_pupil_row_counts(s, db_pupil.id).values()) == {0}
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.ordering_key.like(f"dt-resultaat:{db_pupil.id}:%"))) == 0
        other_id = s.scalars(select(Pupil.id).where(Pupil.las_key == other.las_key)).one()
        assert _pupil_row_counts(s, other_id) == {"pupil": 1, "pupil_identity": 1, "dt_deelname": 1, "dt_schooladvies": 1, "dt_resultaat": 1,
                                                  "dt_rapport_pdf": 1}
        erasures = s.scalars(select(AuditEntry).where(AuditEntry.action == "erase")).all()
        assert [(e.subject_id, e.actor.startswith("cli:")) for e in erasures] == [(str(db_pupil.id), True)]
        assert audit.verify(s)[0]
    gone = runner.invoke(cli, ["privacy", "export", "--school", school.brin, "--las-key", pupil.las_key], env=env)
    assert gone.exit_code == 1 and "no pupil" in gone.output
    both = runner.invoke(cli, ["privacy", "export", "--school", school.brin, "--las-key", "x", "--eck-id", "y"], env=env)
    assert both.exit_code == 1 and "exactly one" in both.output


def _counts(session, years):
    return {
        y: session.scalar(select(func.count()).select_from(Deelname).where(Deelname.schooljaar == y)) for y in years
    }


def test_retention_purges_old_school_years_after_a_dry_run(chain, database_url):
    new_school, old_school = chain.region.schools[0], chain.region.schools[1]
    assert chain.post(f"{V11}/registreren", deelnemerslijst(new_school), school=new_school).status_code == 202
    for year in ("2023-2024", "2024-2025"):
        r = chain.post(f"{V10}/registreren", deelnemerslijst(old_school, "v1.0", schooljaar=year), school=old_school)
        assert r.status_code == 202, r.text
    chain.drain()
    years = ["2023-2024", "2024-2025", "2025-2026"]
    n_old, n_new = len(old_school.pupils), len(new_school.pupils)
    with chain.platform.sessions() as s:
        before = _counts(s, years)
        pupils_before = s.scalar(select(func.count()).select_from(Pupil))
    assert before == {"2023-2024": n_old, "2024-2025": n_old, "2025-2026": n_new}

    with unit_of_work(chain.platform.sessions) as s:
        dry = privacy.purge(s, keep=2, today=TODAY, actor="test", dry_run=True)
    assert dry.years == ["2023-2024", "2024-2025"]
    assert dry.counts["doorstroomtoets.deelname"] == 2 * n_old
    assert dry.counts["register.leerling"] == n_old and dry.counts["register.identiteit"] == n_old
    assert dry.counts["ontvangen_berichten"] == 2
    with chain.platform.sessions() as s:
        assert _counts(s, years) == before  # a dry run deletes nothing
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "purge")) == 0

    with unit_of_work(chain.platform.sessions) as s:
        with pytest.raises(privacy.PrivacyError):
            privacy.purge(s, keep=2, today=TODAY, actor="test", only=["2025-2026"], dry_run=False)
    with unit_of_work(chain.platform.sessions) as s:
        done = privacy.purge(s, keep=2, today=TODAY, actor="test", dry_run=False)
    assert done.counts == dry.counts
    with chain.platform.sessions() as s:
        assert _counts(s, years) == {"2023-2024": 0, "2024-2025": 0, "2025-2026": n_new}
        assert s.scalar(select(func.count()).select_from(Pupil)) == pupils_before - n_old
        assert s.scalar(text("SELECT count(*) FROM inbox_message WHERE schooljaar < '2025'")) == 0
        purged = s.scalars(select(AuditEntry.subject_id).where(AuditEntry.action == "purge")).all()
        assert purged == ["2023-2024", "2024-2025"]
        assert audit.verify(s)[0]
    with unit_of_work(chain.platform.sessions) as s:
        assert privacy.purge(s, keep=2, today=TODAY, actor="test", dry_run=False).years == []


def test_purge_command_dry_run_by_default(chain, database_url):
    old_school = chain.region.schools[1]
    assert chain.post(f"{V10}/registreren", deelnemerslijst(old_school, "v1.0", schooljaar="2023-2024"), school=old_school).status_code == 202
    chain.drain()
    runner = CliRunner()
    env = {"EDUKETEN_DATABASE_URL": database_url, "COLUMNS": "200"}
    dry = runner.invoke(cli, ["privacy", "purge", "--keep", "2"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "would be deleted" in dry.output and "2023-2024" in dry.output and "dry run" in dry.output
    with chain.platform.sessions() as s:
        assert _counts(s, ["2023-2024"]) == {"2023-2024": len(old_school.pupils)}
    done = runner.invoke(cli, ["privacy", "purge", "--keep", "2", "--execute"], env=env)
    assert done.exit_code == 0 and "deleted" in done.output
    with chain.platform.sessions() as s:
        assert _counts(s, ["2023-2024"]) == {"2023-2024": 0}
    zero = runner.invoke(cli, ["privacy", "purge", "--keep", "0"], env=env)
    assert zero.exit_code == 1


# -- the audit log and its anchor --------------------------------------------------------------------


def _entries(chain, n: int) -> None:
    for i in range(n):
        with unit_of_work(chain.platform.sessions) as s:
            audit.record(s, actor=f"oin:{i:020d}", action="read", subject_type="leerlingrapport", subject_ids=[str(i)], purpose="test")


def _verify(database_url, anchor_file=None):
    args = ["audit", "verify"] + (["--anchor", str(anchor_file)] if anchor_file else [])
    return CliRunner().invoke(cli, args, env={"EDUKETEN_DATABASE_URL": database_url})


@pytest.mark.parametrize("tamper", ["none", "edit", "delete_middle", "delete_newest", "rewrite_chain"])
def test_audit_tampering_is_detected(chain, database_url, tmp_path, tamper):
    _entries(chain, 6)
    anchor_file = tmp_path / "anchor.jsonl"
    anchored = CliRunner().invoke(cli, ["audit", "anchor", "--out", str(anchor_file)], env={"EDUKETEN_DATABASE_URL": database_url})
    assert anchored.exit_code == 0, anchored.output
    head = json.loads(anchor_file.read_text().splitlines()[0])
    assert head["entries"] == 6 and len(head["head"]) == 64
    _entries(chain, 2)  # the log grows after the anchor: still fine, and a second anchor joins the file
    again = CliRunner().invoke(cli, ["audit", "anchor", "--out", str(anchor_file)], env={"EDUKETEN_DATABASE_URL": database_url})
    assert again.exit_code == 0 and len(anchor_file.read_text().splitlines()) == 2
    with unit_of_work(chain.platform.sessions) as s:
        ids = s.scalars(select(AuditEntry.id).order_by(AuditEntry.id)).all()
        if tamper == "edit":
            s.execute(update(AuditEntry).where(AuditEntry.id == ids[2]).values(actor="oin:someone-else"))
        elif tamper == "delete_middle":
            s.execute(delete(AuditEntry).where(AuditEntry.id == ids[3]))
        elif tamper == "delete_newest":  # everything from the anchored head on: the chain itself stays whole
            s.execute(delete(AuditEntry).where(AuditEntry.id >= head["last_id"]))
        elif tamper == "rewrite_chain":  # delete one, then recompute every hash after it
            s.execute(delete(AuditEntry).where(AuditEntry.id == ids[1]))
            prev = audit.GENESIS
            for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id)):
                e.prev_hash = prev
                e.hash = audit._digest(prev, e.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), e.actor, e.action, e.subject_type, e.subject_id, e.purpose)
                prev = e.hash
    chain_only, with_anchor = _verify(database_url), _verify(database_url, anchor_file)
    if tamper == "none":
        assert chain_only.exit_code == 0 and with_anchor.exit_code == 0, with_anchor.output
        assert "matches 2 anchor(s)" in with_anchor.output
    elif tamper in ("edit", "delete_middle"):
        assert chain_only.exit_code == 1 and "broken" in chain_only.output
        assert with_anchor.exit_code == 1
    else:  # invisible to the chain alone, caught by the anchor
        assert chain_only.exit_code == 0
        assert with_anchor.exit_code == 1 and "anchor" in with_anchor.output


def test_export_and_erase_reach_results_and_progress_by_eck_id(chain, database_url):
    """The Edu-V exchanges name a pupil by ECK iD, not by the register's pupil id: the export shows
    those rows and the erasure removes them, and nobody else's."""
    from datetime import UTC, datetime

    from eduketen.leervoortgang.models import ProgressDirty, ProgressRecord
    from eduketen.register.models import System
    from eduketen.toetsresultaten.models import ResultAssessment, StudentResult

    school = chain.region.schools[0]
    pupil, other = school.pupils[0], school.pupils[1]
    assert pupil.eck_id and other.eck_id
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school), school=school).status_code == 202
    chain.drain()
    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    with unit_of_work(chain.platform.sessions) as s:
        school_id = register_repo.school_by_oin(s, school.oin).id
        system_id = s.scalars(select(System.id)).first()
        assessment = ResultAssessment(school_id=school_id, source_system_id=system_id, external_id="toets-1", definition_id="def-1",
                                      definition_name="Rekenen M7", assessment_at=now, school_year="2026-2027", document="{}",
                                      api_version="1.0.0", created_at=now, updated_at=now)  # fmt: skip
        s.add(assessment)
        s.flush()
        for i, p in enumerate((pupil, other)):
            s.add(StudentResult(assessment_id=assessment.id, school_id=school_id, student_key_type="eckId", student_key=p.eck_id,
                                document='{"score": 42}', revision=1, created_at=now, updated_at=now))  # fmt: skip
            s.add(ProgressRecord(id=f"00000000-0000-4000-8000-00000000000{i}", state_at=now, source_system_id=system_id, school_id=school_id,
                                 eck_id=p.eck_id, course_id="rekenen-7", unit_id="les-1", subject="rekenen", status="completed",
                                 score_pct=80.0, please_follow_up=False, received_at=now))  # fmt: skip
            s.add(ProgressDirty(school_id=school_id, eck_id=p.eck_id, day="2026-11-20"))

    runner = CliRunner()
    env = {"EDUKETEN_DATABASE_URL": database_url}
    out = runner.invoke(cli, ["privacy", "export", "--school", school.brin, "--eck-id", pupil.eck_id], env=env)
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)["gegevens"]
    assert [r["student_key"] for r in data["toetsresultaten.resultaat"]] == [pupil.eck_id]
    assert [r["course_id"] for r in data["leervoortgang.voortgang"]] == ["rekenen-7"]
    assert len(data["leervoortgang.te_herberekenen"]) == 1
    assert other.eck_id not in out.stdout

    erased = runner.invoke(cli, ["privacy", "erase", "--school", school.brin, "--eck-id", pupil.eck_id, "--yes"], env=env)
    assert erased.exit_code == 0, erased.output
    with chain.platform.sessions() as s:
        for model, column in ((StudentResult, StudentResult.student_key), (ProgressRecord, ProgressRecord.eck_id), (ProgressDirty, ProgressDirty.eck_id)):
            left = s.scalars(select(column).select_from(model)).all()
            assert left == [other.eck_id], (model.__tablename__, left)
