"""The `eduketen` command. Thin: every command calls the same services the API uses."""

from __future__ import annotations

import json
import signal
import ssl
import sys
import threading
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from eduketen.config import Settings

app = typer.Typer(help="eduketen: the Dutch education data chain, end to end.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
register_app = typer.Typer(help="The register: schools, suppliers, systems, services, mandates.", no_args_is_help=True)
dt_app = typer.Typer(help="Doorstroomtoets PO: windows and the staff view.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log of reads of pupil data.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(register_app, name="register")
app.add_typer(dt_app, name="doorstroomtoets")
app.add_typer(audit_app, name="audit")
outbox_app = typer.Typer(help="Outgoing messages: dead letters and redelivery.", no_args_is_help=True)
las_app = typer.Typer(help="The LAS role: import pupils, send lists and advice, see what happened.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")
privacy_app = typer.Typer(help="Privacy duties: retention, right of access, erasure.", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")
app.add_typer(las_app, name="las")
conformance_app = typer.Typer(help="The conformance suite: run named scenarios against any implementation.", no_args_is_help=True)
app.add_typer(conformance_app, name="conformance")
keurmerk_app = typer.Typer(help="The keurmerk register: admission, evidence, qualification, participants.", no_args_is_help=True)
app.add_typer(keurmerk_app, name="keurmerk")
oauth_app = typer.Typer(help="OAuth (Edu-V M2M): clients, signing keys, client assertions.", no_args_is_help=True)
consent_app = typer.Typer(help="Consent (regie op gegevens): which data flows between which systems.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff accounts of the pages under /insight.", no_args_is_help=True)
app.add_typer(oauth_app, name="oauth")
app.add_typer(consent_app, name="consent")
app.add_typer(staff_app, name="staff")
progress_app = typer.Typer(help="Learning progress: groups (CSV import), mentors, synthetic progress.", no_args_is_help=True)
app.add_typer(progress_app, name="progress")

console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # a bad EDUKETEN_ variable: say which, no traceback
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def _platform():
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from eduketen.core.platform import Platform

    platform = Platform.build(_settings())
    try:  # a database without the schema: say what to do instead of a traceback
        with platform.sessions() as session:
            session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        platform.engine.dispose()
        _fail("the database has no eduketen schema yet (or cannot be reached): run `eduketen db upgrade` first")
    return platform


def _write(fn):
    """Run fn(session) in one transaction; register refusals become a clear message."""
    from eduketen.core.db import unit_of_work

    platform = _platform()
    try:
        with unit_of_work(platform.sessions) as session:
            return fn(session)
    except ValueError as exc:
        _fail(str(exc))
    finally:
        platform.engine.dispose()


# -- db ------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest revision."""
    from eduketen.migrations import current, upgrade

    settings = _settings()
    upgrade(settings.database_url)
    console.print(f"database at revision {current(settings.database_url)}")


@db_app.command("current")
def db_current() -> None:
    from eduketen.migrations import current

    console.print(current(_settings().database_url) or "(empty database)")


# -- serve / worker --------------------------------------------------------------------------------


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    tls_cert: Annotated[Optional[Path], typer.Option(help="server certificate (PEM); enables HTTPS")] = None,
    tls_key: Annotated[Optional[Path], typer.Option(help="server key (PEM)")] = None,
    tls_ca: Annotated[Optional[Path], typer.Option(help="CA bundle that client certificates must chain to")] = None,
    client_certs: Annotated[str, typer.Option(help="required | optional: client certificates at the TLS layer")] = "required",
    worker: Annotated[Optional[bool], typer.Option("--worker/--no-worker", help="run the worker in this process")] = None,
    migrate: Annotated[bool, typer.Option(help="run `db upgrade` first")] = True,
    processes: Annotated[int, typer.Option(min=1, max=64, help="API processes on the one port (SO_REUSEPORT; one per core); "
                                                       "the parent then supervises them and alone migrates and runs the worker")] = 1,
    reuse_port: Annotated[bool, typer.Option("--reuse-port", hidden=True, help="bind with SO_REUSEPORT (a child of --processes)")] = False,
) -> None:
    """Serve the API (and, by default, the worker) until stopped."""
    from eduketen.core.logging import configure

    settings = _settings()
    configure(settings.log_level, settings.log_json)
    if "toetsaanbieder" in settings.roles and not settings.own_oin:
        _fail("EDUKETEN_OWN_OIN is not set: a test supplier must know its own OIN to check its mandates")
    tls = [tls_cert, tls_key, tls_ca]
    if any(tls) and not all(tls):
        _fail("HTTPS needs --tls-cert, --tls-key and --tls-ca together")
    if client_certs not in ("required", "optional"):
        _fail("--client-certs is required or optional")
    guard = None
    if processes > 1:
        # Bind the port here first (SO_REUSEPORT, never listening: it takes no connections) so a
        # port in use fails now, with a message, and no process of another user can take it.
        guard = _reuse_port_socket(host, port, listen=False)
        port = guard.getsockname()[1]
    if migrate:
        from eduketen.migrations import upgrade

        upgrade(settings.database_url)
    embedded = settings.embedded_worker if worker is None else worker
    # The embedded worker runs as a child process, not a thread: request handling and message
    # processing then never compete for one interpreter lock. The child dies with the server and
    # is started again when it dies on its own.
    child = _spawn_worker() if embedded else None
    try:
        if processes > 1:
            tls_args = []
            if all(tls):
                tls_args = ["--tls-cert", str(tls_cert), "--tls-key", str(tls_key), "--tls-ca", str(tls_ca), "--client-certs", client_certs]
            _serve_processes(processes, [sys.executable, "-m", "eduketen.cli", "serve", "--host", host, "--port", str(port),
                                         "--no-worker", "--no-migrate", "--reuse-port", *tls_args])  # fmt: skip
        else:
            _serve_here(settings, host, port, tls_cert, tls_key, tls_ca, client_certs, reuse_port)
    finally:
        if child is not None:
            child.stop()
        if guard is not None:
            guard.close()


def _reuse_port_socket(host: str, port: int, *, listen: bool):
    """A TCP socket bound with SO_REUSEPORT: every API process of ``serve --processes N`` binds
    its own on the same port, and the kernel spreads new connections over the listening ones (by
    a hash of the client's address and port). Only sockets of the same user can share a port."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    if listen:
        sock.listen(2048)
    return sock


def _serve_processes(n: int, argv: list[str]) -> None:
    """``n`` API processes (``argv``), each started again when it dies, until SIGTERM or SIGINT;
    then every one is asked to stop (SIGTERM: uvicorn finishes the requests in flight) at once,
    and waited for."""
    from eduketen.core.supervise import SupervisedProcess

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    apis = [SupervisedProcess(argv, name=f"api-{i + 1}").start() for i in range(n)]
    try:
        while not stop.wait(1):
            pass
    finally:
        for api in apis:
            api.terminate()
        for api in apis:
            api.stop()


def _serve_here(settings: Settings, host, port, tls_cert, tls_key, tls_ca, client_certs: str, reuse_port: bool) -> None:
    import uvicorn

    from eduketen.app import create_app

    application = create_app(settings, run_worker=False)
    # proxy_headers off: uvicorn would otherwise replace the client address by X-Forwarded-For,
    # and then the Client-Cert header of a trusted proxy would no longer be recognised as such
    # (or, with a loose FORWARDED_ALLOW_IPS, a client could pose as the proxy).
    options: dict = {
        "host": host, "port": port, "log_config": None, "access_log": False, "http": "httptools", "proxy_headers": False,
    }  # fmt: skip
    if tls_cert:
        from eduketen.core.tls import ClientCertHttpToolsProtocol

        options.update(
            ssl_certfile=str(tls_cert),
            ssl_keyfile=str(tls_key),
            ssl_ca_certs=str(tls_ca),
            ssl_cert_reqs=ssl.CERT_OPTIONAL if client_certs == "optional" else ssl.CERT_REQUIRED,
            http=ClientCertHttpToolsProtocol,
        )
    # Request handling allocates many short-lived objects (a bulk of 2,000 progress records is
    # some 40,000): objects of start-up out of the collector's sight, and fewer young-generation
    # collections, about 10 % less CPU per record on the bulk path.
    import gc

    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    # The group-commit writers (inbox, audit) share the interpreter lock with the event loop. A
    # writer woken by its queue or by the database asks for the lock, and while the loop is busy
    # it gets it only after the switch interval: Python's 5 ms is longer than writing a batch, so
    # with the loop busy the writer stalled and the requests waited on it. The writers take the
    # lock only a few times per batch, so a shorter interval costs the loop little.
    sys.setswitchinterval(settings.serve_switch_interval_ms / 1000)
    if not reuse_port:
        uvicorn.run(application, **options)
        return
    sock = _reuse_port_socket(host, port, listen=True)
    server = uvicorn.Server(uvicorn.Config(application, **options))
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(3)


def _spawn_worker():
    from eduketen.core.supervise import SupervisedProcess

    return SupervisedProcess([sys.executable, "-m", "eduketen.cli", "worker"], name="worker").start()


@app.command("worker")
def worker_command(
    once: Annotated[bool, typer.Option(help="process what is waiting, then stop")] = False,
) -> None:
    """Process accepted messages (for running the worker apart from the API)."""
    from eduketen.core.logging import configure

    settings = _settings()
    configure(settings.log_level, settings.log_json)
    platform = _platform()
    if once:
        done = platform.worker.drain()
        cells = sum(loop.drain() for loop in platform.loops)
        console.print(f"processed {done} message(s), {cells} aggregate cell(s)")
        for name, n in platform.periodic.run_tasks().items():
            console.print(f"periodic task {name}: {n}")
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    platform.worker.start()
    platform.outbox.start()
    platform.periodic.start()  # calendar-driven tasks, e.g. the keurmerk's reminders
    for loop in platform.loops:
        loop.start()
    stop.wait()
    for loop in platform.loops:
        loop.stop()
    platform.periodic.stop()
    platform.outbox.stop()
    platform.worker.stop()


@app.command()
def demo(
    dir: Annotated[Path, typer.Option("--dir", help="where the demo region lives")] = Path("var/demo"),
    port: Annotated[int, typer.Option(help="HTTPS port")] = 8443,
    schools: Annotated[int, typer.Option(help="schools in the region")] = 40,
    pupils: Annotated[int, typer.Option(help="pupils per school (group 8)")] = 30,
    traffic: Annotated[bool, typer.Option("--traffic/--no-traffic", help="send demo traffic on the first run")] = True,
    serve_it: Annotated[bool, typer.Option("--serve/--no-serve", help="serve until stopped")] = True,
) -> None:
    """Prepare a synthetic region in DIR (reused when it exists), print example requests, serve."""
    from eduketen.simulate import demo as demo_module

    demo_module.run(dir, port, schools=schools, pupils=pupils, traffic=traffic, serve=serve_it)


@app.command()
def chaintest(
    dir: Annotated[Path, typer.Option("--dir", help="working directory (emptied first)")] = Path("var/chaintest"),
    schools: Annotated[int, typer.Option(help="schools in the LAS's region")] = 4,
    pupils: Annotated[int, typer.Option(help="group-8 pupils per school")] = 8,
    timeout: Annotated[float, typer.Option(help="seconds each step may take")] = 120.0,
    workers: Annotated[int, typer.Option(help="extra worker processes per installation")] = 0,
) -> None:
    """Run a whole Doorstroomtoets season between a LAS and a test supplier installation."""
    from eduketen.simulate import chaintest as chaintest_module

    raise typer.Exit(chaintest_module.main(dir, schools, pupils, timeout, workers))


@app.command()
def reliability(
    dir: Annotated[Path, typer.Option("--dir", help="working directory (logs)")] = Path("var/reliability"),
    schools: Annotated[int, typer.Option(help="schools in the region")] = 4,
    pupils: Annotated[int, typer.Option(help="group-8 pupils per school (results go out for each)")] = 10,
    clients: Annotated[int, typer.Option(help="concurrent clients posting")] = 4,
    phase_seconds: Annotated[float, typer.Option(help="seconds between faults")] = 3.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Load while the API process, a worker and PostgreSQL are killed and the outbound peer fails;
    prints acknowledged, processed, duplicated, dead-lettered and lost. Exit 1 unless lost = 0 and
    duplicated = 0."""
    from eduketen.simulate import reliability as rel

    result = rel.run(dir, schools=schools, pupils=pupils, clients=clients, phase_seconds=phase_seconds)
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        rel.print_report(result, console)
    raise typer.Exit(0 if result["ok"] else 1)


# -- register ------------------------------------------------------------------------------------


@register_app.command("school-add")
def school_add(
    name: Annotated[str, typer.Option()],
    brin: Annotated[str, typer.Option(help="BRIN4 / instellingscode, e.g. 11BB")],
    routeringskenmerk: Annotated[Optional[list[str]], typer.Option(help="routeringskenmerk of an administration; repeatable")] = None,
    vestiging: Annotated[Optional[list[str]], typer.Option(help="vestigingscode, e.g. 00; repeatable")] = None,
    board: Optional[str] = None,
) -> None:
    """Add a school; its OIN is derived from the BRIN."""
    from eduketen.register import service as svc

    school = _write(
        lambda s: svc.add_school(
            s,
            name=name,
            brin=brin,
            board=board,
            vestigingen=[(v, None) for v in vestiging] if vestiging else None,
            routeringskenmerken=routeringskenmerk or [],
        )
    )
    console.print(f"school {school.name}: BRIN {school.brin}, OIN {school.oin}")


@register_app.command("schools")
def school_list() -> None:
    from eduketen.register import repository as repo

    platform = _platform()
    table = Table("BRIN", "OIN", "name", "routeringskenmerken")
    with platform.sessions() as session:
        for school in repo.schools(session, limit=100_000):
            table.add_row(
                school.brin, school.oin, school.name, ", ".join(a.routeringskenmerk for a in repo.administraties(session, school.id))
            )
    console.print(table)


@register_app.command("board-admin-add")
def board_admin_add(
    board: Annotated[str, typer.Option(help="the board (bevoegd gezag), as given with school-add --board")],
    name: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option(help="e.g. OSR-beheerder")],
    email: Optional[str] = None,
    phone: Optional[str] = None,
) -> None:
    """Record who administers the mandates of a board; the board's school staff see them."""
    from eduketen.register import service as svc

    admin = _write(lambda s: svc.add_board_administrator(s, board=board, name=name, role=role, email=email, phone=phone))
    console.print(f"{admin.name} ({admin.role}) administers the mandates of {admin.board}")


@register_app.command("supplier-add")
def supplier_add(name: Annotated[str, typer.Option()], oin: Annotated[str, typer.Option()]) -> None:
    from eduketen.register import service as svc

    supplier = _write(lambda s: svc.add_supplier(s, name=name, oin=oin))
    console.print(f"supplier {supplier.name}: OIN {supplier.oin}")


@register_app.command("system-add")
def system_add(
    supplier: Annotated[str, typer.Option(help="supplier OIN")],
    name: Annotated[str, typer.Option()],
    kind: Annotated[str, typer.Option(help="las | toetssysteem | leermiddel | dashboard | administratie")],
) -> None:
    from eduketen.register import service as svc

    system = _write(lambda s: svc.add_system(s, supplier=svc.get_supplier(s, supplier), name=name, kind=kind))
    console.print(f"system {system.name} ({system.kind})")


@register_app.command("service-add")
def service_add(
    name: Annotated[str, typer.Option()],
    version: Annotated[str, typer.Option()],
    namespace: Annotated[str, typer.Option(help="namespace URI of this service version")],
    schooljaar: Optional[str] = None,
    status: str = "in-force",
) -> None:
    """Add a service version (and the service, when new)."""
    from eduketen.register import service as svc

    def run(s):
        service = svc.ensure_service(s, name)
        return svc.add_service_version(s, service=service, version=version, namespace=namespace, schooljaar=schooljaar, status=status)

    sv = _write(run)
    console.print(f"service {name} {sv.version}: {sv.namespace}")


@register_app.command("mandate-grant")
def mandate_grant(
    school: Annotated[str, typer.Option(help="BRIN or school OIN")],
    supplier: Annotated[str, typer.Option(help="supplier OIN")],
    system: Annotated[str, typer.Option(help="name of the supplier's system")],
    service: Annotated[str, typer.Option()],
    version: Annotated[str, typer.Option()],
    start: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    end: Annotated[Optional[str], typer.Option(help="YYYY-MM-DD, inclusive")] = None,
) -> None:
    from eduketen.register import service as svc

    try:
        start_date = date.fromisoformat(start)
        end_date = date.fromisoformat(end) if end else None
    except ValueError:
        _fail("dates are YYYY-MM-DD")

    def run(s):
        sup = svc.get_supplier(s, supplier)
        return svc.grant_mandate(
            s,
            school=svc.get_school(s, school),
            system=svc.get_system(s, sup, system),
            service_version=svc.get_service_version(s, service, version),
            start=start_date,
            end=end_date,
        )

    mandate = _write(run)
    console.print(f"mandate {mandate.id} granted, token {mandate.token}")


@register_app.command("mandates")
def mandate_list(school: Optional[str] = None, supplier: Optional[str] = None) -> None:
    from eduketen.register import repository as repo
    from eduketen.register import service as svc

    platform = _platform()
    table = Table("id", "school", "supplier", "system", "service", "version", "start", "end", "revoked")
    with platform.sessions() as session:
        try:
            school_id = svc.get_school(session, school).id if school else None
            supplier_id = svc.get_supplier(session, supplier).id if supplier else None
        except ValueError as exc:
            _fail(str(exc))
        for m, sc, sy, su, sv, se in repo.mandates(session, school_id=school_id, supplier_id=supplier_id):
            table.add_row(
                str(m.id), sc.brin, su.name, sy.name, se.name, sv.version, str(m.start_date), str(m.end_date or ""), "yes" if m.revoked_at else ""
            )
    console.print(table)


@register_app.command("mandate-revoke")
def mandate_revoke(mandate_id: int) -> None:
    from eduketen.register import service as svc

    _write(lambda s: svc.revoke_mandate(s, mandate_id))
    console.print(f"mandate {mandate_id} revoked")


# -- doorstroomtoets --------------------------------------------------------------------------------


@dt_app.command("venster")
def set_window(
    schooljaar: Annotated[str, typer.Option()],
    soort: Annotated[str, typer.Option(help="registratie | schooladvies")],
    opens: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    closes: Annotated[str, typer.Option(help="YYYY-MM-DD, inclusive")],
) -> None:
    """Open registration or provisional advice for a school year."""
    from eduketen.doorstroomtoets import service as dt

    try:
        opens_d, closes_d = date.fromisoformat(opens), date.fromisoformat(closes)
    except ValueError:
        _fail("dates are YYYY-MM-DD")
    w = _write(lambda s: dt.set_window(s, schooljaar=schooljaar, soort=soort, opens=opens_d, closes=closes_d))
    console.print(f"{w.soort} {w.schooljaar}: {w.opens} to {w.closes}")


@dt_app.command("overzicht")
def overview(
    schooljaar: Optional[str] = None,
    school: Annotated[Optional[str], typer.Option(help="school OIN")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The test supplier's staff view: per school and school year, what arrived and what happened."""
    from eduketen.doorstroomtoets import repository

    platform = _platform()
    with platform.sessions() as session:
        rows = repository.overview(session, schooljaar=schooljaar, school_oin=school)
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("BRIN", "school", "jaar", "leerlingen", "adviezen", "onbekend", "laatste bericht", "uitkomst", expand=False)
    for r in rows:
        last = r["laatste_bericht"] or {}
        outcome = last.get("fout") or ""
        if not outcome and last.get("uitkomst"):
            outcome = ", ".join(f"{k} {v}" for k, v in json.loads(last["uitkomst"]).items())
        table.add_row(
            r["brin"],
            r["school"],
            r["schooljaar"] or "",
            str(r["leerlingen_geregistreerd"]),
            str(r["adviezen_ontvangen"]),
            str(r["onbekende_leerlingen_genegeerd"]),
            f"{last.get('operatie', '').removeprefix('doorstroomtoets.')} {last.get('ontvangen', '')[:16].replace('T', ' ')}",
            f"{last.get('status', '')}: {outcome}" if last else "",
        )
    console.print(table)


@dt_app.command("resultaten-import")
def results_import(file: Annotated[Path, typer.Argument(help="results as CSV or JSON (docs/formats/resultaten-import.md)")]) -> None:
    """Import the test's results: each pupil's latest result is the complete set (standlevering);
    reports are made and results delivered to the schools' LAS by the worker and outbox."""
    from eduketen.doorstroomtoets import resultaten
    from eduketen.doorstroomtoets import service as dt

    if not file.exists():
        _fail(f"{file} does not exist")
    parsed = resultaten.import_file(file)
    if parsed.file_error:
        _fail(f"file refused: {parsed.file_error}")
    settings = _settings()
    outcome = _write(lambda s: dt.store_results(s, resultaten.result_inputs(parsed), public_url=settings.public_url))
    console.print(
        f"{outcome.stored} result(s) stored, {outcome.unchanged} unchanged, "
        f"{len(parsed.rejected) + len(outcome.rejected)} rejected"
    )
    for line in parsed.report()[:100]:
        console.print(f"  {line}")
    for rejected in outcome.rejected[:100]:
        console.print(f"  {rejected['regel']}: {rejected['fout']}")
    if parsed.rejected or outcome.rejected:
        raise typer.Exit(1)


# -- backup / restore -------------------------------------------------------------------------------


@app.command("backup")
def backup_command(dest: Annotated[Path, typer.Argument(help="the backup file to write (replaced when it exists)")]) -> None:
    """Back up the database while eduketen runs: SQLite's online backup, or pg_dump for PostgreSQL."""
    from eduketen.core.backup import BackupError, backup

    try:
        info = backup(_settings(), dest)
    except BackupError as exc:
        _fail(str(exc))
    extra = f", schema {info.revision}, {info.inbox_messages} inbox message(s)" if info.kind == "sqlite" else " (pg_dump custom format)"
    console.print(f"backup written to {info.path}: {info.bytes} bytes{extra}")


@app.command("restore")
def restore_command(
    source: Annotated[Path, typer.Argument(help="a file written by `eduketen backup`")],
    yes: Annotated[bool, typer.Option("--yes", help="replace a database that already holds data")] = False,
) -> None:
    """Restore a backup into the configured database. Stop the API and worker processes first."""
    from eduketen.core.backup import BackupError, database_has_data, restore

    settings = _settings()
    if not yes and database_has_data(settings):
        _fail("the database already holds data; stop eduketen and give --yes to replace it")
    try:
        info = restore(settings, source)
    except BackupError as exc:
        _fail(str(exc))
    console.print(f"restored {source} into the database; run `eduketen db upgrade` if this version is newer")


# -- privacy ----------------------------------------------------------------------------------------


def _operator() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli:unknown"


@privacy_app.command("purge")
def privacy_purge(
    keep: Annotated[Optional[int], typer.Option(help="school years kept, the current one included (default EDUKETEN_RETENTION_SCHOOL_YEARS)")] = None,
    schooljaar: Annotated[Optional[list[str]], typer.Option(help="purge only this old school year; repeatable")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run/--execute", help="only count (default), or delete")] = True,
) -> None:
    """Retention: delete the pupil data of school years past the retention period (counts first)."""
    from eduketen.core.db import unit_of_work
    from eduketen.core.platform import today_nl
    from eduketen.privacy import service as privacy

    settings = _settings()
    years_kept = keep if keep is not None else settings.retention_school_years
    platform = _platform()
    try:
        with unit_of_work(platform.sessions) as session:
            result = privacy.purge(session, keep=years_kept, today=today_nl(), actor=_operator(), only=schooljaar, dry_run=dry_run)
    except privacy.PrivacyError as exc:
        _fail(str(exc))
    finally:
        platform.engine.dispose()
    if not result.dry_run:
        privacy.remove_files(result.files)
    if not result.years:
        console.print(f"nothing to purge: no data older than the {years_kept} most recent school year(s)")
        return
    table = Table("table", "rows", title=f"{'would be deleted' if result.dry_run else 'deleted'}: school year(s) {', '.join(result.years)}")
    for label, n in sorted(result.counts.items()):
        table.add_row(label, str(n))
    table.add_row("report files", str(len(result.files)))
    console.print(table)
    if result.dry_run:
        console.print("dry run: nothing deleted; run again with --execute to delete")


def _privacy_target(session, school: str):
    from eduketen.register import service as svc

    return svc.get_school(session, school)


@privacy_app.command("export")
def privacy_export(
    school: Annotated[str, typer.Option(help="BRIN or school OIN")],
    eck_id: Annotated[Optional[str], typer.Option("--eck-id")] = None,
    las_key: Annotated[Optional[str], typer.Option("--las-key")] = None,
    out: Annotated[Optional[Path], typer.Option(help="write the JSON here (default: stdout)")] = None,
    purpose: Annotated[str, typer.Option(help="why (recorded in the audit log)")] = "inzageverzoek (AVG art. 15)",
) -> None:
    """Right of access: everything stored about one pupil, as JSON. Audited."""
    from eduketen.core.db import unit_of_work
    from eduketen.privacy import service as privacy

    platform = _platform()
    try:
        with unit_of_work(platform.sessions) as session:
            data = privacy.export_pupil(
                session, _privacy_target(session, school), eck_id=eck_id, las_key=las_key, actor=_operator(), purpose=purpose
            )
    except ValueError as exc:
        _fail(str(exc))
    finally:
        platform.engine.dispose()
    text_out = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)
    if out is not None:
        out.write_text(text_out + "\n", encoding="utf-8")
        out.chmod(0o600)
        err.print(f"written to {out}")
    else:
        print(text_out)


@privacy_app.command("erase")
def privacy_erase(
    school: Annotated[str, typer.Option(help="BRIN or school OIN")],
    eck_id: Annotated[Optional[str], typer.Option("--eck-id")] = None,
    las_key: Annotated[Optional[str], typer.Option("--las-key")] = None,
    purpose: Annotated[str, typer.Option(help="why (recorded in the audit log)")] = "verzoek tot verwijdering (AVG art. 17)",
    yes: Annotated[bool, typer.Option("--yes", help="really delete")] = False,
    force: Annotated[bool, typer.Option(help="even while messages of the school are still waiting")] = False,
) -> None:
    """Erasure: delete everything stored about one pupil, and its report files. Audited."""
    from eduketen.core.db import unit_of_work
    from eduketen.privacy import service as privacy

    if not yes:
        _fail("erasure cannot be undone: give --yes")
    platform = _platform()
    try:
        with unit_of_work(platform.sessions) as session:
            counts, files = privacy.erase_pupil(
                session, _privacy_target(session, school), eck_id=eck_id, las_key=las_key, actor=_operator(), purpose=purpose, force=force
            )
    except ValueError as exc:
        _fail(str(exc))
    finally:
        platform.engine.dispose()
    privacy.remove_files(files)
    console.print("pupil erased: " + ", ".join(f"{label} {n}" for label, n in sorted(counts.items()) if n) + f"; {len(files)} file(s)")


# -- status -----------------------------------------------------------------------------------------


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    metrics_url: Annotated[
        Optional[list[str]], typer.Option(help="also read request latency from these /metrics URLs (each API process); repeatable")
    ] = None,
    metrics_token: Annotated[Optional[str], typer.Option(envvar="EDUKETEN_METRICS_TOKEN", help="bearer token for --metrics-url")] = None,
) -> None:
    """What /metrics shows, in the terminal: messages per service and version, queues, outbox."""
    from eduketen.core.metrics import read_figures, scrape_latency

    platform = _platform()
    try:
        with platform.sessions() as session:
            figures = read_figures(session)
    finally:
        platform.engine.dispose()
    latency = []
    for url in metrics_url or []:
        try:
            latency.extend(scrape_latency(url, metrics_token))
        except Exception as exc:  # a process that is down: say so, show the rest
            err.print(f"[yellow]{url}: {type(exc).__name__}[/yellow]")
    if as_json:
        print(json.dumps({**figures.as_dict(), "latency": latency}, indent=2))
        return
    table = Table("service", "version", "accepted", "processed", "retried", "dead-lettered", "waiting", title="Messages received")
    for (service_name, version), f in sorted(figures.services.items()):
        table.add_row(service_name, version, str(f.accepted), str(f.processed), str(f.retried), str(f.dead_lettered), str(f.waiting))
    console.print(table)
    queues = Table("queue", "depth", "oldest waiting (s)", title="Queues")
    for queue in ("inbox", "outbox"):
        queues.add_row(queue, str(figures.queue_depth[queue]), f"{figures.oldest_age_seconds[queue]:.1f}")
    console.print(queues)
    if figures.outbox:
        out = Table("kind", "status", "count", title="Outgoing messages")
        for (kind, st), n in sorted(figures.outbox.items()):
            out.add_row(kind, st, str(n))
        console.print(out)
    if latency:
        lat = Table("process", "method", "route", "requests", "mean ms", "p95 ms (bucket)", title="Request latency")
        for row in latency:
            lat.add_row(row["url"], row["method"], row["route"], str(row["count"]), f"{row['mean_ms']:.1f}", row["p95_le_ms"])
        console.print(lat)
    console.print(f"audit log: {figures.audit_entries} entries")


# -- audit -------------------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[Optional[Path], typer.Option(help="a file of anchors (one JSON per line) written by `eduketen audit anchor --out`")] = None,
) -> None:
    """Check that no entry of the audit log was changed or removed (and, with an anchor, none at the end)."""
    from eduketen.core import audit

    anchors: list[dict] = []
    if anchor is not None:
        try:
            anchors = [json.loads(line) for line in anchor.read_text().splitlines() if line.strip()]
        except (OSError, ValueError) as exc:
            _fail(f"cannot read the anchor file {anchor}: {exc}")
        if not anchors:
            _fail(f"{anchor} holds no anchor")
    platform = _platform()
    problem = None
    try:
        with platform.sessions() as session:
            intact, checked, broken = audit.verify(session)
            if intact:
                for anchored in anchors:  # every anchor ever taken must still hold
                    problem = audit.verify_anchor(session, anchored)
                    if problem:
                        problem = f"anchor of {anchored.get('at')}: {problem}"
                        break
    finally:
        platform.engine.dispose()
    if not intact:
        _fail(f"audit log broken at entry {broken} (after {checked} intact entries)")
    if problem:
        _fail(f"audit log does not match the anchor: {problem}")
    suffix = f"; matches {len(anchors)} anchor(s), the last of {anchors[-1].get('at')}" if anchors else ""
    console.print(f"audit log intact: {checked} entries{suffix}")


@audit_app.command("anchor")
def audit_anchor(
    out: Annotated[Optional[Path], typer.Option(help="also append the anchor as one JSON line to this file")] = None,
) -> None:
    """Print the head of the audit chain (entries, last id, hash). Keep it outside the database."""
    from eduketen.core import audit

    platform = _platform()
    try:
        with platform.sessions() as session:
            intact, checked, broken = audit.verify(session)
            if not intact:
                _fail(f"audit log broken at entry {broken}; not anchoring a broken chain")
            head = audit.anchor(session)
    finally:
        platform.engine.dispose()
    line = json.dumps(head, sort_keys=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a") as fh:
            fh.write(line + "\n")
    print(line)


# -- outbox ---------------------------------------------------------------------------------------


@outbox_app.command("status")
def outbox_status() -> None:
    """How many outgoing messages are pending, delivered, superseded and dead."""
    from eduketen.core.outbox import outbox_counts

    platform = _platform()
    with platform.sessions() as session:
        counts = outbox_counts(session)
    console.print(json.dumps(counts, sort_keys=True))


@outbox_app.command("dead-letters")
def outbox_dead() -> None:
    """Messages that will not be delivered without help, with the reason."""
    from eduketen.core.outbox import dead_letters

    platform = _platform()
    table = Table("seq", "kind", "url", "attempts", "last status", "reason")
    with platform.sessions() as session:
        for m in dead_letters(session):
            table.add_row(str(m.seq), m.kind, m.url.split("?", 1)[0], str(m.attempts), str(m.last_status or ""), m.last_error or "")
    console.print(table)


@outbox_app.command("redeliver")
def outbox_redeliver(
    seq: Annotated[Optional[int], typer.Argument(help="one dead letter; omit with --all")] = None,
    all_: Annotated[bool, typer.Option("--all", help="every dead letter")] = False,
) -> None:
    """Put dead letters back in the queue (after the cause was fixed)."""
    from eduketen.core.outbox import redeliver

    if seq is None and not all_:
        _fail("give a seq number or --all")
    n = _write(lambda s: redeliver(s, None if all_ else seq))
    console.print(f"{n} message(s) queued again")


# -- las --------------------------------------------------------------------------------------------


@las_app.command("import")
def las_import(file: Annotated[Path, typer.Argument(help="CSV of group-8 pupils (docs/formats/las-leerlingen.md)")]) -> None:
    """Import the LAS's own pupils, groups and provisional advice."""
    from eduketen.doorstroomtoets import las

    if not file.exists():
        _fail(f"{file} does not exist")
    result = _write(lambda s: las.import_pupils_csv(s, file.read_text(encoding="utf-8-sig")))
    console.print(f"{result.accepted} pupils imported for {len(result.schools)} school(s); {len(result.rejected)} row(s) rejected")
    for rejected in result.rejected[:50]:
        console.print(f"  row {rejected['regel']}: {'; '.join(rejected['fouten'])}")
    if result.rejected:
        raise typer.Exit(1)


@las_app.command("send")
def las_send(
    soort: Annotated[str, typer.Argument(help="deelnemers | adviezen")],
    schooljaar: Annotated[str, typer.Option()],
    school: Annotated[Optional[list[str]], typer.Option(help="BRIN; repeatable; default every school")] = None,
    auteur: str = "eduketen LAS",
) -> None:
    """Queue pupil lists or provisional advice for each school's mandated test supplier."""
    from eduketen.core.platform import today_nl
    from eduketen.doorstroomtoets import las
    from eduketen.register import repository as repo

    def run(s):
        targets = [svc_school(s, b) for b in school] if school else repo.schools(s, limit=100_000)
        done, problems = 0, []
        for sc in targets:
            try:
                las.send(s, school=sc, soort=soort, schooljaar=schooljaar, auteur=auteur, day=today_nl())
                done += 1
            except las.LasError as exc:
                problems.append(f"{sc.brin}: {exc}")
        return done, problems

    def svc_school(s, brin):
        from eduketen.register import service as svc

        return svc.get_school(s, brin)

    done, problems = _write(run)
    console.print(f"{done} message(s) queued; `eduketen las overzicht` shows how they fare")
    for p in problems:
        console.print(f"  [yellow]{p}[/yellow]")


@las_app.command("overzicht")
def las_overview(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """For school staff: per school, how the last pupil list and advice fared, results and reports in."""
    from eduketen.doorstroomtoets import las

    platform = _platform()
    with platform.sessions() as session:
        rows = las.overview(session)
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        console.print(f"[bold]{r['brin']} {r['school']}[/bold]  resultaten {r['resultaten']}, rapporten {r['rapporten']}")
        for soort in ("deelnemers", "adviezen"):
            v = r[soort]
            if v:
                console.print(f"  {soort}: [{'green' if v['status'] == 'ontvangen' else 'yellow'}]{v['status']}[/] {v['melding']}")


# -- conformance ------------------------------------------------------------------------------------------


@conformance_app.command("run")
def conformance_run(
    url: Annotated[Optional[str], typer.Option(help="base URL of the service version under test, e.g. https://host/doorstroomtoets/v1.1 "
                                                    "or https://host/toetsresultaten/v1")] = None,
    cert: Annotated[Optional[Path], typer.Option(help="client certificate of the mandated peer the suite plays (PEM)")] = None,
    key: Annotated[Optional[Path], typer.Option(help="its private key (PEM); Edu-V: the OAuth client's private key (PEM, JWK or JWKS)")] = None,
    service: Annotated[str, typer.Option(help="doorstroomtoets | toetsresultaten (results) | leervoortgang (progress)")] = "doorstroomtoets",
    version: Annotated[Optional[str], typer.Option(help="doorstroomtoets 1.0.1 | 1.1.0 (default) | 2026-2027; toetsresultaten 1.0.0 (default) | "
                                                        "0.9.0; leervoortgang 1.0.0")] = None,
    role: Annotated[Optional[str], typer.Option(help="role of the implementation under test: toetsaanbieder (default) | las; "
                                                     "Edu-V: ontvanger (the receiving system)")] = None,
    token_url: Annotated[Optional[str], typer.Option(help="Edu-V: the authorization server's token endpoint")] = None,
    client_id: Annotated[Optional[str], typer.Option(help="Edu-V: the suite's OAuth client (private_key_jwt with --key)")] = None,
    alg: Annotated[Optional[str], typer.Option(help="Edu-V: the assertion's algorithm (default RS256, or ES256 for an EC key)")] = None,
    kid: Annotated[Optional[str], typer.Option(help="Edu-V: the kid to put in the assertion (default: the JWK's)")] = None,
    scope: Annotated[Optional[str], typer.Option(help="Edu-V: the scope to ask for (default eduv.result / eduv.progress)")] = None,
    token: Annotated[Optional[str], typer.Option(envvar="EDUKETEN_CONFORMANCE_TOKEN", help="Edu-V: a ready access token instead")] = None,
    wrong_scope: Annotated[Optional[str], typer.Option(help="Edu-V: another scope the client may get (for the 403 scenario)")] = None,
    wrong_scope_client_id: Annotated[Optional[str], typer.Option(help="Edu-V: a client without the service's scope")] = None,
    wrong_scope_key: Annotated[Optional[Path], typer.Option(help="Edu-V: its private key (default --key)")] = None,
    wrong_scope_token: Annotated[Optional[str], typer.Option(envvar="EDUKETEN_CONFORMANCE_WRONG_SCOPE_TOKEN")] = None,
    expired_token: Annotated[Optional[str], typer.Option(envvar="EDUKETEN_CONFORMANCE_EXPIRED_TOKEN",
                                                         help="Edu-V: a token the authorization server issued that has expired")] = None,
    school: Annotated[Optional[str], typer.Option(help="Edu-V: the school that gave the suite's system consent, BRIN:<brin> or OIN:<oin>")] = None,
    no_consent_school: Annotated[Optional[str], typer.Option(help="Edu-V: a school that gave it no consent")] = None,
    student: Annotated[Optional[str], typer.Option(help="Edu-V: an ECK iD to use (default: made up per run)")] = None,
    ca: Annotated[Optional[Path], typer.Option(help="CA bundle that signed the implementation's server certificate")] = None,
    manifest: Annotated[Optional[Path], typer.Option(help="a suite manifest (JSON) or the demo.json of `eduketen demo`")] = None,
    school_oin: Annotated[Optional[str], typer.Option("--school-oin", help="the school (toetsaanbieder role: edu-to)")] = None,
    routing: Annotated[Optional[str], typer.Option("--edu-from", "--routing", help="routeringskenmerk of the school's administration")] = None,
    brin: Annotated[Optional[str], typer.Option(help="the school's BRIN (instellingscode)")] = None,
    other_cert: Annotated[Optional[Path], typer.Option(help="a valid certificate of an organisation the school has NOT mandated")] = None,
    other_key: Annotated[Optional[Path], typer.Option()] = None,
    unknown_school_oin: Annotated[Optional[str], typer.Option(help="a well-formed school OIN the implementation does not know")] = None,
    schooljaar: Annotated[Optional[str], typer.Option(help="default: the newest school year of the version")] = None,
    admin_url: Annotated[Optional[str], typer.Option(help="eduketen only: its admin API, to observe effects and close windows")] = None,
    admin_token: Annotated[Optional[str], typer.Option(envvar="EDUKETEN_CONFORMANCE_ADMIN_TOKEN")] = None,
    pupil: Annotated[Optional[str], typer.Option(help="LAS role: a pupil the LAS knows, LAS-key:<id> or ECK-iD:<id>")] = None,
    las_oin: Annotated[Optional[str], typer.Option(help="LAS role: the OIN the LAS's client certificate must carry")] = None,
    report_listen: Annotated[Optional[str], typer.Option(help="LAS role: HOST:PORT where the suite serves GET /leerlingrapport")] = None,
    report_url: Annotated[Optional[str], typer.Option(help="LAS role: the base URL the LAS is told for reports")] = None,
    report_cert: Annotated[Optional[Path], typer.Option(help="LAS role: server certificate of the suite's report endpoint")] = None,
    report_key: Annotated[Optional[Path], typer.Option()] = None,
    timeout: Annotated[Optional[float], typer.Option(help="seconds to wait for an effect to become observable")] = None,
    only: Annotated[Optional[list[str]], typer.Option("--scenario", help="run only this scenario (repeatable)")] = None,
    html: Annotated[Optional[Path], typer.Option(help="write a self-contained HTML report here")] = None,
    junit: Annotated[Optional[Path], typer.Option(help="write JUnit XML here")] = None,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="write a JSON summary here")] = None,
) -> None:
    """Run the named scenarios against an implementation: Doorstroomtoets over HTTPS with client
    certificates; the Edu-V Results and Progress APIs with OAuth2 access tokens (private_key_jwt).
    Exit code 0 when every scenario that could run passed, 1 otherwise, 2 when misconfigured."""
    from eduketen.conformance import service as conformance
    from eduketen.conformance.target import TargetError, build_target

    try:
        target = build_target(
            service=service, version=version, role=role, manifest=manifest, url=url, cert=cert, key=key, ca=ca,
            school_oin=school_oin, routing=routing, brin=brin, other_cert=other_cert, other_key=other_key,
            unknown_school_oin=unknown_school_oin, schooljaar=schooljaar, admin_url=admin_url, admin_token=admin_token,
            pupil_ref=pupil, las_oin=las_oin, report_listen=report_listen, report_url=report_url,
            report_cert=report_cert, report_key=report_key, timeout=timeout,
            token_url=token_url, client_id=client_id, alg=alg, kid=kid, scope=scope, token=token, wrong_scope=wrong_scope,
            wrong_scope_client_id=wrong_scope_client_id, wrong_scope_key=wrong_scope_key, wrong_scope_token=wrong_scope_token,
            expired_token=expired_token, school=school, no_consent_school=no_consent_school, student=student,
        )  # fmt: skip
    except (TargetError, KeyError) as exc:
        err.print(f"[red]cannot run the suite:[/red] {exc}")
        raise typer.Exit(2) from exc
    try:
        result = conformance.run(target, console=console, only=only, html=html, junit=junit, json_path=json_path)
    except ValueError as exc:
        err.print(f"[red]cannot run the suite:[/red] {exc}")
        raise typer.Exit(2) from exc
    raise typer.Exit(0 if result.ok else 1)


@conformance_app.command("scenarios")
def conformance_scenarios(
    role: Annotated[Optional[str], typer.Option(help="toetsaanbieder | las | ontvanger")] = None,
    service: Annotated[Optional[str], typer.Option(help="doorstroomtoets | toetsresultaten | leervoortgang (default: all)")] = None,
) -> None:
    """List the scenarios and what each checks."""
    from eduketen.conformance import service as conformance
    from eduketen.conformance.target import SERVICES, canonical_service

    if service and canonical_service(service) not in SERVICES:
        err.print(f"[red]unknown service[/red] {service!r}: one of {', '.join(SERVICES)}")
        raise typer.Exit(2)
    table = Table()
    table.add_column("service", no_wrap=True)
    table.add_column("role", no_wrap=True)
    table.add_column("scenario", no_wrap=True)
    table.add_column("versions")
    table.add_column("what it checks")
    for sc in conformance.scenario_list(role, service):
        table.add_row(sc.service, sc.role, sc.name, ", ".join(sc.versions) if sc.versions else "all", sc.description)
    console.print(table)


# -- keurmerk ------------------------------------------------------------------------------------------------


def _day(value: Optional[str]) -> date:
    from eduketen.core.platform import today_nl

    if not value:
        return today_nl()
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"date {value!r} must look like 2026-09-01")
        raise


