"""A national registration season of the Doorstroomtoets PO, over HTTP on loopback.

Every school's LAS posts its ``Deelnemerslijst`` (group-8 pupils) once to
``POST /doorstroomtoets/v1.1/registreren?edu-to=<school OIN>&edu-from=<routeringskenmerk>``;
defaults are the national size: 6,200 schools x 30 pupils = 186,000 pupils.

Per storage backend (SQLite file, and PostgreSQL in a throw-away cluster):

1. baseline: a bare FastAPI app (bench/_baseline_app.py), served by uvicorn the way
   ``eduketen serve`` is, that only parses the body and answers 202; the same wrk invocation and
   the same request bytes;
2. ours: ``eduketen serve`` (plain HTTP, the client certificate in the RFC 9440 ``Client-Cert``
   header trusted from 127.0.0.1, the worker embedded as by default) on a freshly migrated
   database holding the region's register (schools, administrations, mandates, open windows);
3. processing: how long until the worker has processed every accepted message, and whether the
   database holds schools x pupils ``dt_deelname`` rows (nothing lost).

The load generator is wrk with bench/_season.lua: each school is posted exactly once, each
request is timed individually (by the ``X-Request-ID`` the server echoes). wrk runs on the same
machine and shares its cores with the server (and PostgreSQL); the output says so.

    .venv/bin/python bench/registration_season.py                       # national size, both backends
    .venv/bin/python bench/registration_season.py --schools 200         # small mode, about a minute
    .venv/bin/python bench/registration_season.py --backend sqlite --connections 32

Prints one JSON document to stdout and writes it to bench/results/registration_season.json.
Exits 1 (and says why in the JSON's ``problems`` and on stderr) when any answer was not 202,
any request went unanswered, or the database does not hold every pupil.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform as py_platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout even without `pip install -e`

import orjson  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from eduketen.config import Settings  # noqa: E402
from eduketen.core.auth import encode_client_cert_header  # noqa: E402
from eduketen.core.db import unit_of_work  # noqa: E402
from eduketen.core.models import InboxMessage  # noqa: E402
from eduketen.core.platform import Platform  # noqa: E402
from eduketen.migrations import upgrade  # noqa: E402
from eduketen.simulate.certs import CertificateAuthority  # noqa: E402
from eduketen.simulate.region import Region, deelnemerslijst, generate_region, install_region, open_windows  # noqa: E402

NAME = "registration_season"
PATH = "/doorstroomtoets/v1.1/registreren"
GOAL_RATIO = 0.5
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None) if Path("/usr/lib/postgresql").exists() else None


def log(message: str) -> None:
    print(f"[{NAME} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchFailure(RuntimeError):
    pass


# -- machine ---------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return py_platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _fs_type(path: Path) -> str | None:
    try:
        out = subprocess.run(["df", "--output=fstype", str(path)], capture_output=True, text=True, check=True).stdout.split()
        return out[-1]
    except (OSError, subprocess.CalledProcessError):
        return None


def _git() -> dict:
    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    try:
        commit = run("rev-parse", "HEAD")
        modified = [line[3:] for line in run("status", "--porcelain", "--untracked-files=no", "src").splitlines()]
        untracked = [line[3:] for line in run("status", "--porcelain", "src").splitlines() if line.startswith("??")]
    except OSError:
        return {}
    return {"commit": commit, "src_modified": modified, "src_untracked": untracked}


def _versions() -> dict:
    import sqlite3
    from importlib.metadata import PackageNotFoundError, version

    found = {"sqlite": sqlite3.sqlite_version}
    for pkg in ("eduketen", "fastapi", "starlette", "uvicorn", "uvloop", "httptools", "sqlalchemy", "psycopg", "orjson"):
        try:
            found[pkg] = version(pkg)
        except PackageNotFoundError:
            found[pkg] = None
    try:
        found["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0].strip()
    except OSError:
        found["wrk"] = None
    if PG_BIN:
        try:
            found["postgresql"] = subprocess.run([str(PG_BIN / "postgres"), "--version"], capture_output=True, text=True).stdout.strip()
        except OSError:
            pass
    return found


def machine_info(tmp: Path) -> dict:
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _mem_total_gib(),
        "kernel": py_platform.release(),
        "python": sys.version.split()[0],
        "python_implementation": py_platform.python_implementation(),
        "temp_dir_filesystem": _fs_type(tmp),
        "versions": _versions(),
        "git": _git(),
    }


# -- processes --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_seconds(pid: int) -> float | None:
    """user + system CPU seconds of a process (all its threads) from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15)


