"""Request and response bodies for health scores, health models, sentiment and backtests."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from app.scoring.presets import PRESETS
from app.types import DbId, Money, NoNul, Strict


class ModelRef(BaseModel):
    id: int
    name: str
    version: int


class Scale(BaseModel):
    min: float = 0
    max: float


class NextStepPublic(BaseModel):
    target: str
    value_needed: float
    change: float


class MeasurePublic(BaseModel):
    key: str
    name: str
    value: float | None
    window_days: int | None
    status: Literal["ok", "missing", "stale"]
    grade: str | None
    points: float | None
    weight: float
    contribution: float
    included: bool
    next_step: NextStepPublic | None
    value_change_7d: float | None = None
    value_change_30d: float | None = None
    contribution_change_7d: float | None = None
    contribution_change_30d: float | None = None


class GroupPublic(BaseModel):
    key: str
    name: str
    mode: str
    score: float | None
    weight: float
    contribution: float
    worst: str | None
    measures: list[MeasurePublic]


class HealthPublic(BaseModel):
    account_id: str
    as_of: dt.date
    model: ModelRef
    score: float | None
    scale: Scale
    band: str | None
    status: str | None = Field(description="Key-feature status ([normal]/[1bad]/...) if the model has it")
    change_7d: float | None
    change_30d: float | None
    live: bool = Field(description="Computed on request because no stored snapshot existed")
    groups: list[GroupPublic]


class HistoryPointPublic(BaseModel):
    day: dt.date
    score: float | None
    band: str | None
    status: str | None
    model_version: int


class VersionMark(BaseModel):
    version: int
    published_at: dt.datetime


class HistoryPublic(BaseModel):
    account_id: str
    model: ModelRef
    data: list[HistoryPointPublic]
    versions: list[VersionMark] = Field(description="When each version was published (chart marks)")


class BulkItem(BaseModel):
    account_id: str
    name: str
    owner: str | None
    as_of: dt.date
    score: float | None
    band: str | None
    status: str | None
    model: ModelRef | None = Field(
        default=None, description="The account's own (primary) model, when no model was asked for"
    )


class BulkPage(BaseModel):
    model: ModelRef
    as_of: dt.date | None
    data: list[BulkItem]
    next_cursor: str | None


class VersionPublic(BaseModel):
    version: int
    state: str
    created_at: dt.datetime
    published_at: dt.datetime | None
    definition: dict[str, Any]


class HealthModelPublic(BaseModel):
    id: int
    name: str
    description: str | None
    preset: str | None
    is_default: bool
    published_version: int | None
    draft_version: int | None
    versions: list[VersionPublic]


class HealthModelCreate(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    preset: Literal["abc", "adoption", "key_features", "minimal"] | None = Field(
        default=None, description=f"Adopt a shipped preset ({', '.join(PRESETS)}), published at once"
    )
    definition: dict[str, Any] | None = None
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    publish: bool = False


class DraftIn(BaseModel):
    definition: dict[str, Any]


class HealthPreviewIn(BaseModel):
    definition: dict[str, Any] | None = Field(
        default=None, description="Draft definition to try; default: the model's saved draft"
    )


class HealthPreviewPublic(BaseModel):
    as_of: dt.date
    accounts: int
    bands_before: dict[str, int]
    bands_after: dict[str, int]
    moved: dict[str, int]
    biggest_changes: list[dict[str, Any]]


class SentimentIn(BaseModel):
    rating: int = Field(ge=1, le=5)
    comment: Annotated[str, StringConstraints(max_length=4000)] | None = None


class SentimentPublic(BaseModel):
    id: int
    rating: int
    comment: str | None
    created_at: dt.datetime


class BacktestIn(BaseModel):
    version: DbId | None = Field(default=None, description="Default: the published version")
    definition: dict[str, Any] | None = Field(
        default=None, description="Backtest this definition instead (e.g. a draft)"
    )
    start: dt.date | None = Field(default=None, description="First reference date")
    end: dt.date | None = Field(default=None, description="Last reference date (default: today − horizon)")
    step_days: int = Field(default=14, ge=1, le=365, description="Days between reference dates")
    horizon_days: int = Field(
        default=90,
        ge=7,
        le=730,
        description="An account churned if its churn date falls within this many days after a reference date",
    )

    @model_validator(mode="after")
    def _order(self) -> BacktestIn:
        if self.start and self.end and self.start > self.end:
            raise ValueError("start must not be after end")
        return self


class MeasureAuc(BaseModel):
    key: str
    name: str
    auc: float | None
    observations: int


class BandRow(BaseModel):
    band: str
    accounts: int
    churned: int
    churn_rate: float | None
    lift: float | None


class ProtocolPublic(BaseModel):
    """Which samples a validation used (see the README's "How Bansō judges a health model")."""

    horizon_days: int
    cadence_days: int
    reference_dates: list[dt.date]
    train_dates: list[dt.date] = Field(
        description="Where the model (or its score→probability map) was fitted"
    )
    test_dates: list[dt.date] = Field(description="The newest dates, never seen by the fit")
    gap: bool = Field(description="Every training outcome was known before the first test date")
    accounts: str = Field(description="customers_on_date: accounts that had started and not churned")


class Validation(BaseModel):
    protocol: ProtocolPublic
    evaluation: dict[str, Any] | None = Field(description="Out-of-time figures on the test dates")
    baseline_auc: float | None = Field(
        description="Out-of-time AUC of a plain logistic regression on the same measures (the yardstick)"
    )
    early_warning: dict[str, Any] | None
    horizons: list[dict[str, Any]]
    key_feature_status: list[dict[str, Any]] | None
    line: float | None = Field(description="The model's alarm line (1.5 on the Adoption 0–4 scale)")


class BacktestPublic(BaseModel):
    model_id: int
    version: int | None
    reference_dates: list[dt.date]
    horizon_days: int
    observations: int
    churned: int
    auc: float | None = Field(description="P(an account that stayed scored higher than one that churned)")
    measures: list[MeasureAuc]
    bands: list[BandRow]
    summary: str
    validation: Validation = Field(
        description="The same model judged out of time: the protocol, the test-set figures, "
        "the horizons side by side"
    )


class CalibrateIn(Strict):
    version: DbId | None = Field(
        default=None, description="The version to start from (default: the published one)"
    )
    horizon_days: int = Field(
        default=90,
        ge=30,
        le=365,
        description="Fit for churn within this many days after each reference date",
    )
    cadence_days: int = Field(default=14, ge=7, le=91, description="Days between reference dates")
    bad_share_max: float | None = Field(
        default=None,
        ge=0.05,
        le=0.5,
        description='At most this share of active accounts in "bad" (default: the server\'s setting)',
    )
    start: dt.date | None = Field(
        default=None, description="First reference date (default: the first with a month of usage)"
    )
    end: dt.date | None = Field(
        default=None, description="Reference dates are counted back from this day (default: today)"
    )

    @model_validator(mode="after")
    def _order(self) -> CalibrateIn:
        if self.start and self.end and self.start > self.end:
            raise ValueError("start must not be after end")
        return self


class CalibrationPublic(BaseModel):
    """A calibration: the draft version it proposed and its out-of-time validation against the
    version it started from. ``report`` holds codes and numbers (see the README)."""

    id: int
    model_id: int
    base_version: int | None
    draft_version: int | None = Field(
        description="The proposed draft; null when the model is best kept as it is"
    )
    params: dict[str, Any]
    report: dict[str, Any]
    actor: str
    created_at: dt.datetime


# -- models per segment -----------------------------------------------------------------------

AssignmentRule = Literal["segment", "industry", "plan", "trait", "arr_at_least", "arr_below"]
RuleValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NoNul]
TraitKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

