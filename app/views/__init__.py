"""Server-rendered pages. One Jinja2 environment for the whole app lives in ``templating``.

``app.routes`` includes every page's router, out of the OpenAPI document, with the CSRF check.
"""