def _print_admission(view: dict) -> None:
    console.print(
        f"[bold]admission {view['id']}[/bold] {view['leverancier']['naam']} ({view['leverancier']['oin']}), "
        f"{view['gegevensdienst']} as {view['rol']}: stage [bold]{view['fase']}[/bold]"
        + (f", next: {view['volgende_stap']}" if view["volgende_stap"] else " (complete)")
    )
    for step in view["stappen"]:
        console.print(f"  {'✔' if step['afgerond_op'] else '·'} {step['stap']:<24} {step['afgerond_op'] or ''}")
    for e in view["bewijs"]:
        console.print(f"  evidence {e['id']}: {view['gegevensdienst']} {e['versie']}, {'sufficient' if e['voldoende'] else 'NOT sufficient'}: {e['oordeel']}", highlight=False)
    for q in view["kwalificaties"]:
        console.print(f"  qualified for {q['versie']} on {q['op']} (evidence {q['bewijs']})")


@keurmerk_app.command("aanmelden")
def keurmerk_apply(
    supplier: Annotated[str, typer.Option(help="supplier OIN")],
    service: Annotated[str, typer.Option(help="gegevensdienst, e.g. doorstroomtoets")],
    role: Annotated[str, typer.Option(help="toetsaanbieder | las")],
    on: Annotated[Optional[str], typer.Option(help="date, default today")] = None,
) -> None:
    """Aanmelden: a supplier applies for a gegevensdienst in a role."""
    from eduketen.keurmerk import service as keurmerk

    view = _write(lambda s: keurmerk.admission_view(s, keurmerk.apply(s, supplier_oin=supplier, service=service, role=role, on=_day(on))))
    _print_admission(view)


