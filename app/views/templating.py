"""The one template environment (autoescaping on for every HTML template) and page rendering.

A page's fragments are named blocks of the page's own template: ``render(..., block="rows")``
renders only that block (``jinja2_fragments``) with the same context the page gets, so a fragment
can never drift from the page it is part of.
"""

from __future__ import annotations

from typing import Any

from jinja2_fragments import render_block
from starlette.background import BackgroundTask
from starlette.responses import HTMLResponse
from starlette.types import Receive, Scope, Send

from app.rendering import TEMPLATES_DIR, env, templates

__all__ = ["MACROS", "TEMPLATES_DIR", "PageResponse", "env", "render", "templates"]

MACROS = "components/macros.html"


class PageResponse(HTMLResponse):
    """An HTML response that remembers its template and context (tests read both, as they do
    for Starlette's template responses)."""

    def __init__(
        self, template: Any, context: dict[str, Any], content: str, *, status_code: int = 200,
        headers: dict[str, str] | None = None, background: BackgroundTask | None = None,
    ) -> None:
        self.template = template
        self.context = context
        super().__init__(content, status_code=status_code, headers=headers, background=background)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if "http.response.debug" in scope.get("extensions", {}):
            await send({"type": "http.response.debug",
                        "info": {"template": self.template, "context": self.context}})
        await super().__call__(scope, receive, send)


def render(
    name: str, context: dict[str, Any], *, block: str | None = None, status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> PageResponse:
    """The whole page, or one named block of it. The shared macros (``components/macros.html``)
    are ``m`` in every template, bound to the same context, so a block renders alone as well."""
    template = env.get_template(name)
    context.setdefault("m", env.get_template(MACROS).make_module(context))
    content = template.render(context) if block is None else render_block(env, name, block, context)
    return PageResponse(template, context, content, status_code=status_code, headers=headers)
