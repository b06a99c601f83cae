"""Where the CPU of the chain test's results stage goes, per process and per thread: runs
``eduketen chaintest`` (``--workers 0``: each installation is its API process and one worker
process), reads every process's and thread's CPU from ``/proc`` when the advice step's line
appears (the results stage begins) and when the results step's line appears (it ends), and prints
CPU milliseconds per pupil per process and per named thread (the thread names come from
``py-spy dump`` when py-spy is on PATH; otherwise thread ids).

    .venv/bin/python bench/_results_stage_cpu.py --schools 40
    .venv/bin/python bench/_results_stage_cpu.py --schools 40 --spy /tmp/spy   # also py-spy record (raw) per process

Compare two versions by running this with ``PYTHONPATH=<other checkout>/src`` (the chain test's
processes inherit it) and without, one after the other, more than once. A tool for looking, not
one of ``make bench``'s benchmarks (hence the leading underscore): no baseline, no goal; Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from national_season import (  # the same /proc walk as the season's CPU figures
    TICK,
    tree_cpu,
)


def _stat(path: str) -> tuple[int, float] | None:
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _threads(pid: int) -> dict[int, float]:
    out = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            if (s := _stat(f"/proc/{pid}/task/{tid}/stat")) is not None:
                out[int(tid)] = s[1]
    except OSError:
        pass
    return out


def _label(pid: int) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return str(pid)
    line = " ".join(words)
    if "serve" in words:
        found = re.search(r"chain/([^/]+)/pki", line)
        return f"api:{found.group(1) if found else pid}"
    if "worker" in words:
        parent = _stat(f"/proc/{pid}/stat")
        return "worker:" + (_label(parent[0]).split(":")[-1] if parent else str(pid))
    return "chaintest" if "chaintest" in words else line[:40]


def _thread_names(pyspy: str | None, pid: int) -> dict[int, str]:
    if not pyspy:
        return {}
    try:
        dump = subprocess.run([pyspy, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {int(m.group(1)): m.group(2) for m in re.finditer(r'Thread (\d+) \([\w ]+\): "([^"]*)"', dump)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=40)
    parser.add_argument("--pupils", type=int, default=30)
    parser.add_argument("--spy", type=Path, help="directory for py-spy recordings of each installation process")
    args = parser.parse_args()
    pyspy = shutil.which("py-spy")
    pupils = args.schools * args.pupils
    with tempfile.TemporaryDirectory(prefix="eduketen-results-cpu-", ignore_cleanup_errors=True) as tmp:
        command = [str(Path(sys.executable).parent / "eduketen"), "chaintest", "--dir", str(Path(tmp) / "chain"),
                   "--schools", str(args.schools), "--pupils", str(args.pupils), "--workers", "0"]  # fmt: skip
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        start: dict = {}
        end: dict = {}
        labels: dict[int, str] = {}
        names: dict[int, dict[int, str]] = {}
        spies: list[subprocess.Popen] = []
        started = wall = 0.0
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("[") and "provisional advice" in line:
                start = {pid: (cpu, _threads(pid)) for pid, cpu in tree_cpu(proc.pid).items()}
                labels = {pid: _label(pid) for pid in start}
                started = time.monotonic()
                if args.spy and pyspy:
                    args.spy.mkdir(parents=True, exist_ok=True)
                    for pid, label in labels.items():
                        if label.startswith(("api", "worker")):
                            out = args.spy / f"spy-{label.replace(':', '-')}.txt"
                            spies.append(subprocess.Popen([pyspy, "record", "--pid", str(pid), "--rate", "50", "--format", "raw",
                                                           "--threads", "-o", str(out)], stdout=subprocess.DEVNULL,
                                                          stderr=subprocess.DEVNULL))  # fmt: skip
            if line.startswith("[") and "results delivered" in line:
                wall = time.monotonic() - started
                end = {pid: (cpu, _threads(pid)) for pid, cpu in tree_cpu(proc.pid).items()}
                names = {pid: _thread_names(pyspy, pid) for pid in end if labels.get(pid, "").startswith(("api", "worker"))}
                for spy in spies:
                    spy.send_signal(signal.SIGINT)
                for spy in spies:
                    spy.wait(30)
        proc.wait()
    processes = {}
    total = 0.0
    for pid, (cpu, threads) in end.items():
        cpu0, threads0 = start.get(pid, (0.0, {}))
        total += cpu - cpu0
        per_thread: dict[str, float] = {}
        for tid, seconds in threads.items():
            used = seconds - threads0.get(tid, 0.0)
            if used > 0.05:
                name = names.get(pid, {}).get(tid, str(tid))
                per_thread[name] = round(per_thread.get(name, 0.0) + 1000 * used / pupils, 2)
        processes[labels.get(pid, _label(pid))] = {"ms_per_pupil": round(1000 * (cpu - cpu0) / pupils, 2), "threads": per_thread}
    result = {
        "tool": "results_stage_cpu",
        "passed": proc.returncode == 0,
        "pupils": pupils,
        "results_stage_seconds": round(wall, 1),
        "cpu_ms_per_pupil": round(1000 * total / pupils, 2),
        "processes": processes,
        "load_average": os.getloadavg(),
    }
    if proc.returncode != 0:
        result["chaintest_output"] = "".join(lines)[-3000:]
    print(json.dumps(result, indent=2))
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