def child_pids(root_pid: int) -> list[int]:
    """Direct children of a process (eduketen serve's embedded worker; a postmaster's backends)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == root_pid:  # ppid
            found.append(int(stat.parent.name))
    return found


def tree_cpu_seconds(root_pid: int) -> float:
    """CPU seconds of a process and its direct children."""
    return sum(proc_cpu_seconds(pid) or 0.0 for pid in [root_pid, *child_pids(root_pid)])


def machine_cpu() -> dict[str, float]:
    """Machine-wide CPU seconds so far (all cores) from /proc/stat: busy (user, nice, system, irq,
    softirq), steal (taken by the hypervisor) and idle (idle + iowait)."""
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return {}
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return {"busy": (user + nice + system + irq + softirq) / ticks, "steal": steal / ticks, "idle": (idle + iowait) / ticks}


def cpu_account(before: dict[str, float], after: dict[str, float], own: float | None) -> dict:
    """What the whole machine did during a phase, and how much of it was not ours (``own``: CPU
    seconds of the processes this benchmark measured). Other work on the machine (another
    benchmark, a test suite) shows up as ``other_busy_cpu_seconds``."""
    if not before or not after:
        return {}
    busy = after["busy"] - before["busy"]
    account = {
        "machine_busy_cpu_seconds": round(busy, 2),
        "machine_idle_cpu_seconds": round(after["idle"] - before["idle"], 2),
        "steal_cpu_seconds": round(after["steal"] - before["steal"], 2),
    }
    if own is not None:
        account["other_busy_cpu_seconds"] = round(max(0.0, busy - own), 2)
    return account


def wait_for_idle(limit: float, *, threshold: float = 0.10, quiet_for: float = 10.0) -> dict:
    """Before a measured phase: wait (at most ``limit`` s) until the machine's busy share stayed
    below ``threshold`` for ``quiet_for`` s. Returns what was seen; never fails."""
    started = time.monotonic()
    quiet_since = None
    share = None
    while True:
        before = machine_cpu()
        time.sleep(1.0)
        after = machine_cpu()
        if not before or not after:
            return {"waited_seconds": 0.0, "idle": None}
        busy = after["busy"] - before["busy"]
        share = busy / max(1e-9, busy + after["idle"] - before["idle"])
        now = time.monotonic()
        if share < threshold:
            quiet_since = quiet_since or now
            if now - quiet_since >= quiet_for:
                return {"waited_seconds": round(now - started, 1), "idle": True}
        else:
            quiet_since = None
        if now - started >= limit:
            log(f"the machine is still busy ({share:.0%} of its CPU) after waiting {limit:.0f} s; measuring anyway")
            return {"waited_seconds": round(now - started, 1), "idle": False, "busy_share": round(share, 2)}


def proc_status_kib(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


class RssSampler:
    """Samples VmRSS of a process, and the sum over it and its direct children (``eduketen serve``
    runs its embedded worker as a child process), every ``interval`` seconds. VmHWM is the
    kernel's exact peak of one process."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval = pid, interval
        self.peak_kib = 0
        self.peak_tree_kib = 0
        self.children: set[int] = set()
        self.children_hwm_kib: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        rounds = 0
        while not self._stop.is_set():
            rss = proc_status_kib(self.pid, "VmRSS")
            if rss is None:
                return
            if rounds % 10 == 0:  # the children rarely change: look for them once a second
                self.children.update(child_pids(self.pid))
            rounds += 1
            tree = rss
            for child in list(self.children):
                child_rss = proc_status_kib(child, "VmRSS")
                if child_rss is None:
                    continue
                tree += child_rss
                hwm = proc_status_kib(child, "VmHWM")
                if hwm is not None:
                    self.children_hwm_kib[child] = max(hwm, self.children_hwm_kib.get(child, 0))
            self.peak_kib = max(self.peak_kib, rss)
            self.peak_tree_kib = max(self.peak_tree_kib, tree)
            self._stop.wait(self.interval)

    def memory(self) -> dict:
        """Peak figures so far, in MiB."""
        return {
            "server_peak_rss_mib": mib(proc_status_kib(self.pid, "VmHWM")),  # the server process (uvicorn)
            "server_peak_rss_mib_sampled": mib(self.peak_kib),
            "child_processes_peak_rss_mib": {str(pid): mib(kib) for pid, kib in self.children_hwm_kib.items()},
            "server_with_children_peak_rss_mib_sampled": mib(self.peak_tree_kib),
        }

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


