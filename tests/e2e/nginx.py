"""Run Debian's nginx unprivileged-style: the deploy/ site file as it stands (paths and ports
replaced), in a temporary prefix, as a foreground process (no daemon, no root-owned paths)."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "deploy" / "nginx" / "eduketen.conf"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)


class Nginx:
    def __init__(
        self, *, port: int, upstreams: list[int], server_cert: Path, server_key: Path, clients_ca: Path, rate: str | None = None, burst: int | None = None
    ) -> None:
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="eduketen-nginx-"))
        os.chmod(self.dir, 0o755)  # workers (nobody, when the master runs as root) write temp files here
        site = SITE.read_text()
        replacements = {
            "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
            "/etc/eduketen/tls/server.crt": str(server_cert),
            "/etc/eduketen/tls/server.key": str(server_key),
            "/etc/eduketen/tls/clients-ca.pem": str(clients_ca),
            "    server 127.0.0.1:8001;\n    server 127.0.0.1:8002;\n": "".join(f"    server 127.0.0.1:{p};\n" for p in upstreams),
        }
        if rate is not None:
            replacements["rate=100r/s;"] = f"rate={rate};"
        if burst is not None:
            replacements["burst=500 nodelay;"] = f"burst={burst} nodelay;"
        for old, new in replacements.items():
            if old not in site:
                raise AssertionError(f"deploy/nginx/eduketen.conf no longer contains {old!r}")
            site = site.replace(old, new)
        (self.dir / "site.conf").write_text(site)
        user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
        temp = "\n".join(f"    {kind}_temp_path {self.dir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (self.dir / "nginx.conf").write_text(
            f"""{user}worker_processes 1;
pid {self.dir / 'nginx.pid'};
error_log {self.dir / 'error.log'} warn;
events {{ worker_connections 256; }}
http {{
    log_format upstream '$remote_addr $upstream_addr $status';
    access_log {self.dir / 'access.log'} upstream;
{temp}
    include {self.dir / 'site.conf'};
}}
"""
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed; `make test` installs the Debian package")
        check = subprocess.run(
            [binary, "-t", "-p", str(self.dir), "-e", str(self.dir / "error.log"), "-c", str(self.dir / "nginx.conf")],
            capture_output=True, text=True,
        )  # fmt: skip
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t refused the configuration:\n{check.stderr}")
        self.proc = subprocess.Popen(
            [binary, "-p", str(self.dir), "-e", str(self.dir / "error.log"), "-c", str(self.dir / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "stderr.log", "ab"),
        )
        deadline = time.monotonic() + 15
        import socket

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited: " + (self.dir / "error.log").read_text()[-2000:])
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("nginx did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: fast shutdown
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def access_log(self) -> str:
        path = self.dir / "access.log"
        return path.read_text() if path.exists() else ""


def client_context(ca_file: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context
