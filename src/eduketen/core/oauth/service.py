"""Rules of the authorization server and of access-token checks. No HTTP, no commit."""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eduketen.core.db import utcnow
from eduketen.core.identifiers import IdentifierError, validate_oin
from eduketen.core.oauth.jwks import JwksFetcher, JwksUnavailable, check_jwks_uri
from eduketen.core.oauth.keys import ALG, KeyStore
from eduketen.core.oauth.models import OAuthAssertionSeen, OAuthClient

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Asymmetric algorithms only: a client's key is public, so HS* would be a forgery by anyone.
ASSERTION_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
SCOPES = ("eduv.result", "eduv.progress", "eduv.consent", "eduv.student.basic", "eduketen.keurmerk")
_SCOPE_RE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,100}$")  # RFC 6749 scope-token
_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9._:@/-]{1,200}$")


class OAuthError(Exception):
    """An RFC 6749 error answer: ``error`` code and a description that says what to fix."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


class ClientError(ValueError):
    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


# -- registration --------------------------------------------------------------------------------


def _check_jwks(jwks: dict) -> str:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ClientError("jwks must be an object with a non-empty 'keys' list")
    public = {"keys": []}
    for key in jwks["keys"]:
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC"):
            raise ClientError("every key in jwks must be an RSA or EC public key")
        if any(p in key for p in ("d", "p", "q", "dp", "dq", "qi")):
            raise ClientError("jwks holds a private key; register the public key only")
        public["keys"].append(key)
    try:
        KeySet.import_key_set(public)
    except (JoseError, ValueError, TypeError) as exc:
        raise ClientError(f"jwks cannot be read: {exc}") from exc
    return json.dumps(public)


def register_client(
    session: Session,
    *,
    client_id: str,
    supplier_oin: str,
    name: str,
    scopes: list[str],
    jwks_uri: str | None = None,
    jwks: dict | None = None,
    system_id: int | None = None,
) -> OAuthClient:
    if not _CLIENT_ID_RE.match(client_id or ""):
        raise ClientError("client_id: 1 to 200 letters, digits or . _ : @ / -")
    try:
        validate_oin(supplier_oin)
    except IdentifierError as exc:
        raise ClientError(f"supplier_oin: {exc}") from exc
    if (jwks_uri is None) == (jwks is None):
        raise ClientError("give exactly one of jwks_uri and jwks")
    if jwks_uri is not None:
        try:
            check_jwks_uri(jwks_uri)
        except ValueError as exc:
            raise ClientError(str(exc)) from exc
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ClientError(f"scopes must be a non-empty selection of {', '.join(SCOPES)}; unknown: {', '.join(unknown)}")
    if session.scalar(select(OAuthClient.id).where(OAuthClient.client_id == client_id)) is not None:
        raise ClientError(f"client {client_id!r} exists already", status=409)
    client = OAuthClient(
        client_id=client_id,
        supplier_oin=supplier_oin,
        system_id=system_id,
        name=name.strip() or client_id,
        jwks_uri=jwks_uri,
        jwks=_check_jwks(jwks) if jwks is not None else None,
        scopes=" ".join(dict.fromkeys(scopes)),
        created_at=utcnow(),
    )
    session.add(client)
    session.flush()
    return client


def client_by_id(session: Session, client_id: str) -> OAuthClient | None:
    return session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


def clients(session: Session) -> list[OAuthClient]:
    return list(session.scalars(select(OAuthClient).order_by(OAuthClient.client_id)))


def disable_client(session: Session, client_id: str) -> OAuthClient:
    client = client_by_id(session, client_id)
    if client is None:
        raise ClientError(f"unknown client {client_id!r}", status=404)
    client.disabled_at = client.disabled_at or utcnow()
    return client


def client_out(client: OAuthClient) -> dict:
    return {
        "client_id": client.client_id,
        "supplier_oin": client.supplier_oin,
        "system_id": client.system_id,
        "name": client.name,
        "jwks_uri": client.jwks_uri,
        "jwks": json.loads(client.jwks) if client.jwks else None,
        "scopes": client.scopes.split(),
        "disabled": client.disabled_at is not None,
    }


# -- the token endpoint --------------------------------------------------------------------------


@dataclass(frozen=True)
class OAuthConfig:
    issuer: str
    token_endpoint: str
    audience: str
    token_seconds: int
    assertion_max_seconds: int
    leeway: int
    external_issuer: str | None = None
    external_jwks_uri: str | None = None

    @classmethod
    def from_settings(cls, settings) -> OAuthConfig:
        return cls(
            issuer=settings.issuer,
            token_endpoint=settings.issuer + "/oauth/token",
            audience=settings.resource_audience,
            token_seconds=settings.oauth_token_seconds,
            assertion_max_seconds=settings.oauth_assertion_max_seconds,
            leeway=settings.oauth_leeway_seconds,
            external_issuer=(settings.oauth_external_issuer or "").rstrip("/") or None,
            external_jwks_uri=settings.oauth_external_jwks_uri,
        )


def _unverified(token: str) -> tuple[dict, dict]:
    try:
        compact = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError, TypeError) as exc:
        raise ValueError("not a compact JWS") from exc
    if not isinstance(claims, dict):
        raise ValueError("the JWT payload is not an object")
    return dict(compact.protected), claims


def _verify_signature(token: str, keys: KeySet, kid: str | None, algorithms) -> dict:
    if kid is None and len(keys.keys) > 1:
        for key in keys.keys:  # no kid: try each key of the set
            try:
                return jwt.decode(token, key, algorithms=list(algorithms)).claims
            except JoseError:
                continue
        raise JoseError("signature does not match any key")
    return jwt.decode(token, keys, algorithms=list(algorithms)).claims


def _num(claims: dict, name: str, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise ValueError(f"'{name}' is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{name}' is not a number")
    return float(value)


def _check_times(claims: dict, *, now: float, leeway: int, max_seconds: int | None) -> float:
    exp = _num(claims, "exp", True)
    iat = _num(claims, "iat", False)
    nbf = _num(claims, "nbf", False)
    if exp <= now - leeway:
        raise ValueError("it has expired ('exp' is in the past)")
    if iat is not None and iat > now + leeway:
        raise ValueError("it was issued in the future ('iat')")
    if nbf is not None and nbf > now + leeway:
        raise ValueError("it is not valid yet ('nbf' is in the future)")
    if max_seconds is not None and exp - (iat if iat is not None else now) > max_seconds + leeway:
        raise ValueError(f"it is valid too long (at most {max_seconds} seconds between 'iat' and 'exp')")
    return exp


def _audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return aud
    return []


def _purge_seen(session: Session, now: datetime) -> None:
    session.execute(delete(OAuthAssertionSeen).where(OAuthAssertionSeen.expires_at < now))


def prefetch_client_keys(session: Session, form: dict[str, str], fetcher: JwksFetcher) -> None:
    """Warm the JWKS cache for the client named in ``form`` before the token transaction opens,
    so that no network call is made while it holds the database. Problems are left for
    ``issue_token`` to report."""
    client_id = form.get("client_id") or ""
    client = client_by_id(session, client_id) if _CLIENT_ID_RE.match(client_id) else None
    if client is None or not client.jwks_uri:
        return
    try:
        header, _ = _unverified(form.get("client_assertion") or "")
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        fetcher.get(client.jwks_uri, kid)
    except (ValueError, JwksUnavailable):
        return


def issue_token(session: Session, form: dict[str, str], *, config: OAuthConfig, signing: tuple, fetcher: JwksFetcher) -> dict:
    """Check a client_credentials request with a private_key_jwt assertion; answer an access token
    signed with ``signing`` = (kid, key) (from ``KeyStore.signing_key``, taken before the transaction)."""
    grant = form.get("grant_type")
    if not grant:
        raise OAuthError(400, "invalid_request", "grant_type is missing; send grant_type=client_credentials")
    if grant != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise OAuthError(400, "invalid_request", f"client_assertion_type must be {ASSERTION_TYPE} (private_key_jwt)")
    assertion = form.get("client_assertion") or ""
    client_id = form.get("client_id") or ""
    if not assertion:
        raise OAuthError(400, "invalid_request", "client_assertion is missing")
    if not client_id:
        raise OAuthError(400, "invalid_request", "client_id is missing (the Edu-V profile requires it)")
    if len(assertion) > 16_000:
        raise OAuthError(400, "invalid_request", "client_assertion is too long")
    client = client_by_id(session, client_id) if _CLIENT_ID_RE.match(client_id) else None
    if client is None or client.disabled_at is not None:
        raise OAuthError(401, "invalid_client", "unknown or disabled client_id")
    try:
        header, _ = _unverified(assertion)
    except ValueError as exc:
        raise OAuthError(401, "invalid_client", f"client_assertion is not a signed JWT: {exc}") from exc
    alg = header.get("alg")
    if alg not in ASSERTION_ALGS:
        raise OAuthError(401, "invalid_client", f"client_assertion alg must be one of {', '.join(ASSERTION_ALGS)}")
    kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    try:
        jwks = json.loads(client.jwks) if client.jwks else fetcher.get(client.jwks_uri, kid)
        keyset = KeySet.import_key_set(jwks)
    except JwksUnavailable as exc:
        raise OAuthError(401, "invalid_client", f"the client's keys cannot be fetched: {exc}") from exc
    except (JoseError, ValueError, TypeError) as exc:
        raise OAuthError(401, "invalid_client", "the client's key set cannot be read") from exc
    try:
        claims = _verify_signature(assertion, keyset, kid, ASSERTION_ALGS)
    except (JoseError, ValueError, TypeError) as exc:
        raise OAuthError(401, "invalid_client", "the client_assertion signature does not verify with the client's registered keys") from exc
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise OAuthError(401, "invalid_client", "client_assertion 'iss' and 'sub' must both be the client_id")
    if not {config.token_endpoint, config.issuer} & set(_audiences(claims)):
        raise OAuthError(401, "invalid_client", f"client_assertion 'aud' must name this authorization server ({config.token_endpoint})")
    now = time.time()
    try:
        exp = _check_times(claims, now=now, leeway=config.leeway, max_seconds=config.assertion_max_seconds)
    except ValueError as exc:
        raise OAuthError(401, "invalid_client", f"client_assertion refused: {exc}") from exc
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 1 <= len(jti) <= 200:
        raise OAuthError(401, "invalid_client", "client_assertion needs a 'jti' (1 to 200 characters), used once")
    allowed = client.scopes.split()
    requested_raw = form.get("scope")
    if requested_raw is None or not requested_raw.strip():
        granted = allowed
    else:
        requested = requested_raw.split()
        if not all(_SCOPE_RE.match(s) for s in requested):
            raise OAuthError(400, "invalid_scope", "scope holds characters a scope cannot have")
        refused = [s for s in requested if s not in allowed]
        if refused:
            raise OAuthError(400, "invalid_scope", f"not allowed for this client: {' '.join(refused)}")
        granted = list(dict.fromkeys(requested))
    stamp = utcnow()
    if int(now) % 16 == 0:
        _purge_seen(session, stamp)
    try:
        with session.begin_nested():
            session.add(OAuthAssertionSeen(client_id=client_id, jti=jti, expires_at=datetime.fromtimestamp(exp + config.leeway, UTC)))
    except IntegrityError as exc:
        raise OAuthError(400, "invalid_grant", "this client_assertion was used before (its 'jti' is spent); make a new one") from exc
    kid_out, key = signing
    iat = int(now)
    token_claims = {
        "iss": config.issuer,
        "sub": client_id,
        "aud": config.audience,
        "client_id": client_id,
        "scope": " ".join(granted),
        "iat": iat,
        "nbf": iat,
        "exp": iat + config.token_seconds,
        "jti": str(uuid.uuid4()),
        "supplier_oin": client.supplier_oin,
    }
    token = jwt.encode({"alg": ALG, "kid": kid_out, "typ": "at+jwt"}, token_claims, key, algorithms=[ALG])
    return {"access_token": token, "token_type": "Bearer", "expires_in": config.token_seconds, "scope": " ".join(granted)}


# -- resource side -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    client_id: str
    supplier_oin: str
    system_id: int | None
    scopes: frozenset[str]
    issuer: str


class TokenRefused(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def verify_access_token(token: str, *, config: OAuthConfig, keys: KeyStore, fetcher: JwksFetcher) -> dict:
    """The claims of a valid access token (ours, or the external server's); TokenRefused otherwise."""
    if not token or len(token) > 16_000:
        raise TokenRefused(401, "invalid_token", "no access token")
    try:
        header, unverified = _unverified(token)
    except ValueError as exc:
        raise TokenRefused(401, "invalid_token", "the access token is not a signed JWT") from exc
    iss = unverified.get("iss")
    kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    if iss == config.issuer:
        if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
            raise TokenRefused(401, "invalid_token", "not an access token (typ must be at+jwt)")
        keyset, algs = keys.verification_keys(kid), (ALG,)
    elif config.external_issuer and iss == config.external_issuer and config.external_jwks_uri:
        try:
            keyset = KeySet.import_key_set(fetcher.get(config.external_jwks_uri, kid))
        except (JwksUnavailable, JoseError, ValueError, TypeError) as exc:
            raise TokenRefused(401, "invalid_token", "the keys of the token's issuer cannot be fetched now") from exc
        algs = ASSERTION_ALGS
    else:
        raise TokenRefused(401, "invalid_token", "the access token was not issued by an authorization server this installation trusts")
    try:
        claims = _verify_signature(token, keyset, kid, algs)
    except (JoseError, ValueError, TypeError) as exc:
        raise TokenRefused(401, "invalid_token", "the access token signature does not verify") from exc
    try:
        _check_times(claims, now=time.time(), leeway=config.leeway, max_seconds=None)
    except ValueError as exc:
        raise TokenRefused(401, "invalid_token", f"access token refused: {exc}") from exc
    if config.audience not in _audiences(claims):
        raise TokenRefused(401, "invalid_token", f"the access token is for another audience (this one is {config.audience})")
    return claims


def principal_for(session: Session, claims: dict) -> Principal:
    client_id = claims.get("client_id") or claims.get("sub")
    client = client_by_id(session, client_id) if isinstance(client_id, str) and _CLIENT_ID_RE.match(client_id) else None
    if client is None or client.disabled_at is not None:
        raise TokenRefused(401, "invalid_token", "the token's client is not registered here or is disabled")
    oin = claims.get("supplier_oin")
    if oin is not None and oin != client.supplier_oin:
        raise TokenRefused(401, "invalid_token", "the token's supplier does not match the registered client")
    scope = claims.get("scope") if isinstance(claims.get("scope"), str) else ""
    # An external server may grant more than this client is registered for: only the overlap counts.
    scopes = frozenset(scope.split()) & frozenset(client.scopes.split())
    return Principal(client.client_id, client.supplier_oin, client.system_id, scopes, claims["iss"])