class Server:
    """A uvicorn server as a child process: ``eduketen serve`` or the baseline."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name, self.cmd, self.env, self.workdir = name, cmd, env, workdir
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.sampler: RssSampler | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, port: int | None, timeout: float = 120.0) -> None:
        """Start; wait until /health answers (``port``) or, for a process without HTTP, 2 s alive."""
        out = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir)
        out.close()
        if port is None:
            time.sleep(2.0)
            if self.proc.poll() is not None:
                raise BenchFailure(f"{self.name} exited with {self.proc.returncode} at start:\n{self.log_tail()}")
            self.sampler = RssSampler(self.proc.pid)
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchFailure(f"{self.name} exited with {self.proc.returncode} at start:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        self.sampler = RssSampler(self.proc.pid)
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise BenchFailure(f"{self.name} did not answer /health within {timeout:.0f} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def log_lines_at_level(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        try:
            text_ = self.log_path.read_text(errors="replace")
        except OSError:
            return counts
        for level in ("warning", "error", "critical"):
            counts[level] = len(re.findall(rf'"level":\s*"{level}"', text_, flags=re.IGNORECASE))
        counts["traceback"] = text_.count("Traceback")
        return counts

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.sampler is not None:
            self.sampler.stop()
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


# -- PostgreSQL -------------------------------------------------------------------------------------


def _as_postgres(cmd: list[str]) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


@contextmanager
def postgres_cluster(options: list[str]):
    """A throw-away cluster in a temp dir (as tests/conftest.py ``pg_server``), stopped and removed
    at the end. Unlike the tests, fsync stays on: the benchmark measures durable acceptance."""
    if PG_BIN is None or not (PG_BIN / "initdb").exists():
        raise BenchFailure("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    base = Path(tempfile.mkdtemp(prefix="eduketen-season-pg-"))
    os.chmod(base, 0o755)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data = base / "data"
    port = free_port()
    started = False
    try:
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"])
        extra = " ".join(f"-c {o}" for o in options)
        _as_postgres(
            [
                str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "start",
                "-o", f"-k {base} -p {port} -c listen_addresses='' -c max_connections=200 {extra}",
            ]
        )
        started = True
        admin = create_engine(f"postgresql+psycopg://postgres@/postgres?host={base}&port={port}", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE eduketen"))
            settings = {
                name: conn.execute(text(f"SHOW {name}")).scalar()
                for name in ("fsync", "synchronous_commit", "shared_buffers", "wal_level", "max_connections")
            }
        admin.dispose()
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
        yield f"postgresql+psycopg://postgres@/eduketen?host={base}&port={port}", settings, postmaster
    finally:
        if started:
            subprocess.run(
                (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
                + [str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True,
            )
        shutil.rmtree(base, ignore_errors=True)


# -- the region and the requests -------------------------------------------------------------------


@dataclass
class Season:
    region: Region
    request_dir: Path  # requests-<tid>.bin per wrk thread
    threads: int
    requests: int
    body_bytes_mean: float
    body_bytes_max: int
    request_bytes_total: int
    warm_up: list[tuple[str, str]]  # (path?query, Client-Cert) of one school per LAS supplier


def prepare_season(schools: int, pupils: int, seed: int, threads: int, workdir: Path) -> Season:
    started = time.perf_counter()
    region = generate_region(schools, pupils, seed=seed)
    log(f"region: {schools} schools x {pupils} pupils generated in {time.perf_counter() - started:.1f} s")
    ca = CertificateAuthority.create("eduketen bench CA")
    cert_header = {
        s.oin: encode_client_cert_header(ca.issue_client(s.oin, s.name).der) for s in region.las_suppliers
    }
    request_dir = workdir / "requests"
    request_dir.mkdir()
    files = [open(request_dir / f"requests-{t}.bin", "wb") for t in range(threads)]
    sizes = []
    total = 0
    samples: dict[str, tuple[str, str]] = {}
    try:
        for i, school in enumerate(region.schools):
            body = orjson.dumps(deelnemerslijst(school, "v1.1"))
            rid = f"season-{i:06d}"
            target = f"{PATH}?edu-to={school.oin}&edu-from={school.routing}"
            samples.setdefault(school.las.oin, (target, cert_header[school.las.oin]))
            head = (
                f"POST {target} HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\n"
                f"Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n"
                f"Client-Cert: {cert_header[school.las.oin]}\r\n"
                f"X-Request-ID: {rid}\r\n"
                f"\r\n"
            ).encode("ascii")
            raw = head + body
            f = files[i % threads]
            f.write(f"{rid} {len(raw)}\n".encode("ascii"))
            f.write(raw)
            sizes.append(len(body))
            total += len(raw)
    finally:
        for f in files:
            f.close()
    return Season(region, request_dir, threads, len(sizes), sum(sizes) / len(sizes), max(sizes), total, list(samples.values()))


def install_database(url: str, region: Region) -> float:
    started = time.perf_counter()
    upgrade(url)
    settings = Settings(database_url=url, own_oin=region.toetsaanbieder.oin, embedded_worker=False, log_level="WARNING")
    platform = Platform.build(settings)
    try:
        with unit_of_work(platform.sessions) as session:
            install_region(session, region)
            open_windows(session)
    finally:
        platform.engine.dispose()
    return time.perf_counter() - started


def server_env(url: str, region: Region) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDUKETEN_")}
    env.update(
        {
            "EDUKETEN_DATABASE_URL": url,
            "EDUKETEN_OWN_OIN": region.toetsaanbieder.oin,
            "EDUKETEN_TRUSTED_PROXIES": '["127.0.0.1/32"]',
            "EDUKETEN_LOG_LEVEL": "WARNING",
        }
    )
    return env


def warm_up(port: int, season: Season, expect: int) -> list[int]:
    """One request per LAS supplier with the body ``{}``: eduketen answers 422 after the
    certificate, register, mandate and schema checks (so its caches are loaded), the baseline
    202. Not part of the measurement; no school is registered by it."""
    statuses = []
    for target, cert in season.warm_up:
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}{target}",
            data=b"{}",
            method="POST",
            headers={"Content-Type": "application/json", "Client-Cert": cert},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        if status != expect:
            raise BenchFailure(f"warm-up answered {status}, expected {expect}: {body[:500]!r}")
        statuses.append(status)
    return statuses


# -- the load ---------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def run_wrk(
    server: Server, port: int, season: Season, out: Path, *, connections: int, duration: float, database_cpu=None,
    wait_idle: float = 0.0,
) -> dict:
    """Post every request once; return throughput, latencies, status codes and CPU use."""
    out.mkdir(parents=True)
    idle_wait = wait_for_idle(wait_idle) if wait_idle > 0 else None
    env = {**os.environ, "SEASON_DIR": str(season.request_dir), "SEASON_OUT": str(out)}
    cmd = [
        "wrk", "-t", str(season.threads), "-c", str(connections), "-d", f"{int(math.ceil(duration))}s",
        "--timeout", "120s", "-s", str(BENCH / "_season.lua"), f"http://127.0.0.1:{port}/",
    ]
    server_cpu_before = tree_cpu_seconds(server.pid)
    server_main_cpu_before = proc_cpu_seconds(server.pid)
    hwm_before = proc_status_kib(server.pid, "VmHWM")
    rss_before = proc_status_kib(server.pid, "VmRSS")
    wall_offset = time.time() - time.monotonic()  # maps CLOCK_MONOTONIC to wall time
    machine_before = machine_cpu()
    db_cpu_before = database_cpu() if database_cpu else None
    loadavg = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else None
    stdout_path = out / "wrk.stdout"
    with open(stdout_path, "wb") as wrk_out:
        wrk = subprocess.Popen(cmd, env=env, stdout=wrk_out, stderr=subprocess.STDOUT)
    started = time.monotonic()
    wrk_cpu = None
    finished = False
    while True:
        if all((out / f"done-{t}").exists() for t in range(season.threads)):
            finished = True
            wrk_cpu = proc_cpu_seconds(wrk.pid)
            wrk.send_signal(signal.SIGINT)  # wrk's main thread sleeps for -d otherwise
            break
        if wrk.poll() is not None:
            break  # the -d limit ran out (or wrk failed) before every request was answered
        if not server.alive():
            wrk.kill()
            break
        time.sleep(0.02)
    try:
        wrk.wait(30)
    except subprocess.TimeoutExpired:
        wrk.kill()
        wrk.wait(10)
    server_cpu_after = tree_cpu_seconds(server.pid)
    server_main_cpu_after = proc_cpu_seconds(server.pid)
    machine_after = machine_cpu()
    db_cpu = database_cpu() - db_cpu_before if database_cpu else None
    wrk_stdout = stdout_path.read_text(errors="replace")
    if not server.alive():
        raise BenchFailure(f"{server.name} died during the load:\n{server.log_tail()}")
    if not finished:
        done = sum((out / f"done-{t}").exists() for t in range(season.threads))
        raise BenchFailure(
            f"not every request was answered within --duration {duration:.0f} s "
            f"({done}/{season.threads} wrk threads done after {time.monotonic() - started:.0f} s); wrk said:\n{wrk_stdout[-2000:]}"
        )

    per_thread = [json.loads((out / f"thread-{t}.json").read_text()) for t in range(season.threads)]
    latencies: list[float] = []
    for t in range(season.threads):
        latencies += [float(x) for x in (out / f"latency-{t}.txt").read_text().split()]
    latencies.sort()
    statuses: dict[str, int] = {}
    for t in per_thread:
        for code, n in t["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    first = min(t["first_sent_us"] for t in per_thread)
    last = max(t["last_answered_us"] for t in per_thread)
    seconds = (last - first) / 1e6
    answered = sum(t["answered"] for t in per_thread)
    socket_errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", wrk_stdout)
    if m:
        socket_errors = dict(zip(socket_errors, map(int, m.groups()), strict=True))
    ms = [x / 1000 for x in latencies]
    return {
        "requests": season.requests,
        "answered": answered,
        "pupils": season.requests * len(season.region.schools[0].pupils),
        "seconds": round(seconds, 3),
        "requests_per_s": round(answered / seconds, 1),
        "pupils_per_s": round(answered * len(season.region.schools[0].pupils) / seconds, 1),
        "latency_ms": {
            "p50": round(percentile(ms, 50), 2),
            "p95": round(percentile(ms, 95), 2),
            "p99": round(percentile(ms, 99), 2),
            "max": round(ms[-1], 2) if ms else None,
            "mean": round(sum(ms) / len(ms), 2) if ms else None,
            "timed_requests": len(ms),
        },
        "status_counts": dict(sorted(statuses.items())),
        "unmatched_responses": sum(t["unmatched"] for t in per_thread),
        "socket_errors": socket_errors,
        "server_rss_mib_before_load": mib(rss_before),
        "server_peak_rss_mib_before_load": mib(hwm_before),
        **(server.sampler.memory() if server.sampler else {}),  # peaks after the HTTP phase
        # CPU of the server process and its child processes (the embedded worker runs as one)
        "server_cpu_seconds": round(server_cpu_after - server_cpu_before, 2),
        "server_main_process_cpu_seconds": round(server_main_cpu_after - server_main_cpu_before, 2)
        if server_main_cpu_after is not None and server_main_cpu_before is not None
        else None,
        "loadgen_cpu_seconds": round(wrk_cpu, 2) if wrk_cpu is not None else None,
        # CPU of the PostgreSQL cluster and of a separate worker process (--worker-mode separate), if any
        "helper_cpu_seconds": round(db_cpu, 2) if db_cpu is not None else None,
        "machine_during_load": {
            "waited_for_idle": idle_wait,
            "loadavg_before": loadavg,
            **cpu_account(
                machine_before,
                machine_after,
                (server_cpu_after - server_cpu_before) + (wrk_cpu or 0.0) + (db_cpu or 0.0),
            ),
        },
        "_wall_start": first / 1e6 + wall_offset,
        "_wall_end": last / 1e6 + wall_offset,
    }


def check_quiet(label: str, result: dict, warnings: list[str]) -> None:
    """Warn (not fail) when something else on the machine used more than 10 % of its CPU."""
    m = result.get("machine_during_load", {})
    other = m.get("other_busy_cpu_seconds")
    if other is None or not result.get("seconds"):
        return
    capacity = (os.cpu_count() or 1) * result["seconds"]
    if other > 0.10 * capacity:
        m["disturbed"] = True
        warnings.append(
            f"{label}: other processes used {other:.0f} CPU-s of the {capacity:.0f} available during the measurement "
            f"({other / capacity:.0%}); its figures are disturbed"
        )
    else:
        m["disturbed"] = False


def check_load(label: str, result: dict, problems: list[str]) -> None:
    codes = result["status_counts"]
    if codes != {"202": result["requests"]}:
        problems.append(f"{label}: expected {result['requests']} answers 202, got {codes}")
    if result["answered"] != result["requests"]:
        problems.append(f"{label}: {result['answered']} of {result['requests']} requests answered")
    if result["unmatched_responses"]:
        problems.append(f"{label}: {result['unmatched_responses']} responses without a known X-Request-ID")
    if any(result["socket_errors"].values()):
        problems.append(f"{label}: socket errors {result['socket_errors']}")


# -- processing -------------------------------------------------------------------------------------


def reader_engine(url: str):
    """A plain engine for polling: no BEGIN IMMEDIATE, so SQLite's write lock is never taken."""
    return create_engine(url)


