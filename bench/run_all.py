"""Run every benchmark in bench/ and write each one's JSON to bench/results/<name>.json.

A benchmark is a ``bench/<name>.py`` whose name does not start with ``_`` (helpers do) and is not
this file. Each prints one JSON document on stdout (progress goes to stderr) and exits non-zero
when its checks fail. run_all captures that document and writes it to bench/results/<name>.json
(whatever the benchmark may write itself).

    .venv/bin/python bench/run_all.py                                          # every benchmark, default size
    .venv/bin/python bench/run_all.py registration_season                      # only these
    .venv/bin/python bench/run_all.py registration_season -- --schools 200     # arguments for the named ones

Arguments after ``--`` go to every benchmark that runs, so name the benchmarks they fit.

Exits 1 when any benchmark failed or printed no JSON; the results of the others are still written.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"


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
    args = parser.parse_args(argv)
    available = discover()
    names = args.names or available
    unknown = [n for n in names if n not in available]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    for name in names:
        print(f"== {name} {' '.join(passthrough)}", file=sys.stderr, flush=True)
        started = time.monotonic()
        # stderr passes through (progress); stdout is the JSON document
        proc = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), *passthrough], stdout=subprocess.PIPE, text=True)
        elapsed = time.monotonic() - started
        try:
            document = json.loads(proc.stdout)
        except json.JSONDecodeError:
            print(f"== {name}: no JSON on stdout (exit {proc.returncode}); stdout was:\n{proc.stdout[-2000:]}", file=sys.stderr)
            failed.append(name)
            continue
        (RESULTS / f"{name}.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
        print(f"== {name}: {status} in {elapsed:.0f} s -> {RESULTS / (name + '.json')}", file=sys.stderr, flush=True)
        if proc.returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
