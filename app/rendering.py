"""The one Jinja environment, for pages and for the emails and customer report pages the
services compose (an email is written to the outbox in the transaction that causes it, so the
services render it; they reach the templates here, never through the web layer).

Autoescaping is on for every HTML template; ``jinja2.ext.i18n`` gives templates ``_``/``ngettext``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

TEMPLATES_DIR = Path(__file__).resolve().parent / "views" / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
env = templates.env
env.add_extension("jinja2.ext.i18n")
env.trim_blocks = True
env.lstrip_blocks = True