def wait_processed(url: str, expected: int, timeout: float, server: Server) -> dict:
    engine = reader_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                counts = dict(conn.execute(select(InboxMessage.status, func.count()).group_by(InboxMessage.status)).all())
            open_ = counts.get("pending", 0) + counts.get("processing", 0)
            if sum(counts.values()) >= expected and open_ == 0:
                break
            if not server.alive():
                raise BenchFailure(f"server died while processing:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise BenchFailure(f"processing not finished within {timeout:.0f} s: {counts}")
            time.sleep(0.2)
        with engine.connect() as conn:
            first_received, last_received, last_processed = conn.execute(
                select(func.min(InboxMessage.received_at), func.max(InboxMessage.received_at), func.max(InboxMessage.processed_at))
            ).one()
        return {"counts": counts, "first_received": first_received, "last_received": last_received, "last_processed": last_processed}
    finally:
        engine.dispose()


def _as_utc(value) -> datetime:
    if isinstance(value, str):  # SQLite through a plain engine may hand back text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def processed_after(url: str, wall: float) -> int:
    engine = reader_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(InboxMessage).where(InboxMessage.processed_at > datetime.fromtimestamp(wall, UTC))
            ).scalar_one()
    finally:
        engine.dispose()


def rows_in_db(url: str) -> dict:
    engine = reader_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("dt_deelname", "pupil", "pupil_identity", "group_membership", "school_group", "inbox_message")
            }
    finally:
        engine.dispose()


