"""The mentor's pages over HTTP: a mentor sees only the groups assigned to them, the group view
shows every pupil against the group with flagged pupils and their explanation, the pupil view
shows the subjects side by side; pages are audited and carry the strict CSP."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from eduketen.core.models import AuditEntry

from ..eduv import STAFF_PASSWORD
from .conftest import setup_mentors


def login(client, username: str):
    page = client.get("/insight/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post("/insight/login", data={"username": username, "password": STAFF_PASSWORD, "csrf": csrf}, follow_redirects=False)


def test_mentor_group_view_pupil_view_and_access(progress):
    m = setup_mentors(progress.platform, progress.eduv.region, progress.method_system_id)
    client = progress.client
    assert client.get(f"/insight/groups/{m.group_ids[0]}", follow_redirects=False).headers["location"] == "/insight/login"
    response = login(client, "mentor-school0")
    assert response.status_code == 303 and response.headers["location"] == "/insight/groups"
    listing = client.get("/insight/groups")
    assert f'/insight/groups/{m.group_ids[0]}"' in listing.text and f'/insight/groups/{m.group_ids[1]}"' not in listing.text

    page = client.get(f"/insight/groups/{m.group_ids[0]}")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"] and "unsafe-eval" not in page.headers["Content-Security-Policy"]
    text = html.unescape(page.text)
    planted = m.planted[0]
    grinders = [eck for eck, pattern in planted.pupils.items() if pattern == "grinder"]
    for eck in grinders:
        name = planted.names[eck]
        row = re.search(rf'<tr class="flagged" data-pupil="{m.pupil_ids[eck]}">(.*?)</tr>', text, re.S)
        assert row is not None and name in row.group(1)
        assert "Oefent veel meer dan de groep" in row.group(1) and "scoort bij de laagsten" in row.group(1)
    normal = next(eck for eck, pattern in planted.pupils.items() if pattern == "normal")
    assert f'<tr class="" data-pupil="{m.pupil_ids[normal]}">' in text
    # The chart's spec is in the page (no names in it), the vendored scripts are local.
    spec = re.search(r'<script type="application/json" id="group-chart-spec">(.*?)</script>', page.text, re.S).group(1)
    assert '"vconcat"' in spec and planted.names[grinders[0]] not in spec
    assert '<script src="/insight/static/vega.min.js"' in page.text and "cdn" not in page.text.lower()
    assert client.get("/insight/static/vega-lite.min.js").status_code == 200

    # Per subject.
    assert client.get(f"/insight/groups/{m.group_ids[0]}?vak=rekenen").status_code == 200
    assert client.get(f"/insight/groups/{m.group_ids[0]}?vak=geschiedenis").status_code == 404

    pupil = client.get(f"/insight/pupils/{m.pupil_ids[grinders[0]]}")
    assert pupil.status_code == 200
    text = html.unescape(pupil.text)
    assert planted.names[grinders[0]] in text and "Oefent veel meer dan de groep" in text
    assert all(s in text for s in ("rekenen", "taal", "spelling")) and 'id="timeline"' in text

    # Another mentor's group and its pupils: 403; nonsense ids: 404.
    other_eck = next(iter(m.planted[1].pupils))
    assert client.get(f"/insight/groups/{m.group_ids[1]}").status_code == 403
    assert client.get(f"/insight/pupils/{m.pupil_ids[other_eck]}").status_code == 403
    assert client.get("/insight/groups/0").status_code == 404
    assert client.get("/insight/groups/abc").status_code == 422 or client.get("/insight/groups/abc").status_code == 404

    with progress.platform.sessions() as session:
        purposes = [e.purpose for e in session.scalars(select(AuditEntry).where(AuditEntry.actor == "staff:mentor-school0"))]
    assert purposes.count("mentor: group view") == 25 * 2 and "mentor: pupil view" in purposes


def test_other_roles(progress):
    m = setup_mentors(progress.platform, progress.eduv.region, progress.method_system_id)
    client = progress.client
    login(client, "mentor2-school0")
    assert client.get(f"/insight/groups/{m.group_ids[1]}").status_code == 200
    assert client.get(f"/insight/groups/{m.group_ids[0]}").status_code == 403
    client.cookies.clear()
    login(client, "beheer-school1")  # administrator of another school
    assert client.get(f"/insight/groups/{m.group_ids[0]}").status_code == 403


def test_school_overview_and_quality_usage_pages(progress):
    from datetime import UTC, datetime

    from eduketen.core.db import unit_of_work
    from eduketen.insight.security import create_account

    from .conftest import ECK, drain, record

    m = setup_mentors(progress.platform, progress.eduv.region, progress.method_system_id)
    brin = progress.eduv.school.brin
    # One pupil only activated (not-started) on a second material this week.
    activated = record(brin, status="not-started", unit="x1", eck=ECK)
    activated.pop("score")
    activated["courseId"] = "nieuwe-methode"
    activated["statusChangedAt"] = datetime.now(UTC).isoformat()
    assert progress.put(activated["id"], activated).status_code == 200
    drain(progress.platform)
    with unit_of_work(progress.platform.sessions) as session:
        create_account(session, username="kwaliteit", password=STAFF_PASSWORD, role="quality", display_name="Kwaliteit")
    client = progress.client
    login(client, "beheer-school0")
    page = client.get("/insight/school")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert all(name not in text for name in m.planted[0].names.values())  # counts only
    row = re.search(r"<th scope=\"row\">Groep 7A \(2026-2027\)</th><td>25</td><td>25</td>", page.text)
    assert row is not None
    assert client.get("/insight/usage").status_code == 403
    client.cookies.clear()

    login(client, "kwaliteit")
    assert client.get("/insight/school").status_code == 403
    page = client.get("/insight/usage")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Lesmethode BV — Oefenplatform" in text and "nieuwe-methode" in text
    # The only-activated material: 1 activated, 0 used.
    assert re.search(r"<td>nieuwe-methode</td><td>\d{4}-W\d\d</td><td>1</td><td>1</td>\s*<td>0</td><td>0.0</td>", page.text)
    assert all(name not in text for name in m.planted[0].names.values()) and "ketenid" not in text
