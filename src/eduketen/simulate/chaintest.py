"""`eduketen chaintest`: a whole Doorstroomtoets season between two real installations.

One LAS installation (a region of schools and their pupils) and one test supplier installation
run as separate processes with separate databases, connected over HTTPS with client
certificates on loopback. The season: registration, provisional advice (with pupils the test
supplier does not know), results with PDF reports, report retrieval, a result correction, a
test supplier that stops and comes back (nothing lost), and a duplicate delivery (one effect).
Each step prints its outcome; any deviation makes the command exit non-zero."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from eduketen.core.db import make_engine, make_sessionmaker, unit_of_work
from eduketen.core.platform import today_nl
from eduketen.doorstroomtoets import las
from eduketen.doorstroomtoets.models import (
    Deelname,
    LasResultaat,
    LasVerzending,
    OnbekendAdvies,
    Resultaat,
    Schooladvies,
)
from eduketen.doorstroomtoets.schemas import versions
from eduketen.doorstroomtoets.service import (
    ResultInput,
    store_results,
    store_results_in_chunks,
)
from eduketen.migrations import upgrade
from eduketen.register import repository as register_repo
from eduketen.register import service as register
from eduketen.simulate.certs import CertificateAuthority
from eduketen.simulate.processes import free_port
from eduketen.simulate.region import (
    PupilSpec,
    Region,
    generate_region,
    install_region,
    open_windows,
)
from eduketen.simulate.results import leerlingresultaat

SCHOOLJAAR = "2025-2026"
SPEC = "v1.1"


@dataclass
class Installation:
    name: str
    directory: Path
    port: int
    env: dict[str, str]
    url: str
    proc: subprocess.Popen | None = None
    extra_workers: int = 0
    workers: list = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return self.env["EDUKETEN_DATABASE_URL"]

    def start(self, ca_file: Path, client: tuple[Path, Path]) -> None:
        log = open(self.directory / "server.log", "ab")
        pki = self.directory / "pki"
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "eduketen"), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--tls-cert", str(pki / "server.crt"), "--tls-key", str(pki / "server.key"), "--tls-ca", str(ca_file),
            ],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        for _ in range(self.extra_workers):  # more worker processes beside the embedded one
            self.workers.append(
                subprocess.Popen([str(Path(sys.executable).parent / "eduketen"), "worker"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
            )
        context = ssl.create_default_context(cafile=str(ca_file))
        context.load_cert_chain(str(client[0]), str(client[1]))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {(self.directory / 'server.log').read_text()[-1500:]}")
            try:
                if httpx.get(self.url + "/health", verify=context, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start")

    def kill(self) -> None:
        for proc in [self.proc, *self.workers]:
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
        self.workers = []

    def stop(self) -> None:
        for proc in [*self.workers, self.proc]:
            if proc and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.workers = []

    def sessions(self):
        return make_sessionmaker(make_engine(self.database_url))


@dataclass
class Report:
    steps: list[tuple[str, bool, str, float]] = field(default_factory=list)

    def step(self, name: str, ok: bool, detail: str, seconds: float) -> None:
        self.steps.append((name, ok, detail, seconds))
        mark = "ok  " if ok else "FAIL"
        print(f"[{mark}] {name:<46} {seconds:7.1f}s  {detail}", flush=True)

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _, _ in self.steps)


def _wait(check: Callable[[], tuple[bool, str]], timeout: float, interval: float = 0.5) -> tuple[bool, str]:
    deadline = time.monotonic() + timeout
    ok, detail = check()
    while not ok and time.monotonic() < deadline:
        time.sleep(interval)
        ok, detail = check()
    return ok, detail


def _count(sessions, model, *where) -> int:
    """A count read without the write lock (SQLite: BEGIN, not BEGIN IMMEDIATE): the chain test
    watching its progress must not queue for the lock the installations work with."""
    with Session(bind=sessions.kw["bind"].execution_options(readonly=True)) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _pupil_csv(region: Region, extra: dict[str, list[PupilSpec]] | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(las.CSV_COLUMNS)
    for school in region.schools:
        for p in school.pupils + (extra or {}).get(school.brin, []):
            writer.writerow(
                [school.brin, SCHOOLJAAR, p.groep, p.groep.rsplit("-", 1)[1].upper(), "8", p.eck_id or "", p.las_key,
                 p.achternaam, p.voorvoegsel, p.roepnaam, p.voorletters, p.geboortedatum, p.geslacht, p.advies]
            )  # fmt: skip
    return out.getvalue()


def prepare(directory: Path, schools: int, pupils: int, workers: int = 0) -> tuple[Region, Installation, Installation, Path, dict]:
    if directory.exists():
        shutil.rmtree(directory)
    region = generate_region(n_schools=schools, pupils_per_school=pupils, seed=8, n_las=1)
    ca = CertificateAuthority.create("eduketen chaintest CA")
    root_pki = directory / "pki"
    ca_file, _ = ca.write(root_pki, "ca")
    las_supplier = region.las_suppliers[0]
    certs = {
        "toets": ca.issue_client(region.toetsaanbieder.oin, region.toetsaanbieder.name).write(root_pki, "toetsaanbieder"),
        "las": ca.issue_client(las_supplier.oin, las_supplier.name).write(root_pki, "las"),
    }
    installs = {}
    for name, role, own, cert in (
        ("toetsaanbieder", '["toetsaanbieder", "register"]', region.toetsaanbieder.oin, certs["toets"]),
        ("las", '["las"]', las_supplier.oin, certs["las"]),
    ):
        d = directory / name
        (d / "pki").mkdir(parents=True)
        ca.issue_server(["127.0.0.1", "localhost"]).write(d / "pki", "server")
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("EDUKETEN_")},
            "EDUKETEN_DATABASE_URL": f"sqlite:///{d / 'eduketen.db'}",
            "EDUKETEN_ROLES": role,
            "EDUKETEN_OWN_OIN": own,
            "EDUKETEN_CLIENT_CERT": str(cert[0]),
            "EDUKETEN_CLIENT_KEY": str(cert[1]),
            "EDUKETEN_PEER_CA": str(ca_file),
            "EDUKETEN_PUBLIC_URL": f"https://127.0.0.1:{port}",
            "EDUKETEN_DATA_DIR": str(d / "data"),
            "EDUKETEN_LOG_LEVEL": "WARNING",
            "EDUKETEN_OUTBOX_BACKOFF_BASE_SECONDS": "0.5",
            "EDUKETEN_OUTBOX_BACKOFF_MAX_SECONDS": "3",
            "EDUKETEN_OUTBOX_MAX_ATTEMPTS": "40",
            # The register does not change during the season; a national register (6,200 schools)
            # reloaded every second would cost more CPU than the exchange itself.
            "EDUKETEN_REGISTER_CACHE_SECONDS": "30",
            "EDUKETEN_WORKER_LEASE_SECONDS": "10",
        }
        installs[name] = Installation(name, d, port, env, f"https://127.0.0.1:{port}", extra_workers=workers)
    ta, las_inst = installs["toetsaanbieder"], installs["las"]

    # The test supplier: the region's register, windows, and the LAS's delivery addresses as
    # the LAS registered them (one per administration and version, with its mandate token).
    upgrade(ta.database_url)
    with unit_of_work(ta.sessions()) as s:
        install_region(s, region)
        open_windows(s)
        specs: dict = {}
        for v in versions().values():
            specs.setdefault(v.version, v)
        requests = [
            register.EndpointRequest(
                mandate_token=m.token, administration_id=routing, namespace=version.namespace,
                url=f"{las_inst.url}{specs[version.version].base_path}", attributes=["LAS"], start=today_nl() - timedelta(days=1), end=None,
            )
            for routing, m, version in register_repo.las_mandates(s, supplier_oin=las_supplier.oin)
        ]  # fmt: skip
        register.register_endpoints(s, caller_oin=las_supplier.oin, requests=requests)
    # The LAS: the same register, where the test system lives, and its own pupils (CSV import).
    upgrade(las_inst.database_url)
    with unit_of_work(las_inst.sessions()) as s:
        install_region(s, region)
        supplier = register_repo.supplier_by_oin(s, region.toetsaanbieder.oin)
        register_repo.system_by_name(s, supplier.id, region.toetsaanbieder.system).base_url = f"{ta.url}/doorstroomtoets"
        imported = las.import_pupils_csv(s, _pupil_csv(region))
        assert not imported.rejected, imported.rejected
    return region, ta, las_inst, ca_file, certs


def run(directory: Path, schools: int = 4, pupils: int = 8, *, timeout: float = 120.0, workers: int = 0) -> bool:
    started = time.monotonic()
    report = Report()
    print(f"eduketen chaintest: {schools} schools x {pupils} pupils, school year {SCHOOLJAAR}, spec {SPEC}", flush=True)
    t = time.monotonic()
    region, ta, las_inst, ca_file, certs = prepare(directory, schools, pupils, workers)
    report.step("prepare two installations", True, f"{directory}", time.monotonic() - t)
    ta_s, las_s = ta.sessions(), las_inst.sessions()
    total = schools * pupils
    try:
        t = time.monotonic()
        ta.start(ca_file, certs["las"])
        las_inst.start(ca_file, certs["toets"])
        report.step("start both over HTTPS with client certificates", True, f"TA {ta.url}, LAS {las_inst.url}", time.monotonic() - t)

        # 1. registration
        t = time.monotonic()
        with unit_of_work(las_s) as s:
            for school in register_repo.schools(s, limit=100_000):
                las.send(s, school=school, soort="deelnemers", schooljaar=SCHOOLJAAR, auteur="chaintest LAS", day=today_nl())
        ok, detail = _wait(
            lambda: (
                (n := _count(ta_s, Deelname)) == total and _count(las_s, LasVerzending, LasVerzending.status == "ontvangen") == schools,
                f"{n}/{total} pupils registered at the test supplier",
            ),
            timeout,
        )
        report.step("registration (Deelnemerslijst per school)", ok, detail, time.monotonic() - t)

        # 2. advice, including pupils the test supplier does not know
        t = time.monotonic()
        extra = {}
        with unit_of_work(las_s) as s:
            for school in region.schools:
                newcomer = PupilSpec(None, f"ll-nieuw-{school.brin.lower()}", "Noor", "", "Nieuwkomer", "N", "2014-03-03", 9, school.pupils[0].groep, "8", "HAVO")
                extra[school.brin] = [newcomer]
            las.import_pupils_csv(s, _pupil_csv(region, extra))
        with unit_of_work(las_s) as s:
            for school in register_repo.schools(s, limit=100_000):
                las.send(s, school=school, soort="adviezen", schooljaar=SCHOOLJAAR, auteur="chaintest LAS", day=today_nl())
        ok, detail = _wait(
            lambda: (
                (a := _count(ta_s, Schooladvies)) == total
                and _count(ta_s, OnbekendAdvies) == schools
                and _count(las_s, LasVerzending, LasVerzending.soort == "adviezen", LasVerzending.status == "ontvangen") == schools,
                f"{a}/{total} advice stored, {_count(ta_s, OnbekendAdvies)} unknown pupils ignored (202, no error)",
            ),
            timeout,
        )
        report.step("provisional advice with unknown pupils", ok, detail, time.monotonic() - t)

        # 3. results, reports, retrieval
        t = time.monotonic()
        items = _result_items(region)
        # one transaction per chunk of pupils: the test supplier's worker renders the first
        # reports while the rest is imported
        outcome = store_results_in_chunks(ta_s, items, public_url=ta.url)
        ok, detail = _wait(
            lambda: (
                _count(las_s, LasResultaat) == total
                and _count(las_s, LasResultaat, LasResultaat.rapport_status == "fetched") == total,
                f"imported {outcome.stored}, rejected {len(outcome.rejected)}; LAS has {_count(las_s, LasResultaat)} results, "
                f"{_count(las_s, LasResultaat, LasResultaat.rapport_status == 'fetched')} PDF reports",
            ),
            timeout,
        )
        ok = ok and outcome.stored == total and not outcome.rejected
        report.step("results delivered, PDF reports fetched", ok, detail, time.monotonic() - t)
        pdf_ok, pdf_detail = _check_pdf(las_s, region)
        report.step("a fetched report is the pupil's PDF", pdf_ok, pdf_detail, 0.0)

        # 4. correction
        t = time.monotonic()
        first = region.schools[0].pupils[0]
        with las_s() as s:
            before = _las_result_for(s, first)
        with unit_of_work(ta_s) as s:
            corrected = store_results(s, _result_items(region, only=first, advies="vwo"), public_url=ta.url)
        ok, detail = _wait(
            lambda: (
                (now := _las_result_for_fresh(las_s, first)) is not None
                and '"vwo"' in now[0]
                and now[1] == "fetched"
                and now[2] != before[2],
                "corrected advice 'vwo' and a new report at the LAS",
            ),
            timeout,
        )
        report.step("result correction (standlevering)", ok and corrected.stored == 1, detail, time.monotonic() - t)

        # 5. the test supplier stops and comes back
        t = time.monotonic()
        ta.kill()
        late = PupilSpec(None, "ll-laat-aangemeld", "Sam", "van", "Laat", "S", "2014-06-06", 9, region.schools[1].pupils[0].groep, "8", "VWO")
        with unit_of_work(las_s) as s:
            las.import_pupils_csv(s, _pupil_csv(region, {**extra, region.schools[1].brin: extra[region.schools[1].brin] + [late]}))
            las.send(s, school=register_repo.school_by_brin(s, region.schools[1].brin), soort="deelnemers", schooljaar=SCHOOLJAAR, auteur="chaintest LAS", day=today_nl())
        down_ok, down_detail = _wait(lambda: (_count(las_s, LasVerzending, LasVerzending.status == "onderweg") >= 1, "LAS keeps trying"), 20)
        ta.start(ca_file, certs["las"])
        ok, detail = _wait(
            # the school's list now also holds its newcomer of step 2 and the late pupil
            lambda: (_count(ta_s, Deelname) == total + 2, f"{_count(ta_s, Deelname)}/{total + 2} pupils registered after the restart"),
            timeout,
        )
        report.step("test supplier down, then back: nothing lost", ok and down_ok, f"{down_detail}; {detail}", time.monotonic() - t)

        # 6. duplicate delivery has one effect
        t = time.monotonic()
        ok, detail = _duplicate(region, ta, las_inst, ca_file, certs, ta_s, las_s)
        report.step("duplicate delivery: one effect", ok, detail, time.monotonic() - t)
    except Exception as exc:  # a crash is a deviation too
        report.step("chain test aborted", False, f"{type(exc).__name__}: {exc}", 0.0)
    finally:
        las_inst.stop()
        ta.stop()
    print(f"{'PASS' if report.ok else 'FAIL'}: {sum(ok for _, ok, _, _ in report.steps)}/{len(report.steps)} steps in {time.monotonic() - started:.1f}s", flush=True)
    (directory / "report.json").write_text(
        json.dumps([{"step": n, "ok": ok, "detail": d, "seconds": round(sec, 2)} for n, ok, d, sec in report.steps], indent=2)
    )
    return report.ok


def _result_items(region: Region, only: PupilSpec | None = None, advies: str | None = None) -> list[ResultInput]:
    items = []
    for school in region.schools:
        for p in school.pupils:
            if only is not None and p is not only:
                continue
            refs = p.refs()

            def build(spec_key, url, refs=refs, p=p):
                return leerlingresultaat(refs=refs, schooljaar=SCHOOLJAAR, spec_key=spec_key, rapport_url=url, seed=p.las_key, advies_override=advies)

            items.append(ResultInput(line=p.las_key, school=school.brin, eck_id=p.eck_id, las_key=p.las_key, schooljaar=SCHOOLJAAR, build=build))
    return items


def _las_result_for(session, pupil: PupilSpec):
    for school_id in session.scalars(select(LasResultaat.school_id).distinct()):
        found = register.find_pupils(session, school_id, [(pupil.eck_id, pupil.las_key)])[0]
        if found is not None:
            row = session.get(LasResultaat, (found.id, SCHOOLJAAR))
            if row is not None:
                return row.data, row.rapport_status, row.rapport_fetched_at
    return None


def _las_result_for_fresh(sessions, pupil: PupilSpec):
    with sessions() as s:
        return _las_result_for(s, pupil)


def _check_pdf(sessions, region: Region) -> tuple[bool, str]:
    """The fetched PDF carries this pupil's name and school (text extracted from the PDF)."""
    import pypdf

    from eduketen.register.models import Pupil, PupilIdentity, School

    with sessions() as s:
        row = s.scalars(select(LasResultaat).where(LasResultaat.rapport_status == "fetched").limit(1)).first()
        data = las.report_pdf(s, row.pupil_id, row.schooljaar) if row is not None else None
        if data is None:
            return False, "no report fetched"
        identity = s.get(PupilIdentity, row.pupil_id)
        school = s.get(School, row.school_id)
        pupil = s.get(Pupil, row.pupil_id)
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    wanted = [identity.roepnaam, identity.achternaam, school.name]
    missing = [w for w in wanted if " ".join(w.split()) not in text]
    ok = data.startswith(b"%PDF") and len(reader.pages) == 1 and not missing and pupil is not None
    return ok, f"{len(reader.pages)} page, {len(data)} bytes; name and school in the text" + (f"; missing {missing}" if missing else "")


