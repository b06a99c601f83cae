"""The authorization server (Edu-V M2M profile): client_credentials with private_key_jwt, every
bad client assertion refused, short-lived RFC 9068 access tokens, key rotation without downtime,
jwks_uri through a cache, and tokens of an external authorization server."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from joserfc import jwt

from eduketen.core.db import unit_of_work
from eduketen.core.oauth import keys as keyset
from eduketen.core.oauth import service as oauth

from ..eduv import BASE, client_keys, eduv, eduv_settings, jwks_server, make_assertion, sample_bundle  # noqa: F401


def _post_form(eduv, form):
    return eduv.client.post("/oauth/token", data=form)


def test_token_is_a_short_lived_rfc9068_jwt_verifiable_with_the_published_keys(eduv):
    response = eduv.token_response("toets-a", scope="eduv.result")
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300 and body["scope"] == "eduv.result"
    from joserfc.jwk import KeySet

    published = eduv.client.get("/.well-known/jwks.json").json()
    token = jwt.decode(body["access_token"], KeySet.import_key_set(published), algorithms=["ES256"])
    assert token.header["typ"] == "at+jwt"
    claims = token.claims
    assert claims["iss"] == BASE and claims["aud"] == BASE and claims["sub"] == claims["client_id"] == "toets-a"
    assert claims["exp"] - claims["iat"] == 300 and claims["scope"] == "eduv.result" and claims["jti"]
    assert all("d" not in k for k in published["keys"])  # never a private part
    meta = eduv.client.get("/.well-known/oauth-authorization-server").json()
    assert meta["token_endpoint"] == f"{BASE}/oauth/token" and meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]


def test_the_jwks_uri_client_is_fetched_through_the_cache(eduv):
    before = eduv.platform.views["jwks_fetcher"].fetches
    for _ in range(3):
        assert eduv.token_response("toets-b").status_code == 200
    assert eduv.platform.views["jwks_fetcher"].fetches - before == 1


def test_client_key_rotation_at_the_jwks_uri(eduv):
    assert eduv.token_response("toets-b").status_code == 200
    name = next(n for n in eduv.jwks_server.sets if n.startswith("b-") and str(id(eduv.platform)) in n)
    eduv.jwks_server.sets[name] = {"keys": [eduv.keys["b"].as_dict(private=False), eduv.keys["b2"].as_dict(private=False)]}
    fetcher = eduv.platform.views["jwks_fetcher"]
    fetcher.refetch_seconds = 0  # an unknown kid may refetch at once (default: at most every 10 s)
    response = eduv.token_response("toets-b", key=eduv.keys["b2"], alg="ES256")
    assert response.status_code == 200, response.text


CASES = {
    "expired": dict(exp_in=-120, iat_shift=-300),
    "issued in the future": dict(iat_shift=600, exp_in=900),
    "not valid yet": dict(nbf_shift=600),
    "valid too long": dict(exp_in=3600),
    "wrong audience": dict(aud="https://elsewhere.example/oauth/token"),
    "wrong issuer": dict(iss="toets-b"),
    "wrong subject": dict(sub="someone-else"),
    "no jti": dict(jti=""),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_client_assertions_are_refused(eduv, case):
    response = eduv.token_response("toets-a", **CASES[case])
    assert response.status_code == 401, (case, response.text)
    assert response.json()["error"] == "invalid_client" and response.json()["error_description"]
    assert "access_token" not in response.json()


def test_wrongly_signed_assertions_are_refused(eduv):
    # the same kid, another key
    forged = eduv.token_response("toets-a", key=eduv.keys["stranger"])
    assert forged.status_code == 401 and "signature" in forged.json()["error_description"]
    # HS256 with the public key as secret (algorithm confusion)
    from joserfc.jwk import OctKey

    secret = OctKey.import_key(b"x" * 32)
    form = {"grant_type": "client_credentials", "client_assertion_type": oauth.ASSERTION_TYPE, "client_id": "toets-a",
            "client_assertion": jwt.encode({"alg": "HS256"}, {"iss": "toets-a", "sub": "toets-a", "aud": f"{BASE}/oauth/token",
                                                               "exp": int(time.time()) + 60, "jti": "x"}, secret)}  # fmt: skip
    assert _post_form(eduv, form).status_code == 401
    # a tampered payload
    good = make_assertion("toets-a", eduv.keys["a"])
    head, payload, sig = good.split(".")
    tampered = ".".join([head, payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1], sig])
    form["client_assertion"] = tampered
    assert _post_form(eduv, form).status_code == 401


def test_a_replayed_assertion_is_refused(eduv):
    jti = str(uuid.uuid4())
    assertion = make_assertion("toets-a", eduv.keys["a"], jti=jti)
    form = {"grant_type": "client_credentials", "client_assertion_type": oauth.ASSERTION_TYPE, "client_assertion": assertion, "client_id": "toets-a"}
    assert _post_form(eduv, form).status_code == 200
    again = _post_form(eduv, form)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant" and "used before" in again.json()["error_description"]
    # a new assertion with the same jti is a replay too
    assert eduv.token_response("toets-a", jti=jti).status_code == 400


def test_request_errors(eduv):
    good = {"grant_type": "client_credentials", "client_assertion_type": oauth.ASSERTION_TYPE,
            "client_assertion": make_assertion("toets-a", eduv.keys["a"]), "client_id": "toets-a"}  # fmt: skip
    assert _post_form(eduv, {**good, "grant_type": "password"}).json()["error"] == "unsupported_grant_type"
    assert _post_form(eduv, {k: v for k, v in good.items() if k != "client_id"}).json()["error"] == "invalid_request"
    assert _post_form(eduv, {**good, "client_assertion_type": "secret"}).json()["error"] == "invalid_request"
    assert _post_form(eduv, {**good, "client_id": "nobody"}).status_code == 401
    assert _post_form(eduv, {**good, "client_assertion": "a.b.c"}).status_code == 401
    as_json = eduv.client.post("/oauth/token", json=good)
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    assert eduv.token_response("toets-a-consent-only", scope="eduv.result").json()["error"] == "invalid_scope"


def test_a_disabled_client_gets_no_token_and_its_tokens_stop_working(eduv):
    token = eduv.token("toets-a")
    admin = {"Authorization": "Bearer test-admin-token"}
    assert eduv.client.post("/admin/oauth/clients/toets-a/disable", headers=admin).status_code == 200
    assert eduv.token_response("toets-a").status_code == 401
    assert eduv.post(sample_bundle(eduv.school.brin), token=token).status_code == 401


def _mint(eduv, **claims):
    kid, key = eduv.platform.views["oauth_keys"].signing_key()
    now = int(time.time())
    base = {"iss": BASE, "sub": "toets-a", "client_id": "toets-a", "aud": BASE, "scope": "eduv.result", "iat": now, "exp": now + 60,
            "jti": str(uuid.uuid4()), "supplier_oin": eduv.region.toetsaanbieder.oin}  # fmt: skip
    base.update(claims)
    return jwt.encode({"alg": "ES256", "kid": kid, "typ": "at+jwt"}, {k: v for k, v in base.items() if v is not None}, key)


def test_access_tokens_for_another_audience_scope_or_time_are_refused(eduv):
    bundle = sample_bundle(eduv.school.brin)
    assert eduv.post(bundle, token=_mint(eduv)).status_code == 201
    assert eduv.post(bundle, token=_mint(eduv, aud="https://other.example")).status_code == 401
    assert eduv.post(bundle, token=_mint(eduv, scope="eduv.progress")).status_code == 403
    assert eduv.post(bundle, token=_mint(eduv, exp=int(time.time()) - 100)).status_code == 401
    assert eduv.post(bundle, token=_mint(eduv, supplier_oin="00000003999999999999")).status_code == 401
    assert eduv.post(bundle, token=_mint(eduv, iss="https://evil.example")).status_code == 401


def test_key_rotation_without_downtime(eduv):
    store = eduv.platform.views["oauth_keys"]
    old_token = eduv.token()
    old_kid = jwt.decode(old_token, store.verification_keys(None), algorithms=["ES256"]).header["kid"]
    admin = {"Authorization": "Bearer test-admin-token"}
    rotated = eduv.client.post("/admin/oauth/keys/rotate", headers=admin)
    assert rotated.status_code == 201
    new_kid = rotated.json()["kid"]
    # published at once, not signing yet
    kids = [k["kid"] for k in eduv.client.get("/.well-known/jwks.json").json()["keys"]]
    assert kids == [old_kid, new_kid]
    assert jwt.decode(eduv.token(), store.verification_keys(None), algorithms=["ES256"]).header["kid"] == old_kid
    # its turn comes: it signs; the old key stays published while its tokens live
    with unit_of_work(eduv.platform.sessions) as session:
        session.get(keyset.OAuthSigningKey, old_kid).signs_from = datetime.now(UTC) - timedelta(minutes=10)
        session.get(keyset.OAuthSigningKey, new_kid).signs_from = datetime.now(UTC) - timedelta(seconds=1)
    store.invalidate()
    new_token = eduv.token()
    assert jwt.decode(new_token, store.verification_keys(None), algorithms=["ES256"]).header["kid"] == new_kid
    bundle = sample_bundle(eduv.school.brin)
    assert eduv.post(bundle, token=old_token).status_code == 201
    assert eduv.post(bundle, token=new_token).status_code == 201
    assert [k["kid"] for k in eduv.client.get("/.well-known/jwks.json").json()["keys"]] == [old_kid, new_kid]


def test_which_keys_are_published_and_which_signs():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    a = keyset.KeyRecord("a", t0, {}, {})
    b = keyset.KeyRecord("b", t0 + timedelta(minutes=5), {}, {})
    at = lambda minutes: t0 + timedelta(minutes=minutes)  # noqa: E731
    assert keyset.signing([a, b], at(1)).kid == "a"
    assert [r.kid for r in keyset.published([a, b], at(1), token_seconds=300, leeway=30)] == ["a", "b"]
    assert keyset.signing([a, b], at(6)).kid == "b"
    assert [r.kid for r in keyset.published([a, b], at(6), token_seconds=300, leeway=30)] == ["a", "b"]
    assert [r.kid for r in keyset.published([a, b], at(10.6), token_seconds=300, leeway=30)] == ["b"]


@pytest.fixture
def eduv_settings(jwks_server):
    return {"oauth_external_issuer": "https://as.example", "oauth_external_jwks_uri": jwks_server.url("external-as")}


def test_tokens_of_the_configured_external_authorization_server(eduv, client_keys):
    eduv.jwks_server.sets["external-as"] = {"keys": [client_keys["external-as"].as_dict(private=False)]}
    now = int(time.time())
    claims = {"iss": "https://as.example", "sub": "toets-a", "client_id": "toets-a", "aud": BASE, "scope": "eduv.result openid",
              "iat": now, "exp": now + 60}  # fmt: skip
    token = jwt.encode({"alg": "ES256", "kid": "ext-1"}, claims, client_keys["external-as"])
    bundle = sample_bundle(eduv.school.brin)
    assert eduv.post(bundle, token=token).status_code == 201
    forged = jwt.encode({"alg": "ES256", "kid": "ext-1"}, claims, client_keys["b2"])
    assert eduv.post(bundle, token=forged).status_code == 401
    other_aud = jwt.encode({"alg": "ES256", "kid": "ext-1"}, {**claims, "aud": "https://x.example"}, client_keys["external-as"])
    assert eduv.post(bundle, token=other_aud).status_code == 401
    unknown_client = jwt.encode({"alg": "ES256", "kid": "ext-1"}, {**claims, "client_id": "nobody", "sub": "nobody"}, client_keys["external-as"])
    assert eduv.post(bundle, token=unknown_client).status_code == 401


def test_client_registration_through_the_admin_api(eduv, client_keys):
    admin = {"Authorization": "Bearer test-admin-token"}
    body = {"client_id": "toets-c", "supplier_oin": eduv.region.toetsaanbieder.oin, "system": eduv.region.toetsaanbieder.system,
            "scopes": ["eduv.result"], "jwks_uri": "https://toets-c.example/jwks.json"}  # fmt: skip
    created = eduv.client.post("/admin/oauth/clients", json=body, headers=admin)
    assert created.status_code == 201 and created.json()["scopes"] == ["eduv.result"]
    assert eduv.client.post("/admin/oauth/clients", json=body, headers=admin).status_code == 409
    bad = [
        {**body, "client_id": "toets-d", "jwks_uri": "http://toets.example/jwks.json"},  # plain http off loopback
        {**body, "client_id": "toets-d", "scopes": ["everything"]},
        {**body, "client_id": "toets-d", "jwks": {"keys": [client_keys["a"].as_dict(private=True)]}, "jwks_uri": None},
        {**body, "client_id": "toets-d", "supplier_oin": "123"},
        {**body, "client_id": "toets d!"},
    ]
    for case in bad:
        response = eduv.client.post("/admin/oauth/clients", json=case, headers=admin)
        assert response.status_code == 422, (case, response.text)
    assert eduv.client.post("/admin/oauth/clients", json=body).status_code == 401
