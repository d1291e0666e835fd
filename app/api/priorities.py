"""The weekly action list, its feedback and the priority weights."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from app.api.common import BODY, CONFLICT, ERRORS, NOT_FOUND
from app.auth.users import require_user_by_email
from app.deps import (
    AdminKeyDep,
    NowDep,
    ReadKeyDep,
    SessionDep,
    SettingsDep,
    TodayDep,
    WriteKeyDep,
    writes_on_read,
)
from app.lifecycle import rules
from app.models import ApiKey, PriorityList
from app.priorities import service as svc
from app.priorities.schemas import (
    FactorFeedbackPublic,
    FactorPublic,
    FeedbackIn,
    FeedbackReportPublic,
    ItemPublic,
    ListPublic,
    PreviewRowPublic,
    RulesIn,
    RulesPublic,
    Suppressed,
    Verdict,
    WeightsPreviewIn,
    WeightsPreviewPublic,
)
from app.types import DbId

router = APIRouter(tags=["priorities"], responses=ERRORS)

Week = Annotated[str | None, Query(description="ISO week, e.g. 2026-W48 (default: this week)")]
Owner = Annotated[str | None, Query(description="A CSM's email (default: every CSM)")]


def _author(key: ApiKey) -> str:
    return f"api-key:{key.name}"


def item_public(view: svc.ItemView) -> ItemPublic:
    item = view.item
    return ItemPublic(
        id=item.id or 0,
        account_id=view.account.external_id,
        account_name=view.account.name,
        owner=view.owner.email if view.owner else None,
        rank=item.rank,
        total=item.total,
        factors=[FactorPublic.model_validate(f) for f in item.factors],
        score=item.score,
        band=item.band,
        stage=item.stage,
        signals=list(item.signals),
        suppressed=Suppressed(reason=item.suppressed_reason, on=item.suppressed_on)
        if item.suppressed_reason and item.suppressed_on
        else None,
        status=item.status,
        feedback=None
        if item.status == "open"
        else Verdict(
            reason=item.reason,
            text=item.reason_text,
            interaction_id=item.interaction_id,
            at=item.feedback_at,
            by=item.feedback_by,
        ),
    )


def _list_public(stored: PriorityList, view: svc.WeekView) -> ListPublic:
    return ListPublic(
        week=stored.week,
        as_of=stored.as_of,
        computed_at=stored.computed_at,
        weights_version=stored.weights_version,
        data=[item_public(v) for v in view.items],
        suppressed=[item_public(v) for v in view.suppressed],
    )


@router.get("/priorities", response_model=ListPublic)
@writes_on_read  # the week's first reader stores its list
def weekly_list(
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
    week: Week = None,
    owner: Owner = None,
    limit: Annotated[int | None, Query(ge=1, le=200, description="Rows per CSM (default: top N)")] = None,
) -> ListPublic:
    """Each CSM's ranked accounts to act on this week, with every row's breakdown; suppressed apart."""
    chosen = svc.parse_week(week, today=today)
    owner_id = require_user_by_email(session, owner, field="owner").id if owner else None
    view = svc.week_view(session, week=chosen, tz=settings.tz, now=now, owner_id=owner_id, limit=limit)
    return _list_public(view.stored, view)


@router.post("/priorities/recompute", response_model=ListPublic)
def recompute(
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    key: AdminKeyDep,
    week: Week = None,
) -> ListPublic:
    """Recomputes a week's list now (data as of its Monday, today's weights); verdicts are kept."""
    chosen = svc.parse_week(week, today=today)
    svc.recompute(session, week=chosen, tz=settings.tz, now=now, author=_author(key))
    view = svc.week_view(session, week=chosen, tz=settings.tz, now=now)
    return _list_public(view.stored, view)


@router.post(
    "/priorities/items/{item_id}/feedback",
    response_model=ItemPublic,
    responses={**NOT_FOUND, **BODY, **CONFLICT},
)
def give_feedback(
    item_id: DbId,
    feedback_in: FeedbackIn,
    session: SessionDep,
    now: NowDep,
    key: WriteKeyDep,
) -> ItemPublic:
    """Marks a list item done (linking the interaction) or not actionable (with a reason)."""
    item = svc.give_feedback(
        session,
        item_id=item_id,
        status=feedback_in.status,
        interaction_id=feedback_in.interaction_id,
        reason=feedback_in.reason,
        text=feedback_in.text,
        author=_author(key),
        now=now,
    )
    return item_public(svc.item_view(session, item))


@router.get("/priorities/feedback-report", response_model=FeedbackReportPublic)
def feedback_report(
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
    from_week: Annotated[str | None, Query(description="Default: 4 weeks before `to_week`")] = None,
    to_week: Annotated[str | None, Query(description="Default: this week")] = None,
    owner: Owner = None,
) -> FeedbackReportPublic:
    """Per factor, how often the items it drove were rejected: what to tune next month."""
    end = svc.parse_week(to_week, today=today, field="to_week")
    start = svc.parse_week(
        from_week or svc.week_of(svc.monday_of(end) - dt.timedelta(weeks=4)), today=today, field="from_week"
    )
    owner_id = require_user_by_email(session, owner, field="owner").id if owner else None
    report, lists = svc.feedback(session, from_week=start, to_week=end, owner_id=owner_id)
    return FeedbackReportPublic(
        from_week=start,
        to_week=end,
        lists=lists,
        items=report.items,
        done=report.done,
        rejected=report.rejected,
        reasons=report.reasons,
        factors=[FactorFeedbackPublic.model_validate(f, from_attributes=True) for f in report.factors],
    )


# -- weights and rules ---------------------------------------------------------------------------


RuleKind = Literal["priorities", "stages", "signals"]


def _rules_public(v: rules.Versioned[Any]) -> RulesPublic:
    return RulesPublic(
        kind=v.kind,
        version=v.version,
        config=v.rules.to_json(),
        author=v.author,
        created_at=v.created_at,
        note=v.note,
    )


@router.get("/rules/{kind}", response_model=RulesPublic)
def get_rules(kind: RuleKind, session: SessionDep, _key: ReadKeyDep) -> RulesPublic:
    """The priority weights, stage rules or signal rules in force."""
    return _rules_public(rules.current(session, kind))


@router.get("/rules/{kind}/versions", response_model=list[RulesPublic])
def rule_versions(kind: RuleKind, session: SessionDep, _key: ReadKeyDep) -> list[RulesPublic]:
    """Every saved version, newest first."""
    return [
        RulesPublic(
            kind=r.kind,
            version=r.version,
            config=r.config,
            author=r.author,
            created_at=r.created_at,
            note=r.note,
        )
        for r in rules.history(session, kind)
    ]


@router.put("/rules/{kind}", response_model=RulesPublic, responses={**BODY, **CONFLICT})
def save_rules(
    kind: RuleKind,
    rules_in: RulesIn,
    session: SessionDep,
    now: NowDep,
    key: AdminKeyDep,
) -> RulesPublic:
    """Saves a new version of the rules; this week's stored list keeps the weights it was made with."""
    saved = rules.save(
        session,
        kind=kind,
        config_in=rules_in.config,
        author=_author(key),
        note=rules_in.note,
        now=now,
        expected_version=rules_in.expected_version,
    )
    return _rules_public(saved)


@router.post("/rules/priorities/preview", response_model=WeightsPreviewPublic, responses=BODY)
def preview_weights(
    preview_in: WeightsPreviewIn,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: WriteKeyDep,
    week: Week = None,
    owner: Owner = None,
) -> WeightsPreviewPublic:
    """This week's list as the given weights would rank it, beside the stored ranks (nothing saved)."""
    chosen = svc.parse_week(week, today=today)
    owner_id = require_user_by_email(session, owner, field="owner").id if owner else None
    weights, rows = svc.preview(
        session, week=chosen, config_in=preview_in.config, tz=settings.tz, now=now, owner_id=owner_id
    )
    return WeightsPreviewPublic(
        week=chosen,
        config=weights.to_json(),
        data=[
            PreviewRowPublic(
                account_id=r.account.external_id,
                account_name=r.account.name,
                owner=r.owner.email if r.owner else None,
                before_rank=r.before_rank,
                after_rank=r.after_rank,
                before_total=r.before_total,
                after_total=r.after_total,
            )
            for r in rows
        ],
    )
