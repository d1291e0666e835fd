"""Every ``HX-`` header Bansō reads or writes lives here (htmx 2.0).

A view asks ``is_htmx(request)`` to choose between the whole page and a fragment; it answers a
client-side redirect with ``redirect`` (a 303 for plain forms, ``HX-Redirect`` for htmx), raises
events with ``trigger``; ``vary`` marks every view response as depending on ``HX-Request`` so a
cache never serves a fragment for a page or the other way round.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

HX_REQUEST = "HX-Request"
HX_BOOSTED = "HX-Boosted"
HX_HISTORY_RESTORE = "HX-History-Restore-Request"
HX_TARGET = "HX-Target"
HX_REDIRECT = "HX-Redirect"
HX_REFRESH = "HX-Refresh"
HX_TRIGGER = "HX-Trigger"
HX_PUSH_URL = "HX-Push-Url"
HX_RETARGET = "HX-Retarget"
HX_RESWAP = "HX-Reswap"
#: The request header the CSRF token travels in (set on <body> with ``hx-headers``).
CSRF_HEADER = "X-CSRF-Token"


def is_htmx(request: Request) -> bool:
    """An htmx request that wants a fragment: not a boosted navigation, not a history restore
    (both of those need the whole page)."""
    headers = request.headers
    return (
        headers.get(HX_REQUEST) == "true"
        and headers.get(HX_BOOSTED) != "true"
        and headers.get(HX_HISTORY_RESTORE) != "true"
    )


def target(request: Request) -> str | None:
    """The id of the element htmx will swap the answer into, if any."""
    return request.headers.get(HX_TARGET) or None


def vary(response: Response) -> Response:
    """Mark the response as depending on ``HX-Request`` (added once)."""
    present = [v.strip() for v in response.headers.get("Vary", "").split(",") if v.strip()]
    if HX_REQUEST not in present:
        response.headers["Vary"] = ", ".join([*present, HX_REQUEST])
    return response


def redirect(request: Request, url: str) -> Response:
    """After a successful form: 303 to ``url`` for a plain form, ``HX-Redirect`` for htmx."""
    if request.headers.get(HX_REQUEST) == "true":
        response: Response = Response(status_code=200, headers={HX_REDIRECT: url})
    else:
        response = RedirectResponse(url, status_code=303)
    return vary(response)


def refresh(response: Response) -> Response:
    """Ask htmx to reload the whole page (e.g. after the language changed)."""
    response.headers[HX_REFRESH] = "true"
    return response


def trigger(response: Response, event: str, detail: Any = None) -> Response:
    """Raise a client-side event after the swap (several calls add several events)."""
    current = response.headers.get(HX_TRIGGER)
    events: dict[str, Any] = json.loads(current) if current else {}
    events[event] = detail if detail is not None else True
    response.headers[HX_TRIGGER] = json.dumps(events, ensure_ascii=False)
    return response


def push_url(response: Response, url: str) -> Response:
    """Set the browser's URL to ``url`` after the swap (filters kept in the address bar)."""
    response.headers[HX_PUSH_URL] = url
    return response


def retarget(response: Response, selector: str, swap: str = "innerHTML") -> Response:
    """Swap the answer somewhere else than the requesting element asked (e.g. an error notice)."""
    response.headers[HX_RETARGET] = selector
    response.headers[HX_RESWAP] = swap
    return response
