"""The baseline of bench/results_bundles.py: a bare FastAPI app on the same path as eduketen's
``POST /toetsresultaten/v1/results`` that reads the body, parses it with orjson and answers 201.
No token check, no consent, no validation, no storage. Served by uvicorn with the options
``eduketen serve`` uses.

    python bench/_results_baseline_app.py --port 8001
"""

from __future__ import annotations

import argparse

import orjson
import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response

app = FastAPI(title="baseline", docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/toetsresultaten/v1/results")
async def results(request: Request) -> Response:
    body = orjson.loads(await request.body())
    if not isinstance(body, dict):
        return Response(b'{"status": 422}', status_code=422, media_type="application/json")
    answer = {"assessment": body["assessment"]["id"], "students": len(body["students"]), "created": len(body["students"]), "updated": 0}
    return Response(orjson.dumps(answer), status_code=201, media_type="application/json")


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False, http="httptools")
