"""Run every benchmark in bench/ and write each one's JSON to bench/results/<name>.json.

A benchmark is a ``bench/<name>.py`` whose name does not start with ``_`` (helpers do) and is not
this file. Each prints one JSON document on stdout (progress goes to stderr) and exits non-zero
when its checks fail. run_all captures that document and writes it to bench/results/<name>.json
(whatever the benchmark may write itself).

    .venv/bin/python bench/run_all.py                                          # every benchmark, `make bench` size
    .venv/bin/python bench/run_all.py --national                               # every benchmark at its own (national) size
    .venv/bin/python bench/run_all.py registration_season                      # only these
    .venv/bin/python bench/run_all.py registration_season -- --schools 200     # arguments for the named ones
    .venv/bin/python bench/run_all.py --table-only                             # only rewrite docs/benchmarks.md

Arguments after ``--`` go to every benchmark that runs, so name the benchmarks they fit; they
replace the `make bench` size of those benchmarks.

After the runs, docs/benchmarks.md is rewritten from every JSON file in bench/results (a table with
each benchmark's date, machine, size, headline figure, its baseline and the ratio), and the same
table replaces the one between the markers in README.md.

Exits 1 when any benchmark failed or printed no JSON; the results of the others are still written.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
ROOT = BENCH.parent
TABLE_DOC = ROOT / "docs" / "benchmarks.md"
README = ROOT / "README.md"
README_START, README_END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"

# `make bench` sizes: every benchmark once, in a few minutes on 2 shared cores. Each benchmark's
# own default is the national size (run those with --national, on an idle machine).
MAKE_BENCH_ARGS: dict[str, list[str]] = {
    # 2,000 schools: at 300 the baseline's whole season took 0.14 s, too short to compare.
    "registration_season": ["--schools", "2000", "--baseline-runs", "3", "--wait-idle", "20"],
    "national_season": ["--schools", "40", "--baseline-reports", "300"],
    "pdf_reports": ["--n", "300"],
    "results_bundles": ["--bundles", "300"],
    "progress_ingest": ["--batches", "40", "--puts", "300"],
    "progress_group_page": ["--records", "200000"],
}


def discover() -> list[str]:
    return sorted(p.stem for p in BENCH.glob("*.py") if not p.name.startswith("_") and p.name != Path(__file__).name)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description="Run the benchmarks in bench/.")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(discover())})")
    parser.add_argument("--national", action="store_true", help="each benchmark at its own default (national) size")
    parser.add_argument("--table-only", action="store_true", help="run nothing; rewrite docs/benchmarks.md from bench/results")
    args = parser.parse_args(argv)
    if args.table_only:
        write_table()
        return 0
    available = discover()
    names = args.names or available
    unknown = [n for n in names if n not in available]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    for name in names:
        extra = passthrough or ([] if args.national else MAKE_BENCH_ARGS.get(name, []))
        print(f"== {name} {' '.join(extra)}", file=sys.stderr, flush=True)
        started = time.monotonic()
        # stderr passes through (progress); stdout is the JSON document
        proc = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), *extra], stdout=subprocess.PIPE, text=True)
        elapsed = time.monotonic() - started
        try:
            document = json.loads(proc.stdout)
        except json.JSONDecodeError:
            print(f"== {name}: no JSON on stdout (exit {proc.returncode}); stdout was:\n{proc.stdout[-2000:]}", file=sys.stderr)
            failed.append(name)
            continue
        if isinstance(document, dict):
            document.setdefault("run_all", {"arguments": extra, "elapsed_s": round(elapsed, 1), "exit": proc.returncode})
        (RESULTS / f"{name}.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
        print(f"== {name}: {status} in {elapsed:.0f} s -> {RESULTS / (name + '.json')}", file=sys.stderr, flush=True)
        if proc.returncode != 0:
            failed.append(name)
    write_table()
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


# -- the table ---------------------------------------------------------------------------------------


def _machine(doc: dict) -> str:
    m = doc.get("machine") or {}
    cores = m.get("nproc") or m.get("cpus") or m.get("cpu_count") or doc.get("cpus")
    model = (m.get("cpu_model") or "").replace("(R)", "").replace("(TM)", "").strip()
    parts = [f"{cores} cores" if cores else None, model or None, f"Python {m['python']}" if m.get("python") else None]
    return ", ".join(p for p in parts if p) or "?"


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:,.1f}" if value >= 10 else f"{value:.3g}"
    elif isinstance(value, int):
        value = f"{value:,}"
    return f"{value}{unit}"


def rows_for(name: str, doc: dict) -> list[dict]:
    """Headline rows of one benchmark's JSON: what, size, figure, baseline, ratio, ok."""
    p = doc.get("parameters") or {}
    ok = doc.get("ok", doc.get("passed"))
    if name == "registration_season":
        rows = []
        for backend in p.get("backends", []):
            r = (doc.get(backend) or {}).get("summary") or {}
            rows.append({
                "what": f"registration season, {backend}: POST /registreren accepted",
                "size": f"{_fmt(p.get('schools'))} schools x {p.get('pupils_per_school')} pupils",
                "figure": f"{_fmt(r.get('acceptance_requests_per_s'), ' req/s')} ({_fmt(r.get('acceptance_pupils_per_s'), ' pupils/s')}); processed {_fmt(r.get('processing_pupils_per_s'), ' pupils/s')}",
                "baseline": _fmt(r.get("baseline_requests_per_s"), " req/s (bare FastAPI)"),
                "ratio": _fmt(r.get("ratio_requests_per_s")),
                "ok": ok if r.get("nothing_lost", True) else False,
            })  # fmt: skip
        return rows
    if name == "pdf_reports":
        one, multi = doc.get("one_process") or {}, doc.get("multi_process") or {}
        base = doc.get("baseline_text_file") or {}
        ratio = (doc.get("ratio_pdf_vs_text_file") or {}).get("text_reports_per_s_over_pdf_reports_per_s_1_process")
        return [{
            "what": "PDF pupil reports", "size": f"{_fmt(p.get('n'))} reports",
            "figure": f"{_fmt(one.get('reports_per_s'), '/s')} 1 process, {_fmt(multi.get('reports_per_s'), '/s')} {p.get('processes')} processes",
            "baseline": _fmt(base.get("reports_per_s"), "/s (plain text files)"),
            "ratio": f"{_fmt(ratio)}x slower" if ratio else "-", "ok": ok if ok is not None else not doc.get("problems"),
        }]  # fmt: skip
    if name == "national_season":
        stages = doc.get("stages") or {}
        figure = "; ".join(
            f"{k.split(' (')[0]} {_fmt(v.get('pupils_per_s'), ' pupils/s')}" for k, v in stages.items() if v.get("pupils_per_s")
        )
        base = doc.get("baseline_pdf_only") or {}
        return [{
            "what": "whole season LAS <-> test supplier (chain test)",
            "size": f"{_fmt(p.get('schools'))} schools x {p.get('pupils_per_school')} pupils", "figure": f"{_fmt(doc.get('total_seconds'), ' s')} total; {figure}",
            "baseline": _fmt(base.get("reports_per_s"), " PDF/s alone"), "ratio": _fmt(doc.get("ratio_results_stage_vs_pdf_only")),
            "ok": ok,
        }]  # fmt: skip
    if name == "results_bundles":
        ours, base = doc.get("eduketen") or {}, doc.get("baseline") or {}
        return [{
            "what": f"results bundles, {doc.get('storage')}: POST /toetsresultaten/v1/results",
            "size": f"{_fmt(ours.get('bundles'))} bundles x {doc.get('students_per_bundle')} students",
            "figure": f"{_fmt(ours.get('bundles_per_second'), ' bundles/s')} ({_fmt(ours.get('students_per_second'), ' students/s')}), p95 {_fmt(ours.get('latency_ms', {}).get('p95'), ' ms')}",
            "baseline": _fmt(base.get("bundles_per_second"), " bundles/s (bare FastAPI)"), "ratio": _fmt(doc.get("ratio_eduketen_to_baseline")),
            "ok": ok if ok is not None else (ours.get("statuses") or {}).get("201") == ours.get("bundles"),  # every bundle stored
        }]  # fmt: skip
    if name == "progress_ingest":
        rows = []
        for run in doc.get("runs", []):
            ours, base = run.get("eduketen_bulk") or {}, run.get("baseline_bulk") or {}
            put, base_put = run.get("eduketen_put") or {}, run.get("baseline_put") or {}
            rows.append({
                "what": f"progress ingest, {run.get('storage')}: bulk POST and single PUT",
                "size": f"{_fmt(doc.get('batches'))} x {_fmt(doc.get('batch_size'))} records, {_fmt(doc.get('puts'))} PUTs",
                "figure": f"bulk {_fmt(ours.get('records_per_second'), ' records/s')} (goal {_fmt(doc.get('goal_records_per_second'))}); PUT {_fmt(put.get('requests_per_second'), ' req/s')}",
                "baseline": f"bulk {_fmt(base.get('records_per_second'), ' records/s')}; PUT {_fmt(base_put.get('requests_per_second'), ' req/s')}",
                "ratio": f"bulk {_fmt(run.get('ratio_bulk_eduketen_to_baseline'))}, PUT {_fmt(run.get('ratio_put_eduketen_to_baseline'))}",
                "ok": run.get("stored_records") == run.get("expected_records"),  # the run's own check; the goal is in the figure
            })  # fmt: skip
        return rows
    if name == "progress_group_page":
        ours, base = doc.get("eduketen") or {}, doc.get("baseline") or {}
        p95 = (ours.get("latency_ms") or {}).get("p95")
        return [{
            "what": f"mentor's group page, {doc.get('storage')}", "size": f"{_fmt(doc.get('stored_records'))} progress records stored",
            "figure": f"p95 {_fmt(p95, ' ms')} (goal under {doc.get('goal_p95_ms')} ms), {_fmt(ours.get('requests_per_second'), ' req/s')}",
            "baseline": f"p95 {_fmt((base.get('latency_ms') or {}).get('p95'), ' ms')} (bare page)", "ratio": f"{_fmt(doc.get('ratio_p95_eduketen_to_baseline'))}x the p95",
            "ok": (ours.get("statuses") or {}).get("200") == ours.get("requests"),
        }]  # fmt: skip
    return [{"what": name, "size": json.dumps(p)[:80], "figure": "see JSON", "baseline": "-", "ratio": "-", "ok": ok}]


