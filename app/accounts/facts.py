"""Facts about every active account as of one instant, gathered in set-based queries.

Stages, signals and priority points are pure functions of these facts (``app.scoring``); this
module is the only place that reads them from the database. Everything is read "as of" an
instant: interactions after it are ignored, scores are the latest snapshot on or before its day,
so a past week's list can be recomputed exactly as it was.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select
from sqlmodel import Session

from app.accounts import changes as attribute_history
from app.db import table_of
from app.models import (
    Account,
    ChampionRating,
    Contact,
    HealthModelVersion,
    Interaction,
    InteractionContact,
    PlanGoal,
    ScoreSnapshot,
    SentimentRating,
    SuccessPlan,
    UsageAccountDay,
    UsagePresence,
)
from app.scoring.presets import ADOPTION_LINE
from app.scoring.priorities import PriorityInputs
from app.scoring.signals import SignalInputs, SignalRules
from app.scoring.stages import StageInputs, StageRules
from app.usage import presence

ACCOUNT = table_of(Account)
CONTACT = table_of(Contact)
INTERACTION = table_of(Interaction)
INTERACTION_CONTACT = table_of(InteractionContact)
SNAPSHOT = table_of(ScoreSnapshot)
VERSION = table_of(HealthModelVersion)
SENTIMENT = table_of(SentimentRating)
CHAMPION_RATING = table_of(ChampionRating)
GOAL = table_of(PlanGoal)
PLAN = table_of(SuccessPlan)
ACCOUNT_DAY = table_of(UsageAccountDay)
PRESENCE = table_of(UsagePresence)

#: Interactions that count as a touch by us (a recent one takes the account off the list).
TOUCH_TYPES = ("meeting", "call", "training")
#: Our outreach, and the customer's answers to it.
OUTREACH_TYPES = ("email_sent",)
RESPONSE_TYPES = ("email_reply", "email_click", "meeting", "call", "nps_response", "community_post")
ATTENDANCE_TYPES = ("community", "webinar", "event")
SENTIMENT_EXPIRES_DAYS = 90
OUTREACH_LOOKBACK_DAYS = 60
SCHEDULE_LOOKBACK_DAYS = 180
#: How far back a champion's last activity is looked for (older: not known to have used it).
CHAMPION_LOOKBACK_DAYS = 120


@dataclass
class Facts:
    """Everything known about one account as of the instant."""

    account_id: int
    external_id: str
    name: str
    owner_id: int | None
    industry: str | None
    segment: str | None
    contract_start_on: dt.date | None
    renewal_on: dt.date | None
    score: float | None = None
    band: str | None = None
    score_peak_30d: float | None = None
    last_meeting_on: dt.date | None = None
    last_touch_on: dt.date | None = None
    next_meeting_on: dt.date | None = None
    outreach_unanswered_on: dt.date | None = None
    latest_nps: int | None = None
    latest_nps_on: dt.date | None = None
    attendances_90d: int = 0
    star_user_flagged: bool = False
    top_user_active_days: int = 0
    has_champion: bool = False
    champion_removed_on: dt.date | None = None
    champion_active_days: int = 0
    champion_last_active_on: dt.date | None = None
    champion_meetings_90d: int = 0
    champion_rating: int | None = None
    sentiment: int | None = None
    unverified_goals: int = 0
    events_recent: int = 0
    events_baseline: float = 0.0
    events_before_quiet: int = 0
    last_event_on: dt.date | None = None
    seats_change: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The account's own model's scale and line (its primary model's).
    scale: Scale = field(default_factory=lambda: Scale())

    def tenure_days(self, day: dt.date) -> int | None:
        return None if self.contract_start_on is None else (day - self.contract_start_on).days

    def stage_inputs(self) -> StageInputs:
        return StageInputs(
            star_user_flagged=self.star_user_flagged, top_user_active_days=self.top_user_active_days,
            has_champion=self.has_champion, champion_rating=self.champion_rating,
            champion_active_days=self.champion_active_days,
            champion_meetings=self.champion_meetings_90d,
            community_attendances=self.attendances_90d,
        )

    def signal_inputs(self, day: dt.date, scale: Scale) -> SignalInputs:
        return SignalInputs(
            as_of=day, contract_start_on=self.contract_start_on, renewal_on=self.renewal_on,
            score=self.score, band=self.band, scale_max=scale.maximum, adoption_line=scale.line,
            score_peak_30d=self.score_peak_30d, last_meeting_on=self.last_meeting_on,
            has_champion=self.has_champion, champion_last_active_on=self.champion_last_active_on,
            champion_removed_on=self.champion_removed_on, latest_nps=self.latest_nps,
            latest_nps_on=self.latest_nps_on, unverified_goals=self.unverified_goals,
            events_recent=self.events_recent, events_baseline=self.events_baseline,
            last_event_on=self.last_event_on, events_before_quiet=self.events_before_quiet,
            sentiment=self.sentiment, seats_change=self.seats_change,
        )

    def priority_inputs(
        self, day: dt.date, scale: Scale, *, signals: Sequence[str], motivation: int | None,
        stage: str | None, is_target: bool, signal_rules: SignalRules,
    ) -> PriorityInputs:
        to_renewal = None if self.renewal_on is None else (self.renewal_on - day).days
        in_window = (to_renewal is not None
                     and signal_rules.renewal_min_days <= to_renewal <= signal_rules.renewal_max_days)
        return PriorityInputs(
            account_id=self.account_id, owner_id=self.owner_id, score=self.score,
            scale_max=scale.maximum, last_meeting_on=self.last_meeting_on,
            champion_motivation=motivation, tenure_days=self.tenure_days(day),
            outreach_unanswered_days=None if self.outreach_unanswered_on is None
            else (day - self.outreach_unanswered_on).days,
            days_to_renewal=to_renewal, renewal_window=in_window, signals=tuple(signals),
            is_target=is_target, stage=stage, next_meeting_on=self.next_meeting_on,
            last_touch_on=self.last_touch_on,
        )


@dataclass(frozen=True)
class Scale:
    """A health model's scale and its adoption line (the onboarding checkpoint's bar)."""

    maximum: float = 100.0
    line: float = 40.0
    version_ids: tuple[int, ...] = ()
    model_name: str | None = None
    model_id: int | None = None


def _scale_of(session: Session, model: Any, version_ids: tuple[int, ...]) -> Scale:
    """The model's scale: 1.5 on the 0–4 adoption preset, else its "normal" band cut."""
    from app.health import models as health_models

    version = health_models.published_version(session, model.id)
    if version is None:
        return Scale(version_ids=version_ids, model_name=model.name, model_id=model.id)
    spec = health_models.version_spec(version)
    maximum = float(spec.scale_max)
    line = ADOPTION_LINE if model.preset == "adoption" else float(spec.band_normal)
    return Scale(maximum, line, version_ids, model.name, model.id)


