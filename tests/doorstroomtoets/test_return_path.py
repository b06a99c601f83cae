"""The test supplier's return path: results stored per pupil (standlevering), the PDF report made
by the worker, GET /leerlingrapport (200/204/404, only to the mandated LAS, audited), and the
result queued for the LAS endpoint of the routeringskenmerk that came with the pupil list."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

import pypdf
import pytest
from sqlalchemy import select

from eduketen.core.db import unit_of_work
from eduketen.core.models import AuditEntry, OutboxMessage
from eduketen.doorstroomtoets import las
from eduketen.doorstroomtoets.models import Resultaat
from eduketen.doorstroomtoets.schemas import versions
from eduketen.doorstroomtoets.service import ResultInput, store_results
from eduketen.register import repository as register_repo
from eduketen.register import service as register
from eduketen.simulate.region import deelnemerslijst
from eduketen.simulate.results import leerlingresultaat

V11 = "/doorstroomtoets/v1.1"
LAS_URL = "https://las.example/doorstroomtoets/v1.1"


@pytest.fixture
def registered(chain):
    """School 0's pupils registered, and the LAS's endpoint for its administration registered."""
    school = chain.region.schools[0]
    assert chain.post(f"{V11}/registreren", deelnemerslijst(school)).status_code == 202
    chain.drain()
    with unit_of_work(chain.platform.sessions) as s:
        db_school = register_repo.school_by_oin(s, school.oin)
        for m, _sc, system, supplier, version, _svc in register_repo.mandates(s, school_id=db_school.id):
            if system.kind == "las" and version.version == "1.1.0":
                register.register_endpoint(
                    s, caller_oin=supplier.oin, mandate_token=m.token, administration_id=school.routing,
                    namespace=version.namespace, url=LAS_URL, attributes=["LAS"], start=date.today() - timedelta(days=1), end=None,
                )  # fmt: skip
    return chain


def items(school, pupils, advies=None):
    out = []
    for p in pupils:
        def build(spec_key, url, p=p):
            return leerlingresultaat(refs=p.refs(), schooljaar="2025-2026", spec_key=spec_key, rapport_url=url, seed=p.las_key, advies_override=advies)

        out.append(ResultInput(line=p.las_key, school=school.brin, eck_id=p.eck_id, las_key=p.las_key, schooljaar="2025-2026", build=build))
    return out


def get_report(chain, rapport_id, school=None, as_oin=None, headers=None):
    school = school or chain.region.schools[0]
    all_headers = headers if headers is not None else chain.cert_header(as_oin or school.las.oin)
    return chain.client.get(
        f"{V11}/leerlingrapport/{rapport_id}", params={"edu-to": school.oin, "edu-from": school.routing}, headers=all_headers
    )


def test_result_report_and_delivery(registered):
    chain = registered
    school = chain.region.schools[0]
    pupil = school.pupils[0]
    with unit_of_work(chain.platform.sessions) as s:
        outcome = store_results(s, items(school, [pupil]), public_url="https://toets.example")
    assert outcome.stored == 1 and not outcome.rejected
    with chain.platform.sessions() as s:
        result = s.scalars(select(Resultaat)).one()
    assert "deelnemerref" not in result.data and pupil.roepnaam not in result.data
    # before the worker made the report: 204, no body
    r = get_report(chain, result.rapport_id)
    assert r.status_code == 204 and r.content == b""
    chain.drain()
    r = get_report(chain, result.rapport_id)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = " ".join(pypdf.PdfReader(io.BytesIO(r.content)).pages[0].extract_text().split())
    assert pupil.achternaam.split()[-1] in text and school.name in text
    with chain.platform.sessions() as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.subject_type == "leerlingrapport")).all()
        assert len(audit) == 1 and audit[0].actor == f"oin:{school.las.oin}"
        sent = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "dt.leerlingresultaat")).one()
    assert sent.url == f"{LAS_URL}/leerlingresultaat?edu-to={school.routing}&edu-from={school.oin}"
    message = json.loads(sent.body)
    public = chain.platform.settings.public_url
    assert message["resultatenscores"]["resultaten"]["aanvullendeinfo"] == f"{public}{V11}/leerlingrapport/{result.rapport_id}"
    from eduketen.doorstroomtoets.schemas import body_schema, schema_errors

    assert schema_errors(body_schema("v1.1", "Leerlingresultaat"), message) == []


def test_report_refused_to_others(registered):
    chain = registered
    school, other = chain.region.schools[0], chain.region.schools[1]
    with unit_of_work(chain.platform.sessions) as s:
        store_results(s, items(school, school.pupils[:1]), public_url="https://toets.example")
    chain.drain()
    with chain.platform.sessions() as s:
        rapport_id = s.scalars(select(Resultaat.rapport_id)).one()
    assert get_report(chain, "00000000-0000-0000-0000-000000000000").status_code == 404
    assert get_report(chain, rapport_id, school=other).status_code == 404  # another school's report does not exist for you
    foreign = next(s for s in chain.region.las_suppliers if s.oin != school.las.oin)
    r = get_report(chain, rapport_id, as_oin=foreign.oin)
    assert r.status_code == 401
    assert get_report(chain, rapport_id, headers={}).status_code == 401
    assert get_report(chain, rapport_id).status_code == 200


def test_correction_makes_a_new_revision_and_supersedes(registered):
    chain = registered
    school = chain.region.schools[0]
    pupil = school.pupils[0]
    with unit_of_work(chain.platform.sessions) as s:
        store_results(s, items(school, [pupil]), public_url="https://toets.example")
    chain.drain()
    with unit_of_work(chain.platform.sessions) as s:
        again = store_results(s, items(school, [pupil]), public_url="https://toets.example")
        corrected = store_results(s, items(school, [pupil], advies="vwo"), public_url="https://toets.example")
    assert again.unchanged == 1 and corrected.stored == 1
    chain.drain()
    with chain.platform.sessions() as s:
        result = s.scalars(select(Resultaat)).one()
        sent = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "dt.leerlingresultaat").order_by(OutboxMessage.seq)).all()
    assert result.revision == 2 and result.rapport_revision == 2
    assert [m.status for m in sent] == ["superseded", "pending"]  # the older one will never be sent after the newer
    assert '"vwo"' in sent[-1].body


def test_results_for_unregistered_pupils_are_rejected(registered):
    chain = registered
    school, other = chain.region.schools[0], chain.region.schools[1]
    with unit_of_work(chain.platform.sessions) as s:
        outcome = store_results(s, items(other, other.pupils[:2]) + items(school, school.pupils[:1]), public_url="https://t.example")
    assert outcome.stored == 1
    assert len(outcome.rejected) == 2 and "niet aangemeld" in outcome.rejected[0]["fout"]


def test_las_on_2026_2027_never_sends_geslacht(database_url, region):
    from eduketen.core.db import make_engine, make_sessionmaker
    from eduketen.simulate.region import install_region

    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    school = region.schools[0]
    with unit_of_work(sessions) as s:
        install_region(s, region)
        rows = ["brin,schooljaar,groep_id,achternaam,roepnaam,las_key,geboortedatum,geslacht,advies"]
        for year in ("2025-2026", "2026-2027"):
            rows += [f"{school.brin},{year},g8,{p.achternaam},{p.roepnaam},{p.las_key},{p.geboortedatum},2,HAVO" for p in school.pupils]
        assert not las.import_pupils_csv(s, "\n".join(rows)).rejected
        db_school = register_repo.school_by_brin(s, school.brin)
        old, _ = las.build_deelnemerslijst(s, db_school, "2025-2026", "test")
        new, _ = las.build_deelnemerslijst(s, db_school, "2026-2027", "test")
    engine.dispose()
    assert old["versie"] == versions()["v1.1"].versie and all("geslacht" in p["extensie"] for p in old["deelnemers"])
    assert new["versie"] == versions()["2026-2027"].versie and all("geslacht" not in p["extensie"] for p in new["deelnemers"])


def test_batch_import_rejects_rows_and_stores_the_rest(registered, monkeypatch):
    """One set-based chunk with every kind of row: unknown school, unregistered pupil, a row the
    schema refuses, a pupil twice (same result: unchanged), a new and a changed result. Chunks
    of 3 make the pupils span chunks (a later chunk sees what an earlier one wrote)."""
    from eduketen.doorstroomtoets import service

    monkeypatch.setattr(service, "IMPORT_CHUNK", 3)
    chain = registered
    school, other = chain.region.schools[0], chain.region.schools[1]
    first, second, third = school.pupils[:3]
    with unit_of_work(chain.platform.sessions) as s:
        assert store_results(s, items(school, [first]), public_url="https://t.example").stored == 1
    chain.drain()
    with chain.platform.sessions() as s:
        rapport_id = s.scalar(select(Resultaat.rapport_id))

    def broken(spec_key, url):
        message = leerlingresultaat(refs=third.refs(), schooljaar="2025-2026", spec_key=spec_key, rapport_url=url, seed="x")
        del message["toets"]
        return message

    batch = [
        ResultInput(line="regel 2", school="ZZ99", eck_id=None, las_key="nobody", schooljaar="2025-2026", build=None),
        *items(other, other.pupils[:1]),  # registered nowhere
        *items(school, [first], advies="vwo"),  # changed: revision 2
        *items(school, [second]),  # new
        *items(school, [second]),  # the same pupil again, the same result: unchanged
        ResultInput(line="regel 7", school=school.brin, eck_id=third.eck_id, las_key=third.las_key, schooljaar="2025-2026", build=broken),
    ]
    with unit_of_work(chain.platform.sessions) as s:
        outcome = store_results(s, batch, public_url="https://t.example")
    assert outcome.stored == 2 and outcome.unchanged == 1
    assert [r["regel"] for r in outcome.rejected] == ["regel 2", other.pupils[0].las_key, "regel 7"]
    assert "ZZ99 is niet bekend" in outcome.rejected[0]["fout"] and "niet aangemeld" in outcome.rejected[1]["fout"]
    assert "toets" in outcome.rejected[2]["fout"]
    with chain.platform.sessions() as s:
        rows = {r.rapport_id: r for r in s.scalars(select(Resultaat))}
    assert len(rows) == 2 and rows[rapport_id].revision == 2 and '"vwo"' in rows[rapport_id].data
    assert chain.drain() == 2  # one report job per stored result, the changed one for its new revision
    with chain.platform.sessions() as s:
        assert {(r.revision, r.rapport_revision) for r in s.scalars(select(Resultaat))} == {(2, 2), (1, 1)}
        sent = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "dt.leerlingresultaat").order_by(OutboxMessage.seq)).all()
    assert [m.status for m in sent] == ["superseded", "pending", "pending"]


def test_import_in_chunks_commits_each_chunk(registered):
    from eduketen.doorstroomtoets.service import store_results_in_chunks

    chain = registered
    school = chain.region.schools[0]
    outcome = store_results_in_chunks(chain.platform.sessions, items(school, school.pupils[:5]), public_url="https://t.example", chunk=2)
    assert outcome.stored == 5 and not outcome.rejected
    again = store_results_in_chunks(chain.platform.sessions, items(school, school.pupils[:5]), public_url="https://t.example", chunk=2)
    assert again.stored == 0 and again.unchanged == 5  # standlevering: importing the same file again changes nothing
    assert chain.drain() == 5


def test_a_report_that_cannot_be_made_fails_alone_in_its_batch(registered, monkeypatch):
    from eduketen.core.models import InboxMessage
    from eduketen.doorstroomtoets import report

    chain = registered
    school = chain.region.schools[0]
    with unit_of_work(chain.platform.sessions) as s:
        assert store_results(s, items(school, school.pupils[:3]), public_url="https://t.example").stored == 3
    with chain.platform.sessions() as s:
        broken = s.scalars(select(Resultaat.rapport_id).order_by(Resultaat.pupil_id)).first()
    real = report.render_for_result

    def render(message, *, school, identity, rapport_id):
        if rapport_id == broken:
            raise RuntimeError("no font for this name")
        return real(message, school=school, identity=identity, rapport_id=rapport_id)

    monkeypatch.setattr(report, "render_for_result", render)
    chain.platform.worker.run_once()  # the three jobs in one batch
    with chain.platform.sessions() as s:
        made = {r.rapport_id: r.rapport_revision for r in s.scalars(select(Resultaat))}
        job = s.scalars(select(InboxMessage).where(InboxMessage.operation == "doorstroomtoets.rapport", InboxMessage.status != "done")).one()
    assert made[broken] == 0 and sorted(v for k, v in made.items() if k != broken) == [1, 1]
    assert job.status == "pending" and job.last_error == "RuntimeError"  # retried later, alone


def test_a_batch_of_render_jobs_is_applied_at_once_or_one_by_one(registered, monkeypatch):
    """The worker applies the render jobs of a claimed batch with one ``apply_many``; when that
    raises, each job is applied alone, with the same effect: a PDF kept with each result (in the
    database), one delivery queued per pupil."""
    from eduketen.doorstroomtoets.models import RapportPdf
    from eduketen.doorstroomtoets.service import RenderReport

    chain = registered
    school = chain.region.schools[0]
    calls = []
    real = RenderReport.apply_many

    def counted(self, session, messages, prepared):
        calls.append(len(messages))
        if len(messages) > 1 and fail_groups:
            raise RuntimeError("the group fails")
        return real(self, session, messages, prepared)

    monkeypatch.setattr(RenderReport, "apply_many", counted)
    half = len(school.pupils) // 2
    assert half >= 2
    for fail_groups, pupils in ((False, school.pupils[:half]), (True, school.pupils[half : 2 * half])):
        calls.clear()
        with unit_of_work(chain.platform.sessions) as s:
            assert store_results(s, items(school, pupils), public_url="https://toets.example").stored == half
        chain.drain()
        assert calls == ([half] + [1] * half if fail_groups else [half])
    with chain.platform.sessions() as s:
        results = s.scalars(select(Resultaat)).all()
        pdfs = {(p.pupil_id, p.schooljaar): p for p in s.scalars(select(RapportPdf))}
        sent = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "dt.leerlingresultaat")).all()
    assert len(results) == 2 * half and all(r.rapport_revision == r.revision == 1 for r in results)
    assert set(pdfs) == {(r.pupil_id, r.schooljaar) for r in results}
    assert all(p.pdf.startswith(b"%PDF") and p.revision == 1 for p in pdfs.values())
    assert sorted(m.ordering_key for m in sent) == sorted(f"dt-resultaat:{r.pupil_id}:2025-2026" for r in results)
    assert all(m.status == "pending" for m in sent)
    rapport_id = results[0].rapport_id
    assert get_report(chain, rapport_id).content == pdfs[(results[0].pupil_id, "2025-2026")].pdf
