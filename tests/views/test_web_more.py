"""The portfolio's stage, tier and task columns, filters and pages; the account page's stage and
signals panel with its task buttons; the merged timeline; the health model editor; stage and
signal rule settings."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.accounts import portfolio as portfolio_svc
from app.accounts import timeline as timeline_svc
from app.models import Account, HealthModelVersion, Task
from app.plans import goals as plan_goals
from app.views.account_page import signal_facts
from app.views.settings_health import apply_form
from tests.views.conftest import HTML, HX, csrf
from tests.views.data import AS_OF, CSM, TZ, Book
from tests.views.lifecycle_data import load_lifecycle

TODAY = AS_OF.astimezone(TZ).date()


@pytest.fixture
def lifecycle(engine: Engine, book: Book) -> dict[str, int]:
    """Acme in Rescue with a signal and two open tasks (``tests.views.lifecycle_data``)."""
    with Session(engine, expire_on_commit=False) as session:
        ids = load_lifecycle(session)
        session.commit()
    return ids


# -- portfolio -----------------------------------------------------------------------------------


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


# -- account page: stage, signals, tasks ---------------------------------------------------------


def test_signal_facts_keep_known_keys_in_order_and_parse_dates() -> None:
    assert signal_facts(
        {
            "days": 95,
            "limit": 90,
            "last_meeting_on": "2026-08-20",
            "other": 1,
            "views": {"csm": "well"},
            "score": None,
        }
    ) == [
        ("last_meeting_on", "Last meeting", dt.date(2026, 8, 20)),
        ("days", "Days", 95),
        ("limit", "Limit", 90),
    ]


def test_the_panel_shows_stage_tier_signals_and_tasks(csm: TestClient, lifecycle: dict[str, int]) -> None:
    response = csm.get("/accounts/acme", headers=HTML)

    context = response.context  # type: ignore[attr-defined]
    assert context["stage"].stage == "rescue" and context["tier"].tier == 1
    assert [s["row"].kind for s in context["signals"]] == ["no_meeting"]
    assert [t.task.title for t in context["tasks"]] == ["Call the champion", "Plan the QBR"]
    text = response.text
    assert 'id="lifecycle"' in text and "No meeting" in text and "Champion motivation" in text
    assert "overdue since" in text and f"/tasks/{lifecycle['late']}/done" in text


def test_mark_a_task_done_with_htmx_returns_the_panel(
    csm: TestClient, lifecycle: dict[str, int], engine: Engine
) -> None:
    token = csrf(csm, "/accounts/acme")
    response = csm.post(
        f"/accounts/acme/tasks/{lifecycle['late']}/done", headers=HX, data={"csrf_token": token}
    )

    assert response.status_code == 200, response.text
    assert "<html" not in response.text and response.text.lstrip().startswith("<section")
    assert [t.task.title for t in response.context["tasks"]] == ["Plan the QBR"]  # type: ignore[attr-defined]
    with Session(engine) as session:
        task = session.get(Task, lifecycle["late"])
        assert task is not None and (task.status, task.closed_by) == ("done", CSM)

    again = csm.post(f"/accounts/acme/tasks/{lifecycle['late']}/done", headers=HX, data={"csrf_token": token})
    assert again.status_code == 200  # done again: a safe retry


def test_dismiss_needs_a_reason_and_works_without_javascript(
    csm: TestClient, lifecycle: dict[str, int], engine: Engine
) -> None:
    token = csrf(csm, "/accounts/acme")
    path = f"/accounts/acme/tasks/{lifecycle['soon']}/dismiss"

    missing = csm.post(path, headers=HTML, data={"csrf_token": token, "reason": "  "})
    assert missing.status_code == 422
    assert missing.template.name == "accounts/detail.html"  # type: ignore[attr-defined]
    assert "Say why the task is dismissed." in missing.text

    done = csm.post(
        path,
        headers=HTML,
        follow_redirects=False,
        data={"csrf_token": token, "reason": "Customer postponed the QBR"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/accounts/acme#lifecycle"
    with Session(engine) as session:
        task = session.get(Task, lifecycle["soon"])
        assert task is not None
        assert (task.status, task.close_reason) == ("closed", "Customer postponed the QBR")

    closed = csm.post(path, headers=HX, data={"csrf_token": token, "reason": "again"})
    assert closed.status_code == 409 and "closed meanwhile" in closed.text


def test_a_task_of_another_account_is_404(csm: TestClient, lifecycle: dict[str, int]) -> None:
    token = csrf(csm, "/accounts/acme")
    response = csm.post(
        f"/accounts/globex/tasks/{lifecycle['late']}/done", headers=HTML, data={"csrf_token": token}
    )
    assert response.status_code == 404


def test_a_viewer_sees_the_panel_without_buttons_and_cannot_post(
    viewer: TestClient, lifecycle: dict[str, int]
) -> None:
    page = viewer.get("/accounts/acme", headers=HTML)
    assert "Call the champion" in page.text and "/done" not in page.text
    token = csrf(viewer, "/accounts/acme")
    response = viewer.post(
        f"/accounts/acme/tasks/{lifecycle['late']}/done", headers=HTML, data={"csrf_token": token}
    )
    assert response.status_code == 403


# -- timeline ------------------------------------------------------------------------------------


def test_score_events_are_band_changes_and_big_moves() -> None:
    day = dt.date(2026, 11, 1)
    series = [
        (day, 62.0, "normal"),
        (day + dt.timedelta(7), 75.0, "good"),
        (day + dt.timedelta(14), 69.5, "normal"),
        (day + dt.timedelta(21), 58.0, "normal"),
        (day + dt.timedelta(28), 50.0, "normal"),
        (day + dt.timedelta(35), 39.0, "bad"),
    ]

    events = timeline_svc.score_events(series, scale_max=100)

    assert [(e.before, e.after, e.band_changed) for e in events] == [
        (62.0, 75.0, True),
        (75.0, 69.5, True),
        (69.5, 58.0, False),
        (50.0, 39.0, True),
    ]
    assert timeline_svc.score_events(series[:1], scale_max=100) == []
    # On a 0–4 scale 0.4 is a big move: 1.2 → 1.6 shows, 1.6 → 1.9 does not.
    small = [(day, 1.2, "bad"), (day + dt.timedelta(1), 1.6, "bad"), (day + dt.timedelta(2), 1.9, "bad")]
    assert [e.after for e in timeline_svc.score_events(small, scale_max=4)] == [1.6]


def _goal_changes(engine: Engine, book: Book) -> None:
    with Session(engine) as session:
        goal = plan_goals.get_goal(session, account_id="acme", plan_id=book.plan_id, goal_id=book.goal_ids[1])
        plan_goals.update_goal(
            session,
            account_id="acme",
            plan_id=book.plan_id,
            goal_id=book.goal_ids[1],
            changes={"status": "at_risk"},
            expected_version=goal.version,
            actor=CSM,
            now=AS_OF - dt.timedelta(days=1),
        )
        plan_goals.update_goal(
            session,
            account_id="acme",
            plan_id=book.plan_id,
            goal_id=book.goal_ids[1],
            changes={"description": "no status change"},
            expected_version=goal.version,
            actor=CSM,
            now=AS_OF - dt.timedelta(hours=20),
        )
        plan_goals.verify_goal(
            session,
            account_id="acme",
            plan_id=book.plan_id,
            goal_id=book.goal_ids[0],
            status=None,
            expected_version=None,
            actor=CSM,
            now=AS_OF - dt.timedelta(hours=2),
        )
        session.commit()


def test_the_timeline_interleaves_goal_events_and_pages_across_sources(
    csm: TestClient, book: Book, engine: Engine
) -> None:
    _goal_changes(engine, book)
    with Session(engine) as session:
        whole = timeline_svc.account_timeline(
            session, account_id="acme", filter_in=timeline_svc.TimelineFilter(), cursor=None, limit=100, tz=TZ
        )
        keys = [i.key for i in whole.items]
        assert keys == sorted(keys, reverse=True) and whole.next_cursor is None
        goals = [i.goal for i in whole.items if i.goal is not None]
        assert [(g.action, g.status_after) for g in goals] == [("verify", None), ("status", "at_risk")]
        assert goals[1].goal_title == "Sales team live" and goals[1].status_before == "not_started"
        # Pages of two walk the same items, in the same order, whichever source each came from.
        walked, cursor = [], None
        while True:
            page = timeline_svc.account_timeline(
                session,
                account_id="acme",
                filter_in=timeline_svc.TimelineFilter(),
                cursor=cursor,
                limit=2,
                tz=TZ,
            )
            walked += [i.key for i in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert walked == keys

    response = csm.get("/accounts/acme/timeline", params={"kind": "goals"}, headers=HX)
    assert [i["source"] for i in response.context["timeline"]] == ["goal", "goal"]  # type: ignore[attr-defined]
    assert "Sales team live" in response.text and "at risk" in response.text.replace("_", " ")


def test_the_timeline_shows_score_changes(csm: TestClient, book: Book, engine: Engine) -> None:
    with Session(engine) as session:
        version = session.exec(select(HealthModelVersion)).first()
        assert version is not None
        acme = session.exec(select(Account).where(Account.external_id == "acme")).one()
        from app.models import ScoreSnapshot

        snaps = session.exec(
            select(ScoreSnapshot).where(ScoreSnapshot.account_id == acme.id).order_by(ScoreSnapshot.day)
        ).all()  # type: ignore[arg-type]
        # Make the second-latest snapshot 30 points lower than the latest: a big move.
        snaps[-2].score = (snaps[-1].score or 0) - 30
        session.add(snaps[-2])
        session.commit()
        latest_day = snaps[-1].day

    response = csm.get("/accounts/acme/timeline", params={"kind": "scores"}, headers=HX)
    items = response.context["timeline"]  # type: ignore[attr-defined]
    assert items and items[0]["source"] == "score" and items[0]["score"].day == latest_day
    assert round(items[0]["score"].change, 1) == 30.0
    assert "Score change" in response.text


def test_a_bad_timeline_cursor_is_refused(csm: TestClient, book: Book) -> None:
    response = csm.get("/accounts/acme/timeline", params={"cursor": "not-a-cursor"}, headers=HX)
    assert response.status_code == 422


# -- health model editor -------------------------------------------------------------------------

BASE = {
    "scale_max": 100,
    "band_good": 70,
    "band_normal": 40,
    "groups": [
        {
            "key": "a",
            "name": "A",
            "weight": 1,
            "measures": [
                {
                    "key": "x",
                    "name": "X",
                    "weight": 1,
                    "grading": {"kind": "thresholds", "good": 5, "normal": 2},
                },
                {"key": "y", "name": "Y", "weight": 2, "grading": {"kind": "breakpoints", "cuts": [1, 2, 3]}},
            ],
        },
        {
            "key": "b",
            "name": "B",
            "weight": 1,
            "measures": [{"key": "z", "name": "Z", "grading": {"kind": "linear", "low": 0, "high": 10}}],
        },
    ],
}


def test_apply_form_lays_numbers_over_the_base() -> None:
    definition, errors = apply_form(
        BASE,
        {
            "band_good": "75",
            "band_normal": "",
            "g.a.weight": "2,5",
            "m.a.x.good": "6",
            "m.a.y.cuts": "1; 2.5; 4",
            "m.b.z.remove": "on",
            "m.a.x.window_days": "14",
            "m.q.q.weight": "3",  # a measure the base lacks: ignored
        },
    )
    assert errors == {}
    assert definition["band_good"] == 75 and definition["band_normal"] == 40
    group = definition["groups"][0]
    assert group["weight"] == 2.5 and [g["key"] for g in definition["groups"]] == ["a"]
    assert group["measures"][0]["grading"] == {"kind": "thresholds", "good": 6, "normal": 2}
    assert group["measures"][0]["window_days"] == 14
    assert group["measures"][1]["grading"]["cuts"] == [1, 2.5, 4]
    assert BASE["groups"][0]["weight"] == 1  # type: ignore[index]  # the base is not changed

    _, errors = apply_form(
        BASE, {"m.a.x.weight": "heavy", "m.a.x.window_days": "7.5", "m.a.y.cuts": "1; two"}
    )
    assert errors == {"m.a.x.weight": "number", "m.a.x.window_days": "number", "m.a.y.cuts": "number"}


def _model_id(engine: Engine) -> int:
    with Session(engine) as session:
        version = session.exec(select(HealthModelVersion)).first()
        assert version is not None
        return version.model_id


def test_the_editor_previews_bands_then_publishes_a_version(
    admin: TestClient, book: Book, engine: Engine
) -> None:
    model_id = _model_id(engine)
    editor = admin.get(f"/settings/health/{model_id}/edit", headers=HTML)
    assert editor.status_code == 200, editor.text
    base = editor.context["base"]  # type: ignore[attr-defined]
    token = csrf(admin, f"/settings/health/{model_id}/edit")

    # Everyone is "good" when good starts at 0.
    preview = admin.post(
        f"/settings/health/{model_id}/preview",
        headers=HX,
        data={"csrf_token": token, "base": base, "band_good": "0", "band_normal": "0"},
    )
    assert preview.status_code == 200, preview.text
    assert "<html" not in preview.text and 'id="preview"' in preview.text
    result = preview.context["preview"]  # type: ignore[attr-defined]
    assert result.accounts == 5 and result.after == {"good": 5}
    assert sum(result.before.values()) == 5

    bad = admin.post(
        f"/settings/health/{model_id}/preview",
        headers=HX,
        data={"csrf_token": token, "base": base, "band_good": "lots"},
    )
    assert bad.status_code == 422 and "Enter numbers" in bad.text

    invalid = admin.post(
        f"/settings/health/{model_id}/publish",
        headers=HTML,
        data={"csrf_token": token, "base": base, "band_good": "20", "band_normal": "60"},
    )
    assert invalid.status_code == 422 and "band" in invalid.text

    published = admin.post(
        f"/settings/health/{model_id}/publish",
        headers=HTML,
        follow_redirects=False,
        data={"csrf_token": token, "base": base, "band_good": "65"},
    )
    assert published.status_code == 303
    assert published.headers["location"] == "/settings/health?published=2"
    with Session(engine) as session:
        versions = session.exec(select(HealthModelVersion).order_by(HealthModelVersion.version)).all()  # type: ignore[arg-type]
        assert [(v.version, v.state) for v in versions] == [(1, "retired"), (2, "published")]
        assert versions[1].definition["band_good"] == 65
    assert "Published version 2" in admin.get("/settings/health?published=2", headers=HTML).text


def test_the_json_box_loads_a_definition_into_the_editor(
    admin: TestClient, book: Book, engine: Engine
) -> None:
    model_id = _model_id(engine)
    token = csrf(admin, f"/settings/health/{model_id}/edit")
    import json

    definition = {
        **BASE,
        "groups": [
            {
                **BASE["groups"][1],
                "measures": [  # type: ignore[dict-item]
                    {
                        "key": "z",
                        "name": "Z",
                        "source": {"type": "attribute", "attribute": "has_champion"},
                        "grading": {"kind": "linear", "low": 0, "high": 1},
                    }
                ],
            }
        ],
    }
    loaded = admin.post(
        f"/settings/health/{model_id}/load",
        headers=HX,
        data={"csrf_token": token, "document": json.dumps(definition)},
    )
    assert loaded.status_code == 200, loaded.text
    assert loaded.context["definition"] == definition  # type: ignore[attr-defined]
    assert 'name="m.b.z.high"' in loaded.text

    broken = admin.post(
        f"/settings/health/{model_id}/load", headers=HX, data={"csrf_token": token, "document": "{not json"}
    )
    assert broken.status_code == 422 and "not a JSON object" in broken.text


def test_the_editor_is_for_admins(csm: TestClient, engine: Engine, book: Book) -> None:
    assert csm.get(f"/settings/health/{_model_id(engine)}/edit", headers=HTML).status_code == 403


# -- stage and signal rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "field", "value", "bad"),
    [
        ("stages", "star_user_active_days", "10", {"motivated_at": "9"}),
        ("signals", "no_meeting_days", "60", {"renewal_min_days": "200", "renewal_max_days": "100"}),
    ],
)
def test_rule_settings_save_a_version(
    admin: TestClient, book: Book, kind: str, field: str, value: str, bad: dict[str, str]
) -> None:
    page = admin.get(f"/settings/{kind}", headers=HTML)
    assert page.status_code == 200 and "version 0" in page.text
    token = csrf(admin, f"/settings/{kind}")

    refused = admin.post(f"/settings/{kind}", headers=HX, data={"csrf_token": token, **bad})
    assert refused.status_code == 422 and 'id="err-config"' in refused.text

    saved = admin.post(
        f"/settings/{kind}",
        headers=HTML,
        follow_redirects=False,
        data={"csrf_token": token, field: value, "note": "tuning", "expected_version": "0"},
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/settings/{kind}?saved=1"
    after = admin.get(f"/settings/{kind}?saved=1", headers=HTML)
    assert after.context["current"].version == 1  # type: ignore[attr-defined]
    assert after.context["form"][field] == int(value)  # type: ignore[attr-defined]

    stale = admin.post(
        f"/settings/{kind}", headers=HTML, data={"csrf_token": token, field: value, "expected_version": "0"}
    )
    assert stale.status_code == 409


def test_rule_settings_are_for_admins(csm: TestClient) -> None:
    assert csm.get("/settings/stages", headers=HTML).status_code == 403


@pytest.mark.parametrize("path", ["preview", "publish"])
@pytest.mark.parametrize(
    "base", ['{"groups": 5}', '{"groups": [5]}', '{"groups": [{"key": "a", "measures": [7]}]}']
)
def test_the_editor_refuses_a_malformed_base(
    admin: TestClient, book: Book, engine: Engine, path: str, base: str
) -> None:
    model_id = _model_id(engine)
    token = csrf(admin, f"/settings/health/{model_id}/edit")
    answer = admin.post(
        f"/settings/health/{model_id}/{path}", headers=HX, data={"csrf_token": token, "base": base}
    )
    assert answer.status_code == 422 and "reload the editor" in answer.text
    with Session(engine) as session:
        assert len(session.exec(select(HealthModelVersion)).all()) == 1  # nothing published


@pytest.mark.parametrize("kind", ["stages", "signals", "priorities"])
def test_rule_settings_name_a_bad_expected_version(admin: TestClient, book: Book, kind: str) -> None:
    token = csrf(admin, f"/settings/{kind}")
    answer = admin.post(f"/settings/{kind}", headers=HX, data={"csrf_token": token, "expected_version": "x"})
    assert answer.status_code == 422 and "expected_version must be a whole number" in answer.text
    assert "version 0" in admin.get(f"/settings/{kind}", headers=HTML).text  # nothing saved
