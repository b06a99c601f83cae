"""The staff pages: login with scrypt-hashed passwords, a session cookie that is Secure, HttpOnly
and SameSite=Strict, a CSRF token on every form, security headers, roles, and the consent page of
a school administrator switching a flow off so that the exchange is refused."""

from __future__ import annotations

import re

from ..eduv import STAFF_PASSWORD, sample_bundle


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(eduv, username="beheer-school0", password=STAFF_PASSWORD):
    page = eduv.client.get("/insight/login")
    return eduv.client.post("/insight/login", data={"username": username, "password": password, "csrf": _csrf(page.text)},
                            follow_redirects=False)  # fmt: skip


def test_login_sets_a_strict_session_cookie_and_pages_carry_security_headers(eduv):
    response = login(eduv)
    assert response.status_code == 303 and response.headers["location"] == "/insight/consent"
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("__Host-eduketen-staff="))
    for attribute in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower(), cookie
    page = eduv.client.get("/insight/consent")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)  # no inline script
    assert not re.search(r"\son[a-z]+=", page.text)  # no inline event handlers
    assert eduv.client.get("/insight/static/htmx.min.js").status_code == 200
    assert eduv.client.get("/insight/static/htmx.min.js").headers["X-Content-Type-Options"] == "nosniff"


def test_wrong_passwords_unknown_users_and_forms_without_csrf(eduv):
    assert login(eduv, password="wrong password 123").status_code == 401
    assert login(eduv, username="nobody").status_code == 401
    no_csrf = eduv.client.post("/insight/login", data={"username": "beheer-school0", "password": STAFF_PASSWORD}, follow_redirects=False)
    assert no_csrf.status_code == 403
    json_login = eduv.client.post("/insight/login", json={"username": "beheer-school0"})
    assert json_login.status_code == 400
    assert eduv.client.get("/insight/consent", follow_redirects=False).headers["location"] == "/insight/login"


def test_an_account_is_locked_after_five_failures(eduv):
    for _ in range(5):
        assert login(eduv, password="not the password!").status_code == 401
    assert login(eduv).status_code == 401  # the right password, but locked for now


def test_passwords_are_stored_as_scrypt_hashes(eduv):
    from sqlalchemy import select

    from eduketen.insight.models import StaffAccount
    from eduketen.insight.security import verify_password

    with eduv.platform.sessions() as session:
        stored = session.scalar(select(StaffAccount.password_hash).where(StaffAccount.username == "beheer-school0"))
    assert stored.startswith("scrypt$") and STAFF_PASSWORD not in stored
    assert verify_password(STAFF_PASSWORD, stored) and not verify_password("other", stored)


def test_switching_a_consent_off_on_the_page_refuses_the_next_exchange(eduv):
    token = eduv.token()
    assert eduv.post(sample_bundle(eduv.school.brin), token=token).status_code == 201
    login(eduv)
    page = eduv.client.get("/insight/consent")
    (consent_id,) = re.findall(r'id="consent-(\d+)"', page.text)
    assert 'data-state="active"' in page.text
    csrf = _csrf(page.text)
    # without the CSRF token nothing changes
    assert eduv.client.post(f"/insight/consent/{consent_id}/revoke", data={}).status_code == 403
    assert eduv.post(sample_bundle(eduv.school.brin), token=token).status_code == 201
    # htmx request: answers the new row
    row = eduv.client.post(f"/insight/consent/{consent_id}/revoke", data={"csrf": csrf}, headers={"HX-Request": "true"})
    assert row.status_code == 200 and 'data-state="revoked"' in row.text
    refused = eduv.post(sample_bundle(eduv.school.brin), token=token)
    assert refused.status_code == 403 and "switched off" in refused.json()["detail"]
    # on again (plain form post): the platform confirms flows it receives itself
    again = eduv.client.post(f"/insight/consent/{consent_id}/activate", data={"csrf": csrf}, follow_redirects=False)
    assert again.status_code == 303
    assert eduv.post(sample_bundle(eduv.school.brin), token=token).status_code == 201
    history = eduv.client.get(f"/admin/consent/{consent_id}", headers={"Authorization": "Bearer test-admin-token"}).json()["history"]
    assert [(h["actor"], h["action"]) for h in history][-2:] == [("staff:beheer-school0", "revoke"), ("staff:beheer-school0", "activate")]


def test_a_school_administrator_cannot_touch_another_schools_consent(eduv):
    other = eduv.consent(1, "a")
    login(eduv, "beheer-school0")
    page = eduv.client.get("/insight/consent")
    assert f'id="consent-{other}"' not in page.text
    assert eduv.region.schools[1].name not in page.text
    csrf = _csrf(page.text)
    assert eduv.client.post(f"/insight/consent/{other}/revoke", data={"csrf": csrf}).status_code == 404
    # asking for another school through the query string shows their own school
    assert eduv.region.schools[1].brin not in eduv.client.get(f"/insight/consent?school={eduv.region.schools[1].brin}").text.split("<main>")[1].split("</h1>")[0]


def test_a_school_administrator_switches_a_new_flow_on(eduv):
    login(eduv)
    page = eduv.client.get("/insight/consent")
    response = eduv.client.post("/insight/consent", data={"csrf": _csrf(page.text), "school": eduv.school.brin, "api": "results-api",
                                                          "source": eduv.ids["system-b"], "receiver": eduv.ids["system-receiver"]},
                                follow_redirects=False)  # fmt: skip
    assert response.status_code == 303
    assert eduv.post(sample_bundle(eduv.school.brin), client_id="toets-b").status_code == 201


def test_a_mentor_has_no_consent_page_and_logout_ends_the_session(eduv):
    login(eduv, "mentor-school0")
    assert eduv.client.get("/insight/consent").status_code == 403
    login(eduv)
    page = eduv.client.get("/insight/consent")
    assert eduv.client.post("/insight/logout", data={"csrf": _csrf(page.text)}, follow_redirects=False).status_code == 303
    assert eduv.client.get("/insight/consent", follow_redirects=False).status_code == 303
