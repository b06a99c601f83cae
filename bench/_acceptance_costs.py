"""Diagnostic helper (not run by run_all.py): CPU cost of each step eduketen takes to accept one
Deelnemerslijst, measured in-process on the real functions with one real body, next to what the
bare baseline does (orjson.loads). Explains where ``registration_season``'s acceptance time goes.

    .venv/bin/python bench/_acceptance_costs.py [--pupils 30] [--schools 6200]

``--schools`` sizes the register for the snapshot-reload measurement (the in-memory view of
schools, administrations and mandates that each server process reloads every
``register_cache_seconds``, 5 s by default).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import orjson  # noqa: E402

from eduketen.config import Settings  # noqa: E402
from eduketen.core.db import unit_of_work  # noqa: E402
from eduketen.core.inbox import InboxWriter  # noqa: E402
from eduketen.core.platform import Platform  # noqa: E402
from eduketen.doorstroomtoets.schemas import body_schema, prune, schema_errors, versions  # noqa: E402
from eduketen.doorstroomtoets.service import content_problems  # noqa: E402
from eduketen.migrations import upgrade  # noqa: E402
from eduketen.register.service import SchoolInfo  # noqa: E402
from eduketen.simulate.region import deelnemerslijst, generate_region, install_region, open_windows  # noqa: E402


def per_call_us(fn, *, repeat: int = 7, min_seconds: float = 0.2) -> float:
    """Median over ``repeat`` rounds of the mean time per call, in microseconds."""
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t >= min_seconds / 10:
            break
        n *= 2
    rounds = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        rounds.append((time.perf_counter() - t) / n * 1e6)
    return round(statistics.median(rounds), 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pupils", type=int, default=30)
    parser.add_argument("--schools", type=int, default=6200)
    args = parser.parse_args()

    region = generate_region(max(args.schools, 1), args.pupils)
    school = region.schools[0]
    raw = orjson.dumps(deelnemerslijst(school, "v1.1"))
    spec = versions()["v1.1"]
    schema = body_schema(spec.key, "Deelnemerslijst")
    info = SchoolInfo(1, school.oin, school.brin, school.name)
    body = orjson.loads(raw)
    kept = prune(body, schema.shape)
    canonical = orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)

    steps = {
        "orjson.loads (all the baseline does)": lambda: orjson.loads(raw),
        "schema_errors (jsonschema_rs is_valid)": lambda: schema_errors(schema, body),
        "content_problems (walking every field for NUL)": lambda: content_problems(spec, "registreren", body, info),
        "content_problems (raw body has no \\u0000: no walk, as the API calls it)": lambda: content_problems(
            spec, "registreren", body, info, raw
        ),
        "prune (keep only spec fields, walking every field)": lambda: prune(body, schema.shape),
        "schema.check (closed schema accepts: valid and nothing to prune in one pass, as the API calls it)": lambda: schema.check(body),
        "orjson.dumps(OPT_SORT_KEYS)": lambda: orjson.dumps(kept, option=orjson.OPT_SORT_KEYS),
        "sha256 idempotency key": lambda: hashlib.sha256(canonical).hexdigest(),
        "uuid4": lambda: str(uuid.uuid4()),
    }
    result: dict = {"body_bytes": len(raw), "pupils": args.pupils, "steps_us": {}}
    for name, fn in steps.items():
        result["steps_us"][name] = per_call_us(fn)

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/costs.db"
        upgrade(url)
        settings = Settings(database_url=url, own_oin=region.toetsaanbieder.oin, embedded_worker=False, log_level="WARNING")
        platform = Platform.build(settings)
        with unit_of_work(platform.sessions) as session:
            install_region(session, region)
            open_windows(session)

        # the inbox group commit: one transaction (BEGIN IMMEDIATE, INSERT .. RETURNING, COMMIT with fsync)
        writer = InboxWriter(platform.engine, batch_max=256, wait_ms=0.0)
        counter = iter(range(10**9))

        def row() -> dict:
            now = datetime.now(UTC)
            return {
                "id": str(uuid.uuid4()), "service": "doorstroomtoets", "version": "1.1.0",
                "operation": "doorstroomtoets.registreren", "school_oin": school.oin, "routing": school.routing,
                "sender_oin": school.las.oin, "schooljaar": "2025-2026", "idempotency_key": f"{next(counter):064d}",
                "payload": canonical.decode(), "item_count": args.pupils, "request_id": None, "status": "pending",
                "attempts": 0, "received_at": now, "available_at": now,
            }

        from eduketen.core.inbox import _Pending

        loop = asyncio.new_event_loop()
        inbox = {}
        for size in (1, 8, 16):
            rounds = []
            for _ in range(30):
                batch = [_Pending(row=row(), loop=loop, future=loop.create_future()) for _ in range(size)]
                t_wall, t_cpu = time.perf_counter(), time.thread_time()
                writer._write(batch)
                rounds.append(((time.perf_counter() - t_wall) * 1e6, (time.thread_time() - t_cpu) * 1e6))
            inbox[f"batch_of_{size}"] = {
                "wall_us_per_batch": round(statistics.median(r[0] for r in rounds), 1),
                "cpu_us_per_batch": round(statistics.median(r[1] for r in rounds), 1),
                "cpu_us_per_row": round(statistics.median(r[1] for r in rounds) / size, 1),
            }
        loop.close()
        result["inbox_write_sqlite_synchronous_full"] = inbox

        # the register view: every register_cache_seconds each process reads the change stamp, and
        # reloads the view only when the stamp moved (migration 0011)
        view = platform.register
        result["register_stamp_read_us"] = per_call_us(view._stamp)
        t_wall, t_cpu = time.perf_counter(), time.thread_time()
        view._view.reload()
        result["register_snapshot_reload_when_changed"] = {
            "schools": len(region.schools),
            "wall_ms": round((time.perf_counter() - t_wall) * 1e3, 1),
            "cpu_ms": round((time.thread_time() - t_cpu) * 1e3, 1),
            "every_seconds": settings.register_cache_seconds,
        }
        platform.engine.dispose()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
