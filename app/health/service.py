"""Health models (versions, publishing, presets) and scores (snapshots, history, preview).

A model's published version is frozen; editing creates a draft version, publishing it retires the
previous one. Every snapshot names the version that computed it, so history can mark the day a
new formula arrived. A snapshot stores the score, band and the measures' raw values; because the
version is frozen, its explanation (grades, points, weights, contributions, next steps) is
rebuilt exactly from the definition and the values when read (``stored_explanation``,
``explain_rows``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import orjson
from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from app.accounts.service import get_account
from app.db import session_scope, table_of
from app.errors import Conflict, FieldError, InvalidInput, NotFound
from app.health import score_queue
from app.health.spec import ModelSpec, to_model_def
from app.health.values import AccountFacts, Values, collector_paused, compute_values, load_accounts
from app.models import Account, HealthModel, HealthModelVersion, ScoreSnapshot, SentimentRating, User
from app.scoring import presets
from app.scoring.health import (
    HealthResult,
    ModelError,
    Scorer,
    explain_group,
    grade_value,
    key_feature_status,
    measure_order,
    row_inputs,
    score_book,
    stale_flags,
    validate_model,
)
from app.usage import features as features_svc

SNAPSHOT = table_of(ScoreSnapshot)
ACCOUNT = table_of(Account)


# -- definitions --------------------------------------------------------------------------------


def parse_definition(definition: dict[str, Any], *, field: str = "definition") -> ModelSpec:
    """Validate a model definition; 422 naming each bad field (``definition.groups[0]...``)."""
    try:
        spec = ModelSpec.model_validate(definition)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            path = field
            for part in err["loc"]:
                path += f"[{part}]" if isinstance(part, int) else f".{part}"
            errors.append(FieldError(path, err["msg"].removeprefix("Value error, ")))
        raise InvalidInput(errors) from None
    try:
        validate_model(to_model_def(spec))
    except ModelError as exc:
        raise InvalidInput.field(f"{field}.{exc.field}", exc.message) from None
    return spec


def get_model(session: Session, model_id: int) -> HealthModel:
    model = session.get(HealthModel, model_id)
    if model is None:
        raise NotFound(f"no health model {model_id}")
    return model


def list_models(session: Session) -> list[HealthModel]:
    return list(session.exec(select(HealthModel).order_by(col(HealthModel.id))).scalars())  # type: ignore[call-overload]


def versions(session: Session, model_id: int) -> list[HealthModelVersion]:
    return list(session.execute(
        select(HealthModelVersion).where(HealthModelVersion.model_id == model_id)  # type: ignore[arg-type]
        .order_by(col(HealthModelVersion.version))
    ).scalars())


def published_version(session: Session, model_id: int) -> HealthModelVersion | None:
    return session.execute(
        select(HealthModelVersion).where(
            HealthModelVersion.model_id == model_id,  # type: ignore[arg-type]
            HealthModelVersion.state == "published",  # type: ignore[arg-type]
        )
    ).scalar_one_or_none()


def get_version(session: Session, model_id: int, version: int) -> HealthModelVersion:
    found = session.execute(
        select(HealthModelVersion).where(
            HealthModelVersion.model_id == model_id,  # type: ignore[arg-type]
            HealthModelVersion.version == version,  # type: ignore[arg-type]
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"health model {model_id} has no version {version}")
    return found


def default_model(session: Session) -> HealthModel | None:
    """The model scores are shown with unless another is asked for."""
    return session.execute(
        select(HealthModel).order_by(col(HealthModel.is_default).desc(), col(HealthModel.id))
    ).scalars().first()


def create_model(
    session: Session, *, name: str, definition: dict[str, Any], now: dt.datetime,
    description: str | None = None, preset: str | None = None, publish: bool = False,
) -> tuple[HealthModel, HealthModelVersion]:
    """A new model with version 1 (a draft, or published at once)."""
    parse_definition(definition)
    name = name.strip()
    if not name:
        raise InvalidInput.field("name", "must not be empty")
    if session.execute(select(HealthModel).where(HealthModel.name == name)).first():  # type: ignore[arg-type]
        raise Conflict(f"a health model named {name!r} already exists")
    is_first = session.execute(select(func.count()).select_from(HealthModel)).scalar() == 0
    model = HealthModel(name=name, description=description, preset=preset, is_default=is_first,
                        created_at=now, updated_at=now)
    session.add(model)
    session.flush()
    assert model.id is not None
    version = HealthModelVersion(model_id=model.id, version=1, definition=definition,
                                 created_at=now)
    session.add(version)
    session.flush()
    if publish:
        publish_version(session, model_id=model.id, version=1, now=now)
    return model, version


def save_draft(
    session: Session, *, model_id: int, definition: dict[str, Any], now: dt.datetime
) -> HealthModelVersion:
    """Put ``definition`` in the model's draft version (creating the next version if needed)."""
    parse_definition(definition)
    model = get_model(session, model_id)
    existing = versions(session, model_id)
    draft = next((v for v in existing if v.state == "draft"), None)
    if draft is None:
        draft = HealthModelVersion(
            model_id=model_id, version=max((v.version for v in existing), default=0) + 1,
            definition=definition, created_at=now,
        )
    draft.definition = definition
    session.add(draft)
    model.updated_at = now
    session.add(model)
    session.flush()
    return draft


