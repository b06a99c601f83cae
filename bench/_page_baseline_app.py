"""The baseline of bench/progress_group_page.py: a bare FastAPI app that returns a fixed HTML page
of BASELINE_BYTES bytes (the size of the measured group page). No session, no database, no template.

    BASELINE_BYTES=60000 python bench/_page_baseline_app.py --port 8001
"""

from __future__ import annotations

import argparse
import os

import uvicorn
from fastapi import FastAPI
from starlette.responses import HTMLResponse

app = FastAPI(title="baseline", docs_url=None, redoc_url=None, openapi_url=None)
PAGE = ("<!doctype html><title>x</title>" + "x" * int(os.environ.get("BASELINE_BYTES", "50000"))).encode()


@app.get("/page")
async def page() -> HTMLResponse:
    return HTMLResponse(PAGE)


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False, http="httptools")
