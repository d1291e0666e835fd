"""The benchmark's baseline: the same server stack as Bansō (uvicorn + FastAPI, one process) with
an endpoint that only reads and parses the JSON body and answers 200 — the ceiling any real
ingestion endpoint on this stack can reach.

    uvicorn --factory bench.baseline_app:create_app --port 8001
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/batch")
    async def batch(request: Request) -> JSONResponse:
        # Parsed with the same parser Bansō uses, then dropped.
        payload = orjson.loads(await request.body())
        return JSONResponse({"success": True, "accepted": len(payload.get("batch", []))})

    return app