def publish_version(
    session: Session, *, model_id: int, version: int, now: dt.datetime
) -> HealthModelVersion:
    """Publish a draft version; the previously published one is retired. Published is frozen."""
    target = get_version(session, model_id, version)
    if target.state != "draft":
        raise Conflict(f"version {version} is {target.state}; only a draft can be published")
    parse_definition(target.definition)
    session.execute(
        update(HealthModelVersion)
        .where(HealthModelVersion.model_id == model_id,  # type: ignore[arg-type]
               HealthModelVersion.state == "published")  # type: ignore[arg-type]
        .values(state="retired")
    )
    target.state = "published"
    target.published_at = now
    session.add(target)
    session.flush()
    return target


def set_default(session: Session, *, model_id: int) -> HealthModel:
    model = get_model(session, model_id)
    session.execute(update(HealthModel).values(is_default=False))
    model.is_default = True
    session.add(model)
    session.flush()
    return model


def adopt_preset(
    session: Session, *, preset: str, now: dt.datetime, name: str | None = None
) -> tuple[HealthModel, HealthModelVersion]:
    """Create and publish a shipped preset in one step."""
    if preset not in presets.PRESETS:
        raise InvalidInput.field("preset", f"must be one of {', '.join(presets.PRESETS)}")
    keys = features_svc.catalog(session).key_features
    try:
        definition = presets.preset(preset, key_feature_keys=keys)
    except ValueError as exc:
        raise InvalidInput.field("preset", str(exc)) from None
    titles = {"abc": "ABC health", "adoption": "Adoption score (0–4)",
              "key_features": "Key features", "minimal": "Minimal"}
    model, _ = create_model(
        session, name=name or titles[preset], definition=definition, now=now, preset=preset,
        publish=True,
    )
    version = published_version(session, model.id or 0)
    assert version is not None
    return model, version


def create_or_adopt(
    session: Session, *, preset: str | None, name: str | None,
    definition: dict[str, Any] | None, description: str | None, publish: bool,
    now: dt.datetime,
) -> HealthModel:
    """Adopt a preset (published at once), or create a model from a definition (an import)."""
    if preset:
        return adopt_preset(session, preset=preset, now=now, name=name)[0]
    if definition is None or not name:
        raise InvalidInput([FieldError("preset", "give a preset, or a name and a definition")])
    return create_model(
        session, name=name, definition=definition, now=now, description=description,
        publish=publish,
    )[0]


def delete_model(session: Session, *, model_id: int) -> None:
    session.delete(get_model(session, model_id))
    session.flush()


# -- scoring ------------------------------------------------------------------------------------


