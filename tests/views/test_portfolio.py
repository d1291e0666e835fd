"""The portfolio's stage, tier and task columns, its stage and tier filters, and its pages."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.accounts import portfolio as portfolio_svc
from tests.views.conftest import HTML, HX
from tests.views.data import Book


def test_rows_carry_stage_tier_and_open_tasks(csm: TestClient, lifecycle: dict[str, int]) -> None:
    response = csm.get("/", headers=HTML)

    rows = {item["row"].account.external_id: item["row"] for item in response.context["rows"]}  # type: ignore[attr-defined]
    acme, globex = rows["acme"], rows["globex"]
    assert (acme.stage, acme.tier, acme.is_target, acme.open_tasks, acme.overdue_tasks) == (
        "rescue",
        1,
        True,
        2,
        1,
    )
    assert (globex.stage, globex.tier, globex.open_tasks) == ("growth", None, 0)
    assert "Rescue" in response.text and "1 overdue" in response.text


def test_filter_by_stage_and_tier(csm: TestClient, lifecycle: dict[str, int]) -> None:
    def names(**params: str) -> list[str]:
        response = csm.get("/", params={"owner": "all", **params}, headers=HX)
        assert response.status_code == 200
        return [i["row"].account.external_id for i in response.context["rows"]]  # type: ignore[attr-defined]

    assert names(stage="growth") == ["globex"]
    assert names(stage="mogura") == []
    assert names(tier="1") == ["acme"]
    assert names(tier="1", stage="growth") == []
    assert len(names(tier="9", stage="nonsense")) == 5  # unknown values are ignored
    pushed = csm.get("/", params={"owner": "all", "stage": "growth", "tier": "1"}, headers=HX)
    assert pushed.headers["HX-Push-Url"] == "/?owner=all&stage=growth&tier=1"


def test_the_table_is_paged_with_totals_over_every_page(
    csm: TestClient, book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(portfolio_svc, "PAGE_SIZE", 2)

    first = csm.get("/", params={"owner": "all"}, headers=HTML)
    data = first.context["data"]  # type: ignore[attr-defined]
    assert (data.total, data.pages, data.page, data.first, data.last) == (5, 3, 1, 1, 2)
    # 36,000,000 + 1,440,000 + 216,000 + 480,000 + 10,800,000 yen, from every page.
    assert data.total_arr == 48_936_000
    assert "page=2" in first.text

    seen = []
    for page in ("1", "2", "3", "9"):
        response = csm.get("/", params={"owner": "all", "page": page}, headers=HX)
        seen.append([i["row"].account.name for i in response.context["rows"]])  # type: ignore[attr-defined]
    assert seen[0] + seen[1] + seen[2] == sorted(seen[0] + seen[1] + seen[2])
    assert len(seen[0] + seen[1] + seen[2]) == 5
    assert seen[3] == seen[2]  # past the end: the last page
    third = csm.get("/", params={"owner": "all", "page": "3"}, headers=HX)
    assert third.headers["HX-Push-Url"] == "/?owner=all&page=3"
