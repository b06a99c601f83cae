"""Child processes of eduketen (``eduketen serve``, ``eduketen worker``, ...) for the simulations
(reliability run, chain test) and the end-to-end tests: started with their output in a log file,
waited for until they answer, stopped gently or killed hard (a crash)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

EDUKETEN = str(Path(sys.executable).parent / "eduketen")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, *, timeout: float = 30, verify=True, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    """Until ``url`` answers 200 (``verify``: True, a CA file or an SSL context, as httpx takes
    it); fails early, with the log's tail, when ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"the process exited with {proc.returncode}: {tail}")
        try:
            if httpx.get(url, verify=verify, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise RuntimeError(f"{url} did not come up: {tail}")


class ChildProcess:
    """``eduketen <args>`` as a child process, its output appended to ``log``."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, *, cwd: Path | None = None) -> None:
        self.args, self.env, self.log, self.cwd = args, env, log, cwd
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([EDUKETEN, *self.args], env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=self.cwd)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up, as in a crash."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


class ServerProcess(ChildProcess):
    """``eduketen serve`` on a free port; ``start`` returns once it answers."""

    def __init__(self, env: dict[str, str], args: list[str], log: Path, *, cwd: Path | None = None) -> None:
        self.port = free_port()
        super().__init__(["serve", "--port", str(self.port), *args], env, log, cwd=cwd)

    def start(self, *, ready_url: str | None = None, verify=None, timeout: float = 30) -> None:
        super().start()
        url = ready_url or f"http://127.0.0.1:{self.port}/health"
        wait_http(url, timeout=timeout, verify=verify if verify is not None else True, proc=self.proc, log=self.log)


def listening_sockets(port: int) -> int:
    """TCP sockets in LISTEN state on ``port`` (from /proc/net/tcp*): one per API process of
    ``eduketen serve --processes N``, which each bind their own with SO_REUSEPORT."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[1].rsplit(":", 1)[1] == f"{port:04X}" and fields[3] == "0A":
                n += 1
    return n


def child_processes(parent: int) -> dict[int, str]:
    """The live children of ``parent``: pid -> command line (from /proc)."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                out[int(d.name)] = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue
    return out
