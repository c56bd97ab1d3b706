"""The Mini App's page and static files, and the security headers of everything under its path."""

from __future__ import annotations

import hashlib
from pathlib import Path

import jinja2
from aiohttp import web

from bot.webapp.request_context import Handler

HERE = Path(__file__).parent
STATIC = HERE / "static"
# Telegram's web clients show Mini Apps in an iframe; nobody else may frame the page.
FRAME_ANCESTORS = "'self' https://web.telegram.org https://*.telegram.org"
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' https://telegram.org",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        f"frame-ancestors {FRAME_ANCESTORS}",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin-allow-popups",
}

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every value is escaped: the page has no panel text, but a template never trusts
    trim_blocks=True,
    lstrip_blocks=True,
)


def static_version() -> str:
    """Changes when a static file changes, so that clients do not keep an old script."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def security_middleware(base: str) -> web.middleware:  # type: ignore[valid-type]
    @web.middleware
    async def add_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.path == base or request.path.startswith(base + "/"):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            if request.path.startswith(base + "/api/"):
                response.headers.setdefault("Cache-Control", "no-store")
        return response

    return add_headers


def page_routes(base: str, *, telegram_js: bool, title: str = "SMM Panel") -> list[web.AbstractRouteDef]:
    version = static_version()
    html = _templates.get_template("index.html").render(
        base=base, version=version, telegram_js=telegram_js, title=title
    )

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-cache"})

    return [
        web.get(base, index),
        web.get(base + "/", index),
        web.static(base + "/static", STATIC, append_version=False),
    ]