def _duplicate(region, ta, las_inst, ca_file, certs, ta_s, las_s) -> tuple[bool, str]:
    from eduketen.core.models import InboxMessage
    from eduketen.simulate.region import deelnemerslijst

    school = region.schools[2 % len(region.schools)]
    context = ssl.create_default_context(cafile=str(ca_file))
    context.load_cert_chain(*map(str, certs["las"]))
    body = deelnemerslijst(school, SPEC, SCHOOLJAAR, pupils=school.pupils[:2])
    body["auteur"] = "chaintest duplicate"
    before = _count(ta_s, InboxMessage)
    with httpx.Client(verify=context, timeout=10) as client:
        statuses = [
            client.post(
                f"{ta.url}/doorstroomtoets/{SPEC}/registreren",
                params={"edu-to": school.oin, "edu-from": school.routing},
                json=body,
            ).status_code
            for _ in range(2)
        ]
    after = _count(ta_s, InboxMessage)
    # the test supplier delivers one result twice: the LAS keeps one result
    first = school.pupils[0]
    results_before = _count(las_s, LasResultaat)
    with ta_s() as s:
        from eduketen.doorstroomtoets.service import wire_result
        from eduketen.register.models import Pupil

        pupil = s.scalars(select(Pupil).where(Pupil.las_key == first.las_key)).one()
        message = wire_result(s.get(Resultaat, (pupil.id, SCHOOLJAAR)), pupil, versions()[SPEC], ta.url)
    tctx = ssl.create_default_context(cafile=str(ca_file))
    tctx.load_cert_chain(*map(str, certs["toets"]))
    with httpx.Client(verify=tctx, timeout=10) as client:
        las_statuses = [
            client.post(
                f"{las_inst.url}/doorstroomtoets/{SPEC}/leerlingresultaat",
                params={"edu-to": school.routing, "edu-from": school.oin},
                json=message,
            ).status_code
            for _ in range(2)
        ]
    time.sleep(2)
    ok = statuses == [202, 202] and after - before == 1 and las_statuses == [202, 202] and _count(las_s, LasResultaat) == results_before
    return ok, f"pupil list twice: {statuses}, {after - before} message stored; result twice: {las_statuses}, LAS results {results_before} -> {_count(las_s, LasResultaat)}"


def main(directory: Path, schools: int, pupils: int, timeout: float, workers: int = 0) -> int:
    return 0 if run(directory, schools, pupils, timeout=timeout, workers=workers) else 1
