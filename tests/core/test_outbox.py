"""Outbox delivery against a real HTTP peer on loopback: retries with backoff on 5xx and network
errors, no blind retry on 401/405/422, dead letters and redelivery, ordering per key, and
standlevering superseding older pending messages."""

from __future__ import annotations

import socket
import threading
import time
from collections import defaultdict

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from eduketen.core import outbox
from eduketen.core.db import make_engine, make_sessionmaker, unit_of_work
from eduketen.core.models import OutboxMessage
from eduketen.core.outbox import OutboxDeliverer


class Peer:
    """A small receiving system: answers each path with the next status of its script."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[int]] = defaultdict(list)
        self.received: list[tuple[str, str]] = []
        app = FastAPI()

        @app.post("/{name}")
        async def receive(name: str, request: Request):
            body = (await request.body()).decode()
            self.received.append((name, body))
            script = self.scripts[name]
            status = script.pop(0) if script else 202
            return JSONResponse({"melding": f"status {status}"}, status_code=status)

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self):
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(5)


@pytest.fixture
def sessions(database_url):
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def deliverer(sessions, **kw) -> OutboxDeliverer:
    options = dict(backoff_base=0.01, backoff_max=0.05, max_attempts=4, timeout=2, concurrency=4)
    options.update(kw)
    return OutboxDeliverer(sessions, {}, **options)


def enqueue(sessions, url, key="k", body="{}", supersede=False) -> int:
    with unit_of_work(sessions) as s:
        return outbox.enqueue(s, kind="test", ordering_key=key, method="POST", url=url, body=body, supersede=supersede).seq


def drain_until_settled(sessions, d, timeout=10.0) -> dict[int, OutboxMessage]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d.run_once()
        with sessions() as s:
            rows = {m.seq: m for m in s.scalars(select(OutboxMessage))}
        if all(m.status != "pending" for m in rows.values()):
            return rows
        time.sleep(0.02)
    raise AssertionError("outbox did not settle")


def test_2xx_delivered_5xx_retried_then_delivered(sessions):
    with Peer() as peer:
        peer.scripts["a"] = [500, 503, 202]
        seq = enqueue(sessions, peer.url("a"))
        rows = drain_until_settled(sessions, deliverer(sessions))
    assert rows[seq].status == "delivered" and rows[seq].attempts == 3
    assert len(peer.received) == 3


@pytest.mark.parametrize("status", [401, 405, 422])
def test_no_blind_retry_on_refusal(sessions, status):
    with Peer() as peer:
        peer.scripts["a"] = [status]
        seq = enqueue(sessions, peer.url("a"))
        rows = drain_until_settled(sessions, deliverer(sessions))
    assert rows[seq].status == "dead" and rows[seq].attempts == 1
    assert f"HTTP {status}" in rows[seq].last_error and f"status {status}" in rows[seq].last_error
    assert len(peer.received) == 1


def test_network_errors_retry_until_dead_then_redeliver(sessions):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    seq = enqueue(sessions, f"http://127.0.0.1:{closed}/nobody")
    rows = drain_until_settled(sessions, deliverer(sessions))
    assert rows[seq].status == "dead" and rows[seq].attempts == 4
    assert "gave up after 4 attempts" in rows[seq].last_error
    with sessions() as s:
        assert [m.seq for m in outbox.dead_letters(s)] == [seq]
    with Peer() as peer:  # the peer is back (and the URL fixed): redeliver
        with unit_of_work(sessions) as s:
            s.get(OutboxMessage, seq).url = peer.url("back")
            assert outbox.redeliver(s) == 1
        rows = drain_until_settled(sessions, deliverer(sessions))
    assert rows[seq].status == "delivered"


def test_order_per_key_and_supersede(sessions):
    with Peer() as peer:
        peer.scripts["p"] = [500, 500]
        first = enqueue(sessions, peer.url("p"), key="pupil-1", body='{"v": 1}')
        second = enqueue(sessions, peer.url("p"), key="pupil-1", body='{"v": 2}')
        other = enqueue(sessions, peer.url("q"), key="pupil-2", body='{"v": 1}')
        rows = drain_until_settled(sessions, deliverer(sessions))
        bodies = [b for name, b in peer.received if name == "p"]
    # the newer message of a key is never sent before the older one is settled
    assert bodies == ['{"v": 1}', '{"v": 1}', '{"v": 1}', '{"v": 2}']
    assert rows[first].status == rows[second].status == rows[other].status == "delivered"

    with Peer() as peer:  # standlevering: a newer state supersedes an older pending one
        old = enqueue(sessions, peer.url("s"), key="pupil-3", body='{"v": 1}', supersede=True)
        new = enqueue(sessions, peer.url("s"), key="pupil-3", body='{"v": 2}', supersede=True)
        rows = drain_until_settled(sessions, deliverer(sessions))
        assert [b for name, b in peer.received if name == "s"] == ['{"v": 2}']
    assert rows[old].status == "superseded" and rows[new].status == "delivered"


def test_a_round_claimed_in_one_batch_survives_a_crash_before_settling(sessions):
    """A deliverer claims a whole round, sends it and dies before recording the answers: the
    leases run out, another deliverer sends the round again (the receivers are idempotent) and
    settles it; the first one's late settlement then changes nothing (fenced on attempts)."""
    import asyncio

    with Peer() as peer:
        seqs = [enqueue(sessions, peer.url("r"), key=f"pupil-{i}", body=f'{{"i": {i}}}') for i in range(6)]
        crashed = deliverer(sessions, lease_seconds=0.3, concurrency=4)
        batch = crashed.claim()
        assert sorted(m.seq for m in batch) == seqs  # one claim for the whole round
        loop = asyncio.new_event_loop()
        responses = loop.run_until_complete(crashed._send_all(batch))
        assert [r.status for r in responses] == [202] * 6  # ... and then it crashed
        assert deliverer(sessions).claim() == []  # while the leases hold, nobody else takes them
        time.sleep(0.4)
        rows = drain_until_settled(sessions, deliverer(sessions))
        assert all(rows[s].status == "delivered" and rows[s].attempts == 2 for s in seqs)
        crashed.settle(batch, [outbox.PeerResponse(500)] * 6)  # the late first deliverer
        loop.run_until_complete(crashed._client.aclose())
        loop.close()
        with sessions() as s:
            after = {m.seq: m for m in s.scalars(select(OutboxMessage))}
        assert all(after[s].status == "delivered" and after[s].attempts == 2 and after[s].last_status == 202 for s in seqs)
        assert sorted(b for name, b in peer.received if name == "r") == sorted([f'{{"i": {i}}}' for i in range(6)] * 2)


def test_keep_alive_connections_are_reused(sessions):
    with Peer() as peer:
        d = deliverer(sessions, concurrency=2)
        for i in range(3):
            enqueue(sessions, peer.url("k"), key=f"k-{i}")
        drain_until_settled(sessions, d)
        opened = d._client.connections_opened
        assert opened <= 2  # three messages over at most two connections
        for i in range(3, 7):
            enqueue(sessions, peer.url("k"), key=f"k-{i}")
        drain_until_settled(sessions, d)
        assert d._client.connections_opened == opened  # the next round reuses them
    d.close()


def test_a_round_is_settled_at_once_and_a_failing_handler_fails_alone(sessions):
    """Answers of a round are settled together (a handler's ``many`` gets them all at once);
    when that raises, each message is settled alone: the one whose handler fails stays pending
    (retried later), the others are recorded as the handler said."""
    calls = []

    class Handler:
        def __call__(self, session, message, response):
            if '"bad"' in message.body:
                raise RuntimeError("cannot read this answer")
            return outbox.Verdict("retry", "not yet") if '"later"' in message.body else None

        def many(self, session, answers):
            calls.append(len(answers))
            return [self(session, m, r) for m, r in answers]

    with Peer() as peer:
        good = [enqueue(sessions, peer.url("g"), key=f"good-{i}", body='{"v": "ok"}') for i in range(3)]
        later = enqueue(sessions, peer.url("g"), key="later", body='{"v": "later"}')
        d = OutboxDeliverer(sessions, {"test": Handler()}, backoff_base=5, backoff_max=5, max_attempts=4, timeout=2, concurrency=8)
        batch = d.claim()
        assert len(batch) == 4
        import asyncio

        loop = asyncio.new_event_loop()
        responses = loop.run_until_complete(d._send_all(batch))
        d.settle(batch, responses)
        assert calls == [4]  # one call for the round
        with sessions() as s:
            rows = {m.seq: m for m in s.scalars(select(OutboxMessage))}
        assert all(rows[q].status == "delivered" and rows[q].last_status == 202 for q in good)
        assert rows[later].status == "pending" and rows[later].last_error == "not yet" and rows[later].locked_until is None
        assert d.delivered == 3 and d.retried == 1

        bad = enqueue(sessions, peer.url("g"), key="bad", body='{"v": "bad"}')
        more = [enqueue(sessions, peer.url("g"), key=f"more-{i}", body='{"v": "ok"}') for i in range(2)]
        batch = d.claim()
        assert sorted(m.seq for m in batch) == sorted([bad, *more])
        responses = loop.run_until_complete(d._send_all(batch))
        d.settle(batch, responses)
        loop.run_until_complete(d._client.aclose())
        loop.close()
        with sessions() as s:
            rows = {m.seq: m for m in s.scalars(select(OutboxMessage))}
        assert all(rows[q].status == "delivered" for q in more)  # settled alone after the round failed
        assert rows[bad].status == "pending" and rows[bad].last_status is None  # nothing recorded: tried again later
        assert d.delivered == 5
