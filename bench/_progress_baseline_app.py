"""The baseline of bench/progress_ingest.py: a bare FastAPI app on eduketen's progress paths that
reads the body, parses it with orjson and answers 200 with the count. No token check, no consent,
no validation, no storage. Served by uvicorn with the options ``eduketen serve`` uses.

    python bench/_progress_baseline_app.py --port 8001
"""

from __future__ import annotations

import argparse

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


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False, http="httptools")