@keurmerk_app.command("stap")
def keurmerk_step(
    admission: Annotated[int, typer.Argument(help="admission id")],
    stage: Annotated[str, typer.Argument(help="intake | intentieverklaring | basiskwalificatie | kwalificatie | deelnemersovereenkomst")],
    on: Annotated[Optional[str], typer.Option(help="date, default today")] = None,
    note: Annotated[Optional[str], typer.Option()] = None,
) -> None:
    """Record a completed admission step (in order)."""
    from eduketen.keurmerk import service as keurmerk

    view = _write(lambda s: keurmerk.admission_view(s, keurmerk.complete(s, admission, stage=stage, on=_day(on), note=note)))
    _print_admission(view)


@keurmerk_app.command("bewijs")
def keurmerk_evidence(
    admission: Annotated[int, typer.Argument(help="admission id")],
    report: Annotated[Path, typer.Argument(help="the JSON summary of `eduketen conformance run --json`")],
    junit: Annotated[Optional[Path], typer.Option(help="the JUnit XML of the same run")] = None,
) -> None:
    """Attach a conformance report as evidence; says whether it is sufficient to qualify."""
    from eduketen.keurmerk import service as keurmerk

    try:
        summary = json.loads(report.read_text(encoding="utf-8"))
        junit_xml = junit.read_text(encoding="utf-8") if junit else None
    except (OSError, ValueError) as exc:
        _fail(f"cannot read the report: {exc}")
        return
    evidence = _write(lambda s: keurmerk.add_evidence(s, admission, summary=summary, junit_xml=junit_xml))
    colour = "green" if evidence.sufficient else "yellow"
    console.print(f"evidence {evidence.id}: [{colour}]{'sufficient' if evidence.sufficient else 'not sufficient'}[/]: {evidence.verdict}", highlight=False)