def default_scale(session: Session) -> Scale:
    """The default model's scale: 1.5 on the 0–4 adoption preset, else its "normal" band cut."""
    from app.health import models as health_models

    model = health_models.default_model(session)
    if model is None or model.id is None:
        return Scale()
    ids = tuple(session.execute(select(VERSION.c.id).where(VERSION.c.model_id == model.id)).scalars())
    return _scale_of(session, model, ids)


@dataclass(frozen=True)
class Scales:
    """Each account's own scale: the scale and line of its primary health model (the checks and
    signals of an account on the Adoption model use 1.5; of one on ABC, ABC's normal cut)."""

    default: Scale
    by_model: dict[int, Scale] = field(default_factory=dict)
    model_of: dict[int, int | None] = field(default_factory=dict)  # account → primary model
    assignments: Any = None  # app.health.assignments.Assignments, when models are per segment

    @property
    def mixed(self) -> bool:
        return self.assignments is not None and not self.assignments.single

    def of(self, account_id: int) -> Scale:
        model_id = self.model_of.get(account_id)
        return self.by_model.get(model_id, self.default) if model_id is not None else self.default

    def own_snapshot(self, version_column: Any) -> Any:
        """A snapshot is of the account's own model (with rules, ``account`` must be joined)."""
        if not self.mixed:
            return version_column.in_(self.default.version_ids)
        return self.assignments.own_snapshot(version_column)


