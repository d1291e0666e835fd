"""The security headers every response carries: ``SecurityHeadersMiddleware`` adds them on the way
out, and the crash handler adds them itself (Starlette renders a crash outside every middleware)."""

from __future__ import annotations

SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    ),
)
