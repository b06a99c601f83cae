"""The small `make reliability` run: load on the inbound API while the API process, a worker and
PostgreSQL are killed and restarted, two workers on one PostgreSQL, the outbound peer answering
500 and hanging. Nothing acknowledged is lost, nothing has its effect twice."""

from __future__ import annotations

from eduketen.simulate import reliability


def test_faults_lose_nothing_and_duplicate_nothing(tmp_path):
    report = reliability.run(tmp_path / "rel", schools=2, pupils=4, clients=3, phase_seconds=1.5)
    inbound, outbound = report["inbound"], report["outbound"]
    assert inbound["acknowledged"] >= 20, report  # enough traffic to prove something
    assert inbound["lost"] == 0 and inbound["duplicated"] == 0 and inbound["dead_lettered"] == 0, report
    assert inbound["processed"] == inbound["acknowledged"], report
    assert inbound["server_errors"] == 0, report  # the database down is a 503 (try again), never a 500
    assert outbound["acknowledged"] == 8, report
    assert outbound["peer_500_answers"] > 0 and outbound["peer_hung_requests"] > 0, report  # the faults happened
    assert outbound["lost"] == 0 and outbound["duplicated"] == 0 and outbound["dead_lettered"] == 0, report
    assert report["ok"]