_RULES = (
    "`segment`, `industry`, `plan`: the account's attribute is one of `values`; `trait`: the "
    "account trait `key` holds one of `values` (as text); `arr_at_least` / `arr_below`: ARR ≥ / < "
    "`amount`, in the account's currency"
)


class AssignmentIn(Strict):
    model_id: DbId = Field(description="The health model the matching accounts are on")
    rule: AssignmentRule = Field(description=_RULES)
    values: list[RuleValue] | None = Field(default=None, max_length=50)
    key: TraitKey | None = Field(default=None, description="The trait's name (`trait` rules)")
    amount: Money | None = Field(default=None, description="The ARR amount (`arr_*` rules)")


class AssignmentsIn(Strict):
    """The whole ordered list: the first rule an account matches gives its primary model."""

    assignments: list[AssignmentIn] = Field(max_length=100)


class ModelBrief(BaseModel):
    id: int
    name: str


class AssignmentPublic(BaseModel):
    position: int = Field(description="1-based: the first rule an account matches applies")
    model: ModelBrief
    rule: AssignmentRule
    values: list[str] | None = None
    key: str | None = None
    amount: Money | None = None


class AssignmentsPublic(BaseModel):
    default_model: ModelBrief | None = Field(description="The model of accounts no rule matches")
    assignments: list[AssignmentPublic]


