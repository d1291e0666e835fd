"""Record the OpenAPI document as ``tests/fixtures/openapi.json`` (the contract a test holds)."""

from __future__ import annotations

import json
from pathlib import Path

from app.config import Settings
from app.main import create_app

TARGET = Path(__file__).parent.parent / "fixtures" / "openapi.json"


def main() -> None:
    settings = Settings(env="test", database_url="sqlite://", secret_key="schema-only-secret-key-0123")
    document = create_app(settings).openapi()
    TARGET.write_text(json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
