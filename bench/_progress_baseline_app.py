"""The baseline of bench/progress_ingest.py: a bare FastAPI app on eduketen's progress paths that
reads the body, parses it with orjson and answers 200 with the count. No token check, no consent,
no validation, no storage. Served by uvicorn with the options ``eduketen serve`` uses, and with
``--processes N`` the way ``eduketen serve --processes N`` serves: N child processes, each with
its own socket bound with SO_REUSEPORT on the one port (the kernel spreads the connections).

    python bench/_progress_baseline_app.py --port 8001 [--processes 2]
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import threading

import orjson
import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response

app = FastAPI(title="baseline", docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/leervoortgang/v1/progress")
async def bulk(request: Request) -> Response:
    body = orjson.loads(await request.body())
    n = len(body["records"])
    return Response(orjson.dumps({"received": n, "applied": n, "stale": 0}), media_type="application/json")


@app.put("/leervoortgang/v1/progress/{record_id}")
async def put(record_id: str, request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(orjson.dumps({"received": 1, "applied": 1, "stale": 0}), media_type="application/json")


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--reuse-port", action="store_true", help="(a child of --processes)")
    args = parser.parse_args()
    options = {"log_config": None, "access_log": False, "http": "httptools"}
    if args.processes > 1:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        argv = [sys.executable, __file__, "--host", args.host, "--port", str(args.port), "--reuse-port"]
        children = [subprocess.Popen(argv) for _ in range(args.processes)]
        while not stop.wait(0.5):
            if any(c.poll() is not None for c in children):
                break
        for c in children:
            c.terminate()
        for c in children:
            c.wait(30)
    elif args.reuse_port:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((args.host, args.port))
        sock.listen(2048)
        uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
    else:
        uvicorn.run(app, host=args.host, port=args.port, **options)


if __name__ == "__main__":
    main()