class _Book:
    """What the scores of one ``score_values`` call share: the model, the values, and the full
    results and explanations, built only when asked for (accounts with equal inputs to a group
    share one explanation dict, which must not be changed in place)."""

    def __init__(self, spec: ModelSpec, values: Values, *, as_of: dt.date) -> None:
        self.model = to_model_def(spec)
        self.values = values
        self.as_of = as_of
        flags = stale_flags(self.model, values.data_as_of, as_of=as_of)
        #: Bit i set when measure i's data is stale (the same for every account of the book).
        self.stale = sum(1 << i for i, flag in enumerate(flags) if flag)
        self._windows = {m.key: m.window_days for m in spec.measures()}
        self._scorer: Scorer | None = None
        self._explained: dict[int, dict[str, Any]] = {}

    def result(self, account_id: int) -> HealthResult:
        if self._scorer is None:
            self._scorer = Scorer(self.model, as_of=self.as_of)
        return self._scorer.score(self.values.inputs[account_id])

    def explain(self, result: HealthResult) -> list[dict[str, Any]]:
        explanation = []
        for group in result.groups:
            found = self._explained.get(id(group))  # the scorer keeps every group result alive
            if found is None:
                found = self._explained[id(group)] = explain_group(group, self._windows)
            explanation.append(found)
        return explanation


class Scored(NamedTuple):
    """One account's score as stored: score, band, key-feature status, the measures' raw values
    in the model's order and which of them were stale (bit i: measure i has a value whose data
    is too old). The full result and its explanation are built when asked for: the explanation
    is a function of the model's definition and these values (see ``stored_explanation``)."""

    account: AccountFacts
    score: float | None
    band: str | None
    status: str | None
    values: tuple[float | None, ...]
    stale: int
    book: _Book

    @property
    def result(self) -> HealthResult:
        return self.book.result(self.account.id)

    @property
    def explanation(self) -> list[dict[str, Any]]:
        return self.book.explain(self.result)


def explain(result: HealthResult, spec: ModelSpec) -> list[dict[str, Any]]:
    """The explanation served with a score: groups with every measure's value and contribution."""
    windows = {m.key: m.window_days for m in spec.measures()}
    return [explain_group(g, windows) for g in result.groups]


def explain_values(
    spec: ModelSpec, values: Sequence[float | None], stale: int, *, day: dt.date
) -> list[dict[str, Any]]:
    """The explanation of a stored score, rebuilt from its version's definition and its values
    (the same one the scorer gave when the score was computed)."""
    return explain_rows(spec, [(values, stale)], day=day)[0]


def explain_rows(
    spec: ModelSpec, rows: Sequence[tuple[Sequence[float | None], int]], *, day: dt.date
) -> list[list[dict[str, Any]]]:
    """The explanations of many stored scores of one version and day, each given as its
    ``(measure_values, stale_mask)``: what a page listing many accounts' measures reads.
    Accounts with equal inputs to a group share its explanation dict (do not change them)."""
    model_def = to_model_def(spec)
    scorer = Scorer(model_def, as_of=day)
    windows = {m.key: m.window_days for m in spec.measures()}
    explained: dict[int, dict[str, Any]] = {}
    out = []
    for values, stale in rows:
        result = scorer.score(row_inputs(model_def, values, stale, as_of=day))
        explanation = []
        for group in result.groups:
            found = explained.get(id(group))  # the scorer keeps every group result alive
            if found is None:
                found = explained[id(group)] = explain_group(group, windows)
            explanation.append(found)
        out.append(explanation)
    return out


def score_values(spec: ModelSpec, values: Values, *, as_of: dt.date) -> list[Scored]:
    """Grade pre-computed values (pure; no I/O)."""
    with collector_paused():
        return _score_values(spec, values, as_of=as_of)


