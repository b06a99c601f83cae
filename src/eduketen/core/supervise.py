"""A child process kept running: ``eduketen serve`` runs its embedded worker this way.

The child gets SIGKILL when the server dies (Linux ``PR_SET_PDEATHSIG``), and when the child dies
on its own (a crash, the OOM killer, a database that refused it at start) it is started again
after a pause that doubles up to ``max_backoff`` seconds. Every exit is logged with its code."""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time

log = logging.getLogger("eduketen.supervise")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class SupervisedProcess:
    def __init__(self, argv: list[str], *, name: str, min_backoff: float = 0.5, max_backoff: float = 30.0) -> None:
        self.argv, self.name = argv, name
        self._min, self._max = min_backoff, max_backoff
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> SupervisedProcess:
        self._spawn()
        self._thread = threading.Thread(target=self._watch, name=f"supervise-{self.name}", daemon=True)
        self._thread.start()
        return self

    def _spawn(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            self.process = subprocess.Popen(self.argv, preexec_fn=_die_with_parent)
            self.starts += 1

    def _watch(self) -> None:
        backoff = self._min
        while not self._stop.is_set():
            process = self.process
            started = time.monotonic()
            code = process.wait() if process else None
            if self._stop.is_set():
                return
            log.error("%s process %s exited with code %s; starting it again in %.1f s", self.name, process.pid, code, backoff)
            if self._stop.wait(backoff):
                return
            # a child that ran a good while before dying starts the backoff over
            backoff = self._min if time.monotonic() - started > 60 else min(self._max, backoff * 2)
            self._spawn()

    def terminate(self) -> None:
        """No more restarts, and SIGTERM to the child; ``stop`` waits for it. (Several children
        are stopped at once by calling this on each before their ``stop``.)"""
        with self._lock:
            if self._stop.is_set():
                return  # signalled already (a second SIGTERM could cut a graceful shutdown short)
            self._stop.set()
            process = self.process
        if process is not None and process.poll() is None:
            process.terminate()

    def stop(self, timeout: float = 30.0) -> None:
        self.terminate()
        process = self.process
        if process is not None and process.poll() is None:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._thread is not None:
            self._thread.join(5)
