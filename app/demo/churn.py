"""The demo's churn process: who leaves, when, and what could be seen beforehand.

A real book is learnable but not trivial, and the demo should be too:

* **When.** Contracts renew yearly; most churns happen at a renewal (the customer leaves at the
  end of its term, up to a month early), the rest mid-term (a budget cut, an acquisition). The
  chance differs by industry (``history.PROFILES``), so industry tiers come out different.
* **Warned churners** (about two thirds) show one to three signs, each starting 70 to 210 days
  before the churn date: declining usage (fewer active seats and days, key features dropped), a
  lost champion (the role removed, or the person gone), unanswered outreach (emails without
  replies, meetings no longer held), low NPS. Whatever the sign, they use the product less and
  come to fewer webinars and trainings from then on; their usage was also a little weaker to
  begin with, and fewer of them got far along the core workflow (``activity.adopted_features``).
* **Silent churners** (about a third) leave without warning: budget cuts, acquisitions. Their
  data looks like any other account's until they go.
* **Healthy accounts have bad months**: a temporary dip in usage, a missed meeting cycle, one low
  NPS answer; some lose their champion and stay (and often name a new one).

Everything here is drawn from the random stream it is given: same seed, same stories.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from app.demo import history as demo_history

#: How far back the demo's usage and interactions go (about 18 months).
HISTORY_DAYS = 548
#: Interactions start this many days before the usage history, so that at the history's first
#: days "days since the last meeting" and "the latest NPS" already mean what they mean later.
INTERACTIONS_BEFORE_DAYS = 120
#: Contracts started up to this many days ago (about two and three quarter years).
OLDEST_CONTRACT_DAYS = 1000
#: Churn dates fall this many days or more after the history starts, so each churner has usage
#: before it leaves.
FIRST_CHURN_AFTER = 30
#: The chance a contract ends at a renewal is the industry's profile times this.
RENEWAL_CHURN_SCALE = 1.4
#: Mid-term churn (budget cuts, acquisitions): a yearly hazard, the industry's profile times this.
MIDTERM_HAZARD_SCALE = 0.6
#: Share of churners that leave without warning (spread evenly over the churners, so that
#: every book, small or large, has about this share).
SILENT_SHARE = 0.27
_GOLDEN = 0.6180339887498949
#: The warning signs, with how often each is drawn.
SIGNS = (("usage", 0.5), ("outreach", 0.2), ("champion", 0.15), ("nps", 0.15))
#: How long before the churn date a sign starts (days).
LEAD_DAYS = (70, 210)
#: Archetypes of the accounts that will churn with a warning: weaker than the book's mix.
WARNED_ARCHETYPES = (
    ("grower", 0.05),
    ("steady", 0.2),
    ("decliner", 0.25),
    ("stalled", 0.3),
    ("seasonal", 0.2),
)

#: Archetypes of the accounts that will churn without warning: an average account of the book
#: (healthy ones and those on their way out alike), nothing in its data changes before it goes.
SILENT_ARCHETYPES = (
    ("grower", 0.25),
    ("steady", 0.27),
    ("decliner", 0.17),
    ("stalled", 0.15),
    ("seasonal", 0.16),
)


@dataclass(frozen=True)
class Story:
    """One account's course: its churn (if any), its warning signs and its bad months."""

    churned_on: dt.date | None = None
    #: ``warned``, ``budget_cut``, ``acquisition`` or ``stays``.
    reason: str = "stays"
    at_renewal: bool = False
    #: Sign → the day it starts (warned churners only).
    signs: dict[str, dt.date] = field(default_factory=dict)
    #: Where declining usage ends up at the churn date (share of the usual).
    floor: float = 1.0
    #: Temporary dips in usage: (first day, last day, share of the usual use).
    dips: tuple[tuple[dt.date, dt.date, float], ...] = ()
    #: Missed meeting cycles: (first day, last day) with no meeting or call held.
    quiet: tuple[tuple[dt.date, dt.date], ...] = ()
    #: One detractor answer on this day's survey (a healthy account's bad moment).
    low_nps_on: dt.date | None = None
    #: The champion lost: when, how (``role_removed`` or ``left``), and a new one named when.
    champion_lost_on: dt.date | None = None
    champion_loss: str = "role_removed"
    champion_back_on: dt.date | None = None

    @property
    def warned(self) -> bool:
        return bool(self.signs)

    def usage_factor(self, day: dt.date) -> float:
        """Share of the account's usual use on ``day`` (0 once it has left)."""
        if self.churned_on is not None and day >= self.churned_on:
            return 0.0
        factor = 1.0
        onset = self.signs.get("usage")
        if onset is not None and day >= onset and self.churned_on is not None:
            progress = (day - onset).days / max(1, (self.churned_on - onset).days)
            factor = 1.0 - (1.0 - self.floor) * min(1.0, progress) ** 0.4
        elif self.signs and self.churned_on is not None and day >= (first := min(self.signs.values())):
            # A customer on its way out uses the product a little less, whatever the sign.
            progress = (day - first).days / max(1, (self.churned_on - first).days)
            factor = 1.0 - 0.6 * min(1.0, progress) ** 0.5
        for first, last, share in self.dips:
            if first <= day <= last:
                factor = min(factor, share)
        return factor

    def meetings_held(self, day: dt.date) -> bool:
        """Whether the customer still takes meetings and calls on ``day``."""
        onset = self.signs.get("outreach")
        if onset is not None and day >= onset:
            return False
        return not any(first <= day <= last for first, last in self.quiet)

    def replies(self, day: dt.date) -> bool:
        """Whether the customer answers emails on ``day``."""
        onset = self.signs.get("outreach")
        return onset is None or day < onset

    def unhappy(self, day: dt.date) -> bool:
        """Whether NPS answers on ``day`` come from an unhappy customer."""
        onset = self.signs.get("nps")
        return onset is not None and day >= onset

    def engagement(self, day: dt.date) -> float:
        """Multiplier on content engagement (webinars, community, training) on ``day``."""
        if self.signs and day >= min(self.signs.values()):
            return 0.3
        return 1.0