def _score_values(spec: ModelSpec, values: Values, *, as_of: dt.date) -> list[Scored]:
    book = _Book(spec, values, as_of=as_of)
    scores = score_book(book.model, values.columns, values.data_as_of, as_of=as_of)
    rows = values.rows()
    if book.stale:
        # A stale flag only tells on a value: a measure with none is missing, stale or not.
        bits = [(i, 1 << i) for i in range(len(values.keys)) if book.stale >> i & 1]
        stale = [sum(bit for i, bit in bits if row[i] is not None) for row in rows]
    else:
        stale = [0] * len(rows)
    if not spec.key_feature_status:
        return [Scored(account, s, b, None, row, mask, book) for account, (s, b), row, mask
                in zip(values.accounts, scores, rows, stale, strict=True)]
    measures = {m.key: m for m in measure_order(book.model)}
    out = []
    for account, (s, b), row, mask in zip(values.accounts, scores, rows, stale, strict=True):
        monthly: dict[str, list[Any]] = {}
        for key, series in values.history[account.id].items():
            m = measures[key]
            grades = []
            for value in series:
                if value is None:
                    grades.append("bad" if m.missing == "bad" else "normal")
                else:
                    grades.append(grade_value(m, value)[2] or "normal")
            monthly[key] = grades
        out.append(Scored(account, s, b, key_feature_status(monthly).label, row, mask, book))
    return out


def score_accounts(
    session: Session, *, spec: ModelSpec, as_of: dt.date, tz: ZoneInfo,
    account_ids: list[int] | None = None, include_churned: bool = False,
) -> list[Scored]:
    """Score accounts (all active ones by default) with a model at the end of ``as_of``."""
    accounts = load_accounts(
        session, account_ids=account_ids, as_of=as_of, include_churned=include_churned
    )
    values = compute_values(session, spec, accounts=accounts, as_of=as_of, tz=tz)
    return score_values(spec, values, as_of=as_of)


_SNAPSHOT_COLUMNS = (
    "account_id, model_version_id, day, score, band, status, measure_values, stale_mask, "
    "computed_at"
)
_SNAPSHOT_SCRATCH = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS snapshot_in (LIKE score_snapshot) ON COMMIT DROP",
    "TRUNCATE snapshot_in",
)
_UPSERT_FROM_SCRATCH = (
    "INSERT INTO score_snapshot (account_id, model_version_id, day, score, band, status, "
    "measure_values, stale_mask, computed_at) SELECT account_id, model_version_id, day, score, "
    "band, status, measure_values, stale_mask, computed_at FROM snapshot_in "
    "ON CONFLICT (account_id, model_version_id, day) DO UPDATE SET score = excluded.score, "
    "band = excluded.band, status = excluded.status, measure_values = excluded.measure_values, "
    "stale_mask = excluded.stale_mask, computed_at = excluded.computed_at"
)
#: The snapshot upsert, for SQLite (False) and PostgreSQL (True).
_UPSERT_SNAPSHOT = {
    False: (
        "INSERT INTO score_snapshot (account_id, model_version_id, day, score, band, status, "
        "measure_values, stale_mask, computed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (account_id, model_version_id, day) DO UPDATE SET score = excluded.score, "
        "band = excluded.band, status = excluded.status, "
        "measure_values = excluded.measure_values, stale_mask = excluded.stale_mask, "
        "computed_at = excluded.computed_at"
    ),
    True: (
        "INSERT INTO score_snapshot (account_id, model_version_id, day, score, band, status, "
        "measure_values, stale_mask, computed_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, CAST(%s AS jsonb), %s, %s) "
        "ON CONFLICT (account_id, model_version_id, day) DO UPDATE SET score = excluded.score, "
        "band = excluded.band, status = excluded.status, "
        "measure_values = excluded.measure_values, stale_mask = excluded.stale_mask, "
        "computed_at = excluded.computed_at"
    ),
}


def write_snapshots(
    session: Session, *, version_id: int, day: dt.date, scored: list[Scored], now: dt.datetime
) -> int:
    """Store (or replace) the day's snapshots for this version, in bulk."""
    if not scored:
        return 0
    # Written through the driver: at 10,000 accounts SQLAlchemy's per-row parameter handling
    # costs more than the database's own work. Values are given in the form the columns store
    # them (SQLite: ISO text for the day, SQLAlchemy's UTC text format for the time; the
    # measures' values as JSON text). A snapshot keeps the values, not the explanation: that
    # is rebuilt from the version's definition when read (a fiftieth of the bytes to write).
    with collector_paused():
        return _write_snapshots(session, version_id=version_id, day=day, scored=scored, now=now)


