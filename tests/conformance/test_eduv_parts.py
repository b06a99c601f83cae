"""Parts of the suite for the Edu-V APIs that need no server: secrets kept out of curl lines and
summaries, the client key in its three forms, and what a target must say."""

from __future__ import annotations

import json

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from eduketen.conformance import oauth
from eduketen.conformance.exchange import Exchange
from eduketen.conformance.target import TargetError, build_target, school_ref

TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLW9mLWEtcmVhbC10b2tlbg"


def test_curl_line_and_summary_never_show_a_token():
    exchange = Exchange("POST", "https://ra.example/toetsresultaten/v1/results", headers={"Authorization": f"Bearer {TOKEN}"}, body=b"{}")
    line = exchange.curl()
    assert "Authorization: Bearer <token>" in line and TOKEN not in line
    made_up = Exchange("POST", "https://x/results", headers={"Authorization": "Bearer not-a-token"}, show_token=True)
    assert "Bearer not-a-token" in made_up.curl()
    form = b"grant_type=client_credentials&client_assertion=" + TOKEN.encode()
    token_request = Exchange("POST", "https://x/oauth/token", body=form, redacted_body=b"grant_type=client_credentials&client_assertion=<client_assertion>")
    assert TOKEN not in token_request.curl() and "<client_assertion>" in token_request.curl()
    token_request.status, token_request.response_body = 200, json.dumps({"access_token": TOKEN, "token_type": "Bearer"}).encode()
    assert TOKEN not in token_request.summary() and "<access token>" in token_request.summary()


@pytest.mark.parametrize("form", ["rsa-pem", "ec-jwk", "ec-jwks"])
def test_client_key_is_read_as_pem_jwk_or_jwks_and_signs_an_assertion(tmp_path, form):
    key = RSAKey.generate_key(2048) if form == "rsa-pem" else ECKey.generate_key("P-256", parameters={"kid": "k1"})
    path = tmp_path / "key"
    if form == "rsa-pem":
        path.write_bytes(key.as_pem(private=True))
    elif form == "ec-jwk":
        path.write_text(json.dumps(key.as_dict(private=True)))
    else:
        path.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    loaded = oauth.load_key(path)
    assertion = oauth.client_assertion("client-1", loaded, audience="https://as.example/oauth/token")
    claims = jwt.decode(assertion, key).claims
    assert claims["iss"] == claims["sub"] == "client-1" and claims["aud"] == "https://as.example/oauth/token" and claims["jti"]
    header, _ = oauth.claims_of(assertion)
    assert header["alg"] == ("RS256" if form == "rsa-pem" else "ES256")


def test_a_public_key_or_two_private_keys_are_refused(tmp_path):
    key = ECKey.generate_key("P-256")
    public = tmp_path / "public.jwk"
    public.write_text(json.dumps(key.as_dict(private=False)))
    with pytest.raises(oauth.TokenError, match="no private key"):
        oauth.load_key(public)
    two = tmp_path / "two.jwks"
    two.write_text(json.dumps({"keys": [key.as_dict(private=True), ECKey.generate_key("P-256").as_dict(private=True)]}))
    with pytest.raises(oauth.TokenError, match="exactly one"):
        oauth.load_key(two)


def test_forged_tokens_differ_from_the_real_one_as_meant():
    key = ECKey.generate_key("P-256")
    real = jwt.encode({"alg": "ES256", "typ": "at+jwt"}, {"sub": "c", "exp": 4102444800}, key)
    unsigned = oauth.unsigned_copy(real)
    assert unsigned.endswith(".") and oauth.claims_of(unsigned)[0]["alg"] == "none"
    moved = oauth.expiry_moved(real)
    assert moved.split(".")[2] == real.split(".")[2] and oauth.claims_of(moved)[1]["exp"] < 4102444800


def test_eduv_target_says_what_is_missing(tmp_path):
    with pytest.raises(TargetError) as info:
        build_target(service="results", url="https://ra.example/toetsresultaten/v1")
    assert "--token-url" in str(info.value) and "--school" in str(info.value)
    target = build_target(service="progress", url="https://d.example/leervoortgang/v1/", token="t", school="OIN:00000001123456789000")
    assert target.service == "leervoortgang" and target.version == "1.0.0" and target.role == "ontvanger"
    assert target.url.endswith("/v1") and target.school == ("OIN", "00000001123456789000")
    with pytest.raises(TargetError, match="role"):
        build_target(service="results", role="las", url="https://ra.example/toetsresultaten/v1", token="t", school="BRIN:11BB")
    assert school_ref("11bb") == ("BRIN", "11BB")
    with pytest.raises(TargetError):
        school_ref("KVK:12345678")
