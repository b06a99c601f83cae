"""Consent (regie op gegevens): request, activate, confirm (receiver of a push flow), revoke, the
full history, suppliers seeing only their own relations, and the exchange following each state."""

from __future__ import annotations

from ..eduv import ADMIN_OIN, B_OIN, RECEIVER, sample_bundle

ADMIN = {"Authorization": "Bearer test-admin-token"}


def _request_body(eduv, school_index=1, source="b"):
    src = {"supplier_oin": B_OIN, "system": "Toetsplatform"} if source == "b" else {
        "supplier_oin": eduv.region.toetsaanbieder.oin, "system": eduv.region.toetsaanbieder.system}  # fmt: skip
    return {"school": eduv.region.schools[school_index].brin, "api": "results-api", "source": src,
            "receiver": {"supplier_oin": ADMIN_OIN, "system": RECEIVER}}  # fmt: skip


def _consent_headers(eduv, client_id):
    return {"Authorization": f"Bearer {eduv.token(client_id, scope='eduv.consent')}"}


def test_lifecycle_with_history_and_the_exchange_following_it(eduv):
    school = eduv.region.schools[1].brin
    bundle = sample_bundle(school)
    b = _consent_headers(eduv, "toets-b")
    asked = eduv.client.post("/consent/v1/requests", json=_request_body(eduv), headers=b)
    assert asked.status_code == 201, asked.text
    consent_id = asked.json()["id"]
    assert asked.json()["state"] == "requested"
    results_b = eduv.token("toets-b", scope="eduv.result")
    assert "not activated" in eduv.post(bundle, token=results_b).json()["detail"]

    activated = eduv.client.post(f"/admin/consent/{consent_id}/activate", headers=ADMIN).json()
    assert activated["state"] == "awaiting-confirmation" and not activated["in_force"]
    refused = eduv.post(bundle, token=results_b)
    assert refused.status_code == 403 and "not confirmed" in refused.json()["detail"]

    # only the receiving side confirms a push flow: toets-b is the source here
    assert eduv.client.post(f"/consent/v1/relations/{consent_id}/confirm", headers=b).status_code == 403
    confirmed = eduv.client.post(f"/admin/consent/{consent_id}/confirm", headers=ADMIN).json()
    assert confirmed["in_force"] and confirmed["state"] == "active"
    assert eduv.post(bundle, token=results_b).status_code == 201

    revoked = eduv.client.post(f"/admin/consent/{consent_id}/revoke", headers=ADMIN).json()
    assert revoked["state"] == "revoked"
    assert eduv.post(bundle, token=results_b).status_code == 403
    history = eduv.client.get(f"/admin/consent/{consent_id}", headers=ADMIN).json()["history"]
    assert [(h["actor"], h["action"], h["from"], h["to"]) for h in history] == [
        (f"supplier:{B_OIN}", "request", None, "requested"),
        ("admin", "activate", "requested", "active"),
        ("admin", "confirm", "active", "active"),
        ("admin", "revoke", "active", "revoked"),
    ]
    assert all(h["at"] for h in history)
    # asked again after a revoke: back to requested, confirmation needed again
    again = eduv.client.post("/consent/v1/requests", json=_request_body(eduv), headers=b).json()
    assert again["id"] == consent_id and again["state"] == "requested" and again["confirmed_at"] is None


def test_suppliers_see_only_their_own_relations(eduv):
    b = _consent_headers(eduv, "toets-b")
    assert eduv.client.post("/consent/v1/requests", json=_request_body(eduv), headers=b).status_code == 201
    mine_b = eduv.client.get("/consent/v1/relations", headers=b).json()["relations"]
    assert len(mine_b) == 1 and mine_b[0]["source"]["supplier_oin"] == B_OIN
    a = _consent_headers(eduv, "toets-a")
    mine_a = eduv.client.get("/consent/v1/relations", headers=a).json()["relations"]
    assert [r["source"]["supplier_oin"] for r in mine_a] == [eduv.region.toetsaanbieder.oin]
    # a cannot confirm, see or ask for b's relation
    other_id = mine_b[0]["id"]
    assert eduv.client.post(f"/consent/v1/relations/{other_id}/confirm", headers=a).status_code == 404
    body = _request_body(eduv)
    assert eduv.client.post("/consent/v1/requests", json=body, headers=a).status_code == 403
    # without the consent scope: nothing
    results_only = {"Authorization": f"Bearer {eduv.token('toets-b', scope='eduv.result')}"}
    assert eduv.client.get("/consent/v1/relations", headers=results_only).status_code == 403
    assert eduv.client.get("/consent/v1/relations").status_code == 401


def test_bad_consent_requests(eduv):
    b = _consent_headers(eduv, "toets-b")
    body = _request_body(eduv)
    assert eduv.client.post("/consent/v1/requests", json={**body, "api": "everything-api"}, headers=b).status_code == 422
    assert eduv.client.post("/consent/v1/requests", json={**body, "school": "99ZZ"}, headers=b).status_code == 404
    same = {**body, "receiver": body["source"]}
    assert eduv.client.post("/consent/v1/requests", json=same, headers=b).status_code == 422
    assert eduv.client.post("/admin/consent/999999/activate", headers=ADMIN).status_code == 404
    assert eduv.client.post("/admin/consent/1/enable", headers=ADMIN).status_code == 422


def test_a_pull_flow_needs_no_confirmation():
    from eduketen.register import consent

    class Row:
        status, direction, confirmed_at = "active", "pull", None

    assert consent.effective(Row())
    Row.direction = "push"
    assert not consent.effective(Row())
