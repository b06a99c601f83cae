"""Diagnostic: the HTTP phase of ``registration_season`` only, for two or more variants of the
server, alternating, on fresh databases. No baseline and no processing phase (``serve
--no-worker``), so a round takes seconds and variants can be compared on CPU per list as well as
throughput, which the shared machine's noise moves by a third.

    .venv/bin/python bench/_registration_ab.py '{"base": {"PYTHONPATH": "/tmp/base/src"}, "change": {}}'
    .venv/bin/python bench/_registration_ab.py --backend postgres --rounds 3 '{"a": {}, "b": {"EDUKETEN_INBOX_BATCH_WAIT_MS": "2"}}'

Each variant is a JSON object of environment variables for the server (``EDUKETEN_*`` settings,
``PYTHONPATH`` for an exported other version). Prints one JSON line per run and a summary:
requests per second, server CPU per list (ms; the process and its children), database server
CPU per list (PostgreSQL), idle and stolen CPU seconds of the machine, p95 latency.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import registration_season as rs  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", help='JSON: {"label": {"ENV": "value", ...}, ...}')
    parser.add_argument("--schools", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--wait-idle", type=float, default=5.0)
    args = parser.parse_args(argv)
    variants: dict[str, dict[str, str]] = json.loads(args.variants)
    root = Path(tempfile.mkdtemp(prefix="eduketen-ab-"))
    season = rs.prepare_season(args.schools, 30, 2026, 2, root)
    eduketen = str(Path(sys.executable).parent / "eduketen")
    results: dict[str, list[dict]] = {label: [] for label in variants}
    cluster = rs.postgres_cluster([]) if args.backend == "postgres" else None
    try:
        if cluster is not None:
            from sqlalchemy import create_engine, text

            base_url, _, postmaster = cluster.__enter__()
            admin = create_engine(base_url.replace("/eduketen?", "/postgres?"), isolation_level="AUTOCOMMIT")
        for n in range(args.rounds):
            for label, extra in variants.items():
                work = root / f"{n}-{len(results[label])}-{abs(hash(label))}"
                work.mkdir()
                if cluster is None:
                    url, database_cpu = f"sqlite:///{work}/eduketen.db", None
                else:
                    name = f"ab_{n}_{abs(hash(label))}"
                    with admin.connect() as conn:
                        conn.execute(text(f"CREATE DATABASE {name}"))
                    url = base_url.replace("/eduketen?", f"/{name}?")
                    database_cpu = lambda: rs.tree_cpu_seconds(postmaster)  # noqa: E731
                rs.install_database(url, season.region)
                port = rs.free_port()
                server = rs.Server(label, [eduketen, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker", "--no-migrate"],
                                   {**rs.server_env(url, season.region), **extra}, work)  # fmt: skip
                server.start(port)
                try:
                    rs.warm_up(port, season, expect=422)
                    run = rs.run_wrk(server, port, season, work / "wrk", connections=16, duration=600,
                                     wait_idle=args.wait_idle, database_cpu=database_cpu)  # fmt: skip
                finally:
                    server.stop()
                machine = run["machine_during_load"]
                row = {
                    "variant": label, "round": n, "requests_per_s": run["requests_per_s"],
                    "server_cpu_ms_per_list": round(run["server_cpu_seconds"] / args.schools * 1000, 3),
                    "database_cpu_ms_per_list": round((run.get("helper_cpu_seconds") or 0) / args.schools * 1000, 3),
                    "machine_idle_cpu_s": machine["machine_idle_cpu_seconds"], "steal_cpu_s": machine.get("steal_cpu_seconds"),
                    "p95_ms": run["latency_ms"]["p95"], "status_counts": run["status_counts"],
                }  # fmt: skip
                results[label].append(row)
                print(json.dumps(row), flush=True)
    finally:
        if cluster is not None:
            admin.dispose()
            cluster.__exit__(None, None, None)
        shutil.rmtree(root, ignore_errors=True)
    summary = {}
    for label, rows in results.items():
        rps = sorted(r["requests_per_s"] for r in rows)
        cpu = sorted(r["server_cpu_ms_per_list"] for r in rows)
        summary[label] = {"requests_per_s": rps, "median_requests_per_s": rps[len(rps) // 2], "server_cpu_ms_per_list": cpu}
    print(json.dumps({"summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
