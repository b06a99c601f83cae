"""Seeing effects and steering windows, where the implementation offers a way to.

The chain's API answers 202 and processes later; whether a message had one effect, or whether
``geslacht`` was stored, cannot be seen through the chain's API. An implementation that offers an
admin API can be observed; eduketen does (``/admin/doorstroomtoets/overzicht`` and ``/vensters``,
and for the Results API ``/admin/toetsresultaten/schools/{school}/student``, which has no GET of
its own). Without one, the scenarios that need it are skipped or say what they could not see."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from eduketen.conformance.exchange import Exchange, Http
from eduketen.conformance.target import Identity


class ObserverError(RuntimeError):
    pass


class EduketenAdmin:
    """eduketen's admin JSON API (Bearer token), reached over the same TLS as the chain's API."""

    def __init__(self, http: Http, base_url: str, token: str, identity: Identity | None) -> None:
        self.http, self.base, self.token, self.identity = http, base_url.rstrip("/"), token, identity

    def _call(self, method: str, path: str, *, params=None, json_body=None) -> Exchange:
        import orjson

        exchange = Exchange(
            method,
            self.base + path,
            params=list((params or {}).items()),
            headers={"Authorization": f"Bearer {self.token}", **({"Content-Type": "application/json"} if json_body is not None else {})},
            body=orjson.dumps(json_body) if json_body is not None else None,
            identity=self.identity,
            ca=self.http.ca,
        )
        self.http.send(exchange)
        if exchange.error or exchange.status is None or exchange.status >= 300:
            raise ObserverError(f"admin API: {exchange.summary()}")
        return exchange

    def counts(self, school_oin: str, schooljaar: str) -> dict:
        """Pupils registered, advice stored, unknown pupils ignored, pupils with geslacht stored."""
        body = self._call("GET", "/admin/doorstroomtoets/overzicht", params={"school": school_oin, "schooljaar": schooljaar}).json()
        rows = [r for r in body.get("scholen", []) if r.get("school_oin") == school_oin and r.get("schooljaar") == schooljaar]
        row = rows[0] if rows else {}
        return {
            "leerlingen": int(row.get("leerlingen_geregistreerd", 0)),
            "adviezen": int(row.get("adviezen_ontvangen", 0)),
            "onbekend": int(row.get("onbekende_leerlingen_genegeerd", 0)),
            "geslacht": row.get("leerlingen_met_geslacht"),
        }

    def student_results(self, school_key: str, student_eck: str) -> list[dict]:
        """eduketen's stored results of one pupil at a school (an audited read of the admin API)."""
        body = self._call("GET", f"/admin/toetsresultaten/schools/{school_key}/student", params={"type": "eckId", "id": student_eck}).json()
        return body.get("results", [])

    def windows(self) -> list[dict]:
        return self._call("GET", "/admin/doorstroomtoets/vensters").json().get("vensters", [])

    def set_window(self, schooljaar: str, soort: str, opens: str, closes: str) -> None:
        self._call("PUT", "/admin/doorstroomtoets/vensters", json_body={"schooljaar": schooljaar, "soort": soort, "opens": opens, "closes": closes})


def wait_until(read: Callable[[], dict], done: Callable[[dict], bool], timeout: float, interval: float = 0.25) -> tuple[bool, dict]:
    """Poll ``read`` until ``done`` holds or ``timeout`` seconds passed; the last reading."""
    deadline = time.monotonic() + timeout
    last = read()
    while not done(last):
        if time.monotonic() > deadline:
            return False, last
        time.sleep(interval)
        try:
            last = read()
        except (ObserverError, httpx.HTTPError):
            continue
    return True, last