@keurmerk_app.command("kwalificeer")
def keurmerk_qualify(
    admission: Annotated[int, typer.Argument(help="admission id")],
    version: Annotated[str, typer.Option(help="service version, e.g. 1.1.0")],
    evidence: Annotated[int, typer.Option(help="id of sufficient evidence for that version")],
    on: Annotated[Optional[str], typer.Option(help="date, default today")] = None,
) -> None:
    """Qualify the supplier for one service version on the strength of its evidence."""
    from eduketen.keurmerk import repository as keurmerk_repo
    from eduketen.keurmerk import service as keurmerk

    def go(s):
        keurmerk.qualify(s, admission, version=version, evidence_id=evidence, on=_day(on))
        return keurmerk.admission_view(s, keurmerk_repo.admission(s, admission))

    _print_admission(_write(go))


@keurmerk_app.command("toon")
def keurmerk_show(admission: Annotated[Optional[int], typer.Argument(help="admission id; all when left out")] = None) -> None:
    """Admissions with their steps, evidence and qualifications."""
    from eduketen.keurmerk import repository as keurmerk_repo
    from eduketen.keurmerk import service as keurmerk

    platform = _platform()
    try:
        with platform.sessions() as session:
            rows = keurmerk_repo.admissions(session) if admission is None else [keurmerk_repo.admission(session, admission)]
            if rows == [None]:
                _fail(f"no admission {admission}")
            views = [keurmerk.admission_view(session, a) for a in rows]
    finally:
        platform.engine.dispose()
    for view in views:
        _print_admission(view)


