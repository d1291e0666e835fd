"""The application factory: ``create_app(settings)`` wires routers, middleware and the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine

from app import __version__, openapi, scheduler
from app.auth.last_used import LastUsed
from app.config import Settings, load_settings
from app.db import make_engine, utcnow
from app.errors import install_error_handlers
from app.middleware import (
    BodyLimitMiddleware,
    JsonFormatter,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from app.routes import include_routers
from app.validation import refuse_nul_input
from app.views import errors as view_errors

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

#: ASCII, so that generated clients get an installable package name (``banso-api-client``).
TITLE = "Banso API"

DESCRIPTION = """
The JSON API of Bansō (伴走, "running alongside"), the customer success platform.
Authenticate with an API key: `Authorization: Bearer bsk_...`
(create one with `bansou keys create --name NAME --scope read|write|admin`).
Scopes are ordered read < write < admin. Errors are RFC 9457 `application/problem+json`.
Lists are `{"data": [...], "next_cursor": ...}`: pass `cursor=next_cursor` for the next page.
"""


def configure_logging(level: str) -> None:
    """JSON lines on stderr for Bansō's loggers (idempotent)."""
    logger = logging.getLogger("bansou")
    logger.setLevel(level.upper())
    if not any(getattr(h, "_bansou", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        handler._bansou = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the Bansō app. Settings are read from the environment only when none are given."""
    settings = settings or load_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        app.state.engine = engine or make_engine(
            settings.database_url,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            sqlite_synchronous=settings.sqlite_synchronous,
        )
        # Not a scheduler job: it runs in every process, with or without the scheduler.
        flusher = asyncio.create_task(scheduler.run_last_used_flusher(app.state.engine, app.state.last_used))
        task = None
        if settings.scheduler_enabled:
            task = asyncio.create_task(
                scheduler.run_forever(app.state.engine, settings, scheduler.default_jobs())
            )
        try:
            yield
        finally:
            writer = getattr(app.state, "segment_writer", None)
            if writer is not None:  # the batches already acknowledged-to-be are written first
                await writer.close()
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            if owned:
                app.state.engine.dispose()

    app = FastAPI(
        title=TITLE,
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(refuse_nul_input)],
    )
    app.state.settings = settings
    app.state.clock = utcnow
    app.state.last_used = LastUsed()
    install_error_handlers(app)
    view_errors.install(app)
    include_routers(app)
    openapi.install(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)
    return app


def app_from_env() -> FastAPI:
    """Entry point for ``uvicorn --factory app.main:app_from_env``."""
    return create_app()
