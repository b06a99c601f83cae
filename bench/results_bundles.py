"""Result bundles per second: ``POST /toetsresultaten/v1/results`` of eduketen against a bare
FastAPI endpoint that only parses the same body (bench/_results_baseline_app.py), in the same run,
over HTTP on loopback, with the same client and the same request bytes.

A bundle is one assessment with six score scales (numeric, grade, reference level, percentile,
pass/fail, ordinal) and ``--students`` students (default 30, a class), each with two scores and
five results. eduketen checks the access token (JWT, ES256), the school's consent, the schema and
the coherence of every value with its scale, and stores every student's result (create or
update) in SQLite (default) before it answers 201. The client (asyncio + httpx, ``--concurrency``
requests in flight) runs on the same machine and shares its cores with the server.

    .venv/bin/python bench/results_bundles.py                    # 600 bundles x 30 students
    .venv/bin/python bench/results_bundles.py --bundles 2000 --concurrency 16

Prints one JSON document; exits 1 when an answer was not 201 or the database does not hold every
student's result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402
import orjson  # noqa: E402
from joserfc import jwt  # noqa: E402
from joserfc.jwk import ECKey  # noqa: E402

OWN_OIN = "00000003000000004000"
PUBLIC_URL = "https://eduketen.bench"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(db_url: str, n_schools: int) -> tuple[ECKey, list[str]]:
    """A migrated database: a region's register, this administration's receiving system, a test
    supplier's OAuth client, and the results consent of every school."""
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
            admin = register.add_supplier(session, name="Resultaten BV", oin=OWN_OIN)
            receiver = register.add_system(session, supplier=admin, name="Resultatenadministratie", kind="administratie")
            ta = register.get_supplier(session, region.toetsaanbieder.oin)
            source = register.get_system(session, ta, region.toetsaanbieder.system)
            oauth.register_client(session, client_id="bench-toets", supplier_oin=ta.oin, name="bench", scopes=["eduv.result"],
                                  jwks={"keys": [key.as_dict(private=False)]}, system_id=source.id)  # fmt: skip
            for spec in region.schools:
                school = register.get_school(session, spec.brin)
                c = consent.request(session, school=school, api="results-api", source=source, receiver=receiver, actor="bench")
                consent.activate(session, c, actor="bench")
                consent.confirm(session, c, actor="bench")
    finally:
        platform.close()
    return key, [s.brin for s in region.schools]


def bundle(brin: str, n: int, students: int) -> bytes:
    scales = [
        {"id": "ruw", "type": "numeric", "min": 0, "max": 300, "decimals": 0},
        {"id": "cijfer", "type": "grade", "decimals": 1},
        {"id": "refniv", "type": "referenceLevel"},
        {"id": "pct", "type": "percentile"},
        {"id": "geslaagd", "type": "passFail"},
        {"id": "advies", "type": "ordinal", "labels": ["vmbo-kb", "vmbo-gt", "havo", "vwo"]},
    ]
    body = {
        "school": {"idType": "BRIN", "id": brin},
        "schoolYear": "2025-2026",
        "assessment": {"id": f"afname-{n}", "assessmentDateTime": "2026-04-14T08:30:00Z",
                       "assessmentDefinition": {"id": "wis-se3", "name": "Wiskunde SE3", "parts": [{"id": "algebra"}, {"id": "kansen"}]}},
        "scoreScales": scales,
        "students": [
            {"student": {"eckId": f"https://ketenid.nl/201703/{n:08x}{i:04x}" + "0" * 116}, "status": "Definitief",
             "releasedAt": "2026-04-20T12:00:00Z",
             "scores": [{"kind": "total", "scale": "ruw", "value": 100 + (i * 7 + n) % 200},
                        {"kind": "detail", "part": "kansen", "scale": "ruw", "value": (i + n) % 40}],
             "results": [{"kind": "grade", "scale": "cijfer", "value": f"{1 + (i + n) % 9}.{(i * 3) % 10}"},
                         {"kind": "referenceLevel", "part": "algebra", "scale": "refniv", "value": ["1F", "2F", "3F"][i % 3]},
                         {"kind": "percentile", "scale": "pct", "value": (i * 13 + n) % 101},
                         {"kind": "passFail", "scale": "geslaagd", "value": "pass" if i % 5 else "fail"},
                         {"kind": "advice", "scale": "advies", "value": ["vmbo-kb", "vmbo-gt", "havo", "vwo"][i % 4]}]}
            for i in range(students)
        ],
    }  # fmt: skip
    return orjson.dumps(body)