def _anniversaries(start: dt.date, after: dt.date, until: dt.date) -> list[dt.date]:
    out: list[dt.date] = []
    years = 1
    while True:
        try:
            day = start.replace(year=start.year + years)
        except ValueError:  # 29 February
            day = dt.date(start.year + years, 2, 28)
        if day > until:
            return out
        if day >= after:
            out.append(day)
        years += 1


def churn_date(
    rng: random.Random, *, industry: str | None, start: dt.date, today: dt.date
) -> tuple[dt.date | None, bool]:
    """When the account churned (None: it is still a customer), and whether at a renewal."""
    p = demo_history.churn_probability(industry)
    first = today - dt.timedelta(days=HISTORY_DAYS - FIRST_CHURN_AFTER)
    earliest = max(first, start + dt.timedelta(days=150))
    # Mid-term: an exponential wait from the later of contract start + 120 days and the window.
    midterm: dt.date | None = None
    hazard = p * MIDTERM_HAZARD_SCALE
    if hazard > 0:
        wait = rng.expovariate(hazard / 365)
        day = earliest + dt.timedelta(days=int(wait))
        if day < today:
            midterm = day
    renewal: dt.date | None = None
    for anniversary in _anniversaries(start, earliest, today):
        if rng.random() < p * RENEWAL_CHURN_SCALE:
            day = anniversary - dt.timedelta(days=rng.choice((0, 0, 0, 1, 7, 14, 30)))
            if earliest <= day < today:
                renewal = day
                break
    if renewal is not None and (midterm is None or renewal <= midterm):
        return renewal, True
    return midterm, False


def archetype_weights(story: Story) -> tuple[tuple[str, float], ...] | None:
    """The archetype mix to draw from: a warned churner's, a silent churner's, or None for the
    book's usual one."""
    if story.warned:
        return WARNED_ARCHETYPES
    return SILENT_ARCHETYPES if story.churned_on is not None else None


#: Silent churners are spread evenly over the churners of each period this long (by churn date).
SILENT_PERIOD_DAYS = 91