def _write_snapshots(
    session: Session, *, version_id: int, day: dt.date, scored: list[Scored], now: dt.datetime
) -> int:
    postgres = session.get_bind().dialect.name == "postgresql"
    stored_day: Any = day if postgres else day.isoformat()
    stored_at: Any = (
        now if postgres else now.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    )
    dumps = orjson.dumps
    rows = [
        (s.account.id, version_id, stored_day, s.score, s.band, s.status,
         dumps(s.values).decode(), s.stale, stored_at)
        for s in scored
    ]
    cursor: Any = session.connection().connection.cursor()
    try:
        if postgres and len(rows) > 100:
            # COPY into a scratch table, then one upsert: a tenth of the time of 10,000 INSERTs.
            for statement in _SNAPSHOT_SCRATCH:
                cursor.execute(statement)
            with cursor.copy(f"COPY snapshot_in ({_SNAPSHOT_COLUMNS}) FROM STDIN") as copy:
                copy.write(_copy_text(rows, day=day, now=now))
            cursor.execute(_UPSERT_FROM_SCRATCH)
        else:
            cursor.executemany(_UPSERT_SNAPSHOT[postgres], rows)
    finally:
        cursor.close()
    return len(rows)


#: COPY's text format: these characters are escaped in a field, and \\N is NULL.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_NULL = "\\N"


def _copy_text(rows: list[tuple[Any, ...]], *, day: dt.date, now: dt.datetime) -> bytes:
    """The rows in COPY's text format, formatted in one pass (half the time of handing psycopg
    each row). Bands and statuses are few, so each is escaped once; the values' JSON holds only
    numbers, nulls, commas and brackets, which need no escaping."""
    escaped: dict[str | None, str] = {None: _COPY_NULL}

    def text(value: str | None) -> str:
        found = escaped.get(value)
        if found is None:
            assert value is not None
            found = escaped[value] = value.translate(_COPY_ESCAPES)
        return found

    fixed = f"\t{rows[0][1]}\t{day.isoformat()}\t"
    at = now.isoformat()
    null = _COPY_NULL
    return "".join([
        f"{account_id}{fixed}{null if value is None else repr(value)}\t{text(band)}\t"
        f"{text(status)}\t{values}\t{stale}\t{at}\n"
        for account_id, _, _, value, band, status, values, stale, _ in rows
    ]).encode()


def run_scoring(
    session: Session, *, as_of: dt.date, tz: ZoneInfo, now: dt.datetime,
    account_ids: list[int] | None = None,
) -> dict[str, int]:
    """Score every published model for ``as_of`` and store the snapshots; clears dirty marks
    for the accounts scored."""
    written: dict[str, int] = {}
    for model in list_models(session):
        version = published_version(session, model.id or 0)
        if version is None:
            continue
        spec = parse_definition(version.definition)
        scored = score_accounts(session, spec=spec, as_of=as_of, tz=tz, account_ids=account_ids)
        assert version.id is not None
        written[model.name] = write_snapshots(
            session, version_id=version.id, day=as_of, scored=scored, now=now
        )
    score_queue.clear(session, account_ids)
    return written


def score_and_store(
    engine: Engine, *, as_of: dt.date, tz: ZoneInfo, now: dt.datetime,
    account_ids: list[int] | None = None,
) -> dict[str, int]:
    """``run_scoring`` for the scheduled jobs, in two transactions: scores are computed on a read
    snapshot (on SQLite no write lock is held while computing, so ingestion and requests go on),
    then stored in one short write transaction. Only the dirty marks the snapshot read are
    cleared: an account changed meanwhile stays marked and is scored again next time."""
    computed: list[tuple[str, int, list[Scored]]] = []
    with session_scope(engine, writes=False) as session:
        seen = score_queue.marks(session, account_ids)
        for model in list_models(session):
            version = published_version(session, model.id or 0)
            if version is None:
                continue
            assert version.id is not None
            spec = parse_definition(version.definition)
            scored = score_accounts(session, spec=spec, as_of=as_of, tz=tz, account_ids=account_ids)
            computed.append((model.name, version.id, scored))
    with session_scope(engine) as session:
        written = {
            name: write_snapshots(session, version_id=version_id, day=as_of, scored=scored, now=now)
            for name, version_id, scored in computed
        }
        score_queue.clear_seen(session, seen)
    return written


