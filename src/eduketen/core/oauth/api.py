"""HTTP side of OAuth: the token endpoint, our JWKS and metadata, the admin API for clients and
keys, and the ``require_scope`` dependency every OAuth-protected endpoint uses."""

from __future__ import annotations

import urllib.parse
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from eduketen.core.admin import AdminPlatform, AdminWrite
from eduketen.core.db import unit_of_work
from eduketen.core.errors import ApiError, json_response
from eduketen.core.oauth import keys as keyset
from eduketen.core.oauth import service as svc
from eduketen.core.platform import Platform

router = APIRouter(tags=["oauth"])
admin_router = APIRouter(prefix="/admin/oauth", tags=["admin: oauth"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_parts(platform: Platform):
    return svc.OAuthConfig.from_settings(platform.settings), platform.views["oauth_keys"], platform.views["jwks_fetcher"]


@router.post(
    "/oauth/token",
    summary="Token endpoint (client_credentials + private_key_jwt)",
    responses={200: {"description": "access token"}, 400: {"description": "RFC 6749 error"}, 401: {"description": "invalid_client"}},
)
async def token(request: Request):
    """``application/x-www-form-urlencoded``: ``grant_type=client_credentials``,
    ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``,
    ``client_assertion`` (a JWT signed with the client's registered key: ``iss`` = ``sub`` =
    client_id, ``aud`` = this token endpoint, ``exp``, ``jti``), ``client_id``, optional ``scope``."""
    platform: Platform = request.app.state.platform
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return _oauth_error(svc.OAuthError(400, "invalid_request", "send the request as application/x-www-form-urlencoded"))
    body = await request.body()
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return _oauth_error(svc.OAuthError(400, "invalid_request", "the form cannot be read"))
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            return _oauth_error(svc.OAuthError(400, "invalid_request", f"parameter {name!r} given twice"))
        form[name] = value
    config, store, fetcher = oauth_parts(platform)

    def run():
        signing = store.signing_key()  # may create the first key: its own transaction, before ours
        with platform.read_sessions() as session:
            svc.prefetch_client_keys(session, form, fetcher)  # network before the write transaction
        with unit_of_work(platform.sessions) as session:
            return svc.issue_token(session, form, config=config, signing=signing, fetcher=fetcher)

    try:
        answer = await run_in_threadpool(run)
    except svc.OAuthError as exc:
        return _oauth_error(exc)
    return json_response(200, answer, headers=NO_STORE)


def _oauth_error(exc: svc.OAuthError):
    return json_response(exc.status, {"error": exc.error, "error_description": exc.description}, headers=NO_STORE)


@router.get("/.well-known/jwks.json", summary="The platform's public signing keys")
def jwks(request: Request):
    store = request.app.state.platform.views["oauth_keys"]
    return json_response(200, store.public_jwks(), headers={"Cache-Control": "public, max-age=60"})


@router.get("/.well-known/oauth-authorization-server", summary="Authorization server metadata (RFC 8414)")
def metadata(request: Request) -> dict:
    config, _, _ = oauth_parts(request.app.state.platform)
    return {
        "issuer": config.issuer,
        "token_endpoint": config.token_endpoint,
        "jwks_uri": config.issuer + "/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(svc.ASSERTION_ALGS),
        "scopes_supported": list(svc.SCOPES),
    }


class Bearer:
    """The caller of an OAuth-protected endpoint: a valid access token with ``scope``."""

    def __init__(self, scope: str) -> None:
        self.scope = scope

    def __call__(self, request: Request) -> svc.Principal:
        platform: Platform = request.app.state.platform
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        challenge = f'Bearer realm="eduketen", scope="{self.scope}"'
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "Unauthorized", "Send an access token: 'Authorization: Bearer <token>' (from /oauth/token).",
                           headers={"WWW-Authenticate": challenge})  # fmt: skip
        config, store, fetcher = oauth_parts(platform)
        try:
            claims = svc.verify_access_token(token.strip(), config=config, keys=store, fetcher=fetcher)
            with platform.read_sessions() as session:
                principal = svc.principal_for(session, claims)
        except svc.TokenRefused as exc:
            raise ApiError(exc.status, "Unauthorized", exc.description,
                           headers={"WWW-Authenticate": f'{challenge}, error="{exc.error}"'}) from exc  # fmt: skip
        if self.scope not in principal.scopes:
            raise ApiError(403, "Forbidden", f"The access token lacks the scope {self.scope}.",
                           headers={"WWW-Authenticate": f'{challenge}, error="insufficient_scope"'})  # fmt: skip
        request.scope.setdefault("state", {})["caller_oin"] = principal.supplier_oin
        return principal


def require_scope(scope: str):
    return Depends(Bearer(scope))


# -- admin ---------------------------------------------------------------------------------------


class ClientIn(BaseModel):
    client_id: str = Field(max_length=200)
    supplier_oin: str = Field(max_length=20)
    name: str = Field(default="", max_length=200)
    system: str | None = Field(default=None, max_length=200, description="name of the supplier's system in the register")
    scopes: list[str] = Field(max_length=10)
    jwks_uri: str | None = Field(default=None, max_length=1000)
    jwks: dict | None = None


def _system_id(session, supplier_oin: str, system: str | None) -> int | None:
    if system is None:
        return None
    from eduketen.register import service as register

    return register.get_system(session, register.get_supplier(session, supplier_oin), system).id


def add_client(session, body: ClientIn):
    from eduketen.core.identifiers import IdentifierError, validate_oin

    try:
        validate_oin(body.supplier_oin)
    except IdentifierError as exc:
        raise svc.ClientError(f"supplier_oin: {exc}") from exc
    return svc.register_client(
        session,
        client_id=body.client_id,
        supplier_oin=body.supplier_oin,
        name=body.name,
        scopes=body.scopes,
        jwks_uri=body.jwks_uri,
        jwks=body.jwks,
        system_id=_system_id(session, body.supplier_oin, body.system),
    )


@admin_router.post("/clients", status_code=201)
def admin_add_client(body: ClientIn, platform: AdminPlatform) -> dict:
    with AdminWrite(platform) as session:
        return svc.client_out(add_client(session, body))


@admin_router.get("/clients")
def admin_clients(platform: AdminPlatform) -> dict:
    with platform.sessions() as session:
        return {"clients": [svc.client_out(c) for c in svc.clients(session)]}


@admin_router.post("/clients/{client_id}/disable")
def admin_disable_client(client_id: Annotated[str, Path(min_length=1, max_length=200)], platform: AdminPlatform) -> dict:
    with AdminWrite(platform) as session:
        return svc.client_out(svc.disable_client(session, client_id))


@admin_router.post("/keys/rotate", status_code=201)
def admin_rotate(platform: AdminPlatform) -> dict:
    """Publish a new signing key now; it signs after ``oauth_key_publish_seconds``."""
    settings = platform.settings
    with AdminWrite(platform) as session:
        keyset.prune(session, token_seconds=settings.oauth_token_seconds, leeway=settings.oauth_leeway_seconds)
        row = keyset.rotate(session, publish_seconds=settings.oauth_key_publish_seconds)
        answer = {"kid": row.kid, "signs_from": row.signs_from.isoformat()}
    platform.views["oauth_keys"].invalidate()
    return answer