def assertion(key: ECKey) -> str:
    now = int(time.time())
    claims = {"iss": "bench-toets", "sub": "bench-toets", "aud": f"{PUBLIC_URL}/oauth/token", "iat": now, "exp": now + 120,
              "jti": str(uuid.uuid4())}  # fmt: skip
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


def start(cmd: list[str], env: dict, port: int, logfile: Path) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, stdout=open(logfile, "ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited; see {logfile}") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{cmd[0]} did not start")


async def load(url: str, bodies: list[bytes], concurrency: int, token: str | None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = list(enumerate(bodies))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker():
            while queue:
                _, body = queue.pop()
                t0 = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - t0)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "bundles": len(bodies),
        "seconds": round(elapsed, 3),
        "bundles_per_second": round(len(bodies) / elapsed, 1),
        "latency_ms": {"p50": round(1000 * statistics.median(latencies), 1),
                       "p95": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1)},  # fmt: skip
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundles", type=int, default=600)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--schools", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="eduketen-bench-results-"))
    db_url = f"sqlite:///{tmp / 'eduketen.db'}"
    log(f"preparing {db_url}")
    key, brins = prepare(db_url, args.schools)
    bodies = [bundle(brins[n % len(brins)], n, args.students) for n in range(args.bundles)]
    warm = [bundle(brins[0], 10**6 + n, args.students) for n in range(20)]
    exe = str(Path(sys.executable).parent / "eduketen")
    env = {**os.environ, "EDUKETEN_DATABASE_URL": db_url, "EDUKETEN_OWN_OIN": OWN_OIN, "EDUKETEN_PUBLIC_URL": PUBLIC_URL,
           "EDUKETEN_ROLES": '["toetsaanbieder"]', "EDUKETEN_LOG_LEVEL": "WARNING", "EDUKETEN_EMBEDDED_WORKER": "false"}  # fmt: skip
    problems: list[str] = []
    result: dict = {"benchmark": "results_bundles", "students_per_bundle": args.students, "concurrency": args.concurrency,
                    "storage": "sqlite", "cpus": os.cpu_count(), "note": "client, server and database share the machine's cores"}  # fmt: skip
    base_port, our_port = free_port(), free_port()
    baseline = start([sys.executable, str(BENCH / "_results_baseline_app.py"), "--port", str(base_port)], env, base_port, tmp / "baseline.log")
    try:
        asyncio.run(load(f"http://127.0.0.1:{base_port}/toetsresultaten/v1/results", warm, args.concurrency, None))
        result["baseline"] = asyncio.run(load(f"http://127.0.0.1:{base_port}/toetsresultaten/v1/results", bodies, args.concurrency, None))
    finally:
        baseline.terminate()
        baseline.wait(30)
    ours = start([exe, "serve", "--host", "127.0.0.1", "--port", str(our_port), "--no-worker"], env, our_port, tmp / "eduketen.log")
    try:
        form = {"grant_type": "client_credentials", "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion(key), "client_id": "bench-toets", "scope": "eduv.result"}  # fmt: skip
        token = httpx.post(f"http://127.0.0.1:{our_port}/oauth/token", data=form).json()["access_token"]
        asyncio.run(load(f"http://127.0.0.1:{our_port}/toetsresultaten/v1/results", warm, args.concurrency, token))
        result["eduketen"] = asyncio.run(load(f"http://127.0.0.1:{our_port}/toetsresultaten/v1/results", bodies, args.concurrency, token))
    finally:
        ours.terminate()
        ours.wait(30)
    result["eduketen"]["students_per_second"] = round(result["eduketen"]["bundles_per_second"] * args.students, 1)
    result["ratio_eduketen_to_baseline"] = round(result["eduketen"]["bundles_per_second"] / result["baseline"]["bundles_per_second"], 3)
    for name in ("baseline", "eduketen"):
        if result[name]["statuses"] != {"201": args.bundles}:
            problems.append(f"{name}: answers {result[name]['statuses']}")
    from sqlalchemy import create_engine, func, select

    from eduketen.toetsresultaten.models import StudentResult

    engine = create_engine(db_url)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(StudentResult)).scalar()
    engine.dispose()
    expected = (args.bundles + len(warm)) * args.students
    result["stored_student_results"] = stored
    if stored != expected:
        problems.append(f"stored {stored} student results, expected {expected}")
    result["problems"] = problems
    print(json.dumps(result, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