# -- reading scores -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Current:
    account: Account
    model: HealthModel
    version: HealthModelVersion
    day: dt.date
    score: float | None
    band: str | None
    status: str | None
    groups: list[dict[str, Any]]
    change_week: float | None
    change_month: float | None
    scale_max: float
    live: bool  # computed now because no snapshot existed yet


def _model_or_default(session: Session, model_id: int | None) -> HealthModel:
    if model_id is not None:
        return get_model(session, model_id)
    model = default_model(session)
    if model is None:
        raise NotFound("no health model exists yet: adopt a preset (POST /api/v1/health-models)")
    return model


def _snapshot_on_or_before(
    session: Session, account_id: int, model_id: int, day: dt.date
) -> ScoreSnapshot | None:
    version_ids = select(HealthModelVersion.id).where(HealthModelVersion.model_id == model_id)  # type: ignore[call-overload]
    return session.execute(
        select(ScoreSnapshot)
        .where(ScoreSnapshot.account_id == account_id,  # type: ignore[arg-type]
               col(ScoreSnapshot.model_version_id).in_(version_ids),
               col(ScoreSnapshot.day) <= day)
        .order_by(col(ScoreSnapshot.day).desc(), col(ScoreSnapshot.model_version_id).desc())
        .limit(1)
    ).scalar_one_or_none()


def current_health(
    session: Session, *, account_id: str, model_id: int | None, today: dt.date, tz: ZoneInfo
) -> Current:
    """The account's latest score with its explanation and its change over a week and a month."""
    account = get_account(session, account_id)
    model = _model_or_default(session, model_id)
    version = published_version(session, model.id or 0)
    if version is None:
        raise NotFound(f"health model {model.name!r} has no published version")
    spec = parse_definition(version.definition)
    assert account.id is not None and model.id is not None
    snapshot = _snapshot_on_or_before(session, account.id, model.id, today)
    live = snapshot is None or snapshot.model_version_id != version.id
    if live:
        scored = score_accounts(session, spec=spec, as_of=today, tz=tz, account_ids=[account.id],
                                include_churned=True)
        if not scored:
            raise NotFound(f"account {account_id!r} cannot be scored (contract not started)")
        s = scored[0]
        day, value, status, groups = today, s.score, s.status, s.explanation
        band_: str | None = s.band
    else:
        assert snapshot is not None
        day, value, status = snapshot.day, snapshot.score, snapshot.status
        groups = explain_values(spec, snapshot.measure_values, snapshot.stale_mask,
                                day=snapshot.day)
        band_ = snapshot.band

    week = _snapshot_on_or_before(session, account.id, model.id, day - dt.timedelta(days=7))
    month = _snapshot_on_or_before(session, account.id, model.id, day - dt.timedelta(days=30))

    def change(past: ScoreSnapshot | None) -> float | None:
        if past is None or past.score is None or value is None:
            return None
        return round(value - past.score, 2)

    groups = _with_measure_changes(
        groups, stored_explanation(session, week), stored_explanation(session, month)
    )
    return Current(account, model, version, day, value, band_, status, groups, change(week),
                   change(month), spec.scale_max, live)


def stored_explanation(
    session: Session, snapshot: ScoreSnapshot | None
) -> list[dict[str, Any]] | None:
    """A stored score's explanation, rebuilt from its version's definition and its values."""
    if snapshot is None:
        return None
    version = session.get(HealthModelVersion, snapshot.model_version_id)
    assert version is not None  # snapshots go with their version
    return explain_values(parse_definition(version.definition), snapshot.measure_values,
                          snapshot.stale_mask, day=snapshot.day)


