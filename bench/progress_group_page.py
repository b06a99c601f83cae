"""The mentor's group page with many progress records stored: p50/p95 latency of
``GET /insight/groups/{id}`` (25 pupils, 42 days, all subjects; the group context computed at
request time) against a bare FastAPI endpoint that returns an HTML page of the same size
(bench/_page_baseline_app.py), in the same run, over HTTP on loopback.

The database holds one school with two planted groups (simulate/progress.py) plus ``--records``
filler records of other schools' pupils, written with the ingest path's upsert in large batches.

    .venv/bin/python bench/progress_group_page.py --records 2000000            # SQLite
    .venv/bin/python bench/progress_group_page.py --records 10000000 --storage postgres

Prints one JSON document; exits 1 when an answer was not 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "src"))
sys.path.insert(0, str(BENCH))

import httpx  # noqa: E402
from progress_ingest import Postgres  # noqa: E402
from results_bundles import OWN_OIN, free_port, log, start  # noqa: E402


def prepare(db_url: str, n_records: int) -> tuple[int, str, int]:
    """Returns (group id, session cookie of its mentor, page size)."""
    from eduketen.config import Settings
    from eduketen.core.db import unit_of_work
    from eduketen.core.platform import Platform
    from eduketen.insight.security import create_account, login
    from eduketen.leervoortgang import repository as repo
    from eduketen.leervoortgang import service as svc
    from eduketen.migrations import upgrade
    from eduketen.register import service as register
    from eduketen.simulate.progress import plant
    from eduketen.simulate.region import generate_region, install_region

    upgrade(db_url)
    settings = Settings(database_url=db_url, own_oin=OWN_OIN)
    platform = Platform.build(settings)
    region = generate_region(n_schools=40, pupils_per_school=1, seed=5)
    now = datetime.now(UTC)
    try:
        with unit_of_work(platform.sessions) as session:
            install_region(session, region)
            method = register.add_supplier(session, name="Lesmethode", oin="00000003000000005000")
            source = register.add_system(session, supplier=method, name="Oefenplatform", kind="leermiddel")
            school = register.get_school(session, region.schools[0].brin)
            groups = plant(session, school_id=school.id, brin=school.brin, schooljaar="2026-2027", source_system_id=source.id, until=now,
                           thresholds=svc.Thresholds.from_settings(settings), n_groups=2, size=25, seed=3)  # fmt: skip
            create_account(session, username="mentor-bench", password="bench password 123", role="mentor", school_id=school.id)
            svc.assign_mentor(session, username="mentor-bench", school_id=school.id, schooljaar="2026-2027",
                              group_external_id=groups[0].group_external_id)  # fmt: skip
            group_id = repo.groups_of_school(session, school.id)[0].id
            other_ids = [register.get_school(session, s.brin).id for s in region.schools[1:]]
            source_id = source.id
        batch, written, t0 = 50_000, 0, time.perf_counter()
        while written < n_records:
            rows = []
            for n in range(written, min(written + batch, n_records)):
                at = now - timedelta(minutes=n % (200 * 24 * 60))
                rows.append({"id": f"{n:032x}", "source_system_id": source_id, "school_id": other_ids[n % len(other_ids)],
                             "eck_id": f"https://ketenid.nl/201703/{n % 300_000:0128x}", "course_id": "methode", "unit_id": f"les-{n % 400}",
                             "subject": ("rekenen", "taal", "spelling")[n % 3], "status": "completed", "state_at": at, "started_at": None,
                             "completed_at": at, "score_raw": float(n % 21), "score_max": 20.0, "score_pct": 5.0 * (n % 21), "judgement": None,
                             "judgement_ordinal": None, "judgement_ordinal_max": None, "duration_seconds": 600, "please_follow_up": False,
                             "detail_url": None, "goals": None, "received_at": now})  # fmt: skip
            with unit_of_work(platform.sessions) as session:
                repo.upsert(session, rows)
            written += len(rows)
            if written % 500_000 == 0 or written == n_records:
                log(f"  {written} filler records ({written / (time.perf_counter() - t0):.0f}/s)")
        with unit_of_work(platform.sessions) as session:
            token, _csrf = login(session, "mentor-bench", "bench password 123", lifetime_seconds=3600)
        return group_id, token
    finally:
        platform.close()


async def load(url: str, n: int, concurrency: int, cookie: str | None) -> dict:
    headers = {"Cookie": f"__Host-eduketen-staff={cookie}"} if cookie else {}
    latencies, statuses, sizes = [], {}, set()
    remaining = [n]
    async with httpx.AsyncClient(timeout=60) as client:

        async def worker():
            while remaining[0] > 0:
                remaining[0] -= 1
                t0 = time.perf_counter()
                response = await client.get(url, headers=headers)
                latencies.append(time.perf_counter() - t0)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                sizes.add(len(response.content))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"requests": n, "requests_per_second": round(n / elapsed, 1), "bytes": max(sizes),
            "latency_ms": {"p50": round(1000 * latencies[len(latencies) // 2], 1), "p95": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1)},
            "statuses": {str(k): v for k, v in sorted(statuses.items())}}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="eduketen-bench-page-"))
    pg = Postgres() if args.storage == "postgres" else None
    db_url = pg.url if pg else f"sqlite:///{tmp / 'eduketen.db'}"
    try:
        log(f"preparing {args.storage} with {args.records} filler records")
        group_id, cookie = prepare(db_url, args.records)
        env = {**os.environ, "EDUKETEN_DATABASE_URL": db_url, "EDUKETEN_OWN_OIN": OWN_OIN, "EDUKETEN_LOG_LEVEL": "WARNING",
               "EDUKETEN_EMBEDDED_WORKER": "false", "EDUKETEN_ROLES": '["toetsaanbieder"]'}  # fmt: skip
        result: dict = {"benchmark": "progress_group_page", "storage": args.storage, "stored_records": args.records, "cpus": os.cpu_count(),
                        "goal_p95_ms": 150, "concurrency": args.concurrency}  # fmt: skip
        port = free_port()
        exe = str(Path(sys.executable).parent / "eduketen")
        ours = start([exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"], env, port, tmp / "eduketen.log")
        try:
            url = f"http://127.0.0.1:{port}/insight/groups/{group_id}"
            asyncio.run(load(url, 10, 1, cookie))
            result["eduketen"] = asyncio.run(load(url, args.requests, args.concurrency, cookie))
        finally:
            ours.terminate()
            ours.wait(30)
        port = free_port()
        env["BASELINE_BYTES"] = str(result["eduketen"]["bytes"])
        base = start([sys.executable, str(BENCH / "_page_baseline_app.py"), "--port", str(port)], env, port, tmp / "baseline.log")
        try:
            url = f"http://127.0.0.1:{port}/page"
            asyncio.run(load(url, 10, 1, None))
            result["baseline"] = asyncio.run(load(url, args.requests, args.concurrency, None))
        finally:
            base.terminate()
            base.wait(30)
        result["ratio_p95_eduketen_to_baseline"] = round(result["eduketen"]["latency_ms"]["p95"] / max(result["baseline"]["latency_ms"]["p95"], 0.1), 1)
        problems = [f"{k}: {result[k]['statuses']}" for k in ("eduketen", "baseline") if result[k]["statuses"] != {"200": args.requests}]
        result["problems"] = problems
        print(json.dumps(result, indent=2))
        return 1 if problems else 0
    finally:
        if pg:
            pg.stop()


if __name__ == "__main__":
    sys.exit(main())