@keurmerk_app.command("deelnemers")
def keurmerk_participants(dienst: Annotated[Optional[str], typer.Option(help="gegevensdienst")] = None) -> None:
    """The public list (JSON): per gegevensdienst and version, the qualified suppliers."""
    from eduketen.keurmerk import service as keurmerk

    platform = _platform()
    try:
        with platform.sessions() as session:
            try:
                listing = keurmerk.public_list(session, dienst)
            except keurmerk.KeurmerkError as exc:
                _fail(str(exc))
    finally:
        platform.engine.dispose()
    print(json.dumps(listing, indent=2, ensure_ascii=False))


# -- keurmerk: change and release ----------------------------------------------------------------------------


def _read_keurmerk(fn):
    from eduketen.keurmerk import service as keurmerk

    platform = _platform()
    try:
        with platform.sessions() as session:
            try:
                return fn(session)
            except keurmerk.KeurmerkError as exc:
                _fail(str(exc))
    finally:
        platform.engine.dispose()


@keurmerk_app.command("kalender")
def keurmerk_calendar(
    dienst: Annotated[Optional[str], typer.Option(help="gegevensdienst")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The release calendar: every service version with its status, dates and announced changes."""
    from eduketen.core.platform import today_nl
    from eduketen.keurmerk import service as keurmerk

    listing = _read_keurmerk(lambda s: keurmerk.calendar(s, dienst, today=today_nl(), with_history=True))
    if as_json:
        print(json.dumps(listing, indent=2, ensure_ascii=False))
        return
    for svc in listing["diensten"]:
        console.print(f"[bold]{svc['gegevensdienst']}[/bold]")
        for v in svc["versies"]:
            dates = ", ".join(f"{k.replace('_', ' ')} {v[k]}" for k in ("concept_op", "in_gebruik_vanaf", "vorige_vanaf", "ingetrokken_op") if v[k])
            console.print(f"  {v['versie']:<10} {v['status_label']:<14} {dates}", highlight=False)
            for p in v["ketentestperiodes"]:
                console.print(f"    ketentest {p['id']}: {p['naam']} {p['opent']} .. {p['sluit']} ({p['fase']})", highlight=False)


@keurmerk_app.command("versie-status")
def keurmerk_version_status(
    dienst: Annotated[str, typer.Argument(help="gegevensdienst")],
    versie: Annotated[str, typer.Argument(help="version, e.g. 1.1.0")],
    status: Annotated[str, typer.Argument(help="in-force | previous | withdrawn")],
    on: Annotated[Optional[str], typer.Option(help="date it took effect, default today")] = None,
    note: Annotated[Optional[str], typer.Option()] = None,
) -> None:
    """Move a service version on the release calendar (validated transition, kept in its history)."""
    from eduketen.core.platform import today_nl
    from eduketen.keurmerk import service as keurmerk

    def go(s):
        sv = keurmerk.version_of(s, dienst, versie)
        keurmerk.transition_version(s, sv, status=status, on=_day(on), today=today_nl(), actor="platformbeheer (CLI)", note=note)
        return sv.status

    console.print(f"{dienst} {versie} is now {_write(go)}")


@keurmerk_app.command("ketentest-periode")
def keurmerk_add_period(
    dienst: Annotated[str, typer.Option(help="gegevensdienst")],
    versie: Annotated[str, typer.Option(help="service version")],
    naam: Annotated[str, typer.Option(help="name of the period")],
    opent: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    sluit: Annotated[str, typer.Option(help="YYYY-MM-DD, inclusive")],
) -> None:
    """A chain-test period of a service version."""
    from eduketen.keurmerk import service as keurmerk

    period_id = _write(lambda s: keurmerk.add_period(s, keurmerk.version_of(s, dienst, versie), name=naam, opens=_day(opent), closes=_day(sluit)).id)
    console.print(f"chain-test period {period_id}")


@keurmerk_app.command("koppel")
def keurmerk_pair(
    period: Annotated[int, typer.Argument(help="chain-test period id")],
    a: Annotated[str, typer.Option(help="OIN:system name of one side, e.g. 00000003...:LAS")],
    b: Annotated[str, typer.Option(help="OIN:system name of the other side")],
) -> None:
    """A 1-on-1 pairing of two suppliers' systems in a period."""
    from eduketen.keurmerk import service as keurmerk

    def side(ref: str):
        oin, _, name = ref.partition(":")
        if not name:
            _fail(f"give a side as OIN:system name, not {ref!r}")
        return oin, name

    (oa, na), (ob, nb) = side(a), side(b)

    def go(s):
        period_row = keurmerk.get_period(s, period)
        return keurmerk.add_pairing(s, period_row, keurmerk.find_system(s, oa, na), keurmerk.find_system(s, ob, nb)).id

    console.print(f"pairing {_write(go)}")


@keurmerk_app.command("koppeling-status")
def keurmerk_pairing_status(
    pairing: Annotated[int, typer.Argument(help="pairing id")],
    status: Annotated[str, typer.Argument(help="planned | testing | passed | failed")],
    note: Annotated[Optional[str], typer.Option()] = None,
    evidence: Annotated[Optional[int], typer.Option(help="conformance report (evidence id) to link")] = None,
) -> None:
    from eduketen.keurmerk import service as keurmerk

    done = _write(lambda s: keurmerk.set_pairing_status(s, pairing, status=status, note=note, evidence_id=evidence).status)
    console.print(f"pairing {pairing} is now {done}")


@keurmerk_app.command("ketentest")
def keurmerk_board(period: Annotated[int, typer.Argument(help="chain-test period id")]) -> None:
    """The status board of a period (JSON): who has tested with whom."""
    from eduketen.core.platform import today_nl
    from eduketen.keurmerk import service as keurmerk

    print(json.dumps(_read_keurmerk(lambda s: keurmerk.board(s, keurmerk.get_period(s, period), today=today_nl())), indent=2, ensure_ascii=False))


@keurmerk_app.command("herinneringen")
def keurmerk_reminders(
    vandaag: Annotated[Optional[str], typer.Option(help="the day to act as (YYYY-MM-DD), default today")] = None,
) -> None:
    """Send the reminders that are due (two weeks before a chain-test period opens); each once."""
    from eduketen.keurmerk import service as keurmerk

    views = _write(lambda s: [keurmerk.reminder_view(s, r) for r in keurmerk.send_reminders(s, _day(vandaag))])
    for v in views:
        console.print(f"reminder {v['id']} to {v['leverancier']} ({v['oin']}): {v['bericht']}", highlight=False)
    console.print(f"{len(views)} reminder(s) sent")


@keurmerk_app.command("meldingen")
def keurmerk_tickets(status: Annotated[Optional[str], typer.Option()] = None) -> None:
    """The desk: incidents, complaints and change requests."""
    from eduketen.keurmerk import repository as keurmerk_repo
    from eduketen.keurmerk import service as keurmerk

    views = _read_keurmerk(lambda s: [keurmerk.ticket_view(s, t, with_history=False) for t in keurmerk_repo.tickets(s, status=status)])
    for v in views:
        who = v["leverancier"]["naam"] if v["leverancier"] else "-"
        console.print(f"{v['id']:>4} {v['soort']:<18} {v['status']:<15} {v['gegevensdienst']} {v['versie']:<10} {who}: {v['titel']}", highlight=False)


@keurmerk_app.command("melding-status")
def keurmerk_ticket_status(
    ticket: Annotated[int, typer.Argument(help="ticket id")],
    status: Annotated[str, typer.Argument(help="in-behandeling | ingepland | opgelost | afgewezen | gesloten")],
    note: Annotated[Optional[str], typer.Option()] = None,
    versie: Annotated[Optional[str], typer.Option(help="for ingepland: the upcoming release")] = None,
) -> None:
    from eduketen.keurmerk import service as keurmerk

    done = _write(lambda s: keurmerk.transition_ticket(s, keurmerk.get_ticket(s, ticket), status=status, actor="platformbeheer (CLI)",
                                                     note=note, planned_version=versie).status)  # fmt: skip
    console.print(f"ticket {ticket} is now {done}")


# -- oauth, consent, staff -------------------------------------------------------------------------


@oauth_app.command("client-add")
def oauth_client_add(
    client_id: Annotated[str, typer.Option()],
    supplier: Annotated[str, typer.Option(help="supplier OIN")],
    scopes: Annotated[str, typer.Option(help="space separated, e.g. 'eduv.result eduv.consent'")],
    system: Annotated[Optional[str], typer.Option(help="the supplier's system in the register")] = None,
    jwks_uri: Annotated[Optional[str], typer.Option(help="where the client publishes its public keys (https)")] = None,
    jwks_file: Annotated[Optional[Path], typer.Option(help="a JWKS file with the public keys (instead of --jwks-uri)")] = None,
    name: str = "",
) -> None:
    """Register an OAuth client (one per application of a supplier)."""
    from eduketen.core.oauth.api import ClientIn, add_client
    from eduketen.core.oauth.service import client_out

    jwks = json.loads(jwks_file.read_text()) if jwks_file else None
    body = ClientIn(client_id=client_id, supplier_oin=supplier, name=name, system=system, scopes=scopes.split(), jwks_uri=jwks_uri, jwks=jwks)
    print(json.dumps(_write(lambda s: client_out(add_client(s, body))), indent=2))


@oauth_app.command("clients")
def oauth_clients() -> None:
    from eduketen.core.oauth.service import client_out, clients

    print(json.dumps(_write(lambda s: [client_out(c) for c in clients(s)]), indent=2))


@oauth_app.command("rotate-keys")
def oauth_rotate() -> None:
    """Publish a new signing key now; it starts signing after EDUKETEN_OAUTH_KEY_PUBLISH_SECONDS."""
    from eduketen.core.oauth import keys

    settings = _settings()

    def run(session):
        keys.prune(session, token_seconds=settings.oauth_token_seconds, leeway=settings.oauth_leeway_seconds)
        row = keys.rotate(session, publish_seconds=settings.oauth_key_publish_seconds)
        return {"kid": row.kid, "signs_from": row.signs_from.isoformat()}

    print(json.dumps(_write(run)))


@oauth_app.command("assertion")
def oauth_assertion(
    client_id: Annotated[str, typer.Option()],
    key: Annotated[Path, typer.Option(help="the client's private key as a JWK (JSON) file")],
    audience: Annotated[str, typer.Option(help="the token endpoint, e.g. https://127.0.0.1:8443/oauth/token")],
    seconds: int = 120,
) -> None:
    """Print a private_key_jwt client assertion (for trying the token endpoint with curl)."""
    import time
    import uuid

    from joserfc import jwt
    from joserfc.jwk import JWKRegistry

    jwk = JWKRegistry.import_key(json.loads(key.read_text()))
    alg = jwk.get("alg") or ("ES256" if jwk.key_type == "EC" else "RS256")
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + seconds, "jti": str(uuid.uuid4())}
    print(jwt.encode({"alg": alg, "kid": jwk.kid}, claims, jwk, algorithms=[alg]))


@consent_app.command("list")
def consent_list(school: Optional[str] = None) -> None:
    from eduketen.register import consent
    from eduketen.register import service as register

    def run(s):
        school_id = register.get_school(s, school).id if school else None
        return [consent.relation_out(r) for r in consent.relations(s, school_id=school_id)]

    print(json.dumps(_write(run), indent=2, ensure_ascii=False))


@consent_app.command("set")
def consent_set(
    school: Annotated[str, typer.Option(help="BRIN or OIN")],
    api: Annotated[str, typer.Option(help="results-api, progress-api, students-api, ...")],
    source_supplier: Annotated[str, typer.Option(help="OIN of the source system's supplier")],
    source_system: Annotated[str, typer.Option()],
    receiver_supplier: Annotated[str, typer.Option(help="OIN of the receiving system's supplier")],
    receiver_system: Annotated[str, typer.Option()],
    state: Annotated[str, typer.Option(help="requested | active | confirmed (active and confirmed) | revoked")] = "confirmed",
) -> None:
    """Set a consent as the school's administrator would (recorded with actor 'cli')."""
    from eduketen.register import consent
    from eduketen.register import service as register

    def run(s):
        c = consent.request(s, school=register.get_school(s, school), api=api,
                            source=register.get_system(s, register.get_supplier(s, source_supplier), source_system),
                            receiver=register.get_system(s, register.get_supplier(s, receiver_supplier), receiver_system), actor="cli")  # fmt: skip
        if state in ("active", "confirmed"):
            consent.activate(s, c, actor="cli")
        if state == "confirmed":
            consent.confirm(s, c, actor="cli")
        if state == "revoked":
            consent.revoke(s, c, actor="cli")
        return {"id": c.id, "state": consent.state(c)}

    print(json.dumps(_write(run)))


@staff_app.command("add")
def staff_add(
    username: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option(help="school-administrator | mentor | quality | platform-admin")],
    school: Annotated[Optional[str], typer.Option(help="BRIN or OIN (school roles)")] = None,
    name: str = "",
) -> None:
    """Add a staff account; the password is asked for (at least 12 characters)."""
    from eduketen.insight.security import create_account
    from eduketen.register import service as register

    password = typer.prompt("password", hide_input=True, confirmation_prompt=True)

    def run(s):
        school_id = register.get_school(s, school).id if school else None
        account = create_account(s, username=username, password=password, role=role, display_name=name, school_id=school_id)
        return {"username": account.username, "role": account.role}

    print(json.dumps(_write(run)))