def account_scales(session: Session, account_ids: Sequence[int] | None = None) -> Scales:
    """Every account's (or the given ones') own scale, from its primary model."""
    from app.health import assignments as health_assignments
    from app.health import models as health_models

    found = health_assignments.load(session)
    default = default_scale(session)
    if found.single:
        return Scales(default)
    by_model = {}
    for model_id in found.model_ids:
        model = health_models.get_model(session, model_id)
        by_model[model_id] = _scale_of(session, model, found.version_ids.get(model_id, ()))
    model_of = health_assignments.primary_models(session, account_ids)
    return Scales(default, by_model, model_of, found)


class _Reader:
    def __init__(self, session: Session, at: dt.datetime, tz: ZoneInfo, ids: list[int] | None) -> None:
        self.session = session
        self.at = at
        self.tz = tz
        self.day = at.astimezone(tz).date()
        self.ids = ids

    def instant(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), tzinfo=self.tz).astimezone(dt.UTC)

    def local_day(self, value: dt.datetime) -> dt.date:
        return value.astimezone(self.tz).date()

    def scope(self, column: Any) -> Any:
        return column.in_(self.ids) if self.ids is not None else and_(True)

    def rows(self, query: Any) -> Sequence[Any]:
        return self.session.execute(query).all()


def gather(
    session: Session, *, at: dt.datetime, tz: ZoneInfo, scale: Scale | Scales,
    stage_rules: StageRules = StageRules(), signal_rules: SignalRules = SignalRules(),
    account_ids: list[int] | None = None,
) -> dict[int, Facts]:
    """Facts for every active account (or the given ones) as of ``at``. One ``Scale`` reads
    every account's score under that model; ``Scales`` under each account's own model."""
    scales = scale if isinstance(scale, Scales) else Scales(scale)
    r = _Reader(session, at, tz, account_ids)
    facts: dict[int, Facts] = {}
    for row in r.rows(
        select(ACCOUNT.c.id, ACCOUNT.c.external_id, ACCOUNT.c.name, ACCOUNT.c.owner_id,
               ACCOUNT.c.industry, ACCOUNT.c.segment, ACCOUNT.c.contract_start_on,
               ACCOUNT.c.renewal_on)
        .where(ACCOUNT.c.status == "active", r.scope(ACCOUNT.c.id))
    ):
        facts[row.id] = Facts(row.id, row.external_id, row.name, row.owner_id, row.industry,
                              row.segment, row.contract_start_on, row.renewal_on,
                              scale=scales.of(row.id))
    if not facts:
        return facts
    _scores(r, facts, scales)
    _interactions(r, facts, stage_rules, signal_rules)
    _contacts(r, facts, stage_rules)
    _ratings(r, facts)
    _goals(r, facts, signal_rules)
    _events(r, facts, signal_rules)
    return facts


