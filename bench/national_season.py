"""A Doorstroomtoets season through `eduketen chaintest`: a LAS installation and a test supplier
installation (separate processes, separate SQLite databases, HTTPS with client certificates on
loopback, both on this machine) run registration, advice, results with PDF reports, report
retrieval, a correction, an outage and a duplicate. Prints wall time per stage and in total as
JSON, and the pupils per second of each stage.

CPU seconds per stage (all processes of the chain test: the test itself, both installations
and their workers; read from /proc on Linux at each step's line) and CPU milliseconds per pupil,
which a shared machine's load disturbs less than wall time.

Baseline, measured in the same run: the same number of pupil reports rendered in one process
without any exchange (the PDF work alone), so the ratio shows what the chain adds on top of it.

    .venv/bin/python bench/national_season.py                    # national: 6,200 schools x 30 pupils
    .venv/bin/python bench/national_season.py --schools 300      # a region
"""

from __future__ import annotations

import argparse
import json
import os
import platform as py_platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def machine() -> dict:
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": py_platform.python_version(), "system": py_platform.platform()}


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, own CPU seconds, CPU seconds of waited-for children) of a process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK, (int(fields[13]) + int(fields[14])) / TICK


def tree_cpu(root: int) -> dict[int, float]:
    """Own CPU seconds of ``root`` and of each live descendant (waited-for children not counted
    here: the caller keeps the last reading of every process it saw)."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            stats[int(entry)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            out[pid] = stats[pid][1]
            todo.extend(children.get(pid, []))
    return out


def run_chaintest(command: list[str]) -> tuple[int, str, list[dict]]:
    """Run the chain test, noting the CPU of its process tree at each step's line."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, marks = [], []
    seen: dict[int, float] = {}
    for line in proc.stdout:
        lines.append(line)
        if os.path.isdir("/proc"):
            # a process that ended (the test supplier killed in the outage step, and its worker
            # that then left the tree) keeps its last reading
            seen.update(tree_cpu(proc.pid))
            marks.append({"line": line.strip(), "cpu": round(sum(seen.values()), 2)})
    proc.wait()
    return proc.returncode, "".join(lines), marks


def baseline_reports(n: int) -> dict:
    """Render ``n`` reports with synthetic data in one process: the PDF work without the chain."""
    from eduketen.doorstroomtoets import report
    from eduketen.simulate.region import generate_region
    from eduketen.simulate.results import leerlingresultaat

    region = generate_region(n_schools=max(1, n // 30 + 1), pupils_per_school=30, seed=5, n_las=1)
    pupils = [(s, p) for s in region.schools for p in s.pupils][:n]

    class Identity:
        def __init__(self, p):
            self.roepnaam, self.voorvoegsel, self.achternaam = p.roepnaam, p.voorvoegsel, p.achternaam
            self.voorletters, self.geboortedatum = p.voorletters, datetime.fromisoformat(p.geboortedatum).date()

    class School:
        def __init__(self, s):
            self.name, self.brin, self.oin = s.name, s.brin, s.oin

    started = time.perf_counter()
    for school, p in pupils:
        message = leerlingresultaat(refs=p.refs(), schooljaar="2025-2026", spec_key="v1.1", rapport_url="https://t/x", seed=p.las_key)
        report.render_for_result(message, school=School(school), identity=Identity(p), rapport_id="bench")
    seconds = time.perf_counter() - started
    return {"reports": len(pupils), "seconds": round(seconds, 2), "reports_per_s": round(len(pupils) / seconds, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=6200)
    parser.add_argument("--pupils", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1, help="extra worker processes per installation")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--baseline-reports", type=int, default=2000)
    parser.add_argument("--output", type=Path, default=RESULTS / "national_season.json")
    args = parser.parse_args()

    # ignore_cleanup_errors: a stopped installation's worker may still be removing its last files
    with tempfile.TemporaryDirectory(prefix="eduketen-season-", ignore_cleanup_errors=True) as tmp:
        directory = Path(tmp) / "chain"
        started = time.perf_counter()
        returncode, output, marks = run_chaintest(
            [str(Path(sys.executable).parent / "eduketen"), "chaintest", "--dir", str(directory), "--schools", str(args.schools),
             "--pupils", str(args.pupils), "--timeout", str(args.timeout), "--workers", str(args.workers)]
        )  # fmt: skip
        total = time.perf_counter() - started
        steps = json.loads((directory / "report.json").read_text()) if (directory / "report.json").exists() else []
    pupils = args.schools * args.pupils
    base = baseline_reports(min(args.baseline_reports, pupils))
    stages = {s["step"]: {"seconds": s["seconds"], "ok": s["ok"], "detail": s["detail"]} for s in steps}
    for name in ("registration (Deelnemerslijst per school)", "provisional advice with unknown pupils", "results delivered, PDF reports fetched"):
        if name in stages and stages[name]["seconds"]:
            stages[name]["pupils_per_s"] = round(pupils / stages[name]["seconds"], 1)
    # CPU of a step: the tree's CPU at its line minus that at the line before (the first step: from the start)
    before = 0.0
    for mark in marks:
        name = next((n for n in stages if n in mark["line"] and mark["line"].startswith("[")), None)
        if name is not None:
            stages[name]["cpu_seconds"] = round(mark["cpu"] - before, 2)
            stages[name]["cpu_ms_per_pupil"] = round(1000 * (mark["cpu"] - before) / pupils, 2)
        before = mark["cpu"]
    results_stage = stages.get("results delivered, PDF reports fetched", {}).get("seconds")
    out = {
        "benchmark": "national_season",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "parameters": {"schools": args.schools, "pupils_per_school": args.pupils, "pupils": pupils, "extra_workers": args.workers,
                       "storage": "SQLite, one file per installation"},
        "passed": returncode == 0,
        "total_seconds": round(total, 1),
        "stages": stages,
        "baseline_pdf_only": base,
        "ratio_results_stage_vs_pdf_only": round((pupils / base["reports_per_s"]) / results_stage, 3) if results_stage else None,
        "goal": "whole national season under 15 minutes on SQLite",
        "note": "both installations and the load share this 2-core machine",
    }  # fmt: skip
    if returncode != 0:
        out["chaintest_output"] = output[-5000:]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return 0 if returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
