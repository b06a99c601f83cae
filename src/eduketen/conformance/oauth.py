"""Access tokens for the Edu-V APIs under test: fetched at the authorization server's token
endpoint with ``grant_type=client_credentials`` and a ``private_key_jwt`` client assertion (the
Edu-V M2M profile), or given ready. Also the tokens the suite makes up to be refused: garbage, an
unsigned copy of a real token (``alg: none``), a real token with its expiry moved into the past
(so its signature no longer matches), and a token the client signed itself.

A token is a secret: exchanges that carry one show ``Bearer <token>`` in reports, and the token
request shows ``<client_assertion>`` (see :mod:`eduketen.conformance.exchange`)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from eduketen.conformance.exchange import Exchange, Http
from eduketen.conformance.target import EDUV_SCOPES, EduvAuth, Target

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
EC_ALGS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}


class TokenError(RuntimeError):
    """No token could be had; the message says why (and the exchange, if one was made)."""

    def __init__(self, message: str, exchange: Exchange | None = None) -> None:
        super().__init__(message)
        self.exchange = exchange


def load_key(path: Path, kid: str | None = None):
    """The client's private key from a PEM file, a JWK, or a JWKS holding one private key."""
    data = Path(path).read_bytes()
    text = data.strip()
    if text.startswith(b"{"):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise TokenError(f"key {path}: not valid JSON ({exc})") from exc
        if isinstance(doc, dict) and isinstance(doc.get("keys"), list):
            private = [k for k in doc["keys"] if isinstance(k, dict) and "d" in k]
            if len(private) != 1:
                raise TokenError(f"key {path}: a JWKS must hold exactly one private key")
            doc = private[0]
        if not isinstance(doc, dict) or "d" not in doc:
            raise TokenError(f"key {path}: the JWK holds no private key")
        try:
            key = KeySet.import_key_set({"keys": [doc]}).keys[0]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise TokenError(f"key {path}: {exc}") from exc
    else:
        key = _pem_key(data)
        if key is None:
            raise TokenError(f"key {path}: not an RSA or EC private key in PEM")
    if kid:
        key = type(key).import_key(key.as_dict(private=True), parameters={"kid": kid})
    return key


def _pem_key(data: bytes):
    for cls in (RSAKey, ECKey):
        try:
            return cls.import_key(data)
        except (JoseError, ValueError, TypeError):  # not a key of this type
            pass
    return None


def default_alg(key) -> str:
    if isinstance(key, ECKey):
        return EC_ALGS.get(key.as_dict(private=False).get("crv", "P-256"), "ES256")
    return "RS256"


def client_assertion(client_id: str, key, *, audience: str, alg: str | None = None, seconds: int = 60) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + seconds, "jti": str(uuid.uuid4())}
    header = {"alg": alg or default_alg(key)}
    if key.kid:
        header["kid"] = key.kid
    return jwt.encode(header, claims, key, algorithms=[header["alg"]])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims_of(token: str) -> tuple[dict, dict]:
    """Header and claims of a JWT, read without checking anything (the suite reads its own token)."""
    try:
        head, body, _ = token.split(".")
        return json.loads(_unb64(head)), json.loads(_unb64(body))
    except (ValueError, TypeError) as exc:
        raise TokenError("the access token is not a JWT; the forged-token checks need one") from exc


def unsigned_copy(token: str) -> str:
    """The same header and claims with ``alg: none`` and no signature."""
    header, claims = claims_of(token)
    header = {**header, "alg": "none"}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def expiry_moved(token: str) -> str:
    """A real token whose ``exp`` (and ``iat``/``nbf``) now lie an hour in the past: the signature
    no longer matches the claims, and the claims say expired."""
    head, _, signature = token.split(".")
    _, claims = claims_of(token)
    past = int(time.time()) - 3600
    claims = {**claims, "exp": past, "iat": past - 300, "nbf": past - 300}
    return f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"


def self_signed(token: str, client_id: str, key) -> str:
    """The real token's claims, signed by the client's own key instead of the authorization server's."""
    header, claims = claims_of(token)
    alg = default_alg(key)
    return jwt.encode({"alg": alg, "typ": header.get("typ", "at+jwt"), **({"kid": key.kid} if key.kid else {})}, claims, key, algorithms=[alg])


class Tokens:
    """The access tokens of one run, fetched once each and again when they are about to expire."""

    def __init__(self, target: Target, http: Http) -> None:
        self.target, self.http = target, http
        self.auth: EduvAuth = target.auth or EduvAuth()
        self.scope = self.auth.scope or EDUV_SCOPES[target.service]
        self._cache: dict[str, tuple[str, float]] = {}
        self._keys: dict[Path, object] = {}

    def key(self, path: Path | None = None):
        path = path or self.auth.key
        if path is None:
            raise TokenError("needs the client's private key (--key)")
        if path not in self._keys:
            self._keys[path] = load_key(path, self.auth.kid if path == self.auth.key else None)
        return self._keys[path]

    def fetch(self, client_id: str, key_path: Path | None, scope: str | None) -> tuple[str, Exchange]:
        """A token from the token endpoint; TokenError with the exchange when refused."""
        auth = self.auth
        if not auth.token_url:
            raise TokenError("needs the token endpoint (--token-url)")
        key = self.key(key_path)
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(client_id, key, audience=auth.token_url, alg=auth.alg if key_path in (None, auth.key) else None),
            "client_id": client_id,
        }
        if scope:
            form["scope"] = scope
        shown = {**form, "client_assertion": "<client_assertion>"}
        exchange = Exchange(
            "POST", auth.token_url, headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=urlencode(form).encode(), redacted_body=urlencode(shown, safe="<>").encode(), ca=self.target.ca,
        )  # fmt: skip
        self.http.send(exchange)
        body = exchange.json()
        if exchange.error or exchange.status != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise TokenError(f"the token endpoint gave no access token for {client_id} (scope {scope or 'default'}): {exchange.summary()}", exchange)
        lifetime = body.get("expires_in") if isinstance(body.get("expires_in"), int) else 300
        self._cache_put(f"{client_id} {scope}", body["access_token"], lifetime)
        return body["access_token"], exchange

    def _cache_put(self, name: str, token: str, lifetime: float) -> None:
        self._cache[name] = (token, time.monotonic() + max(lifetime - 30, 5))

    def _cached(self, name: str) -> str | None:
        hit = self._cache.get(name)
        return hit[0] if hit and hit[1] > time.monotonic() else None

    def good(self) -> str:
        """A token with the service's scope."""
        if self.auth.token and not self.auth.can_fetch():
            return self.auth.token
        name = f"{self.auth.client_id} {self.scope}"
        return self._cached(name) or self.fetch(self.auth.client_id, self.auth.key, self.scope)[0]

    def wrong_scope(self) -> str | None:
        """A valid token without the service's scope, or None when the target says of none."""
        auth = self.auth
        if auth.wrong_scope_token:
            return auth.wrong_scope_token
        if auth.wrong_scope_client_id:
            name = f"{auth.wrong_scope_client_id} -"
            return self._cached(name) or self.fetch(auth.wrong_scope_client_id, auth.wrong_scope_key or auth.key, None)[0]
        if auth.wrong_scope:
            name = f"{auth.client_id} {auth.wrong_scope}"
            return self._cached(name) or self.fetch(auth.client_id, auth.key, auth.wrong_scope)[0]
        return None
