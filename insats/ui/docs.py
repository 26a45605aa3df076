"""`/docs` without a CDN: Swagger UI 5's files come from the Python package `fastapi-offline`
(served under `/docs/assets/`; Swagger UI 4 cannot read OpenAPI 3.1), its start script is ours
(`static/swagger-init.js`, no inline script), and "Authorize" takes an API key as a bearer
token (the OpenAPI document declares the `bearer` scheme on every endpoint that needs it)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "object-src 'none'"
)

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>insats – API v1</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<main>
<div id="swagger-ui"></div>
</main>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/ui/static/swagger-init.js"></script>
</body>
</html>
"""


@router.get("/docs", response_class=HTMLResponse)
def docs() -> HTMLResponse:
    return HTMLResponse(
        _PAGE,
        headers={
            "Content-Security-Policy": DOCS_CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )
