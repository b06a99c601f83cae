"""Learning progress ingest: bulk records per second (``POST /leervoortgang/v1/progress``, 2,000
records a request by default) and single ``PUT /leervoortgang/v1/progress/{id}`` requests per
second, of eduketen against a bare FastAPI endpoint that only parses the same bodies
(bench/_progress_baseline_app.py), in the same run, over HTTP on loopback, on SQLite and on a
throw-away PostgreSQL cluster.

eduketen checks the access token (JWT, ES256), the school's consent for progress-api, validates
every record against the schema and stores them with one INSERT .. ON CONFLICT (the newer state
wins) in one transaction per request before it answers. The client (asyncio + httpx) shares the
machine's cores with the server and the database.

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

import httpx  # noqa: E402
import orjson  # noqa: E402
from joserfc.jwk import ECKey  # noqa: E402
from results_bundles import OWN_OIN, PUBLIC_URL, free_port, log, start  # noqa: E402

from joserfc import jwt  # noqa: E402

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
    latencies.sort()
    return {"requests": len(requests), "seconds": round(elapsed, 3), "requests_per_second": round(len(requests) / elapsed, 1),
            "latency_ms": {"p50": round(1000 * latencies[len(latencies) // 2], 1), "p95": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1)},
            "statuses": {str(k): v for k, v in sorted(statuses.items())}}  # fmt: skip


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
        port = free_port()
        base = start([sys.executable, str(BENCH / "_progress_baseline_app.py"), "--port", str(port)], env, port, tmp / "baseline.log")
        try:
            url = f"http://127.0.0.1:{port}"
            out["baseline_bulk"] = asyncio.run(load("POST", [(url + p, b) for p, b in bulk], args.concurrency, None))
            out["baseline_put"] = asyncio.run(load("PUT", [(url + p, b) for p, b in singles], args.concurrency, None))
        finally:
            base.terminate()
            base.wait(30)
        port = free_port()
        exe = str(Path(sys.executable).parent / "eduketen")
        ours = start([exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"], env, port, tmp / f"eduketen-{storage}.log")
        try:
            url = f"http://127.0.0.1:{port}"
            now = int(time.time())
            claims = {"iss": "bench-methode", "sub": "bench-methode", "aud": f"{PUBLIC_URL}/oauth/token", "iat": now, "exp": now + 120,
                      "jti": str(uuid.uuid4())}  # fmt: skip
            form = {"grant_type": "client_credentials", "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    "client_assertion": jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key), "client_id": "bench-methode"}  # fmt: skip
            token = httpx.post(f"{url}/oauth/token", data=form).json()["access_token"]
            out["eduketen_bulk"] = asyncio.run(load("POST", [(url + p, b) for p, b in bulk], args.concurrency, token))
            out["eduketen_put"] = asyncio.run(load("PUT", [(url + p, b) for p, b in singles], args.concurrency, token))
            # The same bulk again: every record is stale, nothing changes (idempotent).
            out["eduketen_bulk_repeat"] = asyncio.run(load("POST", [(url + p, b) for p, b in bulk[:5]], args.concurrency, token))
        finally:
            ours.terminate()
            ours.wait(30)
        for name in ("baseline_bulk", "eduketen_bulk"):
            out[name]["records_per_second"] = round(out[name]["requests_per_second"] * args.batch_size, 1)
        out["ratio_bulk_eduketen_to_baseline"] = round(out["eduketen_bulk"]["records_per_second"] / out["baseline_bulk"]["records_per_second"], 3)
        out["ratio_put_eduketen_to_baseline"] = round(out["eduketen_put"]["requests_per_second"] / out["baseline_put"]["requests_per_second"], 3)
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
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="eduketen-bench-progress-"))
    result: dict = {"benchmark": "progress_ingest", "batch_size": args.batch_size, "batches": args.batches, "puts": args.puts,
                    "concurrency": args.concurrency, "cpus": os.cpu_count(), "goal_records_per_second": 20_000,
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
