"""Rendering of the staff pages: one Jinja2 environment (autoescape on), page responses with the
security headers, and the form parsing every page uses (application/x-www-form-urlencoded, small)."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from eduketen.insight.security import SECURITY_HEADERS

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
MAX_FORM_BYTES = 16_384

_env: Environment | None = None


def environment() -> Environment:
    global _env
    if _env is None:
        _env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]), auto_reload=False)
    return _env


def render(template: str, status: int = 200, headers: dict | None = None, **context) -> HTMLResponse:
    html = environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


class FormError(ValueError):
    pass


async def read_form(request: Request) -> dict[str, str]:
    body = await request.body()
    if not body:
        return {}
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise FormError("Stuur het formulier als application/x-www-form-urlencoded.")
    if len(body) > MAX_FORM_BYTES:
        raise FormError("Het formulier is te groot.")
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=30)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError("Het formulier kan niet worden gelezen.") from exc
    return {k: v for k, v in pairs}


class PageHeadersMiddleware:
    """Security headers on everything under /insight (pages, fragments, static files, errors)."""

    def __init__(self, app) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k != "Cache-Control"]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/insight"):
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
