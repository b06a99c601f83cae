"""Pupil reports of the Doorstroomtoets as PDF: how many per second, and will a national year fit.

A national year is about 190,000 pupils, one one-page report each. The goal: all of them in under
10 minutes on this 2-core machine, i.e. at least ~317 reports/s on 2 processes (~160 per core).

Synthetic but realistic content (deterministic per --seed): names with NEN 1888 diacritics and
voorvoegsels, long and short school names, the six tests, 3 to 12 score lines (parts, domains,
subdomains; numbers right and items, percentiles for some), the three reference levels, advice,
5 % provisional results. Each report is rendered with ``eduketen.doorstroomtoets.report`` from the
template and written to its own file in a temp dir, as the worker does.

1. one process: N reports in a row (wall time and CPU time);
2. ``--processes P`` (default 2): the same N reports split over P forked processes, timed from
   when all of them are warm (fonts loaded) until the last one is done;
3. baseline, in the same run and process: the same content as plain text (``report_text``, from
   the same template) written to one file per report; and the bare file writes of that text.

The projection for 190,000 reports uses the P-process rate. Font loading (once per process) is
reported separately as ``startup_s``. Afterwards a sample of the PDFs is read back with pypdf: one
page each, and the pupil's name (with its diacritics) and the report id extractable.

    .venv/bin/python bench/pdf_reports.py                  # 2,000 reports, 1 and 2 processes
    .venv/bin/python bench/pdf_reports.py --n 20000 --processes 2 --require-goal

Prints one JSON document on stdout (progress on stderr) and writes it to --output. Exits 1 when
a sampled PDF is wrong, or with --require-goal when the projection misses the 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform as py_platform
import random
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
NAME = "pdf_reports"
NATIONAL_YEAR = 190_000
GOAL_MINUTES = 10.0

ROEPNAMEN = [
    "Daan", "Emma", "Noah", "Zoë", "Lévi", "Fenna", "Çağan", "Ayşe", "Mehmet", "Gülşen", "Iñaki", "Renée", "Anaïs",
    "Jürgen", "Søren", "Åsa", "Ĳsbrand", "Ömer", "Eliška", "Tomáš", "Łucja", "Ştefan", "Bjørn", "Chloë", "Noël",
    "Maximiliaan-Alexander", "Sem", "Tess", "Yusuf", "Fatıma", "Dušan", "Zoltán", "Saoirse", "François", "Joëlle",
]  # fmt: skip
VOORVOEGSELS = ["", "", "", "", "", "van", "de", "van der", "van den", "van 't", "ter", "in 't", "d'", "el", "van de"]
ACHTERNAMEN = [
    "Vries", "Jansen", "Bakker", "Yılmaz", "Öztürk", "Şahin", "Çelik", "Nørgaard", "Dvořák", "Muñoz", "Ĳzerman",
    "Brouwer-Ĳsselstein", "Kowalczyk", "Đorđević", "Hoek", "Mäkinen", "Łukasiewicz", "Ström", "Berg", "Ouédraogo",
    "Van Nieuwenhuizen-Schäfer", "Smit", "Meijer", "Dekker", "El Amrani", "Nguyễn", "Popescu", "Ferreira da Conceição",
]  # fmt: skip
SCHOOLS = [
    "Basisschool De Regenboog", "OBS Het Kompas", "CBS De Wegwijzer", "Kindcentrum De Zonnebloem", "IKC Het Palet",
    "Stichting Katholiek Primair Onderwijs Sint-Franciscus van Assisi, locatie Het Kompas", "De Springplank",
    "Openbare Daltonschool De Ster", "RK Basisschool Sint-Jozef", "Het Anker", "Jenaplanschool 't Hoogeland",
]  # fmt: skip
TESTS = [
    ("ROUTE_8", "Route 8"), ("ICE", "IEP Doorstroomtoets"), ("DIA", "Dia doorstroomtoets"), ("AMN", "AMN Doorstroomtoets"),
    ("LEERLING_IN_BEELD", "Leerling in beeld-doorstroomtoets"), ("DOE", "Doe overheidsdoorstroomtoets"),
]  # fmt: skip
ADVIEZEN = ["vmbo-bb", "vmbo-kb", "vmbo-gt", "vmbo-gt/havo", "havo", "havo/vwo", "vwo", "praktijkonderwijs"]
PART_SETS = [
    [("REKENEN", 0), ("LEZEN", 0), ("TAALVERZORGING", 0)],
    [("REKENEN", 0), ("NEDERLANDSE_TAAL", 0), ("LEZEN", 1), ("TAALVERZORGING", 1)],
    [("REKENEN", 0), ("8060", 1), ("8061", 1), ("8062", 1), ("8063", 1), ("LEZEN", 0), ("9010", 1), ("TAALVERZORGING", 0), ("9000", 1), ("9001", 1)],
    [("NEDERLANDSE_TAAL", 0), ("LEZEN", 1), ("9010", 2), ("9011", 2), ("TAALVERZORGING", 1), ("9000", 2), ("9001", 2), ("9003", 2), ("REKENEN", 0), ("8060", 1), ("8061", 1), ("8062", 1)],
]  # fmt: skip


def log(message: str) -> None:
    print(f"[{NAME}] {message}", file=sys.stderr, flush=True)


def synthetic_reports(n: int, seed: int) -> list:
    from eduketen.doorstroomtoets.report import NiveauRegel, ReportData, ScoreRegel
    from eduketen.doorstroomtoets.resultaten import part_name

    rng = random.Random(seed)
    reports = []
    for _ in range(n):
        toets_id, toets_naam = rng.choice(TESTS)
        with_counts = rng.random() < 0.5
        with_percentiles = rng.random() < 0.4
        scores = []
        for code, depth in rng.choice(PART_SETS):
            made = rng.randint(20, 60)
            scores.append(
                ScoreRegel(
                    onderdeel=part_name(code),
                    score=None if code == "NEDERLANDSE_TAAL" else str(rng.randint(0, 100)),
                    aantal_goed=str(rng.randint(0, made)) if with_counts else None,
                    aantal_opgaven=str(made) if with_counts else None,
                    percentielscore=str(rng.randint(1, 99)) if with_percentiles else None,
                    diepte=depth,
                )
            )
        levels = [
            NiveauRegel("Rekenen", rng.choice(["L1F", "1F", "1F", "1S", "1S"])),
            NiveauRegel("Lezen", rng.choice(["<1F", "1F", "2F", "2F"])),
            NiveauRegel("Taalverzorging", rng.choice(["L1F", "1F", "1F", "2F"])),
        ]
        roepnaam = rng.choice(ROEPNAMEN)
        if rng.random() < 0.1:
            roepnaam += " " + rng.choice(ROEPNAMEN)
        reports.append(
            ReportData(
                school_name=rng.choice(SCHOOLS),
                brin=f"{rng.randint(0, 99):02d}{rng.choice('ABCDEFGHJKLMNPRSTUVWXYZ')}{rng.choice('ABCDEFGHJKLMNPRSTUVWXYZ')}",
                roepnaam=roepnaam,
                voorvoegsel=rng.choice(VOORVOEGSELS) or None,
                achternaam=rng.choice(ACHTERNAMEN),
                geboortedatum=date.fromordinal(date(2013, 10, 1).toordinal() + rng.randint(0, 364)),
                rapport_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                toets_naam=toets_naam,
                toets_id=toets_id,
                afnamedatum=date(2026, 4, rng.randint(14, 24)),
                schooljaar="2025-2026",
                toetsscore=str(rng.randint(50, 100) if toets_id == "ICE" else rng.randint(200, 300)),
                aantal_goed=str(rng.randint(60, 190)) if with_counts else None,
                aantal_opgaven="200" if with_counts else None,
                percentielscore=str(rng.randint(1, 99)) if rng.random() < 0.7 else None,
                scores=scores,
                referentieniveaus=levels,
                toetsadvies=rng.choice(ADVIEZEN),
                resultaat_versie="Voorlopig" if rng.random() < 0.05 else "Definitief",
            )
        )
    return reports


# -- the work ------------------------------------------------------------------------------------------------------

_REPORTS: list = []  # set before forking: the children inherit it, nothing is pickled


def render_range(start: int, stop: int, directory: Path) -> tuple[int, int, float]:
    from eduketen.doorstroomtoets.report import render_report

    size = 0
    cpu = time.process_time()
    for data in _REPORTS[start:stop]:
        pdf = render_report(data)
        (directory / f"{data.rapport_id}.pdf").write_bytes(pdf)
        size += len(pdf)
    return stop - start, size, time.process_time() - cpu


def text_range(start: int, stop: int, directory: Path) -> tuple[int, int, float]:
    from eduketen.doorstroomtoets.report import report_text

    size = 0
    cpu = time.process_time()
    for data in _REPORTS[start:stop]:
        text = report_text(data).encode("utf-8")
        (directory / f"{data.rapport_id}.txt").write_bytes(text)
        size += len(text)
    return stop - start, size, time.process_time() - cpu


def write_only(texts: list[tuple[str, bytes]], directory: Path) -> float:
    started = time.perf_counter()
    for name, text in texts:
        (directory / f"{name}.txt").write_bytes(text)
    return time.perf_counter() - started


def _worker(start, stop, directory, barrier, results) -> None:
    from eduketen.doorstroomtoets.report import ensure_fonts, render_report

    ensure_fonts()
    render_report(_REPORTS[start])  # warm: template, fonts, first subset
    barrier.wait()
    t0 = time.perf_counter()
    count, size, cpu = render_range(start, stop, directory)
    results.put((count, size, cpu, time.perf_counter() - t0))


def run_processes(n: int, processes: int, directory: Path) -> dict:
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    bounds = [round(i * n / processes) for i in range(processes + 1)]
    workers = [ctx.Process(target=_worker, args=(bounds[i], bounds[i + 1], directory, barrier, results)) for i in range(processes)]
    for w in workers:
        w.start()
    barrier.wait()
    t0 = time.perf_counter()
    done = [results.get() for _ in workers]
    wall = time.perf_counter() - t0
    for w in workers:
        w.join()
    count = sum(d[0] for d in done)
    cpu = sum(d[2] for d in done)
    return {
        "processes": processes,
        "reports": count,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "reports_per_s": round(count / wall, 1),
        "reports_per_s_per_process": round(count / wall / processes, 1),
        "reports_per_cpu_s": round(count / cpu, 1),
        "per_process_wall_s": [round(d[3], 3) for d in done],
        "pdf_bytes_mean": round(sum(d[1] for d in done) / count),
    }


def check_sample(directory: Path, sample: list, problems: list[str]) -> int:
    try:
        from pypdf import PdfReader
    except ImportError:
        problems.append("pypdf is not installed: the PDFs could not be checked (pip install pypdf)")
        return 0
    for data in sample:
        path = directory / f"{data.rapport_id}.pdf"
        reader = PdfReader(str(path))
        text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
        if len(reader.pages) != 1:
            problems.append(f"{path.name}: {len(reader.pages)} pages, expected 1")
        if data.leerling_naam not in text:
            problems.append(f"{path.name}: the name {data.leerling_naam!r} is not extractable")
        if data.rapport_id not in text:
            problems.append(f"{path.name}: the report id is not extractable")
    return len(sample)


def machine_info() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for pkg in ("eduketen", "reportlab", "rl_accel", "fonttools", "pypdf"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    try:
        import _rl_accel  # noqa: F401

        versions["rl_accel_loaded"] = True
    except ImportError:
        versions["rl_accel_loaded"] = False
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": sys.version.split()[0],
        "kernel": py_platform.release(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "versions": versions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="PDF pupil reports per second, 1 and N processes, against plain text files.")
    parser.add_argument("--n", type=int, default=2000, help="reports per measurement (default 2000)")
    parser.add_argument("--processes", type=int, default=2, help="processes for the parallel measurement (default 2)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--sample", type=int, default=25, help="PDFs read back with pypdf (default 25)")
    parser.add_argument(
        "--require-goal", action="store_true", help=f"exit 1 when {NATIONAL_YEAR:,} reports would take more than {GOAL_MINUTES:g} minutes"
    )
    parser.add_argument("--output", type=Path, default=BENCH / "results" / f"{NAME}.json")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with the PDFs")
    args = parser.parse_args(argv)
    if args.n < args.processes or args.processes < 1:
        parser.error("--n must be at least --processes, and --processes at least 1")

    problems: list[str] = []
    document: dict = {
        "benchmark": NAME,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([os.path.relpath(sys.executable, ROOT), *sys.argv]) if argv is None else None,
        "machine": machine_info(),
        "parameters": {"n": args.n, "processes": args.processes, "seed": args.seed},
    }
    workdir = Path(tempfile.mkdtemp(prefix="eduketen-pdf-"))
    try:
        from eduketen.doorstroomtoets.report import ensure_fonts, render_report, report_text

        t0 = time.perf_counter()
        ensure_fonts()
        startup = time.perf_counter() - t0
        log(f"fonts ready in {startup:.2f} s; making {args.n} synthetic reports")
        _REPORTS[:] = synthetic_reports(args.n, args.seed)
        render_report(_REPORTS[0])
        report_text(_REPORTS[0])

        one_dir = workdir / "one"
        one_dir.mkdir()
        log("1 process ...")
        t0 = time.perf_counter()
        count, size, cpu = render_range(0, args.n, one_dir)
        wall = time.perf_counter() - t0
        one = {
            "processes": 1, "reports": count, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "reports_per_s": round(count / wall, 1), "reports_per_cpu_s": round(count / cpu, 1), "pdf_bytes_mean": round(size / count),
        }  # fmt: skip
        log(f"1 process: {one['reports_per_s']} reports/s")

        multi_dir = workdir / "multi"
        multi_dir.mkdir()
        log(f"{args.processes} processes ...")
        multi = run_processes(args.n, args.processes, multi_dir)
        log(f"{args.processes} processes: {multi['reports_per_s']} reports/s")

        text_dir = workdir / "text"
        text_dir.mkdir()
        t0 = time.perf_counter()
        tcount, tsize, tcpu = text_range(0, args.n, text_dir)
        twall = time.perf_counter() - t0
        texts = [(d.rapport_id, report_text(d).encode("utf-8")) for d in _REPORTS]
        raw_dir = workdir / "raw"
        raw_dir.mkdir()
        raw_wall = write_only(texts, raw_dir)
        baseline = {
            "what": "the same content as plain text (report_text, same template) written to one .txt file per report, 1 process",
            "reports": tcount, "wall_s": round(twall, 3), "reports_per_s": round(tcount / twall, 1), "text_bytes_mean": round(tsize / tcount),
            "write_only_reports_per_s": round(tcount / raw_wall, 1),
        }  # fmt: skip
        log(f"baseline: {baseline['reports_per_s']} text files/s")

        sample = [_REPORTS[0], _REPORTS[-1], *random.Random(args.seed).sample(_REPORTS, min(args.sample, len(_REPORTS)))]
        checked = check_sample(multi_dir, sample, problems)
        rate = multi["reports_per_s"]
        minutes = NATIONAL_YEAR / rate / 60
        document.update(
            {
                "library": "PDF written directly (report._write_direct; reportlab for text widths and font subsets, cached per character set), DejaVu Sans reduced with fontTools, template report_template.yaml",
                "startup_s": round(startup, 3),
                "one_process": one,
                "multi_process": multi,
                "reports_per_s_per_core": round(rate / args.processes, 1),
                "projection": {
                    "reports": NATIONAL_YEAR,
                    "processes": args.processes,
                    "minutes": round(minutes, 1),
                    "goal_minutes": GOAL_MINUTES,
                    "goal_met": minutes <= GOAL_MINUTES,
                    "needed_reports_per_s": round(NATIONAL_YEAR / (GOAL_MINUTES * 60), 1),
                    "minutes_if_cores_free": round(NATIONAL_YEAR / (multi["reports_per_cpu_s"] * args.processes) / 60, 1),
                    "minutes_if_cores_free_means": "the same projection from the CPU time per report: what the processes "
                    "reach when nothing else runs on their cores",
                },
                "baseline_text_file": baseline,
                "ratio_pdf_vs_text_file": {
                    "text_reports_per_s_over_pdf_reports_per_s_1_process": round(baseline["reports_per_s"] / one["reports_per_s"], 1),
                    "meaning": "how many times longer a PDF report takes than writing the same text to a plain file",
                },
                "checked_pdfs": checked,
                "notes": [
                    "Rates are wall-clock: they include writing each PDF to its own file on the temp dir's filesystem.",
                    "The machine is shared (see loadavg): other work on its 2 cores lowers the wall-clock rates; "
                    "reports_per_cpu_s shows the rate per busy core.",
                    "startup_s (reducing and registering the fonts) is paid once per process and is not in the rates.",
                ],
            }
        )
        document["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        if args.require_goal and minutes > GOAL_MINUTES:
            problems.append(
                f"{NATIONAL_YEAR:,} reports would take {minutes:.1f} minutes on {args.processes} processes (goal {GOAL_MINUTES:g})"
            )
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    document["ok"] = not problems
    document["problems"] = problems
    rendered = json.dumps(document, indent=2, ensure_ascii=False, default=str)
    print(rendered)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(rendered + "\n")
    for p in problems:
        log(f"FAILED: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
