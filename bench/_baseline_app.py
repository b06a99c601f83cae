"""The baseline of bench/registration_season.py: a bare FastAPI app that only parses the body.

Same route and query string as eduketen's ``POST /doorstroomtoets/v1.1/registreren``, served by
uvicorn exactly as ``eduketen serve`` serves eduketen (httptools, default event loop = uvloop when
installed, no access log, no log config). It reads the body, parses it with orjson, and answers
202 with a small JSON. It echoes ``X-Request-ID`` (as eduketen's request-context middleware does),
because the load generator times each request by that header.

    python bench/_baseline_app.py --host 127.0.0.1 --port 8001
"""

from __future__ import annotations

import argparse

import orjson
import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response

ACCEPTED = orjson.dumps({"melding": "Bericht ontvangen."})

app = FastAPI(title="baseline", docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/doorstroomtoets/v1.1/registreren")
async def registreren(request: Request) -> Response:
    body = orjson.loads(await request.body())
    if not isinstance(body, dict):
        return Response(b'{"melding": "geen object"}', status_code=422, media_type="application/json")
    headers = {}
    request_id = request.headers.get("x-request-id")
    if request_id:
        headers["x-request-id"] = request_id
    return Response(ACCEPTED, status_code=202, media_type="application/json", headers=headers)


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    # The options `eduketen serve` passes to uvicorn.run for plain HTTP (src/eduketen/cli.py).
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False, http="httptools")


if __name__ == "__main__":
    main()
