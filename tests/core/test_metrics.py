"""Prometheus metrics and `eduketen status`: the figures an operator watches move as messages are
accepted, retried, processed and dead-lettered, and only a local scraper (or one with the token)
gets them. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from starlette.testclient import TestClient
from typer.testing import CliRunner

from eduketen.app import create_app
from eduketen.cli import app as cli
from eduketen.core.db import utcnow
from eduketen.core.models import InboxMessage
from eduketen.simulate.region import deelnemerslijst, schooladviezenlijst
from tests.conftest import PROXY, make_settings

V11 = "/doorstroomtoets/v1.1"


def scrape(client, headers=None) -> dict[tuple[str, tuple], float]:
    r = client.get("/metrics", headers=headers or {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _raw_message(operation: str) -> dict:
    now = utcnow()
    return {
        "id": str(uuid.uuid4()), "service": "test", "version": "1", "operation": operation, "school_oin": "0" * 20,
        "routing": "0" * 20, "sender_oin": "0" * 20, "schooljaar": None, "idempotency_key": uuid.uuid4().hex,
        "payload": "{}", "item_count": 1, "request_id": None, "status": "pending", "attempts": 0,
        "received_at": now, "available_at": now,
    }  # fmt: skip


def test_metrics_follow_messages_through_accept_retry_process_and_dead_letter(chain, database_url, monkeypatch):
    schools = chain.region.schools
    for school in schools:
        assert chain.post(f"{V11}/registreren", deelnemerslijst(school), school=school).status_code == 202
    assert chain.post(f"{V11}/registreren-schooladviezen", schooladviezenlijst(schools[0], "v1.1"), school=schools[0]).status_code == 202
    assert chain.post(f"{V11}/registreren", {"broken": True}, school=schools[0]).status_code == 422

    m = scrape(chain.client)
    version = {"service": "doorstroomtoets", "version": "1.1.0"}
    assert value(m, "eduketen_database_up") == 1
    assert value(m, "eduketen_messages_accepted_total", **version) == len(schools) + 1
    assert value(m, "eduketen_messages_processed_total", **version) == 0
    assert value(m, "eduketen_queue_depth", queue="inbox") == len(schools) + 1
    assert value(m, "eduketen_queue_oldest_age_seconds", queue="inbox") > 0
    # latency by route template, with the status; the 422 counted under its own status
    route = f"{V11}/registreren"
    assert value(m, "eduketen_http_request_duration_seconds_count", method="POST", route=route, status="202") == len(schools)
    assert value(m, "eduketen_http_request_duration_seconds_count", method="POST", route=route, status="422") == 1

    # one message that fails once and then succeeds, one that can never be processed
    attempts = {"n": 0}

    def flaky(session, message):
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise RuntimeError("transient")
        return {"ok": 1}

    monkeypatch.setitem(chain.platform.worker._handlers, "test.flaky", flaky)
    chain.platform.inbox.submit_sync(_raw_message("test.flaky"))
    chain.platform.inbox.submit_sync(_raw_message("test.unknown"))
    chain.drain()
    with chain.platform.sessions() as session, session.begin():  # the retry's backoff, over at once
        session.execute(update(InboxMessage).where(InboxMessage.status == "pending").values(available_at=utcnow()))
    chain.drain()

    m = scrape(chain.client)
    assert value(m, "eduketen_messages_processed_total", **version) == len(schools) + 1
    assert value(m, "eduketen_messages_processed_total", service="test", version="1") == 1
    assert value(m, "eduketen_messages_retried_total", service="test", version="1") == 1
    assert value(m, "eduketen_messages_dead_lettered_total", service="test", version="1") == 1
    assert value(m, "eduketen_queue_depth", queue="inbox") == 0
    assert value(m, "eduketen_queue_oldest_age_seconds", queue="inbox") == 0

    # `eduketen status` shows the same figures
    runner = CliRunner()
    result = runner.invoke(cli, ["status", "--json"], env={"EDUKETEN_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    rows = {(r["service"], r["version"]): r for r in status["services"]}
    assert rows[("doorstroomtoets", "1.1.0")]["processed"] == len(schools) + 1
    assert rows[("test", "1")] == {"service": "test", "version": "1", "accepted": 2, "processed": 1, "retried": 1, "dead_lettered": 1, "waiting": 0}
    assert status["queue_depth"] == {"inbox": 0, "outbox": 0}
    table = runner.invoke(cli, ["status"], env={"EDUKETEN_DATABASE_URL": database_url, "COLUMNS": "200"})
    assert table.exit_code == 0 and "Messages received" in table.output and "Queues" in table.output, table.output


def test_metrics_only_for_local_direct_scrapers(chain):
    assert chain.client.get("/metrics").status_code == 200  # from 127.0.0.1, not proxied
    las = chain.region.schools[0].las
    # through the proxy (a Client-Cert or X-Forwarded-For header): not a local scraper
    assert chain.client.get("/metrics", headers=chain.cert_header(las.oin)).status_code == 404
    assert chain.client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 404
    with TestClient(create_app(chain.platform.settings, platform=chain.platform), client=("192.0.2.7", 5000)) as remote:
        assert remote.get("/metrics").status_code == 404


def test_metrics_token_when_set(database_url, region):
    from eduketen.core.platform import Platform

    settings = make_settings(database_url, region, metrics_token="scrape-secret")
    platform = Platform.build(settings)
    try:
        with TestClient(create_app(settings, platform=platform), client=PROXY) as client:
            assert client.get("/metrics").status_code == 404
            assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
            m = scrape(client, {"Authorization": "Bearer scrape-secret"})
            assert value(m, "eduketen_database_up") == 1
    finally:
        platform.close()


def test_metrics_answer_when_the_database_is_gone(tmp_path, region):
    from eduketen.core.platform import Platform
    from eduketen.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'gone.db'}"
    upgrade(url)
    settings = make_settings(url, region)
    platform = Platform.build(settings)
    try:
        with TestClient(create_app(settings, platform=platform), client=PROXY) as client:
            with platform.engine.begin() as conn:
                conn.exec_driver_sql("DROP TABLE inbox_message")
            m = scrape(client)
            assert value(m, "eduketen_database_up") == 0
    finally:
        platform.close()