class PrimaryModelPublic(BaseModel):
    """An account's primary health model and why."""

    id: int
    name: str
    rule: AssignmentPublic | None = Field(description="The rule it matched first; null: no rule, the default")


# -- renewal forecast -----------------------------------------------------------------------------


class ForecastDriverPublic(BaseModel):
    """One feature's push on the forecast: its term of the log-odds minus that term for the book's
    average account (positive: more likely to renew than average)."""

    code: Literal["score", "measure", "days_to_renewal"]
    measure: str | None = Field(description="The measure's key when `code` is `measure`")
    value: float | None = Field(description="The score or measure as a fraction 0–1, or days ÷ 365")
    average: float = Field(description="The value's mean over the training samples")
    contribution: float = Field(description="Log-odds")


class ForecastEvaluationPublic(BaseModel):
    """Out of time: fitted on reference dates before `cutoff` (outcomes decided before it), scored
    on the dates from `cutoff` on."""

    status: Literal["ok", "insufficient_history"]
    cutoff: dt.date | None
    train_samples: int
    train_renewed: int
    train_churned: int
    test_samples: int
    test_renewed: int
    test_churned: int
    brier: float | None
    base_rate: float | None = Field(description="The training renewal rate")
    base_brier: float | None = Field(description="Brier score of predicting the base rate for everyone")
    test_rate_brier: float | None = Field(description="Brier score of predicting the test set's own rate")
    auc: float | None


class ForecastMethodPublic(BaseModel):
    """How the forecasts were made: the fit, its training window and its out-of-time evaluation."""

    status: Literal["ok", "insufficient_history", "no_model", "no_scores"]
    day: dt.date
    fitted_at: dt.datetime
    model: ModelRef | None
    classifier: Literal["logistic_regression"] = "logistic_regression"
    plan: Literal["measures", "score"] | None = Field(
        description="`measures`: one coefficient per measure; `score`: the score alone (thin history)"
    )
    training_first_on: dt.date | None
    training_last_on: dt.date | None
    samples: int
    renewed: int = Field(description="Decided renewals that renewed")
    churned: int = Field(description="Decided renewals that churned")
    average_probability: float | None
    horizon_days: int
    evaluation: ForecastEvaluationPublic | None


class RenewalForecastPublic(BaseModel):
    account_id: str
    account_name: str
    status: Literal[
        "ok",
        "insufficient_history",
        "no_renewal_date",
        "renewal_passed",
        "renewal_beyond_horizon",
        "no_score",
    ]
    renewal_on: dt.date | None
    probability: float | None
    score_day: dt.date = Field(description="The day of the score the forecast was made from")
    drivers: list[ForecastDriverPublic]
    fitted_at: dt.datetime


class AccountRenewalForecastPublic(RenewalForecastPublic):
    method: ForecastMethodPublic


class GrrIntervalPublic(BaseModel):
    accounts: int
    arr_due: float
    expected_retained: float
    grr: float | None = Field(description="Expected retained ARR ÷ ARR due")
    low: float | None
    high: float | None


class QuarterBacktestPublic(BaseModel):
    start: dt.date
    end: dt.date
    status: Literal["ok", "insufficient_history"]
    accounts: int
    unscored: int = Field(description="Due in the quarter but without a score at its start")
    renewed: int
    churned: int
    training_samples: int
    forecast: GrrIntervalPublic | None = Field(description="Made at the quarter's start")
    actual: float | None = Field(description="The GRR that happened for the same renewals")


class GrrMethodPublic(BaseModel):
    interval: Literal["poisson_binomial_simulation"] = "poisson_binomial_simulation"
    level: float
    simulations: int
    seed: int


class GrrForecastPublic(BaseModel):
    """Next quarter's gross revenue retention of the renewals due in it."""

    period: str
    start: dt.date
    end: dt.date
    currency: str | None
    due_accounts: int
    unforecast_accounts: int = Field(description="Due, in the currency, but without a probability")
    other_currency_accounts: int
    forecast: GrrIntervalPublic
    interval: GrrMethodPublic
    method: ForecastMethodPublic | None = Field(
        description="The fit the forecasts come from (null before the first)"
    )
    backtest: list[QuarterBacktestPublic]
