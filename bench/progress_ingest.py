"""Learning progress ingest: bulk records per second (``POST /leervoortgang/v1/progress``, 2,000
records a request by default) and single ``PUT /leervoortgang/v1/progress/{id}`` requests per
second, of eduketen against a bare FastAPI endpoint that only parses the same bodies
(bench/_progress_baseline_app.py), in the same run, over HTTP on loopback, on SQLite and on a
throw-away PostgreSQL cluster.

eduketen checks the access token (JWT, ES256), the school's consent for progress-api, validates
every record against the schema and stores them (staged, then the newer-wins upsert on
progress_key and the insert into progress_record) in one transaction per request before it
answers. The client (asyncio + httpx) shares the machine's cores with the server and the database.

Both servers run at once and the load alternates between them in ``--rounds`` rounds, so a change
in what the rest of a shared machine does hits both sides alike. Besides wall-clock rates the run
reports the CPU seconds the server's processes (and, on PostgreSQL, the cluster's processes) used per
phase, read from /proc: records per CPU second does not depend on how busy the machine is, and
``idle_estimate_records_per_second`` = min(min(server processes, cores) x records per server CPU
second (each Python process uses at most one core), cores x records per CPU second of server and
database together) says what an idle machine with this many cores would do.

``--processes N`` (default: the machine's cores) runs eduketen as ``eduketen serve --processes N``
and the bare endpoint with the same N processes, so the ratio compares like with like.

    .venv/bin/python bench/progress_ingest.py                         # both storages
    .venv/bin/python bench/progress_ingest.py --storage sqlite --batches 50

Prints one JSON document; exits 1 when an answer was not 200 or the database does not hold every record.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "src"))
sys.path.insert(0, str(BENCH))

import httpx
import orjson
from joserfc import jwt
from joserfc.jwk import ECKey
from results_bundles import OWN_OIN, PUBLIC_URL, free_port, log, start

METHOD_OIN = "00000003000000005000"


def prepare(db_url: str, n_schools: int) -> tuple[ECKey, list[str]]:
    from eduketen.config import Settings
    from eduketen.core.db import unit_of_work
    from eduketen.core.oauth import service as oauth
    from eduketen.core.platform import Platform
    from eduketen.migrations import upgrade
    from eduketen.register import consent
    from eduketen.register import service as register
    from eduketen.simulate.region import generate_region, install_region

    upgrade(db_url)
    region = generate_region(n_schools=n_schools, pupils_per_school=1, seed=5)
    key = ECKey.generate_key("P-256", parameters={"kid": "bench-1", "alg": "ES256"})
    platform = Platform.build(Settings(database_url=db_url, own_oin=OWN_OIN))
    try:
        with unit_of_work(platform.sessions) as session:
            install_region(session, region)
            own = register.add_supplier(session, name="Dashboard BV", oin=OWN_OIN)
            receiver = register.add_system(session, supplier=own, name="Leermiddelendashboard", kind="dashboard")
            method = register.add_supplier(session, name="Lesmethode", oin=METHOD_OIN)
            source = register.add_system(session, supplier=method, name="Oefenplatform", kind="leermiddel")
            oauth.register_client(session, client_id="bench-methode", supplier_oin=METHOD_OIN, name="bench", scopes=["eduv.progress"],
                                  jwks={"keys": [key.as_dict(private=False)]}, system_id=source.id)  # fmt: skip
            for spec in region.schools:
                c = consent.request(session, school=register.get_school(session, spec.brin), api="progress-api", source=source,
                                    receiver=receiver, actor="bench")  # fmt: skip
                consent.activate(session, c, actor="bench")
                consent.confirm(session, c, actor="bench")
    finally:
        platform.close()
    return key, [s.brin for s in region.schools]


def record(brin: str, n: int) -> dict:
    return {
        "id": str(uuid.UUID(int=n + 1, version=4)),
        "student": {"eckId": f"https://ketenid.nl/201703/{n % 50_000:016x}" + "0" * 112},
        "school": {"idType": "BRIN", "id": brin},
        "courseId": "methode-rekenen-groep7", "assignableUnitId": f"les-{n % 400}", "subject": ["rekenen", "taal", "spelling"][n % 3],
        "status": "completed", "statusChangedAt": f"2026-11-{1 + n % 20:02d}T{n % 24:02d}:{n % 60:02d}:00Z",
        "startedAt": "2026-11-01T08:00:00Z", "score": {"raw": n % 21, "max": 20}, "judgement": {"text": "voldoende", "ordinal": 2, "ordinalMax": 3},
        "accessDurationSeconds": 300 + n % 900, "pleaseFollowUp": n % 97 == 0, "detailUrl": f"https://methode.example/v/{n}",
        "learningGoals": ["SLO.REK.7.1"],
    }  # fmt: skip


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes (all their threads) and of their reaped children, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / tick


def listeners(port: int) -> int:
    """TCP sockets listening on ``port`` (one per server process with SO_REUSEPORT)."""
    from eduketen.simulate.processes import listening_sockets

    return listening_sockets(port)


def wait_listeners(port: int, n: int, proc: subprocess.Popen) -> None:
    """Until all ``n`` processes of a server listen (the first one answering /health is not enough)."""
    deadline = time.monotonic() + 60
    while listeners(port) < n:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"only {listeners(port)} of {n} server processes listen on port {port}")
        time.sleep(0.1)


def tree(parent: int) -> list[int]:
    """A process and its live descendants (an API process and, with --processes N, its N children)."""
    out, todo = [], [parent]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children(pid)
    return out


def children(parent: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    out.append(int(d.name))
            except (OSError, ValueError, IndexError):
                continue
    return out


async def load(method: str, requests: list[tuple[str, bytes]], concurrency: int, token: str | None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = list(requests)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def worker():
            while queue:
                url, body = queue.pop()
                t0 = time.perf_counter()
                response = await client.request(method, url, content=body, headers=headers)
                latencies.append(time.perf_counter() - t0)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "latencies": latencies, "statuses": statuses}


class Phase:
    """One measured kind of load, summed over the rounds."""

    def __init__(self, server_pids, db_pids=None) -> None:
        self.server_pids, self.db_pids = server_pids, db_pids
        self.seconds = self.server_cpu = self.db_cpu = 0.0
        self.requests = 0
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.per_process: dict[int, float] = {}

    def run(self, method: str, requests: list, concurrency: int, token: str | None) -> None:
        db_before = cpu_seconds(self.db_pids()) if self.db_pids else 0.0
        server_pids = self.server_pids()
        before = {pid: cpu_seconds([pid]) for pid in server_pids}
        out = asyncio.run(load(method, requests, concurrency, token))
        for pid in server_pids:
            used = cpu_seconds([pid]) - before[pid]
            self.server_cpu += used
            self.per_process[pid] = self.per_process.get(pid, 0.0) + used
        if self.db_pids:
            self.db_cpu += cpu_seconds(self.db_pids()) - db_before
        self.seconds += out["seconds"]
        self.requests += len(requests)
        self.latencies += out["latencies"]
        for k, v in out["statuses"].items():
            self.statuses[k] = self.statuses.get(k, 0) + v

    def result(self, records_per_request: int, processes: int) -> dict:
        lat = sorted(self.latencies)
        records = self.requests * records_per_request
        out = {"requests": self.requests, "seconds": round(self.seconds, 3), "requests_per_second": round(self.requests / self.seconds, 1),
               "latency_ms": {"p50": round(1000 * lat[len(lat) // 2], 1), "p95": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1)},
               "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
               "server_cpu_seconds": round(self.server_cpu, 2),
               # how the load spread over the server's processes (the parent of --processes N only supervises)
               "server_cpu_seconds_per_process": sorted((round(v, 2) for v in self.per_process.values()), reverse=True)}  # fmt: skip
        if self.db_pids:
            out["database_cpu_seconds"] = round(self.db_cpu, 2)
        per_server = records / self.server_cpu if self.server_cpu else None
        per_total = records / (self.server_cpu + self.db_cpu) if self.server_cpu + self.db_cpu else None
        out["records_per_server_cpu_second"] = round(per_server, 1) if per_server else None
        out["records_per_cpu_second"] = round(per_total, 1) if per_total else None
        if per_server and per_total:
            cores = os.cpu_count() or 1
            out["idle_estimate_records_per_second"] = round(min(min(processes, cores) * per_server, cores * per_total), 1)
        return out


class Postgres:
    """A throw-away PostgreSQL cluster (as in tests/conftest.py)."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="eduketen-bench-pg-"))
        os.chmod(self.base, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        self.port = free_port()
        self._run(["initdb", "-D", str(self.base / "data"), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
        self._run(["pg_ctl", "-D", str(self.base / "data"), "-l", str(self.base / "log"), "-w", "start", "-o",
                   f"-k {self.base} -p {self.port} -c listen_addresses='' -c synchronous_commit=off"])  # fmt: skip
        self._run(["psql", "-h", str(self.base), "-p", str(self.port), "-U", "postgres", "-c", "CREATE DATABASE bench"])
        self.url = f"postgresql+psycopg://postgres@/bench?host={self.base}&port={self.port}"

    def _run(self, cmd: list[str]) -> None:
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True)

    def pids(self) -> list[int]:
        """The postmaster and its live children (their reaped children count in its cutime/cstime)."""
        postmaster = int((self.base / "data" / "postmaster.pid").read_text().split()[0])
        return [postmaster, *children(postmaster)]

    def stop(self) -> None:
        self._run(["pg_ctl", "-D", str(self.base / "data"), "-m", "fast", "-w", "stop"])
        shutil.rmtree(self.base, ignore_errors=True)


def run_storage(storage: str, args, tmp: Path) -> dict:
    pg = Postgres() if storage == "postgres" else None
    db_url = pg.url if pg else f"sqlite:///{tmp / 'eduketen.db'}"
    try:
        log(f"preparing {storage}")
        key, brins = prepare(db_url, args.schools)
        n_bulk = args.batches * args.batch_size
        bulk = [("/leervoortgang/v1/progress", orjson.dumps({"records": [record(brins[(b * args.batch_size + i) % len(brins)], b * args.batch_size + i)
                                                                        for i in range(args.batch_size)]}))
                for b in range(args.batches)]  # fmt: skip
        singles = []
        for n in range(n_bulk, n_bulk + args.puts):
            r = record(brins[n % len(brins)], n)
            singles.append((f"/leervoortgang/v1/progress/{r['id']}", orjson.dumps(r)))
        env = {**os.environ, "EDUKETEN_DATABASE_URL": db_url, "EDUKETEN_OWN_OIN": OWN_OIN, "EDUKETEN_PUBLIC_URL": PUBLIC_URL,
               "EDUKETEN_ROLES": '["toetsaanbieder"]', "EDUKETEN_LOG_LEVEL": "WARNING", "EDUKETEN_EMBEDDED_WORKER": "false"}  # fmt: skip
        out: dict = {"storage": storage}
        port_b, port_e = free_port(), free_port()
        n = str(args.processes)
        base = start([sys.executable, str(BENCH / "_progress_baseline_app.py"), "--port", str(port_b), "--processes", n], env, port_b,
                     tmp / "baseline.log")  # fmt: skip
        exe = str(Path(sys.executable).parent / "eduketen")
        ours = start([exe, "serve", "--host", "127.0.0.1", "--port", str(port_e), "--no-worker", "--processes", n], env, port_e,
                     tmp / f"eduketen-{storage}.log")  # fmt: skip
        wait_listeners(port_b, args.processes, base)
        wait_listeners(port_e, args.processes, ours)
        try:
            url_b, url_e = f"http://127.0.0.1:{port_b}", f"http://127.0.0.1:{port_e}"
            now = int(time.time())
            claims = {"iss": "bench-methode", "sub": "bench-methode", "aud": f"{PUBLIC_URL}/oauth/token", "iat": now, "exp": now + 120,
                      "jti": str(uuid.uuid4())}  # fmt: skip
            form = {"grant_type": "client_credentials", "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    "client_assertion": jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key), "client_id": "bench-methode"}  # fmt: skip
            token = httpx.post(f"{url_e}/oauth/token", data=form).json()["access_token"]
            db_pids = pg.pids if pg else None
            pids_b, pids_e = (lambda: tree(base.pid)), (lambda: tree(ours.pid))
            phases = {"baseline_bulk": Phase(pids_b), "eduketen_bulk": Phase(pids_e, db_pids), "baseline_put": Phase(pids_b),
                      "eduketen_put": Phase(pids_e, db_pids)}  # fmt: skip
            # Warm-up (not counted): a few requests each, so that imports and pools are ready.
            asyncio.run(load("POST", [(url_b + p, b) for p, b in bulk[:2]], 2, None))
            asyncio.run(load("PUT", [(url_b + p, b) for p, b in singles[:20]], 2, None))
            rounds = max(1, min(args.rounds, args.batches))
            for r in range(rounds):
                part = slice(r * len(bulk) // rounds, (r + 1) * len(bulk) // rounds)
                single = slice(r * len(singles) // rounds, (r + 1) * len(singles) // rounds)
                phases["baseline_bulk"].run("POST", [(url_b + p, b) for p, b in bulk[part]], args.concurrency, None)
                phases["eduketen_bulk"].run("POST", [(url_e + p, b) for p, b in bulk[part]], args.concurrency, token)
                phases["baseline_put"].run("PUT", [(url_b + p, b) for p, b in singles[single]], args.concurrency, None)
                phases["eduketen_put"].run("PUT", [(url_e + p, b) for p, b in singles[single]], args.concurrency, token)
            for name, phase in phases.items():
                out[name] = phase.result(args.batch_size if name.endswith("bulk") else 1, args.processes)
            # The same bulk again: every record is stale, nothing changes (idempotent).
            repeat = asyncio.run(load("POST", [(url_e + p, b) for p, b in bulk[:5]], args.concurrency, token))
            out["eduketen_bulk_repeat"] = {"requests": 5, "statuses": {str(k): v for k, v in repeat["statuses"].items()}}
        finally:
            for proc in (base, ours):
                proc.terminate()
                proc.wait(30)
        for name in ("baseline_bulk", "eduketen_bulk"):
            out[name]["records_per_second"] = round(out[name]["requests_per_second"] * args.batch_size, 1)
        out["ratio_bulk_eduketen_to_baseline"] = round(out["eduketen_bulk"]["records_per_second"] / out["baseline_bulk"]["records_per_second"], 3)
        out["ratio_put_eduketen_to_baseline"] = round(out["eduketen_put"]["requests_per_second"] / out["baseline_put"]["requests_per_second"], 3)
        out["ratio_bulk_cpu_eduketen_to_baseline"] = round(out["eduketen_bulk"]["records_per_cpu_second"] / out["baseline_bulk"]["records_per_cpu_second"], 3)
        from sqlalchemy import create_engine, func, select

        from eduketen.leervoortgang.models import ProgressRecord

        engine = create_engine(db_url)
        with engine.connect() as conn:
            out["stored_records"] = conn.execute(select(func.count()).select_from(ProgressRecord)).scalar()
        engine.dispose()
        out["expected_records"] = n_bulk + args.puts
        return out
    finally:
        if pg:
            pg.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--storage", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--puts", type=int, default=1000)
    parser.add_argument("--schools", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16, help="client connections (16: the kernel spreads connections over the server processes by a hash, so with 8 one process often had two thirds of them; nationally dozens of suppliers post at once)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="server processes of eduketen (serve --processes N) and of the bare endpoint alike (default: the cores)")
    parser.add_argument("--rounds", type=int, default=4, help="alternate baseline and eduketen this many times")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="eduketen-bench-progress-"))
    result: dict = {"benchmark": "progress_ingest", "batch_size": args.batch_size, "batches": args.batches, "puts": args.puts,
                    "concurrency": args.concurrency, "server_processes": args.processes, "cpus": os.cpu_count(), "goal_records_per_second": 20_000,
                    "note": "client, server and database share the machine's cores", "runs": []}  # fmt: skip
    problems = []
    for storage in (["sqlite", "postgres"] if args.storage == "both" else [args.storage]):
        out = run_storage(storage, args, tmp)
        result["runs"].append(out)
        for name, want in (("eduketen_bulk", args.batches), ("eduketen_put", args.puts), ("baseline_bulk", args.batches), ("baseline_put", args.puts)):
            if out[name]["statuses"] != {"200": want}:
                problems.append(f"{storage} {name}: answers {out[name]['statuses']}")
        if out["stored_records"] != out["expected_records"]:
            problems.append(f"{storage}: stored {out['stored_records']}, expected {out['expected_records']}")
    result["problems"] = problems
    print(json.dumps(result, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