# -- profiling (optional) ---------------------------------------------------------------------------


class Profiler:
    """py-spy attached to the server during the HTTP phase (``--profile``): on-CPU samples of
    every thread, written as collapsed stacks, plus a summary for the JSON."""

    def __init__(self, pid: int, path: Path, rate: int, idle: bool = False) -> None:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(py_spy).exists():
            raise BenchFailure("--profile needs py-spy (.venv/bin/pip install py-spy)")
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--rate", str(rate), "--threads", "--nolineno",
             "--format", "raw", "--output", str(path), *(["--idle"] if idle else [])],
            stdout=subprocess.DEVNULL, stderr=open(path.with_suffix(".log"), "wb"),
        )
        time.sleep(1.0)  # py-spy needs a moment to attach

    def stop(self) -> dict:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return summarize_profile(self.path)


def summarize_profile(path: Path, top: int = 25) -> dict:
    """Per thread: its share of the samples and the functions with the largest inclusive share of
    that thread (frames on nearly every sample of the thread, its entry points, are left out);
    overall: the functions with the largest self share. With ``--profile-idle`` the samples
    include waiting threads, so the shares are of wall time, not CPU."""
    from collections import Counter, defaultdict

    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {"error": f"no profile written to {path}"}
    samples: list[tuple[str, list[str], int]] = []
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        tid, *frames = stack.split(";")
        # py-spy --threads: "thread (<id>): <thread name>"; RegisterView reloads are "Thread-N (_background_load)"
        name = tid.split(": ", 1)[1] if ": " in tid else tid
        name = re.sub(r"^Thread-\d+ \((.*)\)$", r"\1", name)
        samples.append((name, frames, int(count)))
    per_role: Counter = Counter()
    self_: Counter = Counter()
    inclusive: dict[str, Counter] = defaultdict(Counter)
    total = 0
    for role, frames, n in samples:
        total += n
        per_role[role] += n
        for frame in set(frames):
            inclusive[role][frame] += n
        if frames:
            self_[frames[-1]] += n
    pct = lambda n: round(100 * n / total, 1) if total else 0.0  # noqa: E731
    threads = {}
    for role, n in per_role.most_common():
        body = [(f, c) for f, c in inclusive[role].most_common() if c < 0.98 * n][:top]
        threads[role] = {"pct_of_all_samples": pct(n), "inclusive_pct_of_all_samples": {f: pct(c) for f, c in body}}
    return {
        "file": str(path),
        "samples": total,
        "threads": threads,
        "self_pct": {k: pct(v) for k, v in self_.most_common(top)},
    }


# -- one backend ------------------------------------------------------------------------------------