def _scores(r: _Reader, facts: dict[int, Facts], scales: Scales) -> None:
    if not scales.mixed and not scales.default.version_ids:
        return
    mixed = scales.mixed

    def own(query: Any) -> Any:  # the rules read the account's columns
        return query.join(ACCOUNT, ACCOUNT.c.id == SNAPSHOT.c.account_id) if mixed else query

    in_model = and_(scales.own_snapshot(SNAPSHOT.c.model_version_id), r.scope(SNAPSHOT.c.account_id))
    latest = own(
        select(SNAPSHOT.c.account_id, func.max(SNAPSHOT.c.day).label("day"))
        .where(in_model, SNAPSHOT.c.day <= r.day)
        .group_by(SNAPSHOT.c.account_id)
    ).subquery()
    rows = r.rows(
        own(
            select(
                SNAPSHOT.c.account_id, SNAPSHOT.c.score, SNAPSHOT.c.band, SNAPSHOT.c.model_version_id
            ).join(latest, and_(latest.c.account_id == SNAPSHOT.c.account_id, latest.c.day == SNAPSHOT.c.day))
        )
        .where(scales.own_snapshot(SNAPSHOT.c.model_version_id))
        .order_by(SNAPSHOT.c.account_id, SNAPSHOT.c.model_version_id)
    )
    for row in rows:  # the newest version's snapshot of the day wins (ordered last)
        f = facts.get(row.account_id)
        if f is not None:
            f.score, f.band = row.score, row.band
    since = r.day - dt.timedelta(days=30)
    for account_id, peak in r.rows(
        own(
            select(SNAPSHOT.c.account_id, func.max(SNAPSHOT.c.score))
            .where(in_model, SNAPSHOT.c.day >= since, SNAPSHOT.c.day < r.day)
            .group_by(SNAPSHOT.c.account_id)
        )
    ):
        if account_id in facts and peak is not None:
            facts[account_id].score_peak_30d = float(peak)