def render_table() -> str:
    lines = [
        "| benchmark | date (UTC) | machine | size | figure | baseline (same run) | ratio | ok |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(RESULTS.glob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        stamp = doc.get("date") or datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")  # when it was written
        date = stamp.replace("T", " ").replace("+00:00", "")
        for row in rows_for(path.stem, doc):
            ok = {True: "yes", False: "**no**", None: "-"}[row["ok"] if row["ok"] in (True, False) else None]
            lines.append(
                f"| {row['what']} | {date} | {_machine(doc)} | {row['size']} | {row['figure']} | {row['baseline']} | {row['ratio']} | {ok} |"
            )
    if len(lines) == 2:
        lines.append("| (no results yet: run `make bench`) | | | | | | | |")
    return "\n".join(lines)


def write_table() -> None:
    table = render_table()
    TABLE_DOC.parent.mkdir(parents=True, exist_ok=True)
    TABLE_DOC.write_text(
        "# Benchmark figures\n\n"
        "Written by `bench/run_all.py` (`make bench`) from the JSON files in `bench/results/`; do not edit by hand.\n"
        "Each figure comes with a baseline measured in the same run on the same machine, and the ratio between them.\n"
        "`make bench` runs every benchmark at a small size (a few minutes on 2 shared cores); "
        "`bench/run_all.py --national` at the national size. What each benchmark does: `bench/README.md`.\n"
        "*ok* says the run's own checks passed (every answer as expected, nothing lost); a goal, where there is one, "
        "is in the figure, and the ratio column is against the baseline.\n\n"
        + table + "\n"
    )
    if README.exists():
        text = README.read_text()
        if README_START in text and README_END in text:
            head, rest = text.split(README_START, 1)
            _old, tail = rest.split(README_END, 1)
            README.write_text(f"{head}{README_START}\n{table}\n{README_END}{tail}")
    print(f"== table written to {TABLE_DOC.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
