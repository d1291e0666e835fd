"""Server-rendered pages. One Jinja2 environment for the whole app lives in ``templating``."""