def _interactions(
    r: _Reader, facts: dict[int, Facts], rules: StageRules, signal_rules: SignalRules
) -> None:
    i = INTERACTION.c
    before = and_(i.occurred_at < r.at, r.scope(i.account_id))
    outreach_since = r.at - dt.timedelta(days=OUTREACH_LOOKBACK_DAYS)
    touch_since = r.at - dt.timedelta(days=30)
    rows = r.rows(
        select(
            i.account_id,
            func.max(case((i.type == "meeting", i.occurred_at))).label("meeting"),
            func.max(case((and_(i.type.in_(TOUCH_TYPES), i.occurred_at >= touch_since),
                           i.occurred_at))).label("touch"),
            func.max(case((and_(i.type.in_(OUTREACH_TYPES), i.occurred_at >= outreach_since),
                           i.occurred_at))).label("outreach"),
            func.max(case((i.type.in_(RESPONSE_TYPES), i.occurred_at))).label("response"),
        )
        .where(before, i.type.in_(("meeting", *TOUCH_TYPES, *OUTREACH_TYPES, *RESPONSE_TYPES)))
        .group_by(i.account_id)
    )
    for row in rows:
        f = facts.get(row.account_id)
        if f is None:
            continue
        f.last_meeting_on = r.local_day(row.meeting) if row.meeting else None
        f.last_touch_on = r.local_day(row.touch) if row.touch else None
        if row.outreach is not None and (row.response is None or row.response < row.outreach):
            f.outreach_unanswered_on = r.local_day(row.outreach)

    # Scheduled meetings, NPS answers and attendances carry what matters in their data document.
    schedule_since = r.at - dt.timedelta(days=SCHEDULE_LOOKBACK_DAYS)
    nps_since = r.at - dt.timedelta(days=signal_rules.nps_recent_days + 1)
    attend_since = r.instant(r.day - dt.timedelta(days=rules.community_window_days))
    rows = r.rows(
        select(i.account_id, i.type, i.occurred_at, i.data)
        .where(before, or_(
            and_(i.type == "meeting_scheduled", i.occurred_at >= schedule_since),
            and_(i.type == "nps_response", i.occurred_at >= nps_since),
            and_(i.type.in_(ATTENDANCE_TYPES), i.occurred_at >= attend_since),
        ))
    )
    for row in rows:
        f = facts.get(row.account_id)
        if f is None:
            continue
        data = row.data or {}
        if row.type == "meeting_scheduled":
            when = _parse_time(data.get("scheduled_for"))
            if when is not None and when >= r.at:
                on = r.local_day(when)
                if f.next_meeting_on is None or on < f.next_meeting_on:
                    f.next_meeting_on = on
        elif row.type == "nps_response":
            on = r.local_day(row.occurred_at)
            score = data.get("score")
            if isinstance(score, int) and (f.latest_nps_on is None or on >= f.latest_nps_on):
                f.latest_nps, f.latest_nps_on = score, on
        elif data.get("attended", True) is not False:
            f.attendances_90d += 1

    # Meetings each champion attended in the last 90 days.
    ic = INTERACTION_CONTACT.c
    for account_id, count in r.rows(
        select(i.account_id, func.count(func.distinct(i.id)))
        .join(INTERACTION_CONTACT, ic.interaction_id == i.id)
        .join(CONTACT, CONTACT.c.id == ic.contact_id)
        .where(before, i.type == "meeting", i.occurred_at >= r.at - dt.timedelta(days=90),
               CONTACT.c.is_champion.is_(True), CONTACT.c.status == "active")
        .group_by(i.account_id)
    ):
        if account_id in facts:
            facts[account_id].champion_meetings_90d = int(count)


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _contacts(r: _Reader, facts: dict[int, Facts], rules: StageRules) -> None:
    c = CONTACT.c
    champions: dict[str, int] = {}  # tracked-user key → account
    removed: dict[int, dt.date] = {}
    # When each removed champion left, from the contacts' history (a later edit of the removed
    # contact moves its updated_at, not this); updated_at where the history does not say.
    gone = select(c.id).where(r.scope(c.account_id), c.status != "active", c.is_champion.is_(True))
    left_at = attribute_history.contact_departures(r.session, contact_ids=gone, at=r.at)
    for row in r.rows(
        select(c.id, c.account_id, c.external_id, c.email, c.status, c.is_champion,
               c.is_star_user, c.updated_at, c.created_at)
        .where(r.scope(c.account_id), or_(c.is_champion.is_(True), c.is_star_user.is_(True)))
    ):
        f = facts.get(row.account_id)
        if f is None:
            continue
        if row.status != "active":
            if row.is_champion:
                on = r.local_day(left_at.get(row.id, row.updated_at))
                if on <= r.day and (row.account_id not in removed or on > removed[row.account_id]):
                    removed[row.account_id] = on
            continue
        if row.is_star_user:
            f.star_user_flagged = True
        if row.is_champion:
            f.has_champion = True
            for key in (row.external_id, row.email):
                if key:
                    champions[key] = row.account_id
    for account_id, on in removed.items():
        if not facts[account_id].has_champion:
            facts[account_id].champion_removed_on = on

    # Active days per tracked user in the star-user window: one presence row per user (≤ 33 days).
    end = r.day - dt.timedelta(days=1)
    window = presence.window(end - dt.timedelta(days=rules.star_user_window_days - 1), end)
    p = PRESENCE.c
    days_of: dict[tuple[int, str], int] = defaultdict(int)
    for account_id, item, block, days in r.rows(
        select(p.account_id, p.item, p.block, p.days)
        .where(p.kind == "u", window.clause(PRESENCE), r.scope(p.account_id))
    ):
        if account_id in facts:
            days_of[(account_id, item)] += window.count_days(block, days)
    for (account_id, item), count in days_of.items():
        f = facts[account_id]
        f.top_user_active_days = max(f.top_user_active_days, count)
        if champions.get(item) == account_id:
            f.champion_active_days = max(f.champion_active_days, count)

    # The champion's last active day in the lookback (so "gone quiet" knows they were active before):
    # the newest bit of their presence rows, found by primary key from the champion contacts.
    if champions:
        lookback = presence.window(end - dt.timedelta(days=CHAMPION_LOOKBACK_DAYS - 1), end)
        masks = dict(lookback.rows)
        epoch = dt.date(1970, 1, 1)
        for key_column in (CONTACT.c.external_id, CONTACT.c.email):
            for account_id, block, days in r.rows(
                select(p.account_id, p.block, p.days)
                .join(CONTACT, and_(CONTACT.c.account_id == p.account_id, key_column == p.item))
                .where(p.kind == "u", p.block.in_(lookback.blocks), CONTACT.c.is_champion.is_(True),
                       CONTACT.c.status == "active", r.scope(p.account_id))
            ):
                bits = presence.unsigned(days) & masks.get(block, 0)
                if account_id not in facts or not bits:
                    continue
                last = epoch + dt.timedelta(days=presence.BLOCK * (block - 1) + bits.bit_length() - 1)
                f = facts[account_id]
                if f.champion_last_active_on is None or last > f.champion_last_active_on:
                    f.champion_last_active_on = last


