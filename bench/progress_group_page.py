"""The mentor's group page with many progress records stored: p50/p95 latency of
``GET /insight/groups/{id}`` (25 pupils, 42 days, all subjects; the group context computed at
request time) against a bare FastAPI endpoint that returns an HTML page of the same size
(bench/_page_baseline_app.py), in the same run, over HTTP on loopback.

The database holds one school with two planted groups (simulate/progress.py, stored through the
ingest service, aggregated by the worker's own code) plus ``--records`` filler records of other
schools' pupils, generated inside the database (benchmark set-up, not the measured path; see
load_filler). The page reads the worker's day aggregates, not the raw records.

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

import httpx
from progress_ingest import Postgres
from results_bundles import OWN_OIN, free_port, log, start


def prepare(db_url: str, n_records: int) -> tuple[int, str, int]:
    """Returns (group id, session cookie of its mentor, page size)."""
    from eduketen.config import Settings
    from eduketen.core.db import unit_of_work
    from eduketen.core.platform import Platform
    from eduketen.insight.security import create_account, login
    from eduketen.leervoortgang import repository as repo
    from eduketen.leervoortgang import service as svc
    from eduketen.leervoortgang import tasks
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
        with unit_of_work(platform.sessions) as session:
            planted_school = school.id
        tasks.drain(platform.sessions)  # the planted groups' aggregates, by the worker's own code
        load_filler(platform, n_records, source_id=source_id, school_ids=other_ids, now=now, planted_school=planted_school)
        with unit_of_work(platform.sessions) as session:
            token, _csrf = login(session, "mentor-bench", "bench password 123", lifetime_seconds=3600)
        return group_id, token
    finally:
        platform.close()


# Filler: benchmark set-up, not the measured path. The rows are generated inside the database in
# chunks (INSERT .. SELECT over generate_series on PostgreSQL, a recursive CTE on SQLite), which is
# as direct as COPY without shipping gigabytes through Python; their day aggregates are built with
# one GROUP BY. The ingest path (API, validation, newer-wins) is measured by progress_ingest.py.
_FILLER_COLUMNS = ("id, state_at, source_system_id, school_id, eck_id, course_id, unit_id, subject, status, completed_at, score_raw, "
                   "score_max, score_pct, duration_seconds, please_follow_up, received_at")  # fmt: skip
MINUTES = 200 * 24 * 60  # filler spread over the last 200 days


def _filler_sql(pg: bool, schools: list[int]) -> str:
    if pg:
        at = f"CAST(:now AS timestamptz) - make_interval(mins => (n % {MINUTES})::int)"
        return (f"INSERT INTO progress_record ({_FILLER_COLUMNS}) SELECT lpad(to_hex(n), 32, '0'), {at}, :system, "
                f"(ARRAY[{', '.join(map(str, schools))}])[1 + n % {len(schools)}], "
                "'https://ketenid.nl/201703/' || lpad(to_hex(n % 300000), 128, '0'), 'methode', 'les-' || (n % 400), "
                "(ARRAY['rekenen', 'taal', 'spelling'])[1 + n % 3], 'completed', "
                f"{at}, (n % 21)::float8, 20.0, 5.0 * (n % 21), 600, false, CAST(:now AS timestamptz) "
                "FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS n")  # fmt: skip
    at = f"strftime('%Y-%m-%d %H:%M:%S', :now, '-' || (n % {MINUTES}) || ' minutes') || '.000000'"
    cases = " ".join(f"WHEN {i} THEN {s}" for i, s in enumerate(schools))
    return (f"WITH RECURSIVE g(n) AS (SELECT :first UNION ALL SELECT n + 1 FROM g WHERE n < :last) "
            f"INSERT INTO progress_record ({_FILLER_COLUMNS}) SELECT printf('%032x', n), {at}, :system, "
            f"CASE n % {len(schools)} {cases} END, printf('https://ketenid.nl/201703/%0128x', n % 300000), 'methode', "
            "'les-' || (n % 400), CASE n % 3 WHEN 0 THEN 'rekenen' WHEN 1 THEN 'taal' ELSE 'spelling' END, 'completed', "
            f"{at}, n % 21, 20.0, 5.0 * (n % 21), 600, 0, :now FROM g")  # fmt: skip


def load_filler(platform, n_records: int, *, source_id: int, school_ids: list[int], now: datetime, planted_school: int) -> None:
    from sqlalchemy import text

    from eduketen.core.db import bind_time, unit_of_work
    from eduketen.leervoortgang import repository as repo

    pg = platform.engine.dialect.name == "postgresql"
    first_day = (now - timedelta(minutes=MINUTES)).date()
    months = tuple(sorted({(first_day + timedelta(days=d)).timetuple()[:2] for d in range(210)}))
    with unit_of_work(platform.sessions) as session:
        repo.ensure_partitions(session, today=now.date(), months=months)
    sql = text(_filler_sql(pg, school_ids))
    t0, chunk = time.perf_counter(), 1_000_000
    for low in range(0, n_records, chunk):
        high = min(low + chunk, n_records)
        with unit_of_work(platform.sessions) as session:
            session.execute(sql, {"now": bind_time(platform.engine, now) if pg else now.strftime("%Y-%m-%d %H:%M:%S"), "system": source_id,
                                  "first": low, "last": high - 1})  # fmt: skip
        log(f"  {high} filler records ({high / (time.perf_counter() - t0):.0f}/s)")
    day = "to_char(state_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')" if pg else "substr(state_at, 1, 10)"
    with unit_of_work(platform.sessions) as session:
        # The filler's id arbiter rows and day aggregates (the planted school's came from the worker).
        session.execute(text("INSERT INTO progress_key (id, source_system_id, state_at) SELECT id, source_system_id, state_at "
                             "FROM progress_record WHERE school_id <> :s"), {"s": planted_school})  # fmt: skip
        session.execute(text(
            "INSERT INTO progress_day (school_id, eck_id, day, subject, source_system_id, course_id, records, units, completed, abandoned, "
            f"seconds, score_sum, score_n, follow_up) SELECT school_id, eck_id, {day}, subject, source_system_id, course_id, count(*), "
            "count(*), count(*), 0, sum(duration_seconds), sum(score_pct), count(score_pct), NULL FROM progress_record "
            f"WHERE school_id <> :s GROUP BY school_id, eck_id, {day}, subject, source_system_id, course_id"), {"s": planted_school})  # fmt: skip
    if pg:
        with platform.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    log(f"  filler loaded with keys and aggregates in {time.perf_counter() - t0:.0f} s")


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