def _with_measure_changes(
    groups: list[dict[str, Any]], week: list[dict[str, Any]] | None,
    month: list[dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    """Each measure's value and contribution change against a week and a month before."""

    def index(explanation: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
        if explanation is None:
            return {}
        return {m["key"]: m for g in explanation for m in g.get("measures", [])}

    before = {"7d": index(week), "30d": index(month)}

    def delta(now: Any, then: Any) -> float | None:
        if not isinstance(now, int | float) or not isinstance(then, int | float):
            return None
        return round(now - then, 4)

    out = []
    for group in groups:
        measures = []
        for m in group["measures"]:
            m = dict(m)
            for label, old in before.items():
                past = old.get(m["key"], {})
                m[f"value_change_{label}"] = delta(m.get("value"), past.get("value"))
                m[f"contribution_change_{label}"] = delta(m.get("contribution"),
                                                          past.get("contribution"))
            measures.append(m)
        out.append({**group, "measures": measures})
    return out


@dataclass(frozen=True)
class HistoryPoint:
    day: dt.date
    score: float | None
    band: str | None
    status: str | None
    version: int


def health_history(
    session: Session, *, account_id: str, model_id: int | None, start: dt.date, end: dt.date
) -> tuple[HealthModel, list[HistoryPoint], list[HealthModelVersion]]:
    """Daily scores in the range (one per day, the newest version's if a day has several),
    and the model's versions so the chart can mark when a new formula was published."""
    if start > end:
        raise InvalidInput.field("from", "must not be after `to`", "query")
    account = get_account(session, account_id)
    model = _model_or_default(session, model_id)
    all_versions = versions(session, model.id or 0)
    numbers = {v.id: v.version for v in all_versions}
    rows = session.execute(
        select(ScoreSnapshot)
        .where(ScoreSnapshot.account_id == account.id,  # type: ignore[arg-type]
               col(ScoreSnapshot.model_version_id).in_(list(numbers)),
               col(ScoreSnapshot.day) >= start, col(ScoreSnapshot.day) <= end)
        .order_by(col(ScoreSnapshot.day), col(ScoreSnapshot.model_version_id))
    ).scalars().all()
    by_day: dict[dt.date, ScoreSnapshot] = {}
    for row in rows:
        by_day[row.day] = row  # later versions overwrite earlier ones on the same day
    points = [
        HistoryPoint(d, s.score, s.band, s.status, numbers[s.model_version_id])
        for d, s in sorted(by_day.items())
    ]
    marks = [v for v in all_versions if v.published_at is not None]
    return model, points, marks


@dataclass(frozen=True)
class BulkRow:
    account: Account
    owner: User | None
    snapshot: ScoreSnapshot


def latest_day(session: Session, version_id: int) -> dt.date | None:
    return session.execute(
        select(func.max(SNAPSHOT.c.day)).where(SNAPSHOT.c.model_version_id == version_id)
    ).scalar()


def bulk_health(
    session: Session, *, model_id: int | None, band: str | None, owner: str | None,
    limit: int, after_account: int | None,
) -> tuple[HealthModel, HealthModelVersion, dt.date | None, list[BulkRow]]:
    """Every account's latest stored score under the model's published version, by account."""
    model = _model_or_default(session, model_id)
    version = published_version(session, model.id or 0)
    if version is None or version.id is None:
        raise NotFound(f"health model {model.name!r} has no published version")
    day = latest_day(session, version.id)
    if day is None:
        return model, version, None, []
    query = (
        select(Account, User, ScoreSnapshot)
        .join(ScoreSnapshot, col(ScoreSnapshot.account_id) == col(Account.id))
        .join(User, col(User.id) == col(Account.owner_id), isouter=True)
        .where(ScoreSnapshot.model_version_id == version.id, ScoreSnapshot.day == day)  # type: ignore[arg-type]
    )
    if band:
        query = query.where(ScoreSnapshot.band == band)  # type: ignore[arg-type]
    if owner == "none":
        query = query.where(col(Account.owner_id).is_(None))
    elif owner:
        query = query.where(User.email == owner.strip().lower())  # type: ignore[arg-type]
    if after_account is not None:
        query = query.where(col(Account.id) > after_account)
    rows = session.execute(query.order_by(col(Account.id)).limit(limit)).all()
    return model, version, day, [BulkRow(a, u, s) for a, u, s in rows]


# -- preview ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    as_of: dt.date
    accounts: int
    before: dict[str, int]
    after: dict[str, int]
    moved: dict[str, int]  # "good→bad": n
    biggest_changes: list[dict[str, Any]]


def preview(
    session: Session, *, model_id: int, definition: dict[str, Any] | None, as_of: dt.date,
    tz: ZoneInfo,
) -> Preview:
    """Score every active account with a draft definition (nothing stored) and compare the bands
    with the published version's."""
    model = get_model(session, model_id)
    if definition is None:
        draft = next((v for v in versions(session, model_id) if v.state == "draft"), None)
        if draft is None:
            raise InvalidInput.field("definition", "give a definition, or save a draft first")
        definition = draft.definition
    spec = parse_definition(definition)
    after = score_accounts(session, spec=spec, as_of=as_of, tz=tz)
    published = published_version(session, model.id or 0)
    before_scores: dict[int, tuple[float | None, str | None]] = {}
    if published is not None:
        before_spec = parse_definition(published.definition)
        for s in score_accounts(session, spec=before_spec, as_of=as_of, tz=tz):
            before_scores[s.account.id] = (s.score, s.band)
    before_bands = Counter(b or "none" for _, b in before_scores.values())
    after_bands: Counter[str] = Counter(s.band or "none" for s in after)
    moved: Counter[str] = Counter()
    changes: list[dict[str, Any]] = []
    for s in after:
        old_score, old_band = before_scores.get(s.account.id, (None, None))
        if published is not None and old_band != s.band:
            moved[f"{old_band or 'none'}→{s.band or 'none'}"] += 1
        if old_score is not None and s.score is not None:
            changes.append({"account_id": s.account.external_id, "before": old_score,
                            "after": s.score, "change": round(s.score - old_score, 2)})
    changes.sort(key=lambda c: -abs(c["change"]))
    return Preview(as_of, len(after), dict(before_bands), dict(after_bands), dict(moved),
                   changes[:20])


# -- sentiment ----------------------------------------------------------------------------------


def rate_sentiment(
    session: Session, *, account_id: str, rating: int, comment: str | None,
    author_user_id: int | None, now: dt.datetime,
) -> SentimentRating:
    """Record a CSM's manual rating (1–5) for the account under its current owner."""
    if not 1 <= rating <= 5:
        raise InvalidInput.field("rating", "must be 1 to 5")
    account = get_account(session, account_id)
    assert account.id is not None
    entry = SentimentRating(account_id=account.id, rating=rating, comment=comment,
                            author_user_id=author_user_id, owner_id=account.owner_id,
                            created_at=now)
    session.add(entry)
    score_queue.mark_dirty(session, {account.id}, now)
    session.flush()
    return entry


def backfill(
    session: Session, *, since: dt.date, until: dt.date, tz: ZoneInfo, now: dt.datetime,
    step_days: int = 1, model_ids: list[int] | None = None,
) -> int:
    """Compute and store snapshots for every ``step_days``-th day from ``since`` to ``until``
    with each model's published version; returns the snapshots written."""
    if since > until:
        raise InvalidInput.field("since", "must not be after the last day")
    written = 0
    models = [m for m in list_models(session) if model_ids is None or m.id in model_ids]
    churned_on: dict[int, dt.date] = dict(session.execute(
        select(ACCOUNT.c.id, ACCOUNT.c.churned_on).where(ACCOUNT.c.churned_on.is_not(None))
    ).all())
    day = since
    while day <= until:
        for model in models:
            version = published_version(session, model.id or 0)
            if version is None or version.id is None:
                continue
            spec = parse_definition(version.definition)
            scored = score_accounts(session, spec=spec, as_of=day, tz=tz, include_churned=True)
            # A churned account is scored only for the days it was still a customer.
            scored = [s for s in scored
                      if (gone := churned_on.get(s.account.id)) is None or gone > day]
            written += write_snapshots(session, version_id=version.id, day=day, scored=scored,
                                       now=now)
        day += dt.timedelta(days=step_days)
    return written