def _ratings(r: _Reader, facts: dict[int, Facts]) -> None:
    s = SENTIMENT.c
    latest = (
        select(s.account_id, func.max(s.id).label("id"))
        .where(s.created_at <= r.at, s.created_at >= r.at - dt.timedelta(days=SENTIMENT_EXPIRES_DAYS),
               r.scope(s.account_id))
        .group_by(s.account_id)
        .subquery()
    )
    for account_id, rating, owner_id in r.rows(
        select(s.account_id, s.rating, s.owner_id).join(latest, latest.c.id == s.id)
    ):
        f = facts.get(account_id)
        if f is not None and owner_id == f.owner_id:
            f.sentiment = int(rating)

    c = CHAMPION_RATING.c
    latest_c = (
        select(c.account_id, func.max(c.id).label("id"))
        .where(c.created_at <= r.at, r.scope(c.account_id))
        .group_by(c.account_id)
        .subquery()
    )
    for account_id, rating in r.rows(select(c.account_id, c.rating).join(latest_c, latest_c.c.id == c.id)):
        if account_id in facts:
            facts[account_id].champion_rating = int(rating)


def _goals(r: _Reader, facts: dict[int, Facts], rules: SignalRules) -> None:
    from app.plans.plans import LIVE_PLAN_STATUSES, OPEN_GOAL_STATUSES

    limit = r.at - dt.timedelta(days=rules.goals_unverified_days)
    g, p = GOAL.c, PLAN.c
    verified = func.coalesce(g.last_verified_at, g.created_at)
    for account_id, count in r.rows(
        select(p.account_id, func.count())
        .join(PLAN, p.id == g.plan_id)
        .where(p.status.in_(LIVE_PLAN_STATUSES), g.status.in_(OPEN_GOAL_STATUSES),
               verified < limit, g.created_at <= r.at, r.scope(p.account_id))
        .group_by(p.account_id)
    ):
        if account_id in facts:
            facts[account_id].unverified_goals = int(count)


def _events(r: _Reader, facts: dict[int, Facts], rules: SignalRules) -> None:
    d = ACCOUNT_DAY.c
    recent_from = r.day - dt.timedelta(days=14)
    baseline_from = recent_from - dt.timedelta(days=56)
    quiet_from = r.day - dt.timedelta(days=rules.stale_days)
    before_quiet_from = quiet_from - dt.timedelta(days=30)
    first = min(baseline_from, before_quiet_from)
    for row in r.rows(
        select(
            d.account_id,
            func.sum(case((d.day >= recent_from, d.event_count), else_=0)).label("recent"),
            func.sum(case((d.day < recent_from, d.event_count), else_=0)).label("baseline"),
            func.sum(case((and_(d.day >= before_quiet_from, d.day < quiet_from), d.event_count),
                          else_=0)).label("before_quiet"),
            func.max(case((d.event_count > 0, d.day))).label("last"),
        )
        .where(d.day >= first, d.day < r.day, r.scope(d.account_id))
        .group_by(d.account_id)
    ):
        f = facts.get(row.account_id)
        if f is None:
            continue
        f.events_recent = int(row.recent or 0)
        f.events_baseline = float(row.baseline or 0) / 4  # 56 days = four 14-day spans
        f.events_before_quiet = int(row.before_quiet or 0)
        f.last_event_on = row.last