# -- progress ---------------------------------------------------------------------------------------


@progress_app.command("groups-import")
def progress_groups_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: groep;omschrijving;jaargroep;eck_id;las_key;roepnaam;voorvoegsel;achternaam")],
    school: Annotated[str, typer.Option(help="BRIN or OIN")],
    schooljaar: Annotated[str, typer.Option(help="e.g. 2026-2027")],
) -> None:
    """Import a school year's groups and pupils from a CSV (all rows or none)."""
    from eduketen.leervoortgang import service as progress
    from eduketen.register import service as register

    text = file.read_text(encoding="utf-8-sig")

    def run(s):
        return progress.import_groups_csv(s, school_id=register.get_school(s, school).id, schooljaar=schooljaar, text=text)

    print(json.dumps(_write(run)))


@progress_app.command("mentor-assign")
def progress_mentor_assign(
    username: Annotated[str, typer.Option()],
    school: Annotated[str, typer.Option(help="BRIN or OIN")],
    schooljaar: Annotated[str, typer.Option()],
    group: Annotated[str, typer.Option(help="the group's id in the pupil list (external id)")],
) -> None:
    """Let a mentor see a group on the pages."""
    from eduketen.leervoortgang import service as progress
    from eduketen.register import service as register

    def run(s):
        return progress.assign_mentor(s, username=username, school_id=register.get_school(s, school).id, schooljaar=schooljaar,
                                      group_external_id=group)  # fmt: skip

    print(json.dumps(_write(run)))


def main() -> None:  # console script
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