class Storyteller:
    """Draws each account's story in turn; silent churners are spread evenly over the churners of
    each quarter (the k-th churner of a quarter is silent when ``phase + k·share`` passes a whole
    number, from a random phase), so the share holds on any book and in any part of its history."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._phase = rng.random()
        self._churners: dict[int, int] = {}

    def story(
        self,
        *,
        churned_on: dt.date | None,
        at_renewal: bool,
        start: dt.date,
        today: dt.date,
        has_champion: bool,
    ) -> Story:
        silent = False
        if churned_on is not None:
            period = (today - churned_on).days // SILENT_PERIOD_DAYS
            count = self._churners[period] = self._churners.get(period, 0) + 1
            phase = (self._phase + period * _GOLDEN) % 1.0
            silent = int(phase + count * SILENT_SHARE) > int(phase + (count - 1) * SILENT_SHARE)
        return story_for(
            self.rng,
            churned_on=churned_on,
            at_renewal=at_renewal,
            start=start,
            today=today,
            has_champion=has_champion,
            silent=silent,
        )


def story_for(
    rng: random.Random,
    *,
    churned_on: dt.date | None,
    at_renewal: bool,
    start: dt.date,
    today: dt.date,
    has_champion: bool,
    silent: bool = False,
) -> Story:
    """Draw the account's story (signs for a warned churner, bad months for everyone)."""
    begin = max(start, today - dt.timedelta(days=HISTORY_DAYS))
    end = churned_on or today
    dips = []
    if rng.random() < 0.55:
        for _ in range(rng.choice((1, 1, 2))):
            first = _day_between(rng, begin, end - dt.timedelta(days=20))
            if first is not None:
                length = rng.randint(20, 50)
                dips.append((first, first + dt.timedelta(days=length), rng.uniform(0.3, 0.6)))
    quiet = []
    if rng.random() < 0.35:
        first = _day_between(rng, begin, end - dt.timedelta(days=30))
        if first is not None:
            quiet.append((first, first + dt.timedelta(days=rng.randint(70, 130))))
    low_nps_on = _day_between(rng, begin, end) if rng.random() < 0.3 else None
    lost_on = back_on = None
    loss = rng.choice(("role_removed", "left"))
    if has_champion and rng.random() < 0.12:
        lost_on = _day_between(rng, begin, end - dt.timedelta(days=30))
        if lost_on is not None and rng.random() < 0.6:
            back_on = lost_on + dt.timedelta(days=rng.randint(30, 150))
            if back_on >= end:
                back_on = None

    if churned_on is None:
        return Story(
            dips=tuple(dips),
            quiet=tuple(quiet),
            low_nps_on=low_nps_on,
            champion_lost_on=lost_on,
            champion_loss=loss,
            champion_back_on=back_on,
        )
    if silent:
        reason = rng.choice(("budget_cut", "budget_cut", "acquisition"))
        return Story(
            churned_on=churned_on,
            reason=reason,
            at_renewal=at_renewal,
            dips=tuple(dips),
            quiet=tuple(quiet),
            low_nps_on=low_nps_on,
            champion_lost_on=lost_on,
            champion_loss=loss,
            champion_back_on=back_on,
        )
    kinds = [k for k, _ in SIGNS if k != "champion" or has_champion]
    weights = [w for k, w in SIGNS if k != "champion" or has_champion]
    count = rng.choices((1, 2, 3), (0.1, 0.5, 0.4))[0]
    chosen: list[str] = []
    while len(chosen) < min(count, len(kinds)):
        pick = rng.choices(kinds, weights)[0]
        if pick not in chosen:
            chosen.append(pick)
    signs: dict[str, dt.date] = {}
    for sign in chosen:
        onset = churned_on - dt.timedelta(days=rng.randint(*LEAD_DAYS))
        signs[sign] = max(onset, start + dt.timedelta(days=30))
    # A warned churner's own bad months stop where its decline begins (it has no good months
    # left to have a bad one in), and a champion lost for good replaces any earlier loss.
    first_sign = min(signs.values())
    dips = [d for d in dips if d[0] < first_sign]
    if "champion" in signs:
        lost_on, loss, back_on = signs["champion"], rng.choice(("role_removed", "left")), None
    elif lost_on is not None and back_on is None:
        back_on = None if lost_on >= first_sign else lost_on + dt.timedelta(days=60)
        if back_on is not None and back_on >= churned_on:
            back_on = None
    return Story(
        churned_on=churned_on,
        reason="warned",
        at_renewal=at_renewal,
        signs=signs,
        floor=rng.uniform(0.05, 0.2),
        dips=tuple(dips),
        quiet=tuple(quiet),
        low_nps_on=low_nps_on,
        champion_lost_on=lost_on,
        champion_loss=loss,
        champion_back_on=back_on,
    )


def _day_between(rng: random.Random, first: dt.date, last: dt.date) -> dt.date | None:
    if last < first:
        return None
    return first + dt.timedelta(days=rng.randint(0, (last - first).days))
