"""Where the CPU of bulk progress ingest goes, per record and per step: the ASGI app driven in
process (no socket, no client), 2,000-record ``POST /leervoortgang/v1/progress`` requests one after
the other, CPU time (``time.process_time``) summed around the functions of the path; on PostgreSQL
also the database's CPU in each step (from /proc). ``accept`` runs in the calling thread instead of
the thread pool, so every step is timed in one thread. The baseline, measured in the same run, is
orjson parsing the same bodies: ``ratio`` is CPU per record of the whole request against it.

    .venv/bin/python bench/_progress_ingest_profile.py --storage sqlite --batches 20   # or --storage postgres

A tool for looking, not one of ``make bench``'s benchmarks (hence the leading underscore): no
goal, and the timing wrappers add a little CPU of their own (``--cprofile FILE`` much more:
use it for where, not for how much). Prints one JSON document. Step times overlap (``accept`` contains ``prepare`` contains
``build_rows``); ``rest`` is the request's CPU outside the timed steps (HTTP framework, response).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import gc
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "src"))
sys.path.insert(0, str(BENCH))

import orjson
import progress_ingest as pi
from joserfc import jwt

B = 2000


async def call(app, method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status = 0

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http", "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
             "headers": [*headers, (b"content-length", str(len(body)).encode())], "state": {}}  # fmt: skip
    await app(scope, receive, send)
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--cprofile", type=Path, help="also write cProfile statistics of the measured requests to this file")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="eduketen-bench-profile-"))
    pg = pi.Postgres() if args.storage == "postgres" else None
    db_url = pg.url if pg else f"sqlite:///{tmp / 'eduketen.db'}"
    try:
        key, brins = pi.prepare(db_url, 20)
        from eduketen.app import create_app
        from eduketen.config import Settings
        from eduketen.leervoortgang import api as lapi
        from eduketen.leervoortgang import repository as lrepo
        from eduketen.leervoortgang import service as lsvc
        from eduketen.register import consent as rconsent
        from eduketen.register import repository as rrepo

        settings = Settings(database_url=db_url, own_oin=pi.OWN_OIN, public_url=pi.PUBLIC_URL, log_level="WARNING", embedded_worker=False)
        app = create_app(settings, run_worker=False)

        async def in_this_thread(f, *a, **k):
            return f(*a, **k)

        lapi.run_in_threadpool = in_this_thread
        cpu = collections.Counter()
        db = collections.Counter()
        known: list[int] = []  # the cluster's processes, read once after the warm-up (reading /proc each time would cost more than a step)

        def pids() -> list[int]:
            return known

        def wrap(module, name: str) -> None:
            if not hasattr(module, name):
                return
            f = getattr(module, name)

            @functools.wraps(f)
            def timed(*a, **k):
                label = f"{name}:{a[1]}" if name == "_write" else name
                t0, d0 = time.process_time(), pi.cpu_seconds(pids()) if pg else 0.0
                try:
                    return f(*a, **k)
                finally:
                    cpu[label] += time.process_time() - t0
                    if pg:
                        db[label] += pi.cpu_seconds(pids()) - d0

            setattr(module, name, timed)

        for module, name in ((lapi, "_validate"), (lapi, "_validate_bulk"), (lapi, "_check_rules"), (lapi, "accept"), (lsvc, "prepare"),
                             (lsvc, "build_rows"), (lsvc, "store_prepared"), (lrepo, "_stage_keys"), (lrepo, "_write"),
                             (rrepo, "school_ids"), (rrepo, "school_by_brin"), (rconsent, "require_consent"), (rconsent, "require_consents")):  # fmt: skip
            wrap(module, name)
        import sqlalchemy.orm

        real_commit = sqlalchemy.orm.Session.commit

        def commit(self):
            t0, d0 = time.process_time(), pi.cpu_seconds(pids()) if pg else 0.0
            try:
                return real_commit(self)
            finally:
                cpu["commit"] += time.process_time() - t0
                if pg:
                    db["commit"] += pi.cpu_seconds(pids()) - d0

        sqlalchemy.orm.Session.commit = commit
        bodies = [orjson.dumps({"records": [pi.record(brins[(b * B + i) % len(brins)], b * B + i) for i in range(B)]})
                  for b in range(args.batches + 2)]  # fmt: skip

        async def run() -> dict:
            import httpx

            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
                now = int(time.time())
                claims = {"iss": "bench-methode", "sub": "bench-methode", "aud": f"{pi.PUBLIC_URL}/oauth/token", "iat": now, "exp": now + 120,
                          "jti": str(uuid.uuid4())}  # fmt: skip
                form = {"grant_type": "client_credentials", "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        "client_assertion": jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key), "client_id": "bench-methode"}  # fmt: skip
                token = (await client.post("/oauth/token", data=form)).json()["access_token"]
            headers = [(b"content-type", b"application/json"), (b"authorization", f"Bearer {token}".encode())]
            for body in bodies[:2]:  # warm-up
                assert await call(app, "POST", pi_path, body, headers) == 200
            if pg:
                known.extend(pg.pids())
            gc.freeze()
            gc.set_threshold(50_000, 20, 100)  # as eduketen serve does
            cpu.clear()
            db.clear()
            profiler = None
            if args.cprofile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            t0, d0 = time.process_time(), pi.cpu_seconds(pids()) if pg else 0.0
            for body in bodies[2:]:
                assert await call(app, "POST", pi_path, body, headers) == 200
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(str(args.cprofile))
            total, total_db = time.process_time() - t0, (pi.cpu_seconds(pids()) - d0) if pg else 0.0
            t1 = time.process_time()
            for body in bodies[2:]:
                orjson.loads(body)
            return {"total": total, "total_db": total_db, "baseline": time.process_time() - t1}

        pi_path = "/leervoortgang/v1/progress"
        out = asyncio.run(run())
        n = args.batches * B
        us = {k: round(v / n * 1e6, 1) for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])}
        top = cpu.get("accept", 0) + max(cpu.get("_validate_bulk", 0), cpu.get("_validate", 0)) + cpu.get("_check_rules", 0)
        result = {
            "benchmark": "progress_ingest_profile", "storage": args.storage, "records": n, "records_per_request": B,
            "server_cpu_us_per_record": round(out["total"] / n * 1e6, 1), "steps_us_per_record": us,
            "rest_us_per_record": round((out["total"] - top) / n * 1e6, 1),
            "baseline_orjson_parse_us_per_record": round(out["baseline"] / n * 1e6, 2),
            "ratio_to_baseline": round(out["total"] / out["baseline"], 1) if out["baseline"] else None,
            "load_average": os.getloadavg(),
        }  # fmt: skip
        if pg:
            result["database_cpu_us_per_record"] = round(out["total_db"] / n * 1e6, 1)
            result["database_steps_us_per_record"] = {k: round(v / n * 1e6, 1) for k, v in sorted(db.items(), key=lambda kv: -kv[1]) if v}
        print(json.dumps(result, indent=2))
        return 0
    finally:
        if pg:
            pg.stop()


if __name__ == "__main__":
    sys.exit(main())