def run_backend(
    backend: str, url: str, season: Season, args, workdir: Path, problems: list[str], warnings: list[str], extra: dict,
    database_cpu=None,
) -> dict:
    pupils_per_school = args.pupils
    expected_pupils = season.requests * pupils_per_school
    result: dict = {"database": extra}
    log(f"{backend}: installing the register (schools, administrations, mandates, windows)")
    result["setup_seconds"] = round(install_database(url, season.region), 1)
    log(f"{backend}: register installed in {result['setup_seconds']} s")

    # baseline first: same wrk invocation, same request bytes
    port = free_port()
    baseline = Server(
        f"{backend}-baseline",
        [sys.executable, str(BENCH / "_baseline_app.py"), "--host", "127.0.0.1", "--port", str(port)],
        {k: v for k, v in os.environ.items() if not k.startswith("EDUKETEN_")},
        workdir,
    )
    baseline.start(port)
    runs = []
    try:
        warm_up(port, season, expect=202)
        for n in range(args.baseline_runs):
            log(f"{backend}: baseline run {n + 1}/{args.baseline_runs}: posting {season.requests} requests")
            run = run_wrk(
                baseline, port, season, workdir / f"{backend}-baseline-wrk-{n}", connections=args.connections, duration=args.duration,
                wait_idle=args.wait_idle,
            )
            run.pop("_wall_start"), run.pop("_wall_end")
            check_load(f"{backend} baseline run {n + 1}", run, problems)
            check_quiet(f"{backend} baseline run {n + 1}", run, warnings)
            runs.append(run)
    finally:
        baseline.stop()
    # the baseline is short and noisy on a shared 2-core machine: the run with the median throughput counts
    base = sorted(runs, key=lambda r: r["requests_per_s"])[len(runs) // 2]
    base["runs"] = len(runs)
    base["requests_per_s_of_each_run"] = [r["requests_per_s"] for r in runs]
    result["baseline"] = base
    log(f"{backend}: baseline {base['requests_per_s']} req/s (median of {base['requests_per_s_of_each_run']}), p99 {base['latency_ms']['p99']} ms")

    # ours
    port = free_port()
    embedded = args.worker_mode == "embedded"
    concurrent = args.worker_mode in ("embedded", "separate")  # the worker runs during the HTTP phase
    eduketen = str(Path(sys.executable).parent / "eduketen")
    ours_server = Server(
        f"{backend}-eduketen",
        [eduketen, "serve", "--host", "127.0.0.1", "--port", str(port)] + ([] if embedded else ["--no-worker"]),
        server_env(url, season.region),
        workdir,
    )
    ours_server.start(port)
    servers = [ours_server]
    try:
        worker_process = None
        if args.worker_mode == "separate":
            worker_process = Server(f"{backend}-eduketen-worker", [eduketen, "worker"], server_env(url, season.region), workdir)
            worker_process.start(None)
            servers.append(worker_process)
        warm_up(port, season, expect=422)
        profiler = Profiler(ours_server.pid, args.profile / f"{NAME}-{backend}-http.folded", args.profile_rate, args.profile_idle) if args.profile else None
        log(f"{backend}: eduketen: posting {season.requests} requests")
        helpers = [f for f in (database_cpu, (lambda: proc_cpu_seconds(worker_process.pid) or 0.0) if worker_process else None) if f]
        ours = run_wrk(
            ours_server, port, season, workdir / f"{backend}-ours-wrk", connections=args.connections, duration=args.duration,
            database_cpu=(lambda: sum(f() for f in helpers)) if helpers else None, wait_idle=args.wait_idle,
        )
        http_start, http_end = ours.pop("_wall_start"), ours.pop("_wall_end")
        if profiler is not None:
            result["profile_http_phase"] = profiler.stop()
        check_load(f"{backend} eduketen", ours, problems)
        check_quiet(f"{backend} eduketen", ours, warnings)
        result["ours"] = ours
        ratio = ours["requests_per_s"] / base["requests_per_s"]
        result["ratio_requests_per_s"] = round(ratio, 3)
        result["meets_goal_ratio"] = ratio >= GOAL_RATIO
        log(f"{backend}: eduketen {ours['requests_per_s']} req/s (ratio {ratio:.3f}), p99 {ours['latency_ms']['p99']} ms")

        processing: dict = {}
        if embedded:
            processing_server = ours_server
            start_wall = http_start
            processing["measured_from"] = (
                "first request sent to last message processed (worker embedded in the server, running during the HTTP phase too)"
            )
        elif worker_process is not None:
            processing_server = worker_process
            start_wall = http_start
            processing["measured_from"] = (
                "first request sent to last message processed (worker in its own process, `eduketen worker`, "
                "running during the HTTP phase too)"
            )
        else:  # diagnostic: accept first, then process with nothing else running
            processing["http_phase_memory"] = ours_server.sampler.memory() if ours_server.sampler else None
            ours_server.stop()
            port = free_port()
            processing_server = Server(
                f"{backend}-eduketen-worker",
                [str(Path(sys.executable).parent / "eduketen"), "serve", "--host", "127.0.0.1", "--port", str(port)],
                server_env(url, season.region),
                workdir,
            )
            start_wall = time.time()
            processing_server.start(port)
            servers.append(processing_server)
            processing["measured_from"] = (
                "start of a fresh `eduketen serve` (embedded worker) after an HTTP phase served with --no-worker, "
                "to last message processed (includes the server's start-up)"
            )
        profiler = (
            Profiler(processing_server.pid, args.profile / f"{NAME}-{backend}-processing.folded", args.profile_rate, args.profile_idle)
            if args.profile and not concurrent
            else None
        )
        log(f"{backend}: waiting for the worker to process every accepted message")
        accepted = ours["status_counts"].get("202", 0)  # a refused request leaves no message to wait for
        own_cpu = lambda: (  # noqa: E731
            tree_cpu_seconds(processing_server.pid) + (tree_cpu_seconds(ours_server.pid) if processing_server is not ours_server and ours_server.alive() else 0.0)
            + (database_cpu() if database_cpu else 0.0)
        )
        machine_before, own_before, wait_started = machine_cpu(), own_cpu(), time.monotonic()
        state = wait_processed(url, accepted, args.processing_timeout, processing_server)
        drain_account = cpu_account(machine_before, machine_cpu(), own_cpu() - own_before)
        drain_window = time.monotonic() - wait_started
        if profiler is not None:
            result["profile_processing_phase"] = profiler.stop()
        last_processed = _as_utc(state["last_processed"]).timestamp()
        seconds = last_processed - start_wall
        processing.update(
            {
                "seconds": round(seconds, 2),
                "pupils_per_s": round(accepted * pupils_per_school / seconds, 1),
                "messages_per_s": round(accepted / seconds, 1),
            }
        )
        if concurrent:
            backlog = processed_after(url, http_end)
            drain = max(0.0, last_processed - http_end)
            processing.update(
                {
                    "messages_processed_during_http_phase": accepted - backlog,
                    "backlog_messages_at_http_end": backlog,
                    "drain_seconds_after_http": round(drain, 2),
                    "drain_pupils_per_s": round(backlog * pupils_per_school / drain, 1) if drain > 0 and backlog else None,
                }
            )
        processing.update(
            {
                "message_status_counts": state["counts"],
                **(processing_server.sampler.memory() if processing_server.sampler else {}),
            }
        )
        processing["machine_while_waiting_for_the_worker"] = {"seconds": round(drain_window, 1), **drain_account}
        if drain_account.get("other_busy_cpu_seconds", 0) > 0.10 * (os.cpu_count() or 1) * max(drain_window, 1.0):
            warnings.append(
                f"{backend} processing: other processes used {drain_account['other_busy_cpu_seconds']:.0f} CPU-s while "
                f"the worker drained the backlog ({drain_window:.0f} s); the processing figures are disturbed"
            )
        if worker_process is not None:
            processing["worker_process_cpu_seconds_total"] = proc_cpu_seconds(worker_process.pid)
            processing["note"] = "the memory figures here are of the separate worker process; the server's are under ours"
        result["processing"] = processing
        log(f"{backend}: processed in {seconds:.1f} s ({accepted * pupils_per_school / seconds:.0f} pupils/s)")
    finally:
        result["server_exit_codes"] = [srv.stop() for srv in servers]
        logs = [srv.log_lines_at_level() for srv in servers]
        result["server_log"] = {k: sum(entry.get(k, 0) for entry in logs) for k in ("warning", "error", "critical", "traceback")}

    counts = result.get("processing", {}).get("message_status_counts", {})
    if counts.get("done", 0) != season.requests or counts.get("failed", 0):
        problems.append(f"{backend}: inbox messages {counts}, expected {season.requests} done")
    rows = rows_in_db(url)
    result["rows_in_db"] = {**rows, "dt_deelname_expected": expected_pupils}
    if rows["dt_deelname"] != expected_pupils:
        problems.append(f"{backend}: dt_deelname holds {rows['dt_deelname']} rows, expected {expected_pupils}")
    if rows["inbox_message"] != season.requests:
        problems.append(f"{backend}: inbox_message holds {rows['inbox_message']} rows, expected {season.requests}")
    if result["server_log"].get("error") or result["server_log"].get("traceback"):
        problems.append(f"{backend}: the server logged errors {result['server_log']}; see {workdir} (--keep)")
    result["summary"] = {
        "acceptance_pupils_per_s": result["ours"]["pupils_per_s"],
        "acceptance_requests_per_s": result["ours"]["requests_per_s"],
        "baseline_requests_per_s": base["requests_per_s"],
        "ratio_requests_per_s": result["ratio_requests_per_s"],
        "processing_pupils_per_s": result["processing"]["pupils_per_s"],
        "nothing_lost": rows["dt_deelname"] == expected_pupils,
    }
    return result


# -- main -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=6200, help="schools, each posting one Deelnemerslijst (default 6200)")
    parser.add_argument("--pupils", type=int, default=30, help="group-8 pupils per school (default 30)")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument(
        "--baseline-runs", type=int, default=3, help="times the whole season is posted to the baseline; the median run "
        "counts (default 3; the baseline stores nothing, so posting again changes nothing)",
    )
    parser.add_argument(
        "--duration", type=float, default=3600, help="upper bound in seconds for each HTTP phase (wrk -d); the run fails if "
        "not every school was answered within it (default 3600)",
    )
    parser.add_argument("--processing-timeout", type=float, default=7200, help="upper bound in seconds for the worker to finish")
    parser.add_argument(
        "--worker-mode", choices=("embedded", "separate", "after-http"), default="embedded",
        help="embedded (default): the server's own worker runs throughout, as deployed by default; separate: `serve "
        "--no-worker` plus an `eduketen worker` process, both throughout; after-http (diagnostic): the HTTP phase is "
        "served with --no-worker, then a fresh server with its embedded worker processes the backlog",
    )
    parser.add_argument(
        "--wait-idle", type=float, default=120, metavar="S", help="before each measured HTTP phase wait up to S seconds "
        "for the machine to be idle (other processes under 10 %% of its CPU for 10 s); 0 = do not wait (default 120)",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--output", type=Path, default=BENCH / "results" / f"{NAME}.json")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (requests, logs, SQLite file)")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="attach py-spy to eduketen during the HTTP phase; collapsed stacks "
        "go to DIR, a summary into the JSON (sampling costs the server some CPU: do not compare throughput of profiled runs)",
    )
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second (default 100)")
    parser.add_argument("--profile-idle", action="store_true", help="also sample waiting threads (shares become wall time)")
    args = parser.parse_args(argv)
    if args.schools < args.threads or args.connections < args.threads:
        parser.error("--schools and --connections must be at least --threads")
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install -y wrk, or `make system-deps`)")

    workdir = Path(tempfile.mkdtemp(prefix="eduketen-season-"))
    problems: list[str] = []
    warnings: list[str] = []
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    document: dict = {
        "benchmark": NAME,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([os.path.relpath(sys.executable, ROOT), *sys.argv]) if argv is None else None,
        "machine": machine_info(workdir),
        "parameters": {
            "schools": args.schools,
            "pupils_per_school": args.pupils,
            "pupils_total": args.schools * args.pupils,
            "backends": backends,
            "endpoint": f"POST {PATH}?edu-to=<school OIN>&edu-from=<routeringskenmerk>",
            "load_generator": f"wrk -t {args.threads} -c {args.connections} with bench/_season.lua: every school posted exactly once, keep-alive",
            "duration_limit_seconds": args.duration,
            "seed": args.seed,
            "worker_mode": args.worker_mode,
            "baseline_runs": args.baseline_runs,
            "wait_idle_seconds": args.wait_idle,
        },
        "notes": [
            f"The load generator (wrk, {args.threads} threads) runs on the same machine and shares its "
            f"{os.cpu_count()} cores with the server (and, for PostgreSQL, with the database server).",
            "Latencies are per request, client side (wrk/LuaJIT, CLOCK_MONOTONIC), from writing the request to the complete response.",
            "requests_per_s = requests / (last answer - first request sent); pupils_per_s = that x pupils per school.",
            "machine_during_load: CPU seconds of the whole machine during the HTTP phase (/proc/stat); "
            "other_busy_cpu_seconds = machine busy minus the server, wrk and helper_cpu_seconds (the PostgreSQL cluster, a "
            "separate worker process): work by "
            "anything else on the machine, which disturbs the figures when it is not near 0.",
            "Memory: server_peak_rss_mib = VmHWM of the server process (/proc/<pid>/status); _sampled = largest VmRSS "
            "seen every 0.1 s; child_processes_peak_rss_mib = VmHWM of its child processes (eduketen serve runs its "
            "embedded worker as one); server_with_children_peak_rss_mib_sampled = largest sum of VmRSS of the server and "
            "its children. PostgreSQL's own processes are not included.",
            "server_cpu_seconds counts the server process and its child processes (the embedded worker); "
            "server_main_process_cpu_seconds the server process alone.",
            "Before each measurement one warm-up request per LAS supplier with the body {} is sent outside the measurement "
            "(eduketen answers 422 after loading its register view and schema; the baseline 202).",
            "eduketen: `eduketen serve` (plain HTTP, client certificate in the RFC 9440 Client-Cert header trusted from "
            "127.0.0.1), EDUKETEN_LOG_LEVEL=WARNING, every other setting at its default; worker: "
            + {
                "embedded": "embedded in the server (the default), running throughout.",
                "separate": "`serve --no-worker` plus a separate `eduketen worker` process, running throughout.",
                "after-http": "none during the HTTP phase (`serve --no-worker`); afterwards a fresh `eduketen serve` with its "
                "embedded worker processes the backlog (diagnostic).",
            }[args.worker_mode],
            "baseline: bench/_baseline_app.py, a bare FastAPI app under uvicorn with the same options; parses the body with "
            "orjson and answers 202 with a small JSON (echoing X-Request-ID for the timing). It is posted the whole season "
            "--baseline-runs times; the run with the median throughput counts.",
            "SQLite: a file on the temp dir's filesystem, synchronous=FULL (eduketen's setting). PostgreSQL: a throw-away "
            "cluster in a temp dir with fsync on (its settings are listed per backend).",
        ],
    }
    try:
        log(f"workdir {workdir}")
        season = prepare_season(args.schools, args.pupils, args.seed, args.threads, workdir)
        document["parameters"].update(
            {
                "body_bytes_mean": round(season.body_bytes_mean),
                "body_bytes_max": season.body_bytes_max,
                "request_bytes_total": season.request_bytes_total,
            }
        )
        for backend in backends:
            if backend == "sqlite":
                url = f"sqlite:///{workdir / 'eduketen.db'}"
                document[backend] = run_backend(
                    backend, url, season, args, workdir, problems, warnings, {"url": "sqlite:///<tmp>/eduketen.db"}
                )
            else:
                with postgres_cluster([]) as (url, settings, postmaster):
                    document[backend] = run_backend(
                        backend, url, season, args, workdir, problems, warnings, {"settings": settings},
                        lambda: tree_cpu_seconds(postmaster),
                    )
    except BenchFailure as exc:
        problems.append(str(exc))
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    document["ok"] = not problems
    document["problems"] = problems
    document["warnings"] = warnings
    rendered = json.dumps(document, indent=2, ensure_ascii=False, default=str)
    print(rendered)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(rendered + "\n")
    for w in warnings:
        log(f"WARNING: {w}")
    if problems:
        for p in problems:
            log(f"FAILED: {p}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
